package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/store/state"
	"github.com/keelai/keel/tool"
)

type conversationEvent struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Created bool   `json:"created"`
}

func TestChatStreamsEventsInOrderAndStoresTheTurn(t *testing.T) {
	e := newEnv(t)
	e.model.Enqueue(llmtest.Text("The sky is blue because of Rayleigh scattering."))

	evs := e.chat("", map[string]any{"message": "  Why is the sky blue?\nExplain briefly.  "})
	if got, want := names(evs), "conversation delta* usage done"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	var conv conversationEvent
	evs[0].decode(t, &conv)
	if !conv.Created || conv.ID == "" || conv.Title != "Why is the sky blue?" {
		t.Errorf("conversation event %+v", conv)
	}
	var text strings.Builder
	deltas := 0
	for _, ev := range evs {
		if ev.Name == "delta" {
			var d struct{ Text string }
			ev.decode(t, &d)
			text.WriteString(d.Text)
			deltas++
		}
	}
	if text.String() != "The sky is blue because of Rayleigh scattering." || deltas < 2 {
		t.Errorf("deltas %d, text %q", deltas, text.String())
	}
	var u usageEvent
	evs[len(evs)-2].decode(t, &u)
	if u.Model != fakeName || u.InputTokens != 10 || u.OutputTokens != 8 || u.CostUSD <= 0 {
		t.Errorf("usage %+v", u)
	}
	var done struct {
		MessageSeq int `json:"message_seq"`
	}
	evs[len(evs)-1].decode(t, &done)

	var got struct {
		Conversation struct{ ID, Title, Model string }
		Messages     []messageJSON
	}
	e.getJSON("GET", "/api/conversations/"+conv.ID, "", 200, &got)
	if len(got.Messages) != 2 {
		t.Fatalf("stored %d messages, want 2: %+v", len(got.Messages), got.Messages)
	}
	user, asst := got.Messages[0], got.Messages[1]
	if user.Role != llm.RoleUser || user.Text != "  Why is the sky blue?\nExplain briefly.  " {
		t.Errorf("user turn %+v", user)
	}
	if asst.Role != llm.RoleAssistant || asst.Text != text.String() || asst.Model != fakeName ||
		asst.Usage == nil || asst.Usage.OutputTokens != 8 || asst.CostUSD != u.CostUSD {
		t.Errorf("assistant turn %+v", asst)
	}
	if done.MessageSeq != asst.Seq {
		t.Errorf("done.message_seq %d, the stored assistant turn has seq %d", done.MessageSeq, asst.Seq)
	}
	if got.Conversation.Model != fakeName || got.Conversation.ID != conv.ID {
		t.Errorf("conversation %+v", got.Conversation)
	}
}

func TestChatSendsHistoryAndSystem(t *testing.T) {
	e := newEnv(t)
	e.model.Enqueue(llmtest.Text("Hello Ada."), llmtest.Text("Your name is Ada."))
	var conv conversationEvent
	e.chat("", map[string]any{"message": "My name is Ada."})[0].decode(t, &conv)
	evs := e.chat("", map[string]any{"message": "What is my name?", "conversation_id": conv.ID, "system": "Be terse."})
	var again conversationEvent
	evs[0].decode(t, &again)
	if again.ID != conv.ID || again.Created {
		t.Errorf("second turn's conversation event %+v", again)
	}
	reqs := e.model.Requests()
	last := reqs[len(reqs)-1]
	var roles []string
	for _, m := range last.Messages {
		roles = append(roles, string(m.Role)+":"+m.Text())
	}
	want := []string{"user:My name is Ada.", "assistant:Hello Ada.", "user:What is my name?"}
	if diff := cmp.Diff(want, roles); diff != "" {
		t.Errorf("messages sent (-want +got):\n%s", diff)
	}
	if len(last.System) != 1 || last.System[0].Text != "Be terse." {
		t.Errorf("system %+v", last.System)
	}
	var got struct{ Messages []messageJSON }
	e.getJSON("GET", "/api/conversations/"+conv.ID, "", 200, &got)
	if len(got.Messages) != 4 {
		t.Errorf("stored %d messages, want 4", len(got.Messages))
	}
}

