package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"iter"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
)

// sentMessages returns, for each recorded OpenAI request, its model, and
// its messages as "role: text".
func sentMessages(t *testing.T, srv *openaitest.Server) [][]string {
	t.Helper()
	var out [][]string
	for _, rec := range srv.Requests() {
		var body struct {
			Model    string `json:"model"`
			Messages []struct {
				Role    string `json:"role"`
				Content any    `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(rec.Body, &body); err != nil {
			t.Fatal(err)
		}
		turn := []string{"model " + body.Model}
		for _, m := range body.Messages {
			text, ok := m.Content.(string)
			if !ok { // an array of parts
				b, _ := json.Marshal(m.Content)
				text = string(b)
			}
			turn = append(turn, m.Role+": "+text)
		}
		out = append(out, turn)
	}
	return out
}

func TestChatScripted(t *testing.T) {
	srv := openaitest.NewServer(t) // echoes the last user message
	script := strings.Join([]string{
		"Hello",
		"",
		"/system Be brief.",
		"Second",
		"/model openai/other",
		"/model",
		"Third",
		"/reset",
		"/bogus",
		"Fourth",
		"/help",
		"/exit",
		"Never sent",
	}, "\n")
	r := keel(t, openaiEnv(srv), script, "chat", "--model", "openai/first")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if diff := cmp.Diff([]string{"Hello", "Second", "Third", "Fourth"}, lines(r.stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	for _, notice := range []string{"(system prompt set)", "(model: openai/other)", "(conversation cleared)", "unknown command /bogus", "/reset"} {
		if !strings.Contains(r.stderr, notice) {
			t.Errorf("stderr lacks %q:\n%s", notice, r.stderr)
		}
	}
	want := [][]string{
		{"model first", "user: Hello"},
		{"model first", "system: Be brief.", "user: Hello", "assistant: Hello", "user: Second"},
		{"model other", "system: Be brief.", "user: Hello", "assistant: Hello", "user: Second", "assistant: Second", "user: Third"},
		{"model other", "system: Be brief.", "user: Fourth"},
	}
	if diff := cmp.Diff(want, sentMessages(t, srv)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// A failed answer leaves the conversation as it was; the session goes on,
// and a scripted session reports the failure in its exit status.
func TestChatFailedTurn(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.Enqueue(
		llmtest.WireReply{Response: textResponse("first answer")},
		// A 400, which is never retried: the turn fails at once.
		llmtest.WireReply{Fault: llmtest.Fault{Status: 400}},
		llmtest.WireReply{Response: textResponse("third answer")},
	)
	r := keel(t, openaiEnv(srv), "one\ntwo\nthree\n", "chat", "--model", "openai/m")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if diff := cmp.Diff([]string{"first answer", "third answer"}, lines(r.stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	errLines := lines(r.stderr)
	if len(errLines) != 2 || !strings.Contains(errLines[0], "invalid_request") || errLines[1] != "keel: chat: 1 of the answers failed" {
		t.Errorf("stderr = %q", r.stderr)
	}
	want := []string{"model m", "user: one", "assistant: first answer", "user: three"}
	if got := sentMessages(t, srv); len(got) != 3 || !cmp.Equal(want, got[2]) {
		t.Errorf("third request = %q, want %q", got, want)
	}
}

func TestChatBadModelSwitchKeepsModel(t *testing.T) {
	srv := openaitest.NewServer(t)
	r := keel(t, openaiEnv(srv), "/model anthropic/claude-x\nhi\n", "chat", "--model", "openai/m")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "no API key: set ANTHROPIC_API_KEY") {
		t.Errorf("stderr %q lacks the key hint", r.stderr)
	}
	if got := sentMessages(t, srv); len(got) != 1 || got[0][0] != "model m" {
		t.Errorf("requests = %q, want one to model m", got)
	}
}

// blockingModel streams "partial " and then waits for its context to end,
// telling the test through started that it is waiting. Later calls echo.
type blockingModel struct {
	started chan struct{}
	echo    *llmtest.Model
	calls   int
}

func (m *blockingModel) Name() string { return "fake/blocking" }
func (m *blockingModel) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	return llm.Collect(m.Stream(ctx, req))
}
func (m *blockingModel) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	m.calls++
	if m.calls > 1 {
		return m.echo.Stream(ctx, req)
	}
	return func(yield func(llm.Event, error) bool) {
		if !yield(llm.Event{Kind: llm.EventText, Text: "partial "}, nil) {
			return
		}
		close(m.started)
		<-ctx.Done()
		yield(llm.Event{}, &llm.Error{Kind: llm.KindCanceled, Provider: "fake", Err: ctx.Err()})
	}
}

// Ctrl-C stops the answer being written, not the session: the next line
// is answered, and the stopped turn is not part of the conversation.
func TestChatInterruptStopsOneAnswer(t *testing.T) {
	model := &blockingModel{started: make(chan struct{}), echo: llmtest.NewEcho("fake/echo")}
	stdinR, stdinW := io.Pipe()
	var out, errOut bytes.Buffer
	subscribed := make(chan chan<- os.Signal, 1)
	a := &app{
		stdin: stdinR, stdout: &out, stderr: &errOut,
		getenv:     func(string) string { return "" },
		notify:     func(c chan<- os.Signal) { subscribed <- c },
		stopNotify: func(chan<- os.Signal) {},
		openModel:  func(string) (llm.Model, error) { return model, nil },
	}
	code := make(chan int)
	go func() { code <- a.main(context.Background(), []string{"chat"}) }()

	io.WriteString(stdinW, "first\n")
	sig := <-subscribed
	<-model.started // the answer is streaming and waits
	sig <- os.Interrupt
	io.WriteString(stdinW, "second\n")
	stdinW.Close()
	if c := <-code; c != 0 {
		t.Errorf("exit %d, stderr %q", c, errOut.String())
	}

	if got, want := out.String(), "partial \nsecond\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if !strings.Contains(errOut.String(), "(answer stopped)") {
		t.Errorf("stderr %q lacks the stop notice", errOut.String())
	}
	reqs := model.echo.Requests()
	if len(reqs) != 1 || len(reqs[0].Messages) != 1 || reqs[0].Messages[0].Text() != "second" {
		t.Errorf("second request carries %v, want only the second line", reqs)
	}
}

// Text reaches stdout as each event arrives, not when the answer is done.
func TestStreamWritesAsItArrives(t *testing.T) {
	next := make(chan struct{})
	var out bytes.Buffer
	seen := make(chan string, 3)
	model := llm.Funcs{
		NameFunc: func() string { return "fake/stepper" },
		StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
			return func(yield func(llm.Event, error) bool) {
				acc := llm.Accumulator{Model: "fake/stepper", StopReason: llm.StopEndTurn}
				for _, w := range []string{"one ", "two ", "three"} {
					if !yield(acc.Add(llm.Event{Kind: llm.EventText, Text: w}), nil) {
						return
					}
					seen <- out.String() // what the CLI has written by now
					<-next
				}
				yield(llm.Event{Kind: llm.EventDone, Response: acc.Response()}, nil)
			}
		},
	}
	a := &app{stdout: &out, stderr: io.Discard}
	done := make(chan error)
	go func() {
		_, err := a.stream(context.Background(), model, &llm.Request{})
		done <- err
	}()
	var got []string
	for range 3 {
		got = append(got, <-seen)
		next <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one ", "one two ", "one two three"}, got); diff != "" {
		t.Errorf("stdout after each event (-want +got):\n%s", diff)
	}
	if out.String() != "one two three\n" {
		t.Errorf("final stdout = %q", out.String())
	}
}
