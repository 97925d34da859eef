package openaiwire

import (
	"bytes"
	"context"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
)

// typicalRequest is a chat request of the usual shape: a system prompt, a
// few turns, one tool.
const typicalRequest = `{"model":"m","messages":[
	{"role":"system","content":"You are a helpful assistant. Answer briefly and cite your sources."},
	{"role":"user","content":"What is the capital of France?"},
	{"role":"assistant","content":"Paris."},
	{"role":"user","content":[{"type":"text","text":"And what is the weather there today?"}]}],
	"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather in a city",
		"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
	"temperature":0.2,"max_tokens":512,"stream":%s,"stream_options":%s}`

func typicalBody(stream bool) []byte {
	if stream {
		return []byte(strings.Replace(strings.Replace(typicalRequest, "%s", "true", 1), "%s", `{"include_usage":true}`, 1))
	}
	return []byte(strings.Replace(strings.Replace(typicalRequest, "%s", "false", 1), "%s", "null", 1))
}

func BenchmarkDecodeChatRequest(b *testing.B) {
	body := typicalBody(false)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeChatRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// benchModels serves one model whose answers cost nothing to make, so the
// benchmarks measure the wire format alone.
type benchModels struct{ m llm.Model }

func (s benchModels) Open(context.Context, string) (llm.Model, error) { return s.m, nil }
func (s benchModels) List(context.Context) []backend.ModelInfo        { return nil }

func benchModel(resp *llm.Response, events []llm.Event) llm.Model {
	return llm.Funcs{
		NameFunc: func() string { return "bench/model" },
		GenerateFunc: func(context.Context, *llm.Request) (*llm.Response, error) {
			return resp, nil
		},
		StreamFunc: func(context.Context, *llm.Request) iter.Seq2[llm.Event, error] {
			return func(yield func(llm.Event, error) bool) {
				for _, ev := range events {
					if !yield(ev, nil) {
						return
					}
				}
			}
		},
	}
}

// discard is a ResponseWriter and Flusher that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

func benchServe(b *testing.B, m llm.Model, body []byte) {
	h := New(benchModels{m}, nil, Options{})
	req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	w := &discard{h: http.Header{}}
	rd := bytes.NewReader(body)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		req.ContentLength = int64(len(body))
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkChatCompletion is one non-streamed request: decode, call, and
// encode the answer.
func BenchmarkChatCompletion(b *testing.B) {
	resp := &llm.Response{
		Model:      "bench/model",
		Content:    []llm.Part{llm.Text{Text: "The weather in Paris is sunny, 21°C, with a light breeze from the west."}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 120, OutputTokens: 20, CacheReadTokens: 64},
	}
	benchServe(b, benchModel(resp, nil), typicalBody(false))
}

// BenchmarkChatStream is one streamed request answered in 50 text deltas
// and a usage chunk.
func BenchmarkChatStream(b *testing.B) {
	resp := &llm.Response{Model: "bench/model", StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 120, OutputTokens: 50}}
	var evs []llm.Event
	for range 50 {
		evs = append(evs, llm.Event{Kind: llm.EventText, Text: " token"})
	}
	evs = append(evs, llm.Event{Kind: llm.EventDone, Response: resp})
	benchServe(b, benchModel(resp, evs), typicalBody(true))
}
