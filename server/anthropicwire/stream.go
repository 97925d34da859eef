package anthropicwire

import (
	"context"
	"errors"
	"iter"
	"net/http"

	"github.com/keelai/keel/internal/ahead"
	"github.com/keelai/keel/llm"
)

// streamBlock is what the encoder knows of one part of the response (by
// its llm index): the wire block it is open as, if any.
type streamBlock struct {
	kind llm.EventKind // EventText, EventThinking or EventToolCallStart
	wire int           // index of its latest wire block; -1 before any
	open bool
}

// encoder writes an llm stream as the Messages API's server-sent events.
//
// llm events say which part they belong to; the wire wants blocks opened
// in order with dense indexes, and every block closed before message_stop.
// Tool calls carry their own end; text and thinking have none, so they are
// closed when another block opens (as Anthropic closes one block before
// starting the next). A part that continues after that (text after a tool
// call, from an interleaving upstream) opens a fresh wire block; tool-call
// blocks may stay open side by side, which the API also does.
type encoder struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	buf   []byte
	err   error // the first write error: the client is gone
	id    string
	model string

	started bool
	next    int // next wire index
	soft    int // llm index of the open text or thinking part, -1 if none
	blocks  []streamBlock
	usage   llm.Usage
}

func newEncoder(w http.ResponseWriter, id, model string) *encoder {
	return &encoder{w: w, rc: http.NewResponseController(w), id: id, model: model, soft: -1, buf: make([]byte, 0, 512)}
}

// event writes one event whose data is in e.buf after the header that
// begin put there.
func (e *encoder) begin(name string) {
	e.buf = append(e.buf[:0], "event: "...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, "\ndata: "...)
}

func (e *encoder) end() {
	if e.err != nil {
		return
	}
	e.buf = append(e.buf, "\n\n"...)
	if _, err := e.w.Write(e.buf); err != nil {
		e.err = err
	}
}

// flush sends the events written so far. The stream loop calls it after
// each model event unless the next is already waiting: a token a client
// cannot see yet is latency, but one that follows at once can share its
// write.
func (e *encoder) flush() {
	if e.err == nil {
		e.err = e.rc.Flush()
	}
}

