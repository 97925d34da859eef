package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/provider/anthropic"
)

// call runs a request through Generate or through Stream (collected), so
// that each test checks both paths give the same answer.
type call struct {
	name string
	run  func(context.Context, *anthropic.Model, *llm.Request) (*llm.Response, error)
}

var calls = []call{
	{"generate", func(ctx context.Context, m *anthropic.Model, req *llm.Request) (*llm.Response, error) {
		return m.Generate(ctx, req)
	}},
	{"stream", func(ctx context.Context, m *anthropic.Model, req *llm.Request) (*llm.Response, error) {
		return llm.Collect(m.Stream(ctx, req))
	}},
}

func TestName(t *testing.T) {
	for _, tc := range []struct {
		opts anthropic.Options
		want string
	}{
		{anthropic.Options{}, "anthropic/claude-sonnet-4-6"},
		{anthropic.Options{Name: "claude-eu"}, "claude-eu/claude-sonnet-4-6"},
	} {
		if got := anthropic.New(tc.opts).Model(testModel).Name(); got != tc.want {
			t.Errorf("Name() = %q, want %q", got, tc.want)
		}
	}
}

// TestResponses checks that every kind of content and every usage class
// arrives the same through the JSON and the SSE path (a streamed and a
// non-streamed call of one request must cost the same).
func TestResponses(t *testing.T) {
	tests := []struct {
		name string
		resp *llm.Response
	}{
		{"text", &llm.Response{
			ID:         "msg_01",
			Content:    []llm.Part{llm.Text{Text: "The sky is blue because of Rayleigh scattering."}},
			StopReason: llm.StopEndTurn,
			Usage:      llm.Usage{InputTokens: 12, OutputTokens: 9},
		}},
		{"cache usage", &llm.Response{
			ID:         "msg_02",
			Content:    []llm.Part{llm.Text{Text: "cached"}},
			StopReason: llm.StopEndTurn,
			Usage:      llm.Usage{InputTokens: 7, OutputTokens: 3, CacheReadTokens: 2048, CacheWriteTokens: 1024, CacheWrite1hTokens: 512},
		}},
		{"text then tool call", &llm.Response{
			ID: "msg_03",
			Content: []llm.Part{
				llm.Text{Text: "Let me check the weather."},
				llm.ToolCall{ID: "toolu_01", Name: "get_weather", Input: json.RawMessage(`{"city":"Zürich","days":[1,2,3],"units":"metric"}`)},
				llm.ToolCall{ID: "toolu_02", Name: "get_time", Input: json.RawMessage(`{}`)},
			},
			StopReason: llm.StopToolUse,
			Usage:      llm.Usage{InputTokens: 100, OutputTokens: 40},
		}},
		{"thinking", &llm.Response{
			ID: "msg_04",
			Content: []llm.Part{
				llm.Thinking{Text: "The user wants a number. 6 times 7 is 42.", Signature: "EqQBCkYIBRgCIkB0c2lnbmF0dXJl/+=="},
				llm.Thinking{Redacted: "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"},
				llm.Text{Text: "42"},
			},
			StopReason: llm.StopEndTurn,
			Usage:      llm.Usage{InputTokens: 20, OutputTokens: 80},
		}},
		{"stop sequence", &llm.Response{
			ID:           "msg_05",
			Content:      []llm.Part{llm.Text{Text: "one two"}},
			StopReason:   llm.StopSequence,
			StopSequence: "three",
			Usage:        llm.Usage{InputTokens: 5, OutputTokens: 2},
		}},
	}
	for _, tc := range tests {
		for _, c := range calls {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				srv, m := newModel(t)
				srv.Enqueue(reply(tc.resp))
				got, err := c.run(t.Context(), m, &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
				if err != nil {
					t.Fatal(err)
				}
				want := *tc.resp
				want.Model = "anthropic/" + testModel
				if diff := cmp.Diff(&want, got, ignoreLatency); diff != "" {
					t.Errorf("response (-want +got):\n%s", diff)
				}
				if got.Latency <= 0 {
					t.Errorf("Latency = %v, want > 0", got.Latency)
				}
			})
		}
	}
}

