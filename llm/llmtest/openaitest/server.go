package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// Compat makes the server behave like an OpenAI-compatible server rather
// than OpenAI itself. The zero value is OpenAI.
type Compat struct {
	// NoAuth accepts requests without an API key (Ollama, vLLM, llama.cpp).
	NoAuth bool
	// NoUsage never sends usage, even when the stream asks for it.
	NoUsage bool
	// NoIDs sends no completion ids and no tool-call ids.
	NoIDs bool
	// EmptyDeltas adds chunks whose delta is empty and whose finish_reason
	// is null after every delta, and a choice like that on the usage chunk.
	EmptyDeltas bool
	// InterleaveToolCalls streams several tool calls' argument fragments
	// interleaved (every call opened first, then one fragment of each in
	// turn) instead of one call after the other.
	InterleaveToolCalls bool
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to give a client: the server's address followed
	// by /v1, as in https://api.openai.com/v1.
	URL string

	srv    *httptest.Server
	script llmtest.WireScript
	seq    atomic.Int64

	mu        sync.Mutex
	compat    Compat
	apiKey    string
	midStream map[*llm.Response]streamFailure
	// The Batch API (batch.go).
	files      map[string]*storedFile
	batches    map[string]*batchJob
	batchOrder []string
	batchPolls int
}

// streamFailure is an error event sent mid-stream.
type streamFailure struct {
	after int
	body  string
}

// NewServer starts a server that tb's cleanup closes.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := Start()
	tb.Cleanup(s.Close)
	return s
}

// Start starts a server outside a test; the caller must Close it.
func Start() *Server {
	s := &Server{midStream: map[*llm.Response]streamFailure{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/v1"
	return s
}

// Close stops the server, waiting for the requests in flight.
func (s *Server) Close() { s.srv.Close() }

// Enqueue appends replies to the script.
func (s *Server) Enqueue(replies ...llmtest.WireReply) { s.script.Enqueue(replies...) }

// EnqueueStreamError appends a reply whose stream renders resp (nil for an
// empty answer) but, after the first after events, sends body as an error
// event ({"error":{...}}, as OpenAI does when it fails mid-stream) and
// ends. body "" is a server_error. A non-streaming request taking this
// reply gets body with status 500.
func (s *Server) EnqueueStreamError(resp *llm.Response, after int, body string) {
	var r llm.Response
	if resp != nil {
		r = *resp
	}
	if body == "" {
		body = ErrorBody("The server had an error while processing your request. Sorry about that!", "server_error", "")
	}
	s.mu.Lock()
	s.midStream[&r] = streamFailure{after: after, body: body}
	s.mu.Unlock()
	s.script.Enqueue(llmtest.WireReply{Response: &r})
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []llmtest.Recorded { return s.script.Requests() }

// SetCompat switches compatible-server behaviours on or off.
func (s *Server) SetCompat(c Compat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compat = c
}

// RequireAPIKey makes the server accept only key (by default any key is
// accepted, but one is required).
func (s *Server) RequireAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = key
}

func (s *Server) next() int64 { return s.seq.Add(1) }

// serve records every request (a request rejected for auth takes its
// scripted reply too) and routes it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.serveBatch(w, r) {
		return
	}
	rec, reply, scripted := s.script.Record(r)
	s.mu.Lock()
	compat, key := s.compat, s.apiKey
	fail, midStream := s.midStream[reply.Response]
	delete(s.midStream, reply.Response)
	s.mu.Unlock()

	if reply.Fault.Header.Get("x-request-id") == "" {
		w.Header().Set("x-request-id", fmt.Sprintf("req_emu%06d", s.next()))
	}
	if !compat.NoAuth {
		if body := checkAuth(r, key); body != "" {
			writeError(w, http.StatusUnauthorized, body)
			return
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	switch {
	case path == "/chat/completions" && r.Method == http.MethodPost:
	case path == "/models" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, modelList)
		return
	default:
		writeError(w, http.StatusNotFound, ErrorBody(fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", ""))
		return
	}

	var req chatRequest
	if err := json.Unmarshal(rec.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "invalid_request_error", ""))
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, ErrorBody("you must provide a model parameter", "invalid_request_error", ""))
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, errorBodyParam("[] is too short - 'messages'", "invalid_request_error", "empty_array", "messages"))
		return
	}
	if reply.Fault.Begin(w, r, defaultErrorBody(reply.Fault.Status)) {
		return
	}
	resp := reply.Response
	if !scripted || resp == nil {
		resp = echo(&req)
	}
	rn := renderer{s: s, compat: compat, model: req.Model, resp: resp}
	switch {
	case req.Stream:
		if !midStream {
			fail.after = -1
		}
		rn.stream(w, r, reply.Fault, req.includeUsage(), fail)
	case midStream:
		writeError(w, http.StatusInternalServerError, fail.body)
	default:
		writeJSON(w, http.StatusOK, rn.completion())
	}
}

