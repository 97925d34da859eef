package llmtest

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"

	"github.com/keelai/keel/llm"
)

// Reply is one scripted answer of a fake Model.
type Reply struct {
	// Response is returned by Generate, and streamed by Stream as events
	// (text split into word-sized deltas).
	Response *llm.Response
	// Events, when set, are streamed as they are instead of Response.
	Events []llm.Event
	// Err is returned by Generate, and yielded by Stream after Events.
	Err error
}

// Text returns a reply whose response is one text part ending the turn.
func Text(text string) Reply {
	return Reply{Response: &llm.Response{
		Content:    []llm.Part{llm.Text{Text: text}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: len(strings.Fields(text))},
	}}
}

// ToolCall returns a reply whose response calls one tool.
func ToolCall(id, name, input string) Reply {
	return Reply{Response: &llm.Response{
		Content:    []llm.Part{llm.ToolCall{ID: id, Name: name, Input: []byte(input)}},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 5},
	}}
}

// Fail returns a reply that fails with an *llm.Error of kind.
func Fail(kind llm.ErrorKind) Reply {
	return Reply{Err: &llm.Error{Kind: kind, Provider: "fake", Message: "scripted failure"}}
}

// ErrNoReply is returned by a fake Model whose script has run out.
var ErrNoReply = errors.New("llmtest: no scripted reply left")

// Model is a scripted fake llm.Model: each call takes the next Reply from
// its queue and records the request it got. It is safe for concurrent use.
type Model struct {
	name string

	mu       sync.Mutex
	replies  []Reply
	requests []*llm.Request
	// orElse answers once the queue is empty; nil means ErrNoReply.
	orElse func(*llm.Request) Reply
}

// NewModel returns a fake named name ("fake/model" when empty) that answers
// with replies in order.
func NewModel(name string, replies ...Reply) *Model {
	if name == "" {
		name = "fake/model"
	}
	return &Model{name: name, replies: replies}
}

// NewEcho returns a fake that, once its queue is empty, answers every
// request with the text of its last user message.
func NewEcho(name string) *Model {
	m := NewModel(name)
	m.orElse = func(req *llm.Request) Reply {
		var last string
		for _, msg := range req.Messages {
			if msg.Role == llm.RoleUser {
				last = msg.Text()
			}
		}
		return Text(last)
	}
	return m
}

// Enqueue appends replies to the script.
func (m *Model) Enqueue(replies ...Reply) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replies = append(m.replies, replies...)
}

// Requests returns the requests received so far, oldest first.
func (m *Model) Requests() []*llm.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*llm.Request(nil), m.requests...)
}

// Name implements llm.Model.
func (m *Model) Name() string { return m.name }

func (m *Model) next(req *llm.Request) Reply {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, req.Clone())
	if len(m.replies) == 0 {
		if m.orElse != nil {
			return m.orElse(req)
		}
		return Reply{Err: ErrNoReply}
	}
	r := m.replies[0]
	m.replies = m.replies[1:]
	return r
}

// Generate implements llm.Model.
func (m *Model) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, &llm.Error{Kind: llm.KindOf(err), Provider: "fake", Err: err}
	}
	r := m.next(req)
	if r.Err != nil {
		return nil, r.Err
	}
	if r.Response == nil {
		resp, err := llm.Collect(m.events(ctx, r))
		return resp, err
	}
	return m.stamp(r.Response), nil
}

// Stream implements llm.Model.
func (m *Model) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(llm.Event{}, &llm.Error{Kind: llm.KindOf(err), Provider: "fake", Err: err})
			return
		}
		for ev, err := range m.events(ctx, m.next(req)) {
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

func (m *Model) stamp(resp *llm.Response) *llm.Response {
	c := *resp
	if c.Model == "" {
		c.Model = m.name
	}
	return &c
}

// events turns a reply into a stream, checking ctx between events.
func (m *Model) events(ctx context.Context, r Reply) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		evs := r.Events
		if evs == nil && r.Response != nil {
			evs = splitEvents(m.stamp(r.Response))
		}
		for _, ev := range evs {
			if err := ctx.Err(); err != nil {
				yield(llm.Event{}, &llm.Error{Kind: llm.KindOf(err), Provider: "fake", Err: err})
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
		if r.Err != nil {
			yield(llm.Event{}, r.Err)
		}
	}
}

// splitEvents replays resp with text split after each space, so consumers
// see several deltas as from a real stream.
func splitEvents(resp *llm.Response) []llm.Event {
	var evs []llm.Event
	for ev := range llm.StreamResponse(resp) {
		if ev.Kind != llm.EventText {
			evs = append(evs, ev)
			continue
		}
		for chunk := range strings.SplitAfterSeq(ev.Text, " ") {
			evs = append(evs, llm.Event{Kind: llm.EventText, Index: ev.Index, Text: chunk})
		}
	}
	return evs
}
