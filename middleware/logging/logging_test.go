package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/logging"
)

func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

func cached() llmtest.Reply {
	return llmtest.Reply{Response: &llm.Response{
		ID: "msg_1", Content: []llm.Part{llm.Text{Text: "hello world"}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{InputTokens: 5, OutputTokens: 2, CacheReadTokens: 100, CacheWriteTokens: 20, CacheWrite1hTokens: 10},
	}}
}

func TestOneRecordPerCallSameForStreamAndGenerate(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	fake := llmtest.NewModel("anthropic/claude-sonnet-4-5", cached(), cached())
	// Stand-ins for the inner middleware: they fill callinfo.
	inner := func(next llm.Model) llm.Model {
		return llm.Funcs{Next: next, GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			callinfo.From(ctx).Update(func(r *callinfo.Record) { r.Attempts = 2; r.CostNanoUSD = 1_500_000 })
			return next.Generate(ctx, req)
		}, StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
			callinfo.From(ctx).Update(func(r *callinfo.Record) { r.Attempts = 2; r.CostNanoUSD = 1_500_000 })
			return next.Stream(ctx, req)
		}}
	}
	clock := clockwork.NewFakeClock()
	m := llm.Chain(fake, logging.New(logger, logging.Options{Clock: clock}), inner)
	req := &llm.Request{
		Messages: []llm.Message{llm.UserText("secret question")},
		Tags:     map[string]string{"prompt": "greet", "prompt_version": "3", "task": "summarize"},
	}
	if _, err := m.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if _, err := llm.Collect(m.Stream(t.Context(), req)); err != nil {
		t.Fatal(err)
	}
	got := records(t, &buf)
	want := map[string]any{
		"level": "INFO", "msg": "llm call",
		"provider": "anthropic", "model": "anthropic/claude-sonnet-4-5",
		"prompt": "greet@3", "task": "summarize",
		"input_tokens": 5.0, "output_tokens": 2.0, "cache_read_tokens": 100.0, "cache_write_tokens": 30.0,
		"cost_usd": 0.0015, "latency": 0.0, "attempts": 2.0, "cache_hit": false,
		"stop_reason": "end_turn", "request_id": "msg_1",
	}
	if len(got) != 2 {
		t.Fatalf("%d records, want 2", len(got))
	}
	wantGen := clone(want, "stream", false)
	if diff := cmp.Diff(wantGen, got[0]); diff != "" {
		t.Errorf("generate record (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(clone(want, "stream", true), got[1]); diff != "" {
		t.Errorf("stream record (-want +got):\n%s", diff)
	}
	if strings.Contains(buf.String(), "secret question") {
		t.Error("content logged without being asked")
	}
}

func clone(m map[string]any, k string, v any) map[string]any {
	c := map[string]any{k: v}
	for k, v := range m {
		c[k] = v
	}
	return c
}

func TestErrorRecord(t *testing.T) {
	var buf bytes.Buffer
	fake := llmtest.NewModel("openai/gpt-4.1", llmtest.Reply{Err: &llm.Error{
		Kind: llm.KindAuth, Provider: "openai", Status: 401, RequestID: "req_9",
		Message: "Incorrect API key provided: sk-abcdefghijklmnop",
	}})
	m := logging.New(slog.New(slog.NewJSONHandler(&buf, nil)), logging.Options{})(fake)
	m.Generate(t.Context(), &llm.Request{})
	rec := records(t, &buf)[0]
	if rec["level"] != "ERROR" || rec["error_kind"] != "auth" || rec["request_id"] != "req_9" {
		t.Errorf("record = %v", rec)
	}
	if strings.Contains(buf.String(), "sk-abcdefghijklmnop") {
		t.Error("a key reached the log")
	}
}

