package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/state"
)

const (
	defaultListLimit = 50
	maxListLimit     = 500
)

func (h *handler) listConversations(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", defaultListLimit, 1, maxListLimit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cs, err := h.d.State.Conversations(r.Context(), backend.CallerFrom(r.Context()).KeyID, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if cs == nil {
		cs = []state.Conversation{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": cs})
}

// messageJSON is a stored turn as the client sees it.
type messageJSON struct {
	Seq         int              `json:"seq"`
	Role        llm.Role         `json:"role"`
	Text        string           `json:"text"`
	Model       string           `json:"model,omitempty"`
	Usage       *llm.Usage       `json:"usage,omitempty"`
	CostUSD     float64          `json:"cost_usd,omitempty"`
	LatencyMS   int64            `json:"latency_ms,omitempty"`
	Citations   json.RawMessage  `json:"citations,omitempty"`
	ToolCalls   []toolCallJSON   `json:"tool_calls,omitempty"`
	ToolResults []toolResultJSON `json:"tool_results,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
}

func messageOf(m state.Message) messageJSON {
	out := messageJSON{
		Seq: m.Seq, Role: m.Message.Role, Text: m.Message.Text(), Model: m.Model,
		CostUSD: m.Cost.Float(), LatencyMS: m.LatencyMS, Citations: m.Citations, CreatedAt: m.CreatedAt,
	}
	if m.Usage != (llm.Usage{}) {
		u := m.Usage
		out.Usage = &u
	}
	for _, p := range m.Message.Parts {
		switch p := p.(type) {
		case llm.ToolCall:
			out.ToolCalls = append(out.ToolCalls, toolCallOf(&p))
		case llm.ToolResult:
			out.ToolResults = append(out.ToolResults, toolResultOf(nil, &p))
		}
	}
	return out
}

func (h *handler) getConversation(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), r.PathValue("id")
	owner := backend.CallerFrom(ctx).KeyID
	c, err := h.d.State.Conversation(ctx, owner, id)
	if err != nil {
		h.fail(w, r, conversationErr(id, err))
		return
	}
	ms, err := h.d.State.Messages(ctx, owner, id)
	if err != nil {
		h.fail(w, r, conversationErr(id, err))
		return
	}
	out := make([]messageJSON, len(ms))
	for i, m := range ms {
		out[i] = messageOf(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversation": c, "messages": out})
}

func (h *handler) deleteConversation(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), r.PathValue("id")
	if err := h.d.State.DeleteConversation(ctx, backend.CallerFrom(ctx).KeyID, id); err != nil {
		h.fail(w, r, conversationErr(id, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func conversationErr(id string, err error) error {
	if errors.Is(err, state.ErrNotFound) {
		return notFound("conversation %q not found", id)
	}
	return err
}

func (h *handler) models(w http.ResponseWriter, r *http.Request) {
	type modelJSON struct {
		ID       string `json:"id"`
		Provider string `json:"provider"`
		Target   string `json:"target"`
		Default  bool   `json:"default"`
	}
	list := h.d.Models.List(r.Context())
	out := make([]modelJSON, len(list))
	for i, m := range list {
		out[i] = modelJSON{ID: m.ID, Provider: m.Provider, Target: m.Target, Default: m.Default || (m.ID == h.d.DefaultModel && h.d.DefaultModel != "")}
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": out})
}

// intParam reads an optional integer query parameter within [lo, hi].
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("query parameter %q must be a whole number from %d to %d, not %q", name, lo, hi, s)
	}
	return n, nil
}