func TestChatWithCollectionCitesRetrievedPassages(t *testing.T) {
	e := newEnv(t)
	status, body := e.upload("guide",
		file{"streaming.md", "# Streaming\n\nKeel streams responses as server-sent events. Cancel the context to stop a stream.\n"},
		file{"cost.txt", "Every call is priced from the price table; cache reads are cheaper than input tokens.\n"},
	)
	if status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	e.model.Enqueue(llmtest.Text("Keel streams responses as server-sent events [1]."))

	evs := e.chat("", map[string]any{"message": "How does Keel stream responses?", "collection": "guide", "k": 2})
	if got, want := names(evs), "conversation citations delta* usage done"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	var cites struct{ Citations []citation }
	evs[1].decode(t, &cites)

	// The citations are exactly what the retriever returns for the question.
	hits, err := (&rag.Retriever{Store: e.rag}).Retrieve(t.Context(), "guide", rag.Query{Text: "How does Keel stream responses?", K: 2})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(citationsOf(hits), cites.Citations); diff != "" {
		t.Errorf("citations differ from retrieval (-want +got):\n%s", diff)
	}
	if len(cites.Citations) == 0 || cites.Citations[0].DocID != "streaming.md" || cites.Citations[0].Index != 1 ||
		!strings.Contains(cites.Citations[0].Snippet, "server-sent events") || cites.Citations[0].Heading != "Streaming" {
		t.Errorf("first citation %+v", cites.Citations)
	}

	// The passages reach the model inside the user turn, escaped, and the
	// system prompt is the grounding instruction only.
	req := e.model.Requests()[0]
	if len(req.System) != 1 || req.System[0].Text != rag.SystemPrompt {
		t.Errorf("system %+v", req.System)
	}
	user := req.Messages[len(req.Messages)-1].Text()
	if !strings.Contains(user, "<sources>") || !strings.Contains(user, "server-sent events") {
		t.Errorf("user turn holds no sources: %q", user)
	}

	// The stored turn keeps the citations and the plain question.
	var conv conversationEvent
	evs[0].decode(t, &conv)
	var got struct{ Messages []messageJSON }
	e.getJSON("GET", "/api/conversations/"+conv.ID, "", 200, &got)
	if got.Messages[0].Text != "How does Keel stream responses?" {
		t.Errorf("stored user turn %q", got.Messages[0].Text)
	}
	var stored []citation
	if err := json.Unmarshal(got.Messages[1].Citations, &stored); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cites.Citations, stored); diff != "" {
		t.Errorf("stored citations (-sent +stored):\n%s", diff)
	}
}

func TestChatFailedTurnStoresNothing(t *testing.T) {
	e := newEnv(t)
	e.model.Enqueue(llmtest.Reply{
		Events: []llm.Event{{Kind: llm.EventText, Text: "Half an "}},
		Err:    &llm.Error{Kind: llm.KindInvalidRequest, Provider: "fake", Message: "scripted failure"},
	})
	evs := e.chat("", map[string]any{"message": "Hello"})
	if got, want := names(evs), "conversation delta* error"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	var apiErr apiError
	evs[len(evs)-1].decode(t, &apiErr)
	if apiErr.Type != "invalid_request" || !strings.Contains(apiErr.Message, "scripted failure") {
		t.Errorf("error event %+v", apiErr)
	}
	var conv conversationEvent
	evs[0].decode(t, &conv)
	msgs, err := e.state.Messages(t.Context(), "", conv.ID)
	if err != nil || len(msgs) != 0 {
		t.Errorf("after a failed turn: %d messages stored (err %v)", len(msgs), err)
	}
}

func TestChatStoreFailureIsAnErrorEvent(t *testing.T) {
	e := newEnv(t)
	e.state.failAppend = io.ErrClosedPipe
	e.model.Enqueue(llmtest.Text("An answer."))
	evs := e.chat("", map[string]any{"message": "Hello"})
	if got, want := names(evs), "conversation delta* error"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if strings.Contains(string(evs[len(evs)-1].Data), "closed pipe") {
		t.Errorf("the error event leaks the store's error: %s", evs[len(evs)-1].Data)
	}
}

