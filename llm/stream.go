package llm

import (
	"encoding/json"
	"iter"
	"strings"
)

// EventKind says what a stream event carries.
type EventKind uint8

// Stream event kinds.
const (
	// EventText carries a text delta (Text) for the text part at Index.
	EventText EventKind = iota + 1
	// EventThinking carries a thinking delta (Text, Signature or Redacted)
	// for the thinking part at Index.
	EventThinking
	// EventToolCallStart opens the tool call at Index; ToolCall holds its ID
	// and Name.
	EventToolCallStart
	// EventToolCallDelta carries a fragment of the tool call's JSON
	// arguments (Text) for the call at Index.
	EventToolCallDelta
	// EventToolCallEnd closes the tool call at Index; after an Accumulator
	// has seen it, ToolCall holds the complete call.
	EventToolCallEnd
	// EventUsage carries the usage counted so far (cumulative, not a delta).
	EventUsage
	// EventDone is the last event of a successful stream; Response holds the
	// accumulated response.
	EventDone
)

var eventNames = [...]string{"", "text", "thinking", "tool_call_start", "tool_call_delta", "tool_call_end", "usage", "done"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one step of a streamed response.
type Event struct {
	Kind EventKind
	// Index is the position, in Response.Content, of the part the event
	// belongs to.
	Index     int
	Text      string
	Signature string
	Redacted  string
	ToolCall  *ToolCall
	Usage     *Usage
	Response  *Response
}

// Accumulator builds a Response from stream events. Provider adapters feed
// every event through Add and set the response-level fields (ID, StopReason,
// Usage, ...) as they learn them; Response returns the result. The zero
// value is ready to use.
type Accumulator struct {
	ID           string
	Model        string
	StopReason   StopReason
	StopSequence string
	Usage        Usage

	parts []*partBuilder
}

type partBuilder struct {
	kind     EventKind // EventText, EventThinking or EventToolCallStart
	text     strings.Builder
	sig      strings.Builder
	redacted string
	call     ToolCall
	args     strings.Builder
	done     bool
}

// Add records ev and returns it, completed where the accumulator knows more
// than the event (EventToolCallEnd gets the whole ToolCall).
func (a *Accumulator) Add(ev Event) Event {
	switch ev.Kind {
	case EventText, EventThinking:
		p := a.part(ev.Index, ev.Kind)
		p.text.WriteString(ev.Text)
		p.sig.WriteString(ev.Signature)
		if ev.Redacted != "" {
			p.redacted = ev.Redacted
		}
	case EventToolCallStart:
		p := a.part(ev.Index, EventToolCallStart)
		if ev.ToolCall != nil {
			p.call.ID, p.call.Name, p.call.Signature = ev.ToolCall.ID, ev.ToolCall.Name, ev.ToolCall.Signature
		}
	case EventToolCallDelta:
		a.part(ev.Index, EventToolCallStart).args.WriteString(ev.Text)
	case EventToolCallEnd:
		p := a.part(ev.Index, EventToolCallStart)
		p.done = true
		call := p.toolCall()
		ev.ToolCall = &call
	case EventUsage:
		if ev.Usage != nil {
			a.Usage = *ev.Usage
		}
	}
	return ev
}

// part returns the builder at index, creating it with kind when absent.
func (a *Accumulator) part(index int, kind EventKind) *partBuilder {
	for len(a.parts) <= index {
		a.parts = append(a.parts, nil)
	}
	if a.parts[index] == nil {
		a.parts[index] = &partBuilder{kind: kind}
	}
	return a.parts[index]
}

func (p *partBuilder) toolCall() ToolCall {
	c := p.call
	args := strings.TrimSpace(p.args.String())
	if args == "" {
		args = "{}"
	}
	// Arguments cut short (max_tokens in the middle of a call) are kept as
	// the model produced them; callers check json.Valid before running a tool.
	c.Input = json.RawMessage(args)
	return c
}

// Response returns the response accumulated so far.
func (a *Accumulator) Response() *Response {
	r := &Response{
		ID:           a.ID,
		Model:        a.Model,
		StopReason:   a.StopReason,
		StopSequence: a.StopSequence,
		Usage:        a.Usage,
	}
	for _, p := range a.parts {
		if p == nil {
			continue
		}
		switch p.kind {
		case EventText:
			r.Content = append(r.Content, Text{Text: p.text.String()})
		case EventThinking:
			r.Content = append(r.Content, Thinking{Text: p.text.String(), Signature: p.sig.String(), Redacted: p.redacted})
		case EventToolCallStart:
			r.Content = append(r.Content, p.toolCall())
		}
	}
	return r
}

// Collect drains a stream and returns its final response. A stream that
// ends without an EventDone and without an error is reported as a network
// error (ErrIncomplete): a cut stream must never pass for a short answer.
func Collect(stream iter.Seq2[Event, error]) (*Response, error) {
	for ev, err := range stream {
		if err != nil {
			return nil, err
		}
		if ev.Kind == EventDone {
			return ev.Response, nil
		}
	}
	return nil, &Error{Kind: KindNetwork, Message: ErrIncomplete.Error(), Err: ErrIncomplete}
}

// StreamResponse returns a stream that replays resp: one event per part (a
// tool call as start, arguments and end), then usage, then done. Fakes and
// response caches use it.
func StreamResponse(resp *Response) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for i, p := range resp.Content {
			var evs []Event
			switch p := p.(type) {
			case Text:
				evs = []Event{{Kind: EventText, Index: i, Text: p.Text}}
			case Thinking:
				evs = []Event{{Kind: EventThinking, Index: i, Text: p.Text, Signature: p.Signature, Redacted: p.Redacted}}
			case ToolCall:
				start := ToolCall{ID: p.ID, Name: p.Name, Signature: p.Signature}
				evs = []Event{
					{Kind: EventToolCallStart, Index: i, ToolCall: &start},
					{Kind: EventToolCallDelta, Index: i, Text: string(p.Input)},
					{Kind: EventToolCallEnd, Index: i, ToolCall: &p},
				}
			}
			for _, ev := range evs {
				if !yield(ev, nil) {
					return
				}
			}
		}
		u := resp.Usage
		if !yield(Event{Kind: EventUsage, Usage: &u}, nil) {
			return
		}
		yield(Event{Kind: EventDone, Response: resp}, nil)
	}
}
