// Package anthropicwire serves the Anthropic Messages API's wire format in
// front of any llm.Model: POST /v1/messages (streamed or not, event for
// event as Anthropic sends them), POST /v1/messages/count_tokens and GET
// /v1/models, so that an Anthropic client reaches every model Keel can
// with only its base URL changed.
//
// Requests are decoded strictly (an unknown member is a 400 naming its
// path, as the API answers) into an llm.Request, cache_control markers
// included on every block that carries one; the model is whatever
// backend.Models opens for the name the client sent, Claude or not.
package anthropicwire

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/window"
)

// Options configures the handler.
type Options struct {
	// MaxRequestBytes bounds a request body; 0 means 32 MiB, the API's own
	// limit. Larger bodies get 413 request_too_large.
	MaxRequestBytes int64
}

type handler struct {
	models backend.Models
	max    int64

	// counters keeps one token counter per model name, so that their
	// caches of per-message counts outlive a request: a client counting a
	// growing conversation turn after turn re-encodes only the new turn.
	mu       sync.Mutex
	counters map[string]window.Counter
}

// maxCounters bounds counters: a client may name any provider/model.
// Past it the map starts over.
const maxCounters = 256

// New returns the handler of /v1/messages, /v1/messages/count_tokens and
// /v1/models (Anthropic's shape; the server sends a request for /v1/models
// here when it carries an anthropic-version header). The anthropic-version
// and anthropic-beta headers are accepted and not required.
func New(models backend.Models, o Options) http.Handler {
	h := &handler{models: models, max: o.MaxRequestBytes, counters: map[string]window.Counter{}}
	if h.max <= 0 {
		h.max = 32 << 20
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("request-id", newID("req_"))
	path := r.URL.Path
	switch {
	case path == "/v1/messages":
		if !method(w, r, http.MethodPost) {
			return
		}
		h.messages(w, r)
	case path == "/v1/messages/count_tokens":
		if !method(w, r, http.MethodPost) {
			return
		}
		h.countTokens(w, r)
	case path == "/v1/models":
		if !method(w, r, http.MethodGet) {
			return
		}
		h.listModels(w, r)
	case strings.HasPrefix(path, "/v1/models/"):
		if !method(w, r, http.MethodGet) {
			return
		}
		h.getModel(w, r, strings.TrimPrefix(path, "/v1/models/"))
	default:
		WriteError(w, &llm.Error{Kind: llm.KindNotFound, Status: http.StatusNotFound, Message: "Not found: " + path})
	}
}

func method(w http.ResponseWriter, r *http.Request, want string) bool {
	if r.Method == want {
		return true
	}
	w.Header().Set("Allow", want)
	WriteError(w, &llm.Error{Kind: llm.KindInvalidRequest, Status: http.StatusMethodNotAllowed,
		Message: "Method " + r.Method + " not allowed on " + r.URL.Path + "; use " + want})
	return false
}

// errTooLarge is the 413 of a body over the limit.
func errTooLarge(limit int64) *llm.Error {
	return &llm.Error{Kind: llm.KindInvalidRequest, Status: http.StatusRequestEntityTooLarge,
		Message: "Request exceeds the maximum allowed number of bytes (" + strconv.FormatInt(limit, 10) + ")"}
}

// body reads the request body, refusing one over the limit before reading
// it when Content-Length says so.
func (h *handler) body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.max {
		return nil, errTooLarge(h.max)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1) // +1: ReadFrom's final read finds EOF without growing
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.max)); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, errTooLarge(h.max)
		}
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Status: http.StatusBadRequest, Message: "reading the request body failed", Err: err}
	}
	return buf.Bytes(), nil
}

// open opens the model the client named; an unknown name is the API's 404.
func (h *handler) open(ctx context.Context, name string) (llm.Model, error) {
	m, err := h.models.Open(ctx, name)
	if errors.Is(err, backend.ErrUnknownModel) {
		return nil, &llm.Error{Kind: llm.KindNotFound, Status: http.StatusNotFound, Message: "model: " + name, Err: err}
	}
	return m, err
}

func (h *handler) messages(w http.ResponseWriter, r *http.Request) {
	body, err := h.body(w, r)
	if err != nil {
		WriteError(w, err)
		return
	}
	name, streamed, req, err := decodeMessagesRequest(body)
	if err != nil {
		WriteError(w, err)
		return
	}
	ctx := r.Context()
	m, err := h.open(ctx, name)
	if err != nil {
		WriteError(w, err)
		return
	}
	if streamed {
		stream(ctx, w, m, req, newID("msg_"), name)
		return
	}
	resp, err := m.Generate(ctx, req)
	if err != nil {
		WriteError(w, err)
		return
	}
	id := resp.ID
	if !strings.HasPrefix(id, "msg_") {
		id = newID("msg_")
	}
	b := appendMessage(make([]byte, 0, 1024), id, name, resp)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b) //nolint:errcheck // a client gone mid-write has nothing left to hear
}

