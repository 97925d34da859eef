package anthropictest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// maxBodyBytes is the API's request size limit (32 MB); larger bodies get
// 413 request_too_large as from the real service.
const maxBodyBytes = 32 << 20

// samplingVersion is the first API version that rejects temperature, top_p
// and top_k.
const samplingVersion = "2026-10-21"

// Server is a running emulator of the Anthropic Messages API. It is safe for
// concurrent use.
type Server struct {
	// URL is the base URL to give the SDK (option.WithBaseURL) or Keel's
	// adapter (Options.BaseURL), e.g. http://127.0.0.1:41234.
	URL string

	srv    *httptest.Server
	script llmtest.WireScript

	mu       sync.Mutex
	requests []llmtest.Recorded
	// Message Batches (batch.go), under mu.
	batches    map[string]*batchState
	batchOrder []string
	batchPolls int
	// The prompt cache of EnableCache (cache.go), under mu; nil when off.
	cache    map[[32]byte]bool
	cacheMin int

	seq atomic.Int64 // numbers message, tool-use and request ids
}

// NewServer starts an emulator that tb's cleanup closes.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := New()
	tb.Cleanup(s.Close)
	return s
}

// New starts an emulator outside a test; the caller must Close it.
func New() *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Close cuts open connections (a stream left dripping by a test ends
// there) and stops the server.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Enqueue appends replies to the script; each POST /v1/messages that
// passes validation takes the next one.
func (s *Server) Enqueue(replies ...llmtest.WireReply) { s.script.Enqueue(replies...) }

// Requests returns every request received so far, oldest first: Messages
// and count_tokens calls, and those the emulator rejected.
func (s *Server) Requests() []llmtest.Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]llmtest.Recorded(nil), s.requests...)
}

// ErrorBody returns an error body in the API's shape, for Fault.Body:
//
//	{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: ..."}}
func ErrorBody(errType, message string) string {
	b, _ := json.Marshal(errorEnvelope{Type: "error", Error: errorDetail{Type: errType, Message: message}})
	return string(b)
}

// StreamError returns a reply that, to a streamed request, sends resp's
// events up to after events (message_start, content blocks, pings each
// count one) and then an SSE "error" event of type errType, as the API does
// when it fails mid-stream (overloaded_error is the usual one). To a request
// that is not streamed it is an HTTP error with status.
//
// The reply is a Fault with Status and DropAfter set and Drop false, a
// combination that means "error event" to this emulator.
func StreamError(resp *llm.Response, after int, status int, errType, message string) llmtest.WireReply {
	return llmtest.WireReply{Response: resp, Fault: llmtest.Fault{
		Status:    status,
		Body:      ErrorBody(errType, message),
		DropAfter: after,
	}}
}

type errorEnvelope struct {
	Type      string      `json:"type"`
	Error     errorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

type errorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// errorType returns the API's error type and usual message for a status.
func errorType(status int) (errType, message string) {
	switch {
	case status == 401:
		return "authentication_error", "invalid x-api-key"
	case status == 402:
		return "billing_error", "Your credit balance is too low to access the Anthropic API."
	case status == 403:
		return "permission_error", "Your API key does not have permission to use the specified resource."
	case status == 404:
		return "not_found_error", "The requested resource could not be found."
	case status == 413:
		return "request_too_large", "Request exceeds the maximum allowed number of bytes."
	case status == 429:
		return "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."
	case status == 504:
		return "timeout_error", "Request timed out"
	case status == 529:
		return "overloaded_error", "Overloaded"
	case status >= 500:
		return "api_error", "Internal server error"
	}
	return "invalid_request_error", "Invalid request."
}

func defaultErrorBody(status int, requestID string) string {
	t, m := errorType(status)
	b, _ := json.Marshal(errorEnvelope{Type: "error", Error: errorDetail{Type: t, Message: m}, RequestID: requestID})
	return string(b)
}

func writeError(w http.ResponseWriter, status int, errType, message, requestID string) {
	b, _ := json.Marshal(errorEnvelope{Type: "error", Error: errorDetail{Type: errType, Message: message}, RequestID: requestID})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) record(r *http.Request, body []byte) {
	rec := llmtest.Recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

// take records a validated Messages request and pops its reply, atomically
// so that Requests and the script stay in the same order under concurrency.
func (s *Server) take(r *http.Request, body []byte) (llmtest.WireReply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec, reply, ok := s.script.Record(r)
	s.requests = append(s.requests, rec)
	return reply, ok
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := fmt.Sprintf("req_emu_%06d", s.seq.Add(1))
	w.Header().Set("request-id", requestID)

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		s.record(r, body)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", "Request exceeds the maximum allowed number of bytes.", requestID)
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", "could not read the request body", requestID)
		return
	}

	countOnly := false
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		countOnly = true
	case r.URL.Path == "/v1/messages/batches" || strings.HasPrefix(r.URL.Path, "/v1/messages/batches/"):
		s.serveBatch(w, r, body, requestID)
		return
	default:
		s.record(r, body)
		writeError(w, http.StatusNotFound, "not_found_error", "Not found", requestID)
		return
	}

	req, status, errType, msg := validate(r, body)
	if status != 0 || countOnly {
		s.record(r, body)
		if status != 0 {
			writeError(w, status, errType, msg, requestID)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"input_tokens":%d}`, countTokens(body))
		return
	}

	reply, scripted := s.take(r, body)
	f := reply.Fault
	if f.Header.Get("request-id") != "" {
		w.Header().Del("request-id")
	}
	midStreamError := f.Status != 0 && !f.Drop && f.DropAfter > 0 && req.Stream
	if midStreamError {
		begin := f
		begin.Status = 0
		if begin.Begin(w, r, "") {
			return
		}
	} else if f.Begin(w, r, defaultErrorBody(f.Status, requestID)) {
		return
	}

	resp := reply.Response
	if !scripted || resp == nil {
		resp = echo(req, body)
	}
	resp = s.cacheUsage(resp, body)
	msgID := resp.ID
	if msgID == "" {
		msgID = fmt.Sprintf("msg_emu_%06d", s.seq.Add(1))
	}
	m, err := s.render(resp, msgID, req.Model, body)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "api_error", "emulator: "+err.Error(), requestID)
		return
	}
	if !req.Stream {
		writeJSON(w, r, f, m)
		return
	}
	errBody := ""
	if midStreamError {
		errBody = f.Body
	}
	stream(w, r, f, m, errBody)
}

// writeJSON answers a request that was not streamed, cutting the body in
// half for Fault.Drop and sending garbage for Fault.Malformed.
func writeJSON(w http.ResponseWriter, r *http.Request, f llmtest.Fault, m *wireMessage) {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // render produced only marshalable values
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case f.Malformed:
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"type": this is not json`)
	case f.Drop:
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler)
	default:
		w.Write(b)
	}
}