func TestContentOnlyWhenAskedAndRedacted(t *testing.T) {
	var buf bytes.Buffer
	m := logging.New(slog.New(slog.NewJSONHandler(&buf, nil)), logging.Options{Content: true, ContentLimit: 40})(llmtest.NewEcho("fake/m"))
	m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("my key is sk-proj1234567890 ok")}})
	rec := records(t, &buf)[0]
	if rec["input"] != "my key is [REDACTED] ok" || rec["output"] != "my key is [REDACTED] ok" {
		t.Errorf("content = %q / %q", rec["input"], rec["output"])
	}
}

func TestAbandonedStreamIsLogged(t *testing.T) {
	var buf bytes.Buffer
	m := logging.New(slog.New(slog.NewJSONHandler(&buf, nil)), logging.Options{})(llmtest.NewEcho("fake/m"))
	for range m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("a b c")}}) {
		break
	}
	if rec := records(t, &buf); len(rec) != 1 || rec[0]["error_kind"] != "abandoned" {
		t.Errorf("records = %v", rec)
	}
}

func TestTimeToFirstToken(t *testing.T) {
	var buf bytes.Buffer
	clock := clockwork.NewFakeClock()
	slow := llmtest.NewModel("fake/m", llmtest.Reply{Events: []llm.Event{
		{Kind: llm.EventUsage, Usage: &llm.Usage{InputTokens: 1}},
		{Kind: llm.EventText, Text: "a"},
		{Kind: llm.EventDone, Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "a"}}}},
	}})
	m := logging.New(slog.New(slog.NewJSONHandler(&buf, nil)), logging.Options{Clock: clock})(slow)
	for ev := range m.Stream(t.Context(), &llm.Request{}) {
		if ev.Kind == llm.EventUsage {
			clock.Advance(300 * time.Millisecond) // the first token is 300ms away
		}
		if ev.Kind == llm.EventText {
			clock.Advance(time.Second)
		}
	}
	rec := records(t, &buf)[0]
	if rec["ttft"] != float64(300*time.Millisecond) || rec["latency"] != float64(1300*time.Millisecond) {
		t.Errorf("ttft %v, latency %v", rec["ttft"], rec["latency"])
	}
}

func TestCaptureReplaysIntoFake(t *testing.T) {
	var capture bytes.Buffer
	orig := llmtest.NewModel("anthropic/claude-haiku-4-5",
		cached(),
		llmtest.ToolCall("call_1", "lookup", `{"q":"x"}`),
		llmtest.Reply{Err: &llm.Error{Kind: llm.KindOverloaded, Status: 529, Message: "busy, key sk-abcdefghijklmnop"}},
	)
	m := logging.New(slog.New(slog.DiscardHandler), logging.Options{Capture: &capture})(orig)
	req := &llm.Request{System: []llm.Text{{Text: "sys"}}, Messages: []llm.Message{llm.UserText("q")}}
	var want []*llm.Response
	for range 2 {
		resp, err := m.Generate(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, resp)
	}
	_, wantErr := llm.Collect(m.Stream(t.Context(), req))
	if strings.Contains(capture.String(), "sk-abcdefghijklmnop") {
		t.Error("a key reached the capture")
	}

	replies, err := logging.LoadCapture(&capture)
	if err != nil {
		t.Fatal(err)
	}
	replay := llmtest.NewModel("anthropic/claude-haiku-4-5", replies...)
	for i, w := range want {
		got, err := replay.Generate(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("replayed response %d (-want +got):\n%s", i, diff)
		}
	}
	_, err = replay.Generate(t.Context(), req)
	if llm.KindOf(err) != llm.KindOverloaded || llm.KindOf(wantErr) != llm.KindOverloaded {
		t.Errorf("replayed error %v, recorded %v", err, wantErr)
	}
}

func TestLoadCaptureNamesBadLine(t *testing.T) {
	in := `{"model":"a/b","request":{"messages":[]},"response":{"model":"a/b","content":[],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}}

{"model":"a/b","request":{"messages":[]},"response":{"content":[{"type":"bogus"}]}}
`
	_, err := logging.LoadCapture(strings.NewReader(in))
	if err == nil || !strings.HasPrefix(err.Error(), "capture line 3: response content:") {
		t.Errorf("err = %v", err)
	}
}