// TestStreamEvents checks the event sequence a consumer sees: deltas as
// they come, the tool call assembled at its end, usage, then done.
func TestStreamEvents(t *testing.T) {
	srv, m := newModel(t)
	resp := &llm.Response{
		ID: "msg_01",
		Content: []llm.Part{
			llm.Text{Text: "Checking now."},
			llm.ToolCall{ID: "toolu_01", Name: "lookup", Input: json.RawMessage(`{"query":"keel boats"}`)},
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 20},
	}
	srv.Enqueue(reply(resp))
	evs, err := collect(m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("find")}}))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []llm.EventKind
	var text, args strings.Builder
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
		switch ev.Kind {
		case llm.EventText:
			text.WriteString(ev.Text)
			if ev.Index != 0 {
				t.Errorf("text event index %d, want 0", ev.Index)
			}
		case llm.EventToolCallDelta:
			args.WriteString(ev.Text)
		case llm.EventToolCallEnd:
			if ev.Index != 1 {
				t.Errorf("tool call end index %d, want 1", ev.Index)
			}
			want := llm.ToolCall{ID: "toolu_01", Name: "lookup", Input: json.RawMessage(`{"query":"keel boats"}`)}
			if diff := cmp.Diff(&want, ev.ToolCall); diff != "" {
				t.Errorf("assembled tool call (-want +got):\n%s", diff)
			}
		}
	}
	wantKinds := []llm.EventKind{
		llm.EventText, llm.EventText,
		llm.EventToolCallStart, llm.EventToolCallDelta, llm.EventToolCallDelta,
		llm.EventToolCallEnd, llm.EventUsage, llm.EventDone,
	}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("event kinds (-want +got):\n%s", diff)
	}
	if text.String() != "Checking now." || args.String() != `{"query":"keel boats"}` {
		t.Errorf("text %q, args %q", text.String(), args.String())
	}
	if u := evs[len(evs)-2].Usage; u == nil || *u != resp.Usage {
		t.Errorf("usage event %+v, want %+v", u, resp.Usage)
	}
}