func TestChatStreamsToolCalls(t *testing.T) {
	add := tool.Must("add", "Adds two numbers", func(_ context.Context, in struct {
		A int `json:"a"`
		B int `json:"b"`
	}) (int, error) {
		return in.A + in.B, nil
	})
	e := newEnv(t, withTools(add))
	e.model.Enqueue(llmtest.ToolCall("call_1", "add", `{"a":2,"b":3}`), llmtest.Text("2 + 3 = 5"))

	evs := e.chat("", map[string]any{"message": "What is 2+3?", "tools": []string{"add"}})
	if got, want := names(evs), "conversation tool_call tool_result delta* usage done"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	var call toolCallJSON
	evs[1].decode(t, &call)
	if call.ID != "call_1" || call.Name != "add" || call.Input.(map[string]any)["a"] != 2.0 {
		t.Errorf("tool_call %+v", call)
	}
	var res toolResultJSON
	evs[2].decode(t, &res)
	if res != (toolResultJSON{ID: "call_1", Name: "add", Output: "5"}) {
		t.Errorf("tool_result %+v", res)
	}
	if reqs := e.model.Requests(); len(reqs[0].Tools) != 1 || reqs[0].Tools[0].Name != "add" {
		t.Errorf("tools offered %+v", reqs[0].Tools)
	}
	var u usageEvent
	evs[len(evs)-2].decode(t, &u)
	if u.InputTokens != 20 || u.OutputTokens != 5+5 {
		t.Errorf("usage over both steps %+v", u)
	}

	// The whole transcript is stored, so the next turn's history holds the
	// call and its result.
	var conv conversationEvent
	evs[0].decode(t, &conv)
	var got struct{ Messages []messageJSON }
	e.getJSON("GET", "/api/conversations/"+conv.ID, "", 200, &got)
	if len(got.Messages) != 4 || len(got.Messages[1].ToolCalls) != 1 || len(got.Messages[2].ToolResults) != 1 ||
		got.Messages[3].Text != "2 + 3 = 5" {
		t.Errorf("stored transcript %+v", got.Messages)
	}
}

// blockingModel streams one delta, then waits for its context to end and
// reports that it did: a stand-in for a slow upstream.
type blockingModel struct {
	started   chan struct{}
	cancelled chan struct{}
}

func (m *blockingModel) Name() string { return fakeName }
func (m *blockingModel) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	return llm.Collect(m.Stream(ctx, req))
}
func (m *blockingModel) Stream(ctx context.Context, _ *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		if !yield(llm.Event{Kind: llm.EventText, Text: "Thinking about it"}, nil) {
			close(m.cancelled)
			return
		}
		close(m.started)
		<-ctx.Done()
		close(m.cancelled)
		yield(llm.Event{}, &llm.Error{Kind: llm.KindCanceled, Err: ctx.Err()})
	}
}

func TestChatClientDisconnectCancelsTheModel(t *testing.T) {
	bm := &blockingModel{started: make(chan struct{}), cancelled: make(chan struct{})}
	e := newEnv(t, withModel(bm))
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/api/chat", strings.NewReader(`{"message":"Take your time"}`))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var conv conversationEvent
	for ev := range sseEvents(resp.Body) {
		if ev.Name == "conversation" {
			ev.decode(t, &conv)
		}
		if ev.Name == "delta" {
			break
		}
	}
	<-bm.started
	cancel()
	<-bm.cancelled // the test would hang here if the model call outlived the client
	msgs, err := e.state.Messages(t.Context(), "", conv.ID)
	if err != nil || len(msgs) != 0 {
		t.Errorf("after a disconnect: %d messages stored (err %v)", len(msgs), err)
	}
}