// start sends the headers and message_start, with the usage known so far.
func (e *encoder) start() {
	e.started = true
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	e.w.WriteHeader(http.StatusOK)

	e.begin("message_start")
	e.buf = append(e.buf, `{"type":"message_start","message":{"id":`...)
	e.buf = appendString(e.buf, e.id)
	e.buf = append(e.buf, `,"type":"message","role":"assistant","model":`...)
	e.buf = appendString(e.buf, e.model)
	e.buf = append(e.buf, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	e.buf = appendUsage(e.buf, e.usage)
	e.buf = append(e.buf, "}}"...)
	e.end()
}

func (e *encoder) block(i int) *streamBlock {
	for len(e.blocks) <= i {
		e.blocks = append(e.blocks, streamBlock{wire: -1})
	}
	return &e.blocks[i]
}

// openBlock closes the open text or thinking block and starts a wire block
// for part i; head is the content_block's members after its type.
func (e *encoder) openBlock(i int, kind llm.EventKind, typ string, head func([]byte) []byte) *streamBlock {
	e.closeSoft()
	b := e.block(i)
	b.kind, b.wire, b.open = kind, e.next, true
	e.next++
	e.begin("content_block_start")
	e.buf = append(e.buf, `{"type":"content_block_start","index":`...)
	e.buf = appendInt(e.buf, b.wire)
	e.buf = append(e.buf, `,"content_block":{"type":"`...)
	e.buf = append(e.buf, typ...)
	e.buf = append(e.buf, '"')
	e.buf = head(e.buf)
	e.buf = append(e.buf, "}}"...)
	e.end()
	if kind != llm.EventToolCallStart {
		e.soft = i
	}
	return b
}

func (e *encoder) closeBlock(b *streamBlock) {
	if !b.open {
		return
	}
	b.open = false
	e.begin("content_block_stop")
	e.buf = append(e.buf, `{"type":"content_block_stop","index":`...)
	e.buf = appendInt(e.buf, b.wire)
	e.buf = append(e.buf, '}')
	e.end()
}

func (e *encoder) closeSoft() {
	if e.soft >= 0 {
		e.closeBlock(&e.blocks[e.soft])
		e.soft = -1
	}
}

// delta writes a content_block_delta of the given type for b; field is the
// delta's member holding s.
func (e *encoder) delta(b *streamBlock, typ, field, s string) {
	e.begin("content_block_delta")
	e.buf = append(e.buf, `{"type":"content_block_delta","index":`...)
	e.buf = appendInt(e.buf, b.wire)
	e.buf = append(e.buf, `,"delta":{"type":"`...)
	e.buf = append(e.buf, typ...)
	e.buf = append(e.buf, `","`...)
	e.buf = append(e.buf, field...)
	e.buf = append(e.buf, `":`...)
	e.buf = appendString(e.buf, s)
	e.buf = append(e.buf, "}}"...)
	e.end()
}

var (
	emptyText     = func(b []byte) []byte { return append(b, `,"text":""`...) }
	emptyThinking = func(b []byte) []byte { return append(b, `,"thinking":"","signature":""`...) }
)

// errMixedPart and errBadIndex are upstream streams no adapter should
// send, reported to the client as an api_error.
var (
	errMixedPart = errors.New("upstream stream mixed event kinds within one content block")
	errBadIndex  = errors.New("upstream stream sent an event with an impossible part index")
)

// add writes the events of one llm stream event.
func (e *encoder) add(ev llm.Event) error {
	// Indexes are dense positions in the response; one far past the parts
	// seen so far would only make the encoder allocate for nothing.
	if ev.Kind != llm.EventUsage && (ev.Index < 0 || ev.Index > len(e.blocks)+1024) {
		return errBadIndex
	}
	switch ev.Kind {
	case llm.EventText:
		b := e.block(ev.Index)
		if b.open && b.kind != llm.EventText {
			return errMixedPart
		}
		if !b.open {
			b = e.openBlock(ev.Index, llm.EventText, "text", emptyText)
		}
		if ev.Text != "" {
			e.delta(b, "text_delta", "text", ev.Text)
		}

	case llm.EventThinking:
		b := e.block(ev.Index)
		if b.open && b.kind != llm.EventThinking {
			return errMixedPart
		}
		if ev.Redacted != "" {
			// Redacted thinking comes whole, in its start event.
			e.openBlock(ev.Index, llm.EventThinking, "redacted_thinking", func(buf []byte) []byte {
				buf = append(buf, `,"data":`...)
				return appendString(buf, ev.Redacted)
			})
			e.closeSoft()
			return nil
		}
		if !b.open {
			b = e.openBlock(ev.Index, llm.EventThinking, "thinking", emptyThinking)
		}
		if ev.Text != "" {
			e.delta(b, "thinking_delta", "thinking", ev.Text)
		}
		if ev.Signature != "" {
			e.delta(b, "signature_delta", "signature", ev.Signature)
		}

	case llm.EventToolCallStart:
		b := e.block(ev.Index)
		if b.open {
			return errMixedPart
		}
		var call llm.ToolCall
		if ev.ToolCall != nil {
			call = *ev.ToolCall
		}
		e.openTool(ev.Index, call)

	case llm.EventToolCallDelta:
		b := e.block(ev.Index)
		if b.open && b.kind != llm.EventToolCallStart {
			return errMixedPart
		}
		if !b.open {
			b = e.openTool(ev.Index, llm.ToolCall{})
		}
		if ev.Text != "" {
			e.delta(b, "input_json_delta", "partial_json", ev.Text)
		}

	case llm.EventToolCallEnd:
		b := e.block(ev.Index)
		if b.open && b.kind != llm.EventToolCallStart {
			return errMixedPart
		}
		if !b.open && b.wire < 0 && ev.ToolCall != nil {
			// A call that came whole, without a start.
			b = e.openTool(ev.Index, *ev.ToolCall)
			if in := ev.ToolCall.Input; len(in) > 0 {
				e.delta(b, "input_json_delta", "partial_json", string(appendInput(nil, in)))
			}
		}
		e.closeBlock(b)

	case llm.EventUsage:
		if ev.Usage != nil {
			e.usage = *ev.Usage
		}
	}
	return nil
}

func (e *encoder) openTool(i int, call llm.ToolCall) *streamBlock {
	id := call.ID
	if id == "" {
		id = newID("toolu_")
	}
	return e.openBlock(i, llm.EventToolCallStart, "tool_use", func(b []byte) []byte {
		b = append(b, `,"id":`...)
		b = appendString(b, id)
		b = append(b, `,"name":`...)
		b = appendString(b, call.Name)
		return append(b, `,"input":{}`...)
	})
}

// finish closes every open block and ends the message with resp's stop
// reason and usage.
func (e *encoder) finish(resp *llm.Response) {
	e.closeSoft()
	for i := range e.blocks {
		e.closeBlock(&e.blocks[i])
	}
	e.begin("message_delta")
	e.buf = append(e.buf, `{"type":"message_delta","delta":{`...)
	e.buf = appendStop(e.buf, resp)
	// The whole usage, cache classes included, so that a streamed call
	// reports what the same call unstreamed does.
	e.buf = append(e.buf, `},"usage":`...)
	e.buf = appendUsage(e.buf, resp.Usage)
	e.buf = append(e.buf, '}')
	e.end()
	e.begin("message_stop")
	e.buf = append(e.buf, `{"type":"message_stop"}`...)
	e.end()
}

// fail ends the stream with an error event, as the API does mid-stream.
func (e *encoder) fail(err error) {
	_, typ, msg := classify(err)
	e.begin("error")
	e.buf = appendErrorBody(e.buf, typ, msg, e.w.Header().Get("request-id"))
	e.end()
}

// stream serves a streamed call: headers and message_start wait for the
// upstream's first event, so that a call refused upfront (rate limited,
// overloaded, bad request) gets its HTTP status and retry-after like any
// other error. After that, an error is an error event, and a stream that
// ends without its final event is reported as one too, never as a short
// success.
func stream(ctx context.Context, w http.ResponseWriter, m llm.Model, req *llm.Request, id, model string) {
	e := newEncoder(w, id, model)
	events := ahead.Start(ctx, func(ctx context.Context) iter.Seq2[llm.Event, error] {
		return m.Stream(ctx, req)
	})
	for ev, err := range events.All() {
		if err != nil {
			if !e.started {
				WriteError(w, err)
			} else {
				e.fail(err)
			}
			return
		}
		if ev.Kind == llm.EventDone {
			if ev.Response == nil {
				ev.Response = &llm.Response{Usage: e.usage}
			}
			if !e.started {
				e.usage = ev.Response.Usage
				e.start()
			}
			e.finish(ev.Response)
			return
		}
		if !e.started {
			if ev.Kind == llm.EventUsage && ev.Usage != nil {
				e.usage = *ev.Usage
			}
			e.start()
		}
		if err := e.add(ev); err != nil {
			e.fail(&llm.Error{Kind: llm.KindServer, Message: err.Error(), Err: err})
			return
		}
		if !events.Waiting() {
			e.flush()
		}
		if e.err != nil {
			return // the client left; returning stops the upstream
		}
	}
	cut := &llm.Error{Kind: llm.KindNetwork, Message: "upstream stream ended before its final event", Err: llm.ErrIncomplete}
	if ctx.Err() != nil {
		return // the client left
	}
	if !e.started {
		WriteError(w, cut)
		return
	}
	e.fail(cut)
}
