package geminitest

//lint:file-ignore ST1005 the emulator's error messages are the Gemini API's own, verbatim

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

// maxBodyBytes is the API's request size limit for inline data (20 MB).
const maxBodyBytes = 20 << 20

// Server is a running emulator of the Gemini API. It is safe for concurrent
// use.
type Server struct {
	// URL is the base URL to give the SDK (genai.HTTPOptions.BaseURL) or
	// Keel's adapter (Options.BaseURL), e.g. http://127.0.0.1:41234.
	URL string

	srv    *httptest.Server
	script llmtest.WireScript

	mu       sync.Mutex
	requests []llmtest.Recorded

	seq atomic.Int64 // numbers response ids
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

// Enqueue appends replies to the script; each generateContent and
// streamGenerateContent call that passes validation takes the next one.
func (s *Server) Enqueue(replies ...llmtest.WireReply) { s.script.Enqueue(replies...) }

// Requests returns every request received so far, oldest first:
// generation and countTokens calls, and those the emulator rejected.
func (s *Server) Requests() []llmtest.Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]llmtest.Recorded(nil), s.requests...)
}

// ErrorBody returns an error body in the API's shape, for Fault.Body:
//
//	{"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED"}}
//
// details, when given, are google.rpc detail objects such as
// {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}.
func ErrorBody(code int, status, message string, details ...map[string]any) string {
	b, _ := json.Marshal(wireErrorEnvelope{Error: wireError{Code: code, Message: message, Status: status, Details: details}})
	return string(b)
}

// StreamError returns a reply that, to a streamed request, sends resp's
// first after chunks (after ≥ 1) and then an error event,
// data: {"error":{...}}, as the API does when it fails mid-stream. To a
// request that is not streamed it is an HTTP error with status.
//
// The reply is a Fault with Status and DropAfter set and Drop false, a
// combination that means "error event" to this emulator.
func StreamError(resp *llm.Response, after, status int, message string) llmtest.WireReply {
	return llmtest.WireReply{Response: resp, Fault: llmtest.Fault{
		Status:    status,
		Body:      ErrorBody(status, canonical(status), message),
		DropAfter: after,
	}}
}

// canonical returns Google's canonical status name for an HTTP status.
func canonical(status int) string {
	switch status {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// defaultMessage is the API's usual message for a status.
func defaultMessage(status int) string {
	switch status {
	case 400:
		return "Request contains an invalid argument."
	case 401:
		return "Request had invalid authentication credentials."
	case 403:
		return "The caller does not have permission"
	case 404:
		return "Requested entity was not found."
	case 429:
		return "Resource has been exhausted (e.g. check quota)."
	case 500:
		return "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	case 503:
		return "The model is overloaded. Please try again later."
	case 504:
		return "Deadline expired before operation could complete."
	}
	return http.StatusText(status)
}

func defaultErrorBody(status int) string {
	return ErrorBody(status, canonical(status), defaultMessage(status))
}

func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, ErrorBody(status, canonical(status), message))
}

