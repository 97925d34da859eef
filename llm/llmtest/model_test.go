package llmtest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/keelai/keel/llm"
)

func TestModelScript(t *testing.T) {
	m := NewModel("", Text("hello there world"), ToolCall("c1", "add", `{"a":1}`), Fail(llm.KindOverloaded))
	ctx := context.Background()
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}

	resp, err := m.Generate(ctx, req)
	if err != nil || resp.Text() != "hello there world" || resp.Model != "fake/model" {
		t.Fatalf("first reply = %+v, %v", resp, err)
	}

	var deltas []string
	var done *llm.Response
	for ev, err := range m.Stream(ctx, req) {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case llm.EventToolCallDelta:
			deltas = append(deltas, ev.Text)
		case llm.EventDone:
			done = ev.Response
		}
	}
	if done == nil || len(done.ToolCalls()) != 1 || done.StopReason != llm.StopToolUse {
		t.Fatalf("streamed tool call reply = %+v", done)
	}
	if diff := cmp.Diff([]string{`{"a":1}`}, deltas); diff != "" {
		t.Errorf("argument deltas (-want +got):\n%s", diff)
	}

	if _, err := m.Generate(ctx, req); llm.KindOf(err) != llm.KindOverloaded {
		t.Errorf("third reply err = %v, want overloaded", err)
	}
	if _, err := m.Generate(ctx, req); !errors.Is(err, ErrNoReply) {
		t.Errorf("exhausted script err = %v, want ErrNoReply", err)
	}
	if got := len(m.Requests()); got != 4 {
		t.Errorf("recorded %d requests, want 4", got)
	}
}

func TestModelStreamsInPieces(t *testing.T) {
	m := NewModel("fake/x", Text("one two three"))
	var texts []string
	for ev, err := range m.Stream(context.Background(), &llm.Request{}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == llm.EventText {
			texts = append(texts, ev.Text)
		}
	}
	if diff := cmp.Diff([]string{"one ", "two ", "three"}, texts); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
}

func TestModelCanceled(t *testing.T) {
	m := NewEcho("")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Generate(ctx, &llm.Request{}); llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("err = %v, want canceled", err)
	}
}

func TestEcho(t *testing.T) {
	m := NewEcho("")
	resp, err := m.Generate(context.Background(), &llm.Request{Messages: []llm.Message{llm.UserText("a"), llm.AssistantText("b"), llm.UserText("c")}})
	if err != nil || resp.Text() != "c" {
		t.Errorf("echo = %+v, %v", resp, err)
	}
}