func TestChatRejectsBadRequests(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, body string
		status     int
		typ, want  string
	}{
		{"unknown field", `{"message":"hi","temperature":1}`, 400, "invalid_request", `unknown field "temperature"`},
		{"wrong type", `{"message":42}`, 400, "invalid_request", `field "message" must be a string`},
		{"blank message", `{"message":"   "}`, 400, "invalid_request", `"message" is required`},
		{"not JSON", `message=hi`, 400, "invalid_request", "invalid JSON"},
		{"two objects", `{"message":"a"}{"message":"b"}`, 400, "invalid_request", "data after"},
		{"k out of range", `{"message":"hi","collection":"c","k":500}`, 400, "invalid_request", `"k" must be between`},
		{"unknown model", `{"message":"hi","model":"nope/nothing"}`, 404, "not_found", `model "nope/nothing" not found`},
		{"unknown conversation", `{"message":"hi","conversation_id":"zzz"}`, 404, "not_found", `conversation "zzz" not found`},
		{"unknown collection", `{"message":"hi","collection":"absent"}`, 404, "not_found", `collection "absent" not found`},
		{"unknown tool", `{"message":"hi","tools":["rm"]}`, 400, "invalid_request", `"tools"`},
		{"too large", `{"message":"` + strings.Repeat("a", maxChatBody) + `"}`, 413, "invalid_request", "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do("POST", "/api/chat", "", strings.NewReader(tc.body), "application/json")
			var eb errorBody
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || eb.Error.Type != tc.typ || !strings.Contains(eb.Error.Message, tc.want) {
				t.Errorf("got %d %+v, want %d %s containing %q", resp.StatusCode, eb.Error, tc.status, tc.typ, tc.want)
			}
		})
	}
	if cs, _ := e.state.Conversations(t.Context(), "", 0); len(cs) != 0 {
		t.Errorf("bad requests created %d conversations", len(cs))
	}
}

func TestChatHeartbeat(t *testing.T) {
	// A tool that waits until the client has seen a heartbeat: the stream
	// must stay alive, with comments, while a tool runs.
	seen := make(chan struct{})
	wait := tool.Must("wait", "Waits", func(ctx context.Context, _ struct{}) (string, error) {
		select {
		case <-seen:
			return "done waiting", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	e := newEnv(t, withTools(wait))
	e.model.Enqueue(llmtest.ToolCall("c1", "wait", `{}`), llmtest.Text("Finished."))
	// A short interval so the test does not take 15 s; what is tested is
	// that pings arrive during a tool run, not when.
	e.h.heartbeat = time.Millisecond
	resp := e.do("POST", "/api/chat", "", strings.NewReader(`{"message":"wait","tools":["wait"]}`), "application/json")
	buf := make([]byte, 4096)
	var got bytes.Buffer
	for !bytes.Contains(got.Bytes(), []byte("\n: ping\n")) {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended without a ping: %v\n%s", err, got.String())
		}
	}
	close(seen)
	rest, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(rest, []byte("event: done")) {
		t.Errorf("stream did not finish after the heartbeat:\n%s", rest)
	}
}

func TestChatFitsALongHistoryToTheWindow(t *testing.T) {
	// A model whose window Keel knows (128k tokens), and a stored
	// conversation far longer than that: the turn must still succeed,
	// with the oldest turns dropped and the new question kept.
	const name = "openai/gpt-4o-mini"
	m := llmtest.NewModel(name, llmtest.Text("Still here."))
	e := newEnv(t, func(d *Deps) {
		d.Models = newFakeModels(t, m)
		d.DefaultModel = name
	})
	conv := state.Conversation{ID: state.NewID(), Title: "long"}
	if err := e.state.CreateConversation(t.Context(), conv); err != nil {
		t.Fatal(err)
	}
	page := strings.Repeat("lorem ipsum dolor sit amet ", 2000) // ~10k tokens
	var history []state.Message
	for i := range 14 { // ~140k tokens
		history = append(history,
			state.Message{Message: llm.UserText(fmt.Sprintf("question %d: %s", i, page))},
			state.Message{Message: llm.AssistantText(fmt.Sprintf("answer %d", i))})
	}
	if err := e.state.AppendMessages(t.Context(), "", conv.ID, history...); err != nil {
		t.Fatal(err)
	}

	evs := e.chat("", map[string]any{"message": "Are you there?", "conversation_id": conv.ID})
	if got := names(evs); got != "conversation delta* usage done" {
		t.Fatalf("events %q", got)
	}
	sent := m.Requests()[0].Messages
	if len(sent) >= len(history)+1 || len(sent) < 3 {
		t.Errorf("sent %d of %d messages: the history was not fitted", len(sent), len(history)+1)
	}
	if sent[0].Role != llm.RoleUser || sent[len(sent)-1].Text() != "Are you there?" {
		t.Errorf("fitted window starts with %s and ends with %q", sent[0].Role, sent[len(sent)-1].Text())
	}
}
