package anthropicwire

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
)

// listModels answers GET /v1/models in the API's page shape, honouring its
// limit (default 20, at most 1000), after_id and before_id.
func (h *handler) listModels(w http.ResponseWriter, r *http.Request) {
	all := h.models.List(r.Context())
	q := r.URL.Query()
	limit := 20
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			WriteError(w, invalid("limit", "Input should be an integer between 1 and 1000, got %s", quote(s)))
			return
		}
		limit = n
	}
	page := all
	if after := q.Get("after_id"); after != "" {
		page = page[index(all, after)+1:]
	}
	if before := q.Get("before_id"); before != "" {
		i := index(page, before)
		if i < 0 {
			i = 0
		}
		page = page[max(0, i-limit):i]
	}
	hasMore := len(page) > limit
	page = page[:min(limit, len(page))]

	b := make([]byte, 0, 64+128*len(page))
	b = append(b, `{"data":[`...)
	for i, m := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, m)
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	b = append(b, `,"first_id":`...)
	b = appendID(b, page, 0)
	b = append(b, `,"last_id":`...)
	b = appendID(b, page, len(page)-1)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	w.Write(b) //nolint:errcheck
}

// getModel answers GET /v1/models/{id}; ids may hold slashes
// (provider/model).
func (h *handler) getModel(w http.ResponseWriter, r *http.Request, id string) {
	for _, m := range h.models.List(r.Context()) {
		if m.ID == id {
			w.Header().Set("Content-Type", "application/json")
			w.Write(appendModel(nil, m)) //nolint:errcheck
			return
		}
	}
	WriteError(w, &llm.Error{Kind: llm.KindNotFound, Status: http.StatusNotFound, Message: "model: " + id})
}

// index returns the position of the model id in ms; -1 when absent, so
// that an unknown after_id starts the list from its beginning.
func index(ms []backend.ModelInfo, id string) int {
	for i, m := range ms {
		if m.ID == id {
			return i
		}
	}
	return -1
}

func appendModel(b []byte, m backend.ModelInfo) []byte {
	b = append(b, `{"type":"model","id":`...)
	b = appendString(b, m.ID)
	b = append(b, `,"display_name":`...)
	b = appendString(b, m.ID)
	b = append(b, `,"created_at":"`...)
	created := m.Created
	if created.IsZero() {
		created = time.Unix(0, 0) // the API's type requires a date
	}
	b = created.UTC().AppendFormat(b, time.RFC3339)
	return append(b, `"}`...)
}

func appendID(b []byte, ms []backend.ModelInfo, i int) []byte {
	if i < 0 || i >= len(ms) {
		return append(b, "null"...)
	}
	return appendString(b, ms[i].ID)
}
