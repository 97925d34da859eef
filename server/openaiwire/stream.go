package openaiwire

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"strconv"

	"github.com/keelai/keel/internal/ahead"
	"github.com/keelai/keel/llm"
)

// stream answers a streamed chat completion. Nothing is written until the
// model yields its first event, so an error before it (a bad key upstream,
// a rate limit) is an ordinary HTTP error with its status and retry-after.
// An error after it is sent as a chunk {"error":{…}}, which openai-go
// surfaces as an error from its stream, and the stream then ends without
// "[DONE]": a client must never take a cut answer for a complete one.
func (h *handler) stream(w http.ResponseWriter, r *http.Request, m llm.Model, call *chatCall) {
	// Leaving the loop early (write failure, client gone) cancels the
	// stream, which stops the upstream request.
	events := ahead.Start(r.Context(), func(ctx context.Context) iter.Seq2[llm.Event, error] {
		return m.Stream(ctx, &call.Request)
	})
	cw := chunkWriter{w: w, rc: http.NewResponseController(w), usage: call.IncludeUsage}
	for ev, err := range events.All() {
		if err != nil {
			if isCanceled(r.Context(), err) {
				return
			}
			if !cw.started {
				WriteError(w, err)
				return
			}
			cw.fail(err)
			return
		}
		if !cw.started {
			cw.start(newID("chatcmpl-"), unixNow(), m.Name())
		}
		switch ev.Kind {
		case llm.EventText:
			cw.content(ev.Text)
		case llm.EventToolCallStart:
			if ev.ToolCall != nil {
				cw.toolStart(ev.Index, ev.ToolCall.ID, ev.ToolCall.Name)
			}
		case llm.EventToolCallDelta:
			cw.toolArgs(ev.Index, ev.Text)
		case llm.EventDone:
			if ev.Response != nil {
				cw.finish(ev.Response)
			}
			return
		}
		if !events.Waiting() {
			cw.flush()
		}
		if cw.err != nil {
			return
		}
	}
	// The stream ended with neither its final event nor an error.
	err := &llm.Error{Kind: llm.KindNetwork, Message: "upstream stream ended before its final event", Err: llm.ErrIncomplete}
	if r.Context().Err() != nil {
		return
	}
	if !cw.started {
		WriteError(w, err)
		return
	}
	cw.fail(err)
}

// chunkWriter writes chat.completion.chunk events. Every chunk of a stream
// shares its id, created and model, so that prefix is encoded once and each
// chunk appends only its delta to a reused buffer.
type chunkWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	usage   bool // include_usage: every chunk carries "usage":null, then a usage chunk
	started bool
	id      string
	created int64
	model   string
	head    []byte // `data: {"id":…,"model":…,"choices":[`
	buf     []byte
	tools   []int // the Response.Content index of each tool call, by OpenAI index
	err     error // the first write error: the client is gone
}

func (c *chunkWriter) setHead(model string) {
	c.model = model
	b := append(c.head[:0], `data: {"id":`...)
	b = appendString(b, c.id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, c.created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, model)
	c.head = append(b, `,"choices":[`...)
}

func (c *chunkWriter) start(id string, created int64, model string) {
	c.started = true
	c.id, c.created = id, created
	c.buf = make([]byte, 0, 512)
	c.setHead(model)
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold tokens back
	c.w.WriteHeader(http.StatusOK)
	c.chunk(append(c.begin(), `{"role":"assistant","content":"","refusal":null}`...), "")
}

// begin starts a chunk holding choice 0; chunk finishes it.
func (c *chunkWriter) begin() []byte {
	b := append(c.buf[:0], c.head...)
	return append(b, `{"index":0,"delta":`...)
}

// chunk ends the delta in b with the finish reason ("" for null), closes
// the chunk, and sends it.
func (c *chunkWriter) chunk(b []byte, finish string) {
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, finish)
	}
	b = append(b, "}]"...)
	if c.usage {
		b = append(b, `,"usage":null`...)
	}
	c.send(append(b, "}\n\n"...))
}

// send writes a chunk; flush sends what is written. The last chunks need
// no flush: the response ends after them.
func (c *chunkWriter) send(b []byte) {
	c.buf = b[:0]
	if c.err != nil {
		return
	}
	if _, err := c.w.Write(b); err != nil {
		c.err = err
	}
}

func (c *chunkWriter) flush() {
	if c.err == nil {
		c.err = c.rc.Flush()
	}
}

func (c *chunkWriter) content(text string) {
	if text == "" {
		return
	}
	b := append(c.begin(), `{"content":`...)
	b = appendString(b, text)
	c.chunk(append(b, '}'), "")
}

// toolStart opens a tool call: OpenAI sends its index, id, type, name and
// empty arguments first, then the arguments in fragments.
func (c *chunkWriter) toolStart(part int, id, name string) {
	n := len(c.tools)
	c.tools = append(c.tools, part)
	b := append(c.begin(), `{"tool_calls":[{"index":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"id":`...)
	b = appendString(b, id)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = appendString(b, name)
	c.chunk(append(b, `,"arguments":""}}]}`...), "")
}

func (c *chunkWriter) toolArgs(part int, fragment string) {
	if fragment == "" {
		return
	}
	n := -1
	for i, p := range c.tools {
		if p == part {
			n = i
		}
	}
	if n < 0 {
		return // a delta without its start; the accumulated response still has it
	}
	b := append(c.begin(), `{"tool_calls":[{"index":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"function":{"arguments":`...)
	b = appendString(b, fragment)
	c.chunk(append(b, `}}]}`...), "")
}

func (c *chunkWriter) finish(resp *llm.Response) {
	if resp.Model != "" && resp.Model != c.model {
		// A fallback answered: the last chunks name the model that did.
		c.setHead(resp.Model)
	}
	c.chunk(append(c.begin(), "{}"...), finishReason(resp))
	if c.usage {
		u, _ := json.Marshal(usageOf(resp.Usage))
		b := append(c.buf[:0], c.head...)
		b = append(b, `],"usage":`...)
		b = append(b, u...)
		c.send(append(b, "}\n\n"...))
	}
	c.send(append(c.buf[:0], "data: [DONE]\n\n"...))
}

// fail sends err as the stream's last event.
func (c *chunkWriter) fail(err error) {
	_, detail, _ := describe(err)
	body, _ := json.Marshal(errorBody{Error: detail})
	b := append(c.buf[:0], "data: "...)
	b = append(b, body...)
	c.send(append(b, "\n\n"...))
}
