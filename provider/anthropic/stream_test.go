package anthropic_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider/anthropic"
)

// rawModel serves body as the answer to every request, with the content
// type of an event stream or of JSON, for event sequences the emulator
// does not produce: other servers' quirks and broken orders.
func rawModel(t *testing.T, contentType, body string) *anthropic.Model {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return anthropic.New(anthropic.Options{APIKey: testKey, BaseURL: srv.URL}).Model(testModel)
}

func sse(events ...string) string { return strings.Join(events, "") }

func ev(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }

const (
	msgStart     = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`
	textStart    = `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	textDelta    = `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`
	stop0        = `{"type":"content_block_stop","index":0}`
	msgDelta     = `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`
	msgStop      = `{"type":"message_stop"}`
	eventStream  = "text/event-stream"
	jsonResponse = "application/json"
)

func TestStreamTranslation(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *llm.Response
	}{
		{
			name: "usage: message_delta's cumulative counts replace message_start's",
			body: sse(
				ev("message_start", `{"type":"message_start","message":{"id":"msg_1","content":[],"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`),
				ev("content_block_start", textStart), ev("content_block_delta", textDelta), ev("content_block_stop", stop0),
				ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":30,"cache_creation_input_tokens":300,"cache_read_input_tokens":200,"output_tokens":7,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200}}}`),
				ev("message_stop", msgStop)),
			want: &llm.Response{ID: "msg_1", Content: []llm.Part{llm.Text{Text: "Hi"}}, StopReason: llm.StopEndTurn,
				Usage: llm.Usage{InputTokens: 30, OutputTokens: 7, CacheReadTokens: 200, CacheWriteTokens: 100, CacheWrite1hTokens: 200}},
		},
		{
			name: "usage: message_start's cache counts survive a message_delta with output only",
			body: sse(
				ev("message_start", `{"type":"message_start","message":{"id":"msg_1","content":[],"usage":{"input_tokens":12,"cache_creation_input_tokens":50,"cache_read_input_tokens":60,"cache_creation":{"ephemeral_5m_input_tokens":20,"ephemeral_1h_input_tokens":30},"output_tokens":1}}}`),
				ev("message_delta", msgDelta), ev("message_stop", msgStop)),
			want: &llm.Response{ID: "msg_1", Content: nil, StopReason: llm.StopEndTurn,
				Usage: llm.Usage{InputTokens: 12, OutputTokens: 5, CacheReadTokens: 60, CacheWriteTokens: 20, CacheWrite1hTokens: 30}},
		},
		{
			name: "usage: without a split every cache write is a 5-minute one",
			body: sse(
				ev("message_start", `{"type":"message_start","message":{"id":"msg_1","content":[],"usage":{"input_tokens":3,"cache_creation_input_tokens":40,"cache_read_input_tokens":0,"output_tokens":1}}}`),
				ev("message_delta", msgDelta), ev("message_stop", msgStop)),
			want: &llm.Response{ID: "msg_1", StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 3, OutputTokens: 5, CacheWriteTokens: 40}},
		},
		{
			name: "tool arguments given whole in content_block_start",
			body: sse(ev("message_start", msgStart),
				ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}}`),
				ev("content_block_stop", stop0),
				ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}}`),
				ev("message_stop", msgStop)),
			want: &llm.Response{ID: "msg_1", Content: []llm.Part{llm.ToolCall{ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"a":1}`)}},
				StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}},
		},
		{
			name: "server tool blocks, citations, unknown events and pings are skipped; indexes stay dense",
			body: sse(ev("message_start", msgStart),
				ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}`),
				ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"q\":1}"}}`),
				ev("content_block_stop", stop0),
				ev("ping", `{"type":"ping"}`),
				ev("future_event", `{"type":"future_event","x":1}`),
				ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":"Pre"}}`),
				ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{"type":"char_location"}}}`),
				ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"fix"}}`),
				ev("content_block_stop", `{"type":"content_block_stop","index":1}`),
				ev("message_delta", msgDelta), ev("message_stop", msgStop)),
			want: &llm.Response{ID: "msg_1", Content: []llm.Part{llm.Text{Text: "Prefix"}}, StopReason: llm.StopEndTurn,
				Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}},
		},
		{
			name: "an empty text block still shows",
			body: sse(ev("message_start", msgStart), ev("content_block_start", textStart), ev("content_block_stop", stop0),
				ev("message_delta", msgDelta), ev("message_stop", msgStop)),
			want: &llm.Response{ID: "msg_1", Content: []llm.Part{llm.Text{}}, StopReason: llm.StopEndTurn,
				Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := rawModel(t, eventStream, tc.body)
			got, err := llm.Collect(m.Stream(t.Context(), hi))
			if err != nil {
				t.Fatal(err)
			}
			want := *tc.want
			want.Model = "anthropic/" + testModel
			if diff := cmp.Diff(&want, got, ignoreLatency); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBrokenStreams checks that event sequences the API cannot send are
// errors: a stream that ends cleanly before message_stop is cut (network,
// ErrIncomplete); one in an impossible order is malformed (server).
func TestBrokenStreams(t *testing.T) {
	block := sse(ev("content_block_start", textStart), ev("content_block_delta", textDelta), ev("content_block_stop", stop0))
	tests := []struct {
		name string
		body string
		kind llm.ErrorKind
		msg  string
	}{
		{"empty body", "", llm.KindNetwork, "stream ended"},
		{"ends after message_delta", sse(ev("message_start", msgStart), block, ev("message_delta", msgDelta)), llm.KindNetwork, "stream ended"},
		{"ends mid-block", sse(ev("message_start", msgStart), ev("content_block_start", textStart), ev("content_block_delta", textDelta)), llm.KindNetwork, "stream ended"},
		{"block before message_start", sse(block, ev("message_stop", msgStop)), llm.KindServer, "content_block_start before message_start"},
		{"two message_starts", sse(ev("message_start", msgStart), ev("message_start", msgStart)), llm.KindServer, "second message_start"},
		{"delta for an unknown block", sse(ev("message_start", msgStart), ev("content_block_delta", textDelta)), llm.KindServer, "not started"},
		{"block started twice", sse(ev("message_start", msgStart), ev("content_block_start", textStart), ev("content_block_start", textStart)), llm.KindServer, "started twice"},
		{"delta of the wrong kind", sse(ev("message_start", msgStart), ev("content_block_start", textStart),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}`)), llm.KindServer, "not of that kind"},
		{"delta after stop", sse(ev("message_start", msgStart), block, ev("content_block_delta", textDelta)), llm.KindServer, "after its content_block_stop"},
		{"stopped twice", sse(ev("message_start", msgStart), block, ev("content_block_stop", stop0)), llm.KindServer, "stopped twice"},
		{"message_stop with an open block", sse(ev("message_start", msgStart), ev("content_block_start", textStart), ev("message_stop", msgStop)), llm.KindServer, "open"},
		{"not JSON", sse(ev("message_start", msgStart), ev("content_block_start", `{"type":"content_block_start",`)), llm.KindServer, "malformed"},
		{"error event", sse(ev("message_start", msgStart), ev("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)), llm.KindOverloaded, "Overloaded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := rawModel(t, eventStream, tc.body)
			evs, err := collect(m.Stream(t.Context(), hi))
			if llm.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want kind %s containing %q", err, tc.kind, tc.msg)
			}
			if tc.kind == llm.KindNetwork && !errors.Is(err, llm.ErrIncomplete) {
				t.Errorf("err = %v, want it to wrap ErrIncomplete", err)
			}
			for _, e := range evs {
				if e.Kind == llm.EventDone || e.Kind == llm.EventUsage {
					t.Errorf("a failed stream yielded %v", e.Kind)
				}
			}
		})
	}
}

func TestGenerateUsageTranslation(t *testing.T) {
	for _, tc := range []struct {
		name, usage string
		want        llm.Usage
	}{
		{"split", `{"input_tokens":5,"output_tokens":6,"cache_read_input_tokens":7,"cache_creation_input_tokens":9,"cache_creation":{"ephemeral_5m_input_tokens":4,"ephemeral_1h_input_tokens":5}}`,
			llm.Usage{InputTokens: 5, OutputTokens: 6, CacheReadTokens: 7, CacheWriteTokens: 4, CacheWrite1hTokens: 5}},
		{"no split", `{"input_tokens":5,"output_tokens":6,"cache_read_input_tokens":7,"cache_creation_input_tokens":9}`,
			llm.Usage{InputTokens: 5, OutputTokens: 6, CacheReadTokens: 7, CacheWriteTokens: 9}},
		{"split of zeros", `{"input_tokens":5,"output_tokens":6,"cache_read_input_tokens":0,"cache_creation_input_tokens":9,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}}`,
			llm.Usage{InputTokens: 5, OutputTokens: 6, CacheWriteTokens: 9}},
		{"split short of the total", `{"input_tokens":1,"output_tokens":1,"cache_creation_input_tokens":10,"cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":3}}`,
			llm.Usage{InputTokens: 1, OutputTokens: 1, CacheWriteTokens: 7, CacheWrite1hTokens: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := rawModel(t, jsonResponse, `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":`+tc.usage+`}`)
			resp, err := m.Generate(t.Context(), hi)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, resp.Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGenerateBodies(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       *llm.Response // nil: an error of kind
		kind       llm.ErrorKind
	}{
		{name: "nulls and a tool call",
			body: `{"id":"msg_1","type":"message","content":[{"type":"text","text":null},{"type":"tool_use","id":"t","name":"f","input":{"a":[1]}},{"type":"server_tool_use","id":"s"}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":null}}`,
			want: &llm.Response{ID: "msg_1", Model: "anthropic/" + testModel, StopReason: llm.StopToolUse,
				Content: []llm.Part{llm.Text{}, llm.ToolCall{ID: "t", Name: "f", Input: json.RawMessage(`{"a":[1]}`)}},
				Usage:   llm.Usage{InputTokens: 3}}},
		{name: "cut short", body: `{"id":"msg_1","content":[{"type":"text","text":"Hel`, kind: llm.KindNetwork},
		{name: "not JSON", body: `<html>Bad gateway</html>`, kind: llm.KindServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := rawModel(t, jsonResponse, tc.body).Generate(t.Context(), hi)
			if tc.want == nil {
				if llm.KindOf(err) != tc.kind {
					t.Fatalf("err = %v, want kind %s", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Latency = 0
			if diff := cmp.Diff(tc.want, resp); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}