// TestToolRoundTrip runs a full tool loop: the model calls a tool (text
// first, as Claude often does), the result goes back, the model answers.
func TestToolRoundTrip(t *testing.T) {
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			srv, m := newModel(t)
			tools := []llm.Tool{{
				Name:        "get_weather",
				Description: "Current weather for a city.",
				InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
			}}
			srv.Enqueue(
				reply(&llm.Response{
					Content: []llm.Part{
						llm.Text{Text: "I'll look it up."},
						llm.ToolCall{ID: "toolu_9", Name: "get_weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
					},
					StopReason: llm.StopToolUse,
				}),
				reply(&llm.Response{Content: []llm.Part{llm.Text{Text: "It is 3°C in Oslo."}}, StopReason: llm.StopEndTurn}),
			)
			req := &llm.Request{Messages: []llm.Message{llm.UserText("Weather in Oslo?")}, Tools: tools}
			first, err := c.run(t.Context(), m, req)
			if err != nil {
				t.Fatal(err)
			}
			calls := first.ToolCalls()
			if len(calls) != 1 || calls[0].Name != "get_weather" || string(calls[0].Input) != `{"city":"Oslo"}` {
				t.Fatalf("tool calls = %+v", calls)
			}
			if first.StopReason != llm.StopToolUse {
				t.Errorf("stop reason %q", first.StopReason)
			}
			req.Messages = append(req.Messages, first.Message(), llm.User(llm.ToolResult{
				CallID:  calls[0].ID,
				Content: []llm.Part{llm.Text{Text: `{"temp_c":3}`}},
			}))
			second, err := c.run(t.Context(), m, req)
			if err != nil {
				t.Fatal(err)
			}
			if second.Text() != "It is 3°C in Oslo." {
				t.Errorf("answer %q", second.Text())
			}
			wantMessages := jsonValue(t, `[
				{"role":"user","content":[{"type":"text","text":"Weather in Oslo?"}]},
				{"role":"assistant","content":[
					{"type":"text","text":"I'll look it up."},
					{"type":"tool_use","id":"toolu_9","name":"get_weather","input":{"city":"Oslo"}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"toolu_9","content":[{"type":"text","text":"{\"temp_c\":3}"}]}]}
			]`)
			if diff := cmp.Diff(wantMessages, lastBody(t, srv)["messages"]); diff != "" {
				t.Errorf("second request's messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestThinkingRoundTrip checks that thinking blocks come back to the API
// exactly as they came, signature and redacted data unchanged.
func TestThinkingRoundTrip(t *testing.T) {
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			srv, m := newModel(t)
			const sig = "EqQBCkYIBxgCKkDmUw+/9yz1V0GJhRq5tFqA=="
			const redacted = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
			srv.Enqueue(reply(&llm.Response{
				Content: []llm.Part{
					llm.Thinking{Text: "I should call the tool.", Signature: sig},
					llm.Thinking{Redacted: redacted},
					llm.ToolCall{ID: "toolu_1", Name: "calc", Input: json.RawMessage(`{"x":6,"y":7}`)},
				},
				StopReason: llm.StopToolUse,
			}), reply(nil))
			req := &llm.Request{
				Messages: []llm.Message{llm.UserText("6*7?")},
				Tools:    []llm.Tool{{Name: "calc"}},
				Thinking: &llm.ThinkingConfig{BudgetTokens: 2048},
			}
			first, err := c.run(t.Context(), m, req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(jsonValue(t, `{"type":"enabled","budget_tokens":2048}`), lastBody(t, srv)["thinking"]); diff != "" {
				t.Errorf("thinking config (-want +got):\n%s", diff)
			}
			req.Messages = append(req.Messages, first.Message(),
				llm.User(llm.ToolResult{CallID: "toolu_1", Content: []llm.Part{llm.Text{Text: "42"}}}))
			if _, err := c.run(t.Context(), m, req); err != nil {
				t.Fatal(err)
			}
			want := jsonValue(t, `{"role":"assistant","content":[
				{"type":"thinking","thinking":"I should call the tool.","signature":"`+sig+`"},
				{"type":"redacted_thinking","data":"`+redacted+`"},
				{"type":"tool_use","id":"toolu_1","name":"calc","input":{"x":6,"y":7}}]}`)
			if diff := cmp.Diff(want, lastBody(t, srv)["messages"].([]any)[1]); diff != "" {
				t.Errorf("assistant turn sent back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEcho(t *testing.T) {
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			_, m := newModel(t)
			resp, err := c.run(t.Context(), m, &llm.Request{Messages: []llm.Message{
				llm.UserText("first"), llm.AssistantText("ok"), llm.UserText("say this back"),
			}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text() != "say this back" || resp.StopReason != llm.StopEndTurn || resp.Usage.InputTokens == 0 {
				t.Errorf("echo = %q, %q, %+v", resp.Text(), resp.StopReason, resp.Usage)
			}
		})
	}
}

func TestStopReasons(t *testing.T) {
	for _, tc := range []struct {
		wire string
		want llm.StopReason
	}{
		{"end_turn", llm.StopEndTurn},
		{"max_tokens", llm.StopMaxTokens},
		{"tool_use", llm.StopToolUse},
		{"stop_sequence", llm.StopSequence},
		{"refusal", llm.StopRefusal},
		{"pause_turn", llm.StopPauseTurn},
		{"model_context_window_exceeded", llm.StopMaxTokens},
		{"a_reason_from_the_future", llm.StopUnknown},
	} {
		for _, c := range calls {
			t.Run(tc.wire+"/"+c.name, func(t *testing.T) {
				srv, m := newModel(t)
				srv.Enqueue(reply(&llm.Response{Content: []llm.Part{llm.Text{Text: "x"}}, StopReason: llm.StopReason(tc.wire)}))
				resp, err := c.run(t.Context(), m, &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
				if err != nil {
					t.Fatal(err)
				}
				if resp.StopReason != tc.want {
					t.Errorf("stop reason %q → %q, want %q", tc.wire, resp.StopReason, tc.want)
				}
			})
		}
	}
}

func TestHeaders(t *testing.T) {
	srv, m := newModel(t)
	if _, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}); err != nil {
		t.Fatal(err)
	}
	h := srv.Requests()[0].Header
	for name, want := range map[string]string{
		"Authorization":           "Bearer " + testKey,
		"Anthropic-Version":       "2026-10-21",
		"X-Stainless-Retry-Count": "0",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if got := srv.Requests()[0].Path; got != "/v1/messages" {
		t.Errorf("path %q", got)
	}
}

// TestEnvironmentIgnored proves that the SDK's environment variables do
// not redirect or re-key the adapter: Keel's resolver owns them.
func TestEnvironmentIgnored(t *testing.T) {
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1/bogus")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment-000000")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "token-from-the-environment")
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Injected: yes")
	t.Setenv("ANTHROPIC_PROFILE", "no-such-profile")

	t.Run("explicit base URL and key", func(t *testing.T) {
		srv, m := newModel(t)
		if _, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}); err != nil {
			t.Fatal(err)
		}
		h := srv.Requests()[0].Header
		if h.Get("Authorization") != "Bearer "+testKey || h.Get("X-Api-Key") != "" || h.Get("X-Injected") != "" {
			t.Errorf("credential headers: %v", h)
		}
	})
	t.Run("no key sends none", func(t *testing.T) {
		srv := anthropictest.NewServer(t)
		m := anthropic.New(anthropic.Options{BaseURL: srv.URL}).Model(testModel)
		_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
		if llm.KindOf(err) != llm.KindAuth {
			t.Fatalf("err = %v, want an auth error", err)
		}
		if h := srv.Requests()[0].Header; h.Get("Authorization") != "" || h.Get("X-Api-Key") != "" {
			t.Errorf("a credential was sent: %v", h)
		}
	})
	t.Run("default base URL", func(t *testing.T) {
		rt := &hostRecorder{}
		m := anthropic.New(anthropic.Options{APIKey: testKey, HTTPClient: &http.Client{Transport: rt}}).Model(testModel)
		_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
		if !errors.Is(err, errOffline) {
			t.Fatalf("err = %v, want the recorder's error", err)
		}
		if rt.url != "https://api.anthropic.com/v1/messages" {
			t.Errorf("request went to %q", rt.url)
		}
	})
}

var errOffline = errors.New("offline: this test never reaches the network")

// hostRecorder records where a request was going and fails it, so that no
// test reaches the internet.
type hostRecorder struct{ url string }

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.url = r.URL.String()
	return nil, errOffline
}

// TestNoRetries proves the SDK's own retries are off: a 529 reaches the
// caller after one attempt, for Keel's retry middleware to handle.
func TestNoRetries(t *testing.T) {
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			srv, m := newModel(t)
			srv.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Status: 529}}, reply(nil))
			_, err := c.run(t.Context(), m, &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
			if llm.KindOf(err) != llm.KindOverloaded {
				t.Fatalf("err = %v, want overloaded", err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
	}
}

func TestCountTokens(t *testing.T) {
	srv, m := newModel(t)
	req := &llm.Request{
		System:   []llm.Text{{Text: "You are terse."}},
		Messages: []llm.Message{llm.UserText("How many tokens is this sentence?")},
		Tools:    []llm.Tool{{Name: "search", Description: "Search the web."}},
	}
	n, err := m.CountTokens(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	rec := srv.Requests()[0]
	if rec.Path != "/v1/messages/count_tokens" {
		t.Errorf("path %q", rec.Path)
	}
	if want := anthropictest.CountTokens(rec.Body); n != want || n == 0 {
		t.Errorf("CountTokens = %d, want %d (non-zero)", n, want)
	}
	body := lastBody(t, srv)
	if _, ok := body["max_tokens"]; ok {
		t.Error("count_tokens request carries max_tokens")
	}
	if body["system"] == nil || body["tools"] == nil {
		t.Errorf("count_tokens request lacks system or tools: %v", body)
	}
	var _ llm.TokenCounter = m
}

// TestEmptyAnswer checks that an answer with no content is the same value
// through both paths (nil content, not an empty slice on one of them).
func TestEmptyAnswer(t *testing.T) {
	var got []*llm.Response
	for _, c := range calls {
		srv, m := newModel(t)
		srv.Enqueue(reply(&llm.Response{ID: "msg_empty", StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 4, OutputTokens: 1}}))
		resp, err := c.run(t.Context(), m, hi)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got = append(got, resp)
	}
	if diff := cmp.Diff(got[0], got[1], ignoreLatency); diff != "" {
		t.Errorf("generate vs stream (-generate +stream):\n%s", diff)
	}
	if got[0].Content != nil {
		t.Errorf("content %#v, want nil", got[0].Content)
	}
}
