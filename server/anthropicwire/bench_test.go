package anthropicwire

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
)

// benchBody is a typical agent turn: a cached system prompt, a tool, and a
// finished tool round trip.
const benchBody = `{"model":"fixed/model","max_tokens":1024,"temperature":0.2,
 "system":[{"type":"text","text":"You are a helpful assistant that answers with the weather.","cache_control":{"type":"ephemeral"}}],
 "tools":[{"name":"weather","description":"Current weather in a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],
 "messages":[
  {"role":"user","content":"What is the weather in Oslo today, and should I bring an umbrella?"},
  {"role":"assistant","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_01","name":"weather","input":{"city":"Oslo"}}]},
  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"4°C, light rain, wind 5 m/s"}]}]}`

var benchResponse = &llm.Response{
	ID: "msg_bench",
	Content: []llm.Part{
		llm.Text{Text: "It is 4°C in Oslo with light rain and a gentle wind, so yes: bring an umbrella and a warm jacket."},
		llm.ToolCall{ID: "toolu_02", Name: "weather", Input: json.RawMessage(`{"city":"Bergen"}`)},
	},
	StopReason: llm.StopToolUse,
	Usage:      llm.Usage{InputTokens: 120, OutputTokens: 40, CacheReadTokens: 900},
}

// fixed answers every call with benchResponse, allocating nothing of its own.
type fixed struct{}

func (fixed) Name() string { return "fixed/model" }
func (fixed) Generate(context.Context, *llm.Request) (*llm.Response, error) {
	return benchResponse, nil
}
func (fixed) Stream(context.Context, *llm.Request) iter.Seq2[llm.Event, error] {
	return llm.StreamResponse(benchResponse)
}

type fixedModels struct{}

func (fixedModels) Open(context.Context, string) (llm.Model, error) { return fixed{}, nil }
func (fixedModels) List(context.Context) []backend.ModelInfo        { return nil }

// BenchmarkDecodeEncode is the format's own work per call: decoding and
// translating the request, and encoding the answer.
func BenchmarkDecodeEncode(b *testing.B) {
	body := []byte(benchBody)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		model, _, req, err := decodeMessagesRequest(body)
		if err != nil || len(req.Messages) != 3 {
			b.Fatal(err)
		}
		buf = appendMessage(buf[:0], "msg_x", model, benchResponse)
	}
}

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler and not a recorder's buffer.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

// BenchmarkHandler is one whole request through the handler, in process,
// unstreamed and streamed.
func BenchmarkHandler(b *testing.B) {
	h := New(fixedModels{}, Options{})
	for _, streamed := range []bool{false, true} {
		name, body := "plain", benchBody
		if streamed {
			name, body = "streamed", strings.Replace(benchBody, `"max_tokens":1024,`, `"max_tokens":1024,"stream":true,`, 1)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			w := &discard{h: http.Header{}}
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(body))
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}
