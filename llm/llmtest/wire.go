package llmtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/keelai/keel/llm"
)

// Fault makes a wire emulator misbehave for one reply.
type Fault struct {
	// Status, when non-zero, answers with this HTTP status and Body instead
	// of the reply (Body defaults to the provider's error shape).
	Status int
	Body   string
	// Header is added to the response, error or not: retry-after,
	// retry-after-ms, x-should-retry, request ids.
	Header http.Header
	// Latency is waited before the response starts.
	Latency time.Duration
	// Drip is waited before each streamed event (a slow stream).
	Drip time.Duration
	// Drop cuts the connection after DropAfter streamed events, without the
	// stream's terminal event.
	Drop      bool
	DropAfter int
	// Malformed sends an event whose data is not valid JSON after
	// MalformedAfter streamed events.
	Malformed      bool
	MalformedAfter int
}

// WireReply is one scripted answer of a wire emulator: a response the
// emulator renders in its provider's format (as JSON, or as SSE events when
// the client asked for a stream), or a fault.
type WireReply struct {
	Response *llm.Response
	Fault    Fault
}

// Recorded is a request a wire emulator received.
type Recorded struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// WireScript is the queue of replies and the record of requests that every
// wire emulator shares. It is safe for concurrent use.
type WireScript struct {
	mu       sync.Mutex
	replies  []WireReply
	requests []Recorded
}

// Enqueue appends replies to the script.
func (s *WireScript) Enqueue(replies ...WireReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, replies...)
}

// Requests returns the requests received so far, oldest first.
func (s *WireScript) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.requests...)
}

// Record reads r's body, records the request, and returns it with the next
// reply; ok is false when the script is empty (emulators then echo).
func (s *WireScript) Record(r *http.Request) (rec Recorded, reply WireReply, ok bool) {
	body, _ := io.ReadAll(r.Body)
	rec = Recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rec)
	if len(s.replies) == 0 {
		return rec, WireReply{}, false
	}
	reply = s.replies[0]
	s.replies = s.replies[1:]
	return rec, reply, true
}

// Begin applies the fault's latency and headers. It reports whether the
// fault is an error status, in which case it has written the status and
// body (defaultBody when Fault.Body is empty) and the handler is done.
func (f Fault) Begin(w http.ResponseWriter, r *http.Request, defaultBody string) (handled bool) {
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return true
		}
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.Status == 0 {
		return false
	}
	body := f.Body
	if body == "" {
		body = defaultBody
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	io.WriteString(w, body)
	return true
}

// SSEWriter writes server-sent events, applying a Fault's drip, malformed
// event and dropped connection.
type SSEWriter struct {
	w     http.ResponseWriter
	r     *http.Request
	fault Fault
	sent  int
}

// NewSSEWriter starts an event stream on w.
func NewSSEWriter(w http.ResponseWriter, r *http.Request, f Fault) *SSEWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &SSEWriter{w: w, r: r, fault: f}
}

// Event writes one event: an "event:" line when name is not empty, then
// data. When the fault says so, it cuts the connection instead (by
// panicking with http.ErrAbortHandler, which net/http turns into a closed
// connection without the chunked terminator) or sends garbage first.
func (s *SSEWriter) Event(name string, data []byte) {
	if s.fault.Drop && s.sent >= s.fault.DropAfter {
		s.flush()
		panic(http.ErrAbortHandler)
	}
	if s.fault.Drip > 0 {
		select {
		case <-time.After(s.fault.Drip):
		case <-s.r.Context().Done():
			panic(http.ErrAbortHandler)
		}
	}
	if s.fault.Malformed && s.sent == s.fault.MalformedAfter {
		s.write(name, []byte(`{"type": this is not json`))
	}
	s.write(name, data)
	s.sent++
}

func (s *SSEWriter) write(name string, data []byte) {
	var b bytes.Buffer
	if name != "" {
		fmt.Fprintf(&b, "event: %s\n", name)
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		fmt.Fprintf(&b, "data: %s\n", line)
	}
	b.WriteString("\n")
	s.w.Write(b.Bytes())
	s.flush()
}

func (s *SSEWriter) flush() {
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}