func (s *Server) record(r *http.Request, body []byte) {
	rec := llmtest.Recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

// take records a validated generation request and pops its reply,
// atomically so that Requests and the script stay in the same order under
// concurrency.
func (s *Server) take(r *http.Request, body []byte) (llmtest.WireReply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec, reply, ok := s.script.Record(r)
	s.requests = append(s.requests, rec)
	return reply, ok
}

// route splits /{version}/models/{model}:{method}.
func route(path string) (model, method string, ok bool) {
	rest, found := strings.CutPrefix(path, "/")
	if !found {
		return "", "", false
	}
	version, rest, _ := strings.Cut(rest, "/")
	if version != "v1beta" && version != "v1" && version != "v1alpha" {
		return "", "", false
	}
	rest, found = strings.CutPrefix(rest, "models/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || strings.Contains(rest[:i], "/") {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// authorized reports whether the request carries a credential, as the API
// requires: an x-goog-api-key header, a key query parameter or an OAuth
// bearer token. Any value is accepted.
func authorized(r *http.Request) bool {
	return r.Header.Get("x-goog-api-key") != "" || r.URL.Query().Get("key") != "" ||
		strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		s.record(r, body)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", maxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "could not read the request body")
		return
	}
	model, method, ok := route(r.URL.Path)
	if !ok || r.Method != http.MethodPost ||
		(method != "generateContent" && method != "streamGenerateContent" && method != "countTokens") {
		s.record(r, body)
		writeError(w, http.StatusNotFound, fmt.Sprintf("Method not found: %s %s", r.Method, r.URL.Path))
		return
	}
	if !authorized(r) {
		s.record(r, body)
		writeError(w, http.StatusForbidden, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return
	}
	if method == "countTokens" {
		s.record(r, body)
		s.countTokens(w, body)
		return
	}
	var req wireRequest
	if err := decodeStrict(body, &req); err != nil {
		s.record(r, body)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := checkRequest(&req); err != nil {
		s.record(r, body)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	reply, _ := s.take(r, body)
	resp := reply.Response
	if resp == nil {
		// An empty script, or a reply that is only a fault: what is
		// rendered (if anything) is the echo.
		resp = echo(&req)
	}
	id := fmt.Sprintf("emu-%06d", s.seq.Add(1))
	if resp.ID != "" {
		id = resp.ID
	}
	f := reply.Fault
	stream := method == "streamGenerateContent"
	sse := stream && r.URL.Query().Get("alt") == "sse"
	errorEvent := sse && f.Status != 0 && !f.Drop && f.DropAfter > 0
	if errorEvent {
		f.Status = 0
	}
	if f.Begin(w, r, defaultErrorBody(f.Status)) {
		return
	}
	ren, err := render(resp)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "geminitest: "+err.Error())
		return
	}
	switch {
	case sse:
		sw := llmtest.NewSSEWriter(w, r, f)
		chunks := ren.chunks(id, model)
		for k, c := range chunks {
			if errorEvent && k == reply.Fault.DropAfter {
				break
			}
			b, _ := json.Marshal(c)
			sw.Event("", b)
		}
		if errorEvent {
			body := reply.Fault.Body
			if body == "" {
				body = defaultErrorBody(reply.Fault.Status)
			}
			sw.Event("", compact(body))
		}
	case stream:
		// Without alt=sse the API streams one JSON array of chunks.
		writeJSON(w, ren.chunks(id, model), f)
	default:
		writeJSON(w, ren.whole(id, model), f)
	}
}

// writeJSON writes a whole response, applying the fault's malformed body
// or dropped connection.
func writeJSON(w http.ResponseWriter, v any, f llmtest.Fault) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	switch {
	case f.Malformed:
		b = []byte(`{"candidates": [{"content": this is not json`)
	case f.Drop:
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// compact puts a JSON body on one line, as an SSE data field needs.
func compact(body string) []byte {
	var b bytes.Buffer
	if json.Compact(&b, []byte(body)) != nil {
		return []byte(strings.ReplaceAll(body, "\n", " "))
	}
	return b.Bytes()
}

func (s *Server) countTokens(w http.ResponseWriter, body []byte) {
	n, err := countRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	b, _ := json.Marshal(wireCountResponse{TotalTokens: n, PromptTokensDetails: []wireModalityCount{{Modality: "TEXT", TokenCount: n}}})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Write(b)
}

// countRequest validates a countTokens body (contents, or a whole
// generateContentRequest) and counts its tokens.
func countRequest(body []byte) (int, error) {
	var req wireCountRequest
	if err := decodeStrict(body, &req); err != nil {
		return 0, err
	}
	switch g := req.GenerateContentRequest; {
	case g != nil && len(req.Contents) > 0:
		return 0, errors.New("* CountTokensRequest: contents and generate_content_request are mutually exclusive.")
	case g != nil:
		if !strings.HasPrefix(g.Model, "models/") && !strings.HasPrefix(g.Model, "tunedModels/") {
			return 0, errors.New("* CountTokensRequest.generate_content_request.model: model must be of the form models/{model}.")
		}
		if err := checkRequest(g); err != nil {
			return 0, err
		}
		return requestTokens(g), nil
	case len(req.Contents) == 0:
		return 0, errors.New("* CountTokensRequest.contents: contents is not specified")
	}
	if err := checkContents("contents", req.Contents, false); err != nil {
		return 0, err
	}
	return contentTokens(req.Contents), nil
}
