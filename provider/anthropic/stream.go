package anthropic

import (
	"encoding/json"
	"fmt"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/keelai/keel/llm"
)

// streamState turns the API's events into llm events, checking that they
// arrive in an order the API can send.
type streamState struct {
	provider string
	acc      llm.Accumulator
	usage    usageState
	started  bool // message_start seen
	stopped  bool // message_stop seen
	blocks   []block
	parts    int // parts opened so far; the next one's index
}

// block is a content block of the stream, by its wire index.
type block struct {
	wire     int64
	index    int           // its part's index in the response; -1 when skipped
	kind     llm.EventKind // EventText, EventThinking or EventToolCallStart
	open     bool
	args     bool   // an input_json_delta carried part of the arguments
	startArg string // the input shown in content_block_start
}

func (s *streamState) malformed(format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindServer, Provider: s.provider,
		Message: "malformed stream: " + fmt.Sprintf(format, args...)}
}

func (s *streamState) find(wire int64) *block {
	for i := range s.blocks {
		if s.blocks[i].wire == wire {
			return &s.blocks[i]
		}
	}
	return nil
}

// handle processes one event, yielding what it produces. ok is false when
// the consumer stopped the loop.
func (s *streamState) handle(ev *wireEvent, yield func(llm.Event, error) bool) (ok bool, err error) {
	emit := func(e llm.Event) bool { return yield(s.acc.Add(e), nil) }

	if !s.started && ev.Type != "message_start" {
		switch ev.Type {
		case "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop":
			return false, s.malformed("%s before message_start", ev.Type)
		}
		return true, nil
	}

	switch ev.Type {
	case "message_start":
		if s.started {
			return false, s.malformed("a second message_start")
		}
		s.started = true
		s.acc.ID = string(ev.Message.ID)
		ev.Message.Usage.mergeInto(&s.usage)

	case "content_block_start":
		if s.find(ev.Index) != nil {
			return false, s.malformed("block %d started twice", ev.Index)
		}
		cb := &ev.ContentBlock
		b := block{wire: ev.Index, index: -1, open: true}
		var e llm.Event
		send := false
		switch cb.Type {
		case "text":
			b.kind = llm.EventText
			e = llm.Event{Kind: llm.EventText, Text: string(cb.Text)}
			send = cb.Text != ""
		case "thinking":
			b.kind = llm.EventThinking
			e = llm.Event{Kind: llm.EventThinking, Text: string(cb.Thinking), Signature: string(cb.Signature)}
			send = cb.Thinking != "" || cb.Signature != ""
		case "redacted_thinking":
			b.kind = llm.EventThinking
			e = llm.Event{Kind: llm.EventThinking, Redacted: string(cb.Data)}
			send = true
		case "tool_use":
			b.kind = llm.EventToolCallStart
			b.startArg = string(cb.Input)
			e = llm.Event{Kind: llm.EventToolCallStart, ToolCall: &llm.ToolCall{ID: string(cb.ID), Name: string(cb.Name)}}
			send = true
		default:
			// A block Keel has no part for (server tools): its events are
			// skipped, and the parts after it keep dense indexes.
			s.blocks = append(s.blocks, b)
			return true, nil
		}
		b.index = s.parts
		s.parts++
		s.blocks = append(s.blocks, b)
		e.Index = b.index
		if !send {
			s.acc.Add(e) // opens the part, so an empty block still shows
			return true, nil
		}
		return emit(e), nil

	case "content_block_delta":
		b := s.find(ev.Index)
		switch {
		case b == nil:
			return false, s.malformed("delta for block %d, which was not started", ev.Index)
		case !b.open:
			return false, s.malformed("delta for block %d after its content_block_stop", ev.Index)
		case b.index < 0:
			return true, nil
		}
		d := &ev.Delta
		want := llm.EventKind(0)
		var e llm.Event
		switch d.Type {
		case "text_delta":
			want, e = llm.EventText, llm.Event{Kind: llm.EventText, Text: string(d.Text)}
		case "thinking_delta":
			want, e = llm.EventThinking, llm.Event{Kind: llm.EventThinking, Text: string(d.Thinking)}
		case "signature_delta":
			want, e = llm.EventThinking, llm.Event{Kind: llm.EventThinking, Signature: string(d.Signature)}
		case "input_json_delta":
			want, e = llm.EventToolCallStart, llm.Event{Kind: llm.EventToolCallDelta, Text: string(d.PartialJSON)}
		default:
			// citations_delta and delta types newer than this adapter carry
			// nothing Keel keeps.
			return true, nil
		}
		if b.kind != want {
			return false, s.malformed("%s for block %d, which is not of that kind", d.Type, ev.Index)
		}
		e.Index = b.index
		if e.Text == "" && e.Signature == "" {
			return true, nil
		}
		if d.Type == "input_json_delta" {
			b.args = true
		}
		return emit(e), nil

	case "content_block_stop":
		b := s.find(ev.Index)
		switch {
		case b == nil:
			return false, s.malformed("content_block_stop for block %d, which was not started", ev.Index)
		case !b.open:
			return false, s.malformed("block %d stopped twice", ev.Index)
		}
		b.open = false
		if b.kind != llm.EventToolCallStart || b.index < 0 {
			return true, nil
		}
		// Arguments that came whole in content_block_start (some
		// compatible servers send them so) stand in for deltas.
		if !b.args && b.startArg != "" && b.startArg != "{}" && b.startArg != "null" && json.Valid([]byte(b.startArg)) {
			if !emit(llm.Event{Kind: llm.EventToolCallDelta, Index: b.index, Text: b.startArg}) {
				return false, nil
			}
		}
		return emit(llm.Event{Kind: llm.EventToolCallEnd, Index: b.index}), nil

	case "message_delta":
		if ev.Delta.StopReason != "" {
			s.acc.StopReason = stopReason(sdk.StopReason(ev.Delta.StopReason))
			s.acc.StopSequence = string(ev.Delta.StopSequence)
		}
		ev.Usage.mergeInto(&s.usage)

	case "message_stop":
		for _, b := range s.blocks {
			if b.open {
				return false, s.malformed("message_stop while block %d is open", b.wire)
			}
		}
		s.stopped = true
	}
	// Other event types (newer than this adapter) are skipped, as the API's
	// versioning policy asks of clients.
	return true, nil
}
