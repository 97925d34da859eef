package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// The mock answers every chat completion with the same small response, so
// that what a benchmark measures is the gateway in front of it. The bodies
// are precomputed bytes: the mock should cost as little CPU as possible,
// since it shares the machine with the gateway under test.
var (
	mockAnswer = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1764000000,"model":"gpt-bench",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream.","refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}`)

	// mockChunks is a short stream: the role, four text deltas, the finish
	// reason, the usage chunk (stream_options.include_usage) and [DONE].
	mockChunks = func() [][]byte {
		const head = `{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1764000000,"model":"gpt-bench","choices":`
		var out [][]byte
		add := func(choices, usage string) {
			s := "data: " + head + choices
			if usage != "" {
				s += `,"usage":` + usage
			}
			out = append(out, []byte(s+"}\n\n"))
		}
		add(`[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]`, "")
		for _, w := range []string{"Hello", " from", " the", " mock."} {
			add(`[{"index":0,"delta":{"content":"`+w+`"},"finish_reason":null}]`, "")
		}
		add(`[{"index":0,"delta":{},"finish_reason":"stop"}]`, "")
		add(`[]`, `{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}`)
		out = append(out, []byte("data: [DONE]\n\n"))
		return out
	}()

	streamFlag = []byte(`"stream":true`)
)

// mockHandler serves POST /v1/chat/completions (and /chat/completions, for
// a base URL given without /v1). Whether to stream is found by a byte
// search rather than by decoding: every client here (the load generator,
// openai-go inside keel) writes compact JSON, and decoding would put the
// mock's own cost into the direct baseline.
func mockHandler() http.Handler {
	h := func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(r.Body, 1<<20)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !bytes.Contains(buf.Bytes(), streamFlag) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(mockAnswer)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		f, _ := w.(http.Flusher)
		// One write and flush per event, as a real upstream sends them as
		// the model produces tokens; the gateway's per-event path is what
		// a stream exercises.
		for _, c := range mockChunks {
			if _, err := w.Write(c); err != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", h)
	mux.HandleFunc("/chat/completions", h)
	return mux
}

// runMock is the child process: it serves the mock on addr, prints the
// address it got on stdout, and runs until SIGTERM or SIGINT.
func runMock(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mock: %w", err)
	}
	srv := &http.Server{Handler: mockHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("mock listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return fmt.Errorf("mock: %w", err)
	}
	return nil
}