// request is what the emulator reads of a Messages request.
type request struct {
	Model     string          `json:"model"`
	MaxTokens *int64          `json:"max_tokens"`
	Stream    bool            `json:"stream"`
	System    json.RawMessage `json:"system"`
	Messages  []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Temperature json.RawMessage `json:"temperature"`
	TopP        json.RawMessage `json:"top_p"`
	TopK        json.RawMessage `json:"top_k"`
}

// validate checks what the API checks before it does anything: the
// credential, the version header and the required fields. status is 0 when
// the request may proceed.
func validate(r *http.Request, body []byte) (req request, status int, errType, msg string) {
	if r.Header.Get("x-api-key") == "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return req, http.StatusUnauthorized, "authentication_error", "x-api-key header is required"
	}
	version := r.Header.Get("anthropic-version")
	if version == "" {
		return req, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required"
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, http.StatusBadRequest, "invalid_request_error", "The request body is not valid JSON: " + err.Error()
	}
	countOnly := strings.HasSuffix(r.URL.Path, "/count_tokens")
	switch {
	case req.Model == "":
		return req, http.StatusBadRequest, "invalid_request_error", "model: Field required"
	case req.MaxTokens == nil && !countOnly:
		return req, http.StatusBadRequest, "invalid_request_error", "max_tokens: Field required"
	case req.MaxTokens != nil && *req.MaxTokens < 0:
		return req, http.StatusBadRequest, "invalid_request_error", "max_tokens: Input should be greater than or equal to 0"
	case len(req.Messages) == 0:
		return req, http.StatusBadRequest, "invalid_request_error", "messages: Field required"
	}
	if version >= samplingVersion {
		for name, v := range map[string]json.RawMessage{"temperature": req.Temperature, "top_p": req.TopP, "top_k": req.TopK} {
			if v != nil {
				return req, http.StatusBadRequest, "invalid_request_error", name + ": Extra inputs are not permitted"
			}
		}
	}
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return req, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
	}
	return req, 0, "", ""
}

// echo is the answer when the script is empty: the text of the last user
// message, with usage counted as CountTokens counts.
func echo(req request, body []byte) *llm.Response {
	var last string
	for _, m := range req.Messages {
		if m.Role == "user" {
			last = contentText(m.Content)
		}
	}
	return &llm.Response{
		Content:    []llm.Part{llm.Text{Text: last}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: countTokens(body), OutputTokens: max(1, len(strings.Fields(last)))},
	}
}

// contentText returns the text of a message content, which is a string or
// an array of blocks.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type == "text" {
			b.WriteString(bl.Text)
		}
	}
	return b.String()
}

// CountTokens is the emulator's deterministic token count of a Messages
// request body, as /v1/messages/count_tokens answers it and as echoed
// replies report it: one token per whitespace-separated word of every
// string in system, messages and tools (leaving out type tags, ids,
// signatures, base64 data, media types and URLs), plus 3 per message. It
// returns 0 for a body that is not JSON.
func CountTokens(body []byte) int { return countTokens(body) }

func countTokens(body []byte) int {
	var v struct {
		System   any   `json:"system"`
		Messages []any `json:"messages"`
		Tools    any   `json:"tools"`
	}
	if json.Unmarshal(body, &v) != nil {
		return 0
	}
	return words(v.System) + words(v.Messages) + words(v.Tools) + 3*len(v.Messages)
}

// counted reports whether the value under key is text the model reads as
// words (type tags, ids, signatures and base64 data are not).
func counted(key string) bool {
	switch key {
	case "type", "role", "id", "tool_use_id", "signature", "data", "media_type", "url", "cache_control":
		return false
	}
	return true
}

func words(v any) int {
	switch v := v.(type) {
	case string:
		return len(strings.Fields(v))
	case []any:
		n := 0
		for _, e := range v {
			n += words(e)
		}
		return n
	case map[string]any:
		n := 0
		for k, e := range v {
			if counted(k) {
				n += words(e)
			}
		}
		return n
	}
	return 0
}