func (h *handler) countTokens(w http.ResponseWriter, r *http.Request) {
	body, err := h.body(w, r)
	if err != nil {
		WriteError(w, err)
		return
	}
	name, req, err := decodeCountRequest(body)
	if err != nil {
		WriteError(w, err)
		return
	}
	ctx := r.Context()
	m, err := h.open(ctx, name)
	if err != nil {
		WriteError(w, err)
		return
	}
	n, err := h.count(ctx, m, req)
	if err != nil {
		WriteError(w, err)
		return
	}
	b := append([]byte(`{"input_tokens":`), strconv.Itoa(n)...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '}')) //nolint:errcheck
}

// count counts req's input tokens for m: exactly when the model can
// (llm.TokenCounter), otherwise with the best counter for its family.
func (h *handler) count(ctx context.Context, m llm.Model, req *llm.Request) (int, error) {
	if tc, ok := m.(llm.TokenCounter); ok {
		return tc.CountTokens(ctx, req)
	}
	c, err := h.counterFor(m)
	if err != nil {
		return 0, &llm.Error{Kind: llm.KindServer, Message: "counting tokens for " + m.Name() + ": " + err.Error(), Err: err}
	}
	return c.CountTokens(ctx, req)
}

func (h *handler) counterFor(m llm.Model) (window.Counter, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.counters[m.Name()]; ok {
		return c, nil
	}
	c, err := window.CounterFor(m)
	if err != nil {
		return nil, err
	}
	if len(h.counters) >= maxCounters {
		clear(h.counters)
	}
	h.counters[m.Name()] = c
	return c, nil
}

// WriteError writes err as Anthropic's error body, {"type":"error",
// "error":{"type","message"},"request_id"}, with the status of its kind
// (an *llm.Error's Status when set) and retry-after when it carries one.
// The server uses it for its own refusals on the routes of this format.
func WriteError(w http.ResponseWriter, err error) {
	status, typ, msg := classify(err)
	h := w.Header()
	var le *llm.Error
	if errors.As(err, &le) {
		if le.RetryAfter > 0 {
			h.Set("retry-after", strconv.FormatInt(int64(math.Ceil(le.RetryAfter.Seconds())), 10))
		}
		if le.ShouldRetry != nil {
			h.Set("x-should-retry", strconv.FormatBool(*le.ShouldRetry))
		}
	}
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	w.Write(appendErrorBody(nil, typ, msg, h.Get("request-id"))) //nolint:errcheck
}

// appendErrorBody appends the API's error object.
func appendErrorBody(b []byte, typ, msg, requestID string) []byte {
	b = append(b, `{"type":"error","error":{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	b = append(b, '}')
	if requestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendString(b, requestID)
	}
	return append(b, '}')
}

// classify returns the status, the API's error type and the message for
// err. Messages of *llm.Error are already redacted by the adapters; any
// other error is redacted here, since it may quote an upstream.
func classify(err error) (status int, typ, msg string) {
	var le *llm.Error
	if !errors.As(err, &le) {
		kind := llm.KindOf(err)
		le = &llm.Error{Kind: kind, Message: llm.Redact(err.Error())}
		if kind == "" {
			le.Kind, le.Message = llm.KindServer, "internal error"
		}
	}
	status = le.Status
	if status < 400 || status > 599 {
		status = statusOf(le.Kind)
	}
	switch status {
	case http.StatusRequestEntityTooLarge:
		typ = "request_too_large"
	case http.StatusPaymentRequired:
		typ = "billing_error" // Keel's budget refusals, as Anthropic's own
	case 529:
		typ = "overloaded_error"
	default:
		typ = typeOf(le.Kind, status)
	}
	msg = le.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	return status, typ, msg
}

// statusOf is backend.Status but for overloaded, which Anthropic's API
// answers with its own 529 (overloaded_error), not 503.
func statusOf(k llm.ErrorKind) int {
	if k == llm.KindOverloaded {
		return 529
	}
	return backend.Status(k)
}

func typeOf(k llm.ErrorKind, status int) string {
	switch k {
	case llm.KindAuth:
		return "authentication_error"
	case llm.KindPermission:
		return "permission_error"
	case llm.KindNotFound:
		return "not_found_error"
	case llm.KindInvalidRequest, llm.KindContextLength, llm.KindContentFilter:
		return "invalid_request_error"
	case llm.KindRateLimited:
		return "rate_limit_error"
	case llm.KindOverloaded:
		return "overloaded_error"
	case llm.KindTimeout:
		return "timeout_error"
	}
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	}
	return "api_error"
}
