package openaiwire

import (
	"encoding/json"
	"net/http"

	"github.com/keelai/keel/server/backend"
)

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string        `json:"object"`
	Data   []modelObject `json:"data"`
}

func toModelObject(mi backend.ModelInfo) modelObject {
	o := modelObject{ID: mi.ID, Object: "model", OwnedBy: mi.Provider}
	if !mi.Created.IsZero() {
		o.Created = mi.Created.Unix()
	}
	if o.OwnedBy == "" {
		o.OwnedBy = "keel"
	}
	return o
}

func (h *handler) listModels(w http.ResponseWriter, r *http.Request) {
	infos := h.models.List(r.Context())
	list := modelList{Object: "list", Data: make([]modelObject, 0, len(infos))}
	for _, mi := range infos {
		list.Data = append(list.Data, toModelObject(mi))
	}
	writeJSON(w, list)
}

// getModel answers GET /v1/models/{id}. Model ids may hold slashes
// ("anthropic/claude-sonnet-4-6"), so id is the whole rest of the path.
func (h *handler) getModel(w http.ResponseWriter, r *http.Request, id string) {
	for _, mi := range h.models.List(r.Context()) {
		if mi.ID == id {
			writeJSON(w, toModelObject(mi))
			return
		}
	}
	WriteError(w, modelNotFound(id))
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
}
