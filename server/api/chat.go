package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/state"
	"github.com/keelai/keel/tool"
	"github.com/keelai/keel/window"
)

const (
	defaultK    = 6
	maxK        = 50
	maxTools    = 64
	maxSteps    = 10
	titleLength = 80
)

// chatRequest is the body of POST /api/chat.
type chatRequest struct {
	Message        string   `json:"message"`
	ConversationID string   `json:"conversation_id,omitempty"`
	Model          string   `json:"model,omitempty"`
	Collection     string   `json:"collection,omitempty"`
	K              int      `json:"k,omitempty"`
	Tools          []string `json:"tools,omitempty"`
	System         string   `json:"system,omitempty"`
}

// decodeChat reads and checks a chat request; every error names the
// field at fault.
func decodeChat(r io.Reader) (chatRequest, error) {
	var req chatRequest
	if err := decodeJSON(r, maxChatBody, &req); err != nil {
		return chatRequest{}, err
	}
	switch {
	case strings.TrimSpace(req.Message) == "":
		return chatRequest{}, badRequest(`field "message" is required and must not be blank`)
	case !utf8.ValidString(req.Message):
		return chatRequest{}, badRequest(`field "message" is not valid UTF-8`)
	case req.K < 0 || req.K > maxK:
		return chatRequest{}, badRequest(`field "k" must be between 1 and %d`, maxK)
	case req.K > 0 && req.Collection == "":
		return chatRequest{}, badRequest(`field "k" needs a "collection" to retrieve from`)
	case len(req.Tools) > maxTools:
		return chatRequest{}, badRequest(`field "tools" names more than %d tools`, maxTools)
	}
	seen := make(map[string]bool, len(req.Tools))
	for _, t := range req.Tools {
		if t == "" || seen[t] {
			return chatRequest{}, badRequest(`field "tools" has an empty or repeated name %q`, t)
		}
		seen[t] = true
	}
	if req.K == 0 {
		req.K = defaultK
	}
	return req, nil
}

// citation is one retrieved passage as the client sees it: numbered as
// the model was given it, with the passage for the preview.
type citation struct {
	Index   int     `json:"index"`
	ID      string  `json:"id"`
	DocID   string  `json:"doc_id"`
	Title   string  `json:"title,omitempty"`
	Source  string  `json:"source,omitempty"`
	Heading string  `json:"heading,omitempty"`
	Snippet string  `json:"snippet"`
	Score   float64 `json:"score"`
}

func citationsOf(hits []rag.Hit) []citation {
	cs := make([]citation, len(hits))
	for i, h := range hits {
		cs[i] = citation{
			Index: i + 1, ID: h.ChunkID, DocID: h.DocID, Title: h.Title, Source: h.Source,
			Heading: strings.Join(h.Headings, " > "), Snippet: h.Text, Score: h.Score,
		}
	}
	return cs
}

