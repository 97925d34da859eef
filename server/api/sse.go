package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// sseWriter writes server-sent events, each flushed as soon as it is
// written. A mutex orders the events with the heartbeat goroutine's
// comments; after the first failed write (the client went away) every
// write reports that error.
type sseWriter struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func startSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Tells nginx-style proxies not to buffer the stream.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	s.flush()
	return s
}

// event writes `event: name` and v as one line of JSON (encoding/json
// never writes a newline inside a value, so one data line suffices).
func (s *sseWriter) event(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the %s event: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		s.err = err
		return err
	}
	return s.flush()
}

// ping writes a comment line, which clients ignore and proxies count as
// traffic.
func (s *sseWriter) ping() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if _, err := fmt.Fprint(s.w, ": ping\n\n"); err != nil {
		s.err = err
		return
	}
	s.flush()
}

// flush is called with mu held (or before the writer is shared).
func (s *sseWriter) flush() error {
	if err := s.rc.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	return s.err
}

// heartbeat pings every d until the returned stop function is called;
// stop waits for the goroutine to end, so no write outlives the handler.
func (s *sseWriter) heartbeat(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.ping()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