// checkAuth returns OpenAI's 401 body when the bearer token is missing or
// is not key (when key is set), and "" when the request may pass.
func checkAuth(r *http.Request, key string) string {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	got = strings.TrimSpace(got)
	if !ok || got == "" {
		return ErrorBody("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.", "invalid_request_error", "")
	}
	if key != "" && got != key {
		return ErrorBody(fmt.Sprintf("Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/account/api-keys.", maskKey(got)), "invalid_request_error", "invalid_api_key")
	}
	return ""
}

// maskKey hides a key as OpenAI does in its 401 message: a few characters
// at each end, stars between.
func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", len(k)-7) + k[len(k)-4:]
}

// ErrorBody returns an error body in OpenAI's shape,
// {"error":{"message":…,"type":…,"param":null,"code":…}}, with code null
// when empty. Use it for a Fault's Body, e.g. a context-length error:
//
//	ErrorBody("This model's maximum context length is 128000 tokens...", "invalid_request_error", "context_length_exceeded")
func ErrorBody(message, typ, code string) string {
	return errorBodyParam(message, typ, code, "")
}

func errorBodyParam(message, typ, code, param string) string {
	nullable := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": message,
		"type":    typ,
		"param":   nullable(param),
		"code":    nullable(code),
	}})
	return string(b)
}

// defaultErrorBody is the body OpenAI sends with status.
func defaultErrorBody(status int) string {
	switch status {
	case 0:
		return ""
	case http.StatusBadRequest:
		return ErrorBody("Invalid request.", "invalid_request_error", "")
	case http.StatusUnauthorized:
		return ErrorBody("Incorrect API key provided: sk-****cdef. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")
	case http.StatusForbidden:
		return ErrorBody("You are not allowed to sample from this model", "invalid_request_error", "")
	case http.StatusNotFound:
		return ErrorBody("The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found")
	case http.StatusTooManyRequests:
		return ErrorBody("Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded")
	case http.StatusInternalServerError:
		return ErrorBody("The server had an error while processing your request. Sorry about that!", "server_error", "")
	case http.StatusServiceUnavailable:
		return ErrorBody("The engine is currently overloaded, please try again later", "server_error", "")
	}
	typ := "invalid_request_error"
	if status >= 500 {
		typ = "server_error"
	}
	return ErrorBody(http.StatusText(status), typ, "")
}

func writeError(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, ErrorBody(err.Error(), "server_error", ""))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var modelList = map[string]any{
	"object": "list",
	"data": []map[string]any{
		{"id": "gpt-4.1", "object": "model", "created": 1744316542, "owned_by": "system"},
		{"id": "gpt-4.1-mini", "object": "model", "created": 1744318173, "owned_by": "system"},
		{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
	},
}

// chatRequest is the part of a request the emulator reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (r *chatRequest) includeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// contentText returns the text of a message's content: a string, or the
// text parts of an array.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// echo answers with the last user message's text, counting words as tokens.
func echo(req *chatRequest) *llm.Response {
	var last string
	in := 0
	for _, m := range req.Messages {
		text := contentText(m.Content)
		in += len(strings.Fields(text))
		if m.Role == "user" {
			last = text
		}
	}
	return &llm.Response{
		Content:    []llm.Part{llm.Text{Text: last}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: max(in, 1), OutputTokens: max(len(strings.Fields(last)), 1)},
	}
}