type usageEvent struct {
	Model            string  `json:"model"`
	InputTokens      int     `json:"input_tokens"`
	OutputTokens     int     `json:"output_tokens"`
	CacheReadTokens  int     `json:"cache_read_tokens"`
	CacheWriteTokens int     `json:"cache_write_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	LatencyMS        int64   `json:"latency_ms"`
}

// turn is a chat request resolved against the state: everything that can
// fail with a plain HTTP error is done before the stream starts.
type turn struct {
	req     chatRequest
	owner   string
	conv    state.Conversation
	created bool
	model   llm.Model
	tools   *tool.Registry
	hits    []rag.Hit
	llmReq  *llm.Request
}

func (h *handler) chat(w http.ResponseWriter, r *http.Request) {
	t, err := h.prepare(r.Context(), r.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.stream(r.Context(), w, t)
}

func (h *handler) prepare(ctx context.Context, body io.Reader) (*turn, error) {
	req, err := decodeChat(body)
	if err != nil {
		return nil, err
	}
	t := &turn{req: req, owner: backend.CallerFrom(ctx).KeyID}
	var history []state.Message
	if req.ConversationID != "" {
		if t.conv, err = h.d.State.Conversation(ctx, t.owner, req.ConversationID); err != nil {
			if errors.Is(err, state.ErrNotFound) {
				return nil, notFound("conversation %q not found", req.ConversationID)
			}
			return nil, err
		}
		if history, err = h.d.State.Messages(ctx, t.owner, req.ConversationID); err != nil {
			return nil, err
		}
	}

	name := cmp.Or(req.Model, t.conv.Model, h.d.DefaultModel)
	if name == "" {
		return nil, badRequest(`field "model" is required: this server has no default model`)
	}
	m, err := h.d.Models.Open(ctx, name)
	if err != nil {
		if errors.Is(err, backend.ErrUnknownModel) {
			return nil, notFound("model %q not found (GET /api/models lists them)", name)
		}
		return nil, err
	}
	// Fitting the history to the model's window is the API's job: a long
	// conversation must never end in a context_length error.
	t.model = llm.Chain(m, window.Middleware(window.Options{}))

	if len(req.Tools) > 0 {
		if t.tools, err = h.selectTools(req.Tools); err != nil {
			return nil, err
		}
	}

	user := llm.UserText(req.Message)
	var system []llm.Text
	if req.Collection != "" {
		if h.d.RAG == nil {
			return nil, badRequest(`field "collection": collections are not enabled on this server`)
		}
		ret := rag.Retriever{Store: h.d.RAG, Embedder: h.d.Embedder}
		t.hits, err = ret.Retrieve(ctx, req.Collection, rag.Query{Text: req.Message, K: req.K})
		if err != nil {
			if errors.Is(err, rag.ErrNotFound) {
				return nil, notFound("collection %q not found", req.Collection)
			}
			return nil, err
		}
		// The passages go into the user turn, escaped inside <source>
		// elements, never into the system prompt: they are untrusted data.
		g := rag.GroundedRequest(req.Message, t.hits)
		system, user = g.System, g.Messages[len(g.Messages)-1]
	}
	if s := strings.TrimSpace(req.System); s != "" {
		system = append(system, llm.Text{Text: s})
	}
	msgs := make([]llm.Message, 0, len(history)+1)
	for _, hm := range history {
		if len(hm.Message.Parts) > 0 {
			msgs = append(msgs, hm.Message)
		}
	}
	t.llmReq = &llm.Request{System: system, Messages: append(msgs, user)}

	if req.ConversationID == "" {
		t.conv = state.Conversation{ID: state.NewID(), Owner: t.owner, Title: titleOf(req.Message), Model: name, Collection: req.Collection}
		if err := h.d.State.CreateConversation(ctx, t.conv); err != nil {
			return nil, err
		}
		t.created = true
	}
	return t, nil
}

func (h *handler) selectTools(names []string) (*tool.Registry, error) {
	if h.d.Tools == nil {
		return nil, badRequest(`field "tools": this server has no tools`)
	}
	ts := make([]tool.Tool, 0, len(names))
	for _, n := range names {
		tl, ok := h.d.Tools.Get(n)
		if !ok {
			return nil, badRequest(`field "tools": unknown tool %q (this server has %s)`, n, strings.Join(h.d.Tools.Names(), ", "))
		}
		ts = append(ts, tl)
	}
	return tool.NewRegistry(ts)
}

// stream runs the turn and writes its events. The request's context is
// the model call's: a client that disconnects cancels it.
func (h *handler) stream(ctx context.Context, w http.ResponseWriter, t *turn) {
	sse := startSSE(w)
	stop := sse.heartbeat(h.heartbeat)
	defer stop()

	if sse.event("conversation", map[string]any{"id": t.conv.ID, "title": t.conv.Title, "created": t.created}) != nil {
		return
	}
	var cites []citation
	if t.req.Collection != "" {
		cites = citationsOf(t.hits)
		if sse.event("citations", map[string]any{"citations": cites}) != nil {
			return
		}
	}

	start := time.Now()
	agent := &tool.Agent{Model: t.model, Tools: t.tools, MaxSteps: maxSteps}
	var res *tool.Result
	for ev, err := range agent.Stream(ctx, t.llmReq) {
		if err != nil {
			h.streamError(ctx, sse, t, err)
			return
		}
		var werr error
		switch ev.Kind {
		case tool.EventText:
			if ev.Text != "" {
				werr = sse.event("delta", map[string]string{"text": ev.Text})
			}
		case tool.EventToolStart:
			werr = sse.event("tool_call", toolCallOf(ev.Call))
		case tool.EventToolEnd:
			werr = sse.event("tool_result", toolResultOf(ev.Call, ev.ToolResult))
		case tool.EventDone:
			res = ev.Result
		}
		if werr != nil {
			// The client is gone: leaving the loop cancels the run, and
			// an unfinished turn is not stored.
			return
		}
	}
	if res == nil {
		h.streamError(ctx, sse, t, &llm.Error{Kind: llm.KindNetwork, Message: llm.ErrIncomplete.Error(), Err: llm.ErrIncomplete})
		return
	}
	latency := time.Since(start)

	u := usageEvent{Model: t.model.Name(), LatencyMS: latency.Milliseconds()}
	var total float64
	for _, s := range res.Steps {
		// Each step's response carries the cost the server's middleware
		// stamped on it (callinfo), as `keel run --json` reports it.
		total += s.Response.Cost
		if s.Response.Model != "" {
			u.Model = s.Response.Model
		}
	}
	u.CostUSD = total
	u.InputTokens, u.OutputTokens = res.Usage.InputTokens, res.Usage.OutputTokens
	u.CacheReadTokens = res.Usage.CacheReadTokens
	u.CacheWriteTokens = res.Usage.CacheWriteTokens + res.Usage.CacheWrite1hTokens

	seq, err := h.store(ctx, t, res, u, cites)
	if err != nil {
		h.log.ErrorContext(ctx, "api: storing a chat turn failed", "conversation", t.conv.ID, "err", llm.Redact(err.Error()))
		_ = sse.event("error", apiError{Type: "server", Message: "the answer could not be stored; the turn was not saved"})
		return
	}
	if sse.event("usage", u) != nil {
		return
	}
	_ = sse.event("done", map[string]int{"message_seq": seq})
}

// store appends the user turn, any tool turns and the assistant turn, all
// or none, and returns the assistant turn's seq.
func (h *handler) store(ctx context.Context, t *turn, res *tool.Result, u usageEvent, cites []citation) (int, error) {
	// The stored user turn is the question alone: the retrieved passages
	// were for this answer, and the next turn retrieves its own.
	msgs := []state.Message{{Message: llm.UserText(t.req.Message)}}
	for _, m := range res.Messages[len(t.llmReq.Messages):] {
		sm := state.Message{Message: m}
		if m.Role == llm.RoleAssistant {
			sm.Model = u.Model
		}
		msgs = append(msgs, sm)
	}
	last := &msgs[len(msgs)-1]
	if last.Message.Role != llm.RoleAssistant {
		// A turn with no content still gets its assistant record, empty
		// (skipped when the history is sent), to carry its usage.
		msgs = append(msgs, state.Message{Message: llm.Message{Role: llm.RoleAssistant}, Model: u.Model})
		last = &msgs[len(msgs)-1]
	}
	last.Usage = res.Usage
	last.Cost = cost.Dollars(u.CostUSD)
	last.LatencyMS = u.LatencyMS
	if cites != nil {
		b, err := json.Marshal(cites)
		if err != nil {
			return 0, err
		}
		last.Citations = b
	}
	// The client may be gone by now, but a completed answer is worth
	// keeping: store it even if the request's context was just cancelled.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := h.d.State.AppendMessages(sctx, t.owner, t.conv.ID, msgs...); err != nil {
		return 0, err
	}
	// Seq is the store's to assign: read back what it gave.
	stored, err := h.d.State.Messages(sctx, t.owner, t.conv.ID)
	if err != nil {
		return 0, err
	}
	if len(stored) == 0 {
		return 0, errors.New("the conversation has no messages after appending")
	}
	return stored[len(stored)-1].Seq, nil
}

// streamError reports a failed turn as the stream's last event.
func (h *handler) streamError(ctx context.Context, sse *sseWriter, t *turn, err error) {
	if ctx.Err() != nil {
		return // the client went away; nobody is listening
	}
	typ := string(llm.KindOf(err))
	var se *tool.StopError
	if typ == "" && errors.As(err, &se) && se.Result != nil {
		typ = string(se.Result.Outcome)
	}
	if typ == "" {
		typ = "server"
	}
	h.log.WarnContext(ctx, "api: chat turn failed", "conversation", t.conv.ID, "type", typ, "err", llm.Redact(err.Error()))
	_ = sse.event("error", apiError{Type: typ, Message: llm.Redact(err.Error())})
}

type toolCallJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Input any    `json:"input"`
}

type toolResultJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Output  string `json:"output"`
	IsError bool   `json:"is_error"`
}

func toolCallOf(c *llm.ToolCall) toolCallJSON {
	if c == nil {
		return toolCallJSON{}
	}
	out := toolCallJSON{ID: c.ID, Name: c.Name, Input: json.RawMessage(c.Input)}
	if !json.Valid(c.Input) {
		// A call cut short by max_tokens has broken JSON: show it as text.
		out.Input = string(c.Input)
	}
	return out
}

func toolResultOf(c *llm.ToolCall, r *llm.ToolResult) toolResultJSON {
	var out toolResultJSON
	if c != nil {
		out.ID, out.Name = c.ID, c.Name
	}
	if r != nil {
		out.ID = cmp.Or(out.ID, r.CallID)
		out.Name = cmp.Or(out.Name, r.Name)
		out.Output = llm.User(r.Content...).Text()
		out.IsError = r.IsError
	}
	return out
}

// titleOf makes a conversation's title from its first message: the first
// line, whitespace collapsed, cut at a word near titleLength runes.
func titleOf(msg string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	title := strings.Join(strings.FieldsFunc(line, unicode.IsSpace), " ")
	if utf8.RuneCountInString(title) <= titleLength {
		return title
	}
	r := []rune(title)[:titleLength]
	cut := string(r)
	if i := strings.LastIndexByte(cut, ' '); i > titleLength/2 {
		cut = cut[:i]
	}
	return cut + "…"
}
