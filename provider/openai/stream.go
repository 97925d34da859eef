package openai

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/keelai/keel/internal/lenientjson"
	"github.com/keelai/keel/llm"
)

// streamCall is the state of one tool call being streamed.
type streamCall struct {
	index  int    // in Response.Content
	id     string // as sent, or made up when the server sent none
	wireID string // as sent
}

// streamState turns chunks into Keel events. Parts get their index in
// Response.Content in the order they first appear.
type streamState struct {
	acc      llm.Accumulator
	next     int
	thinking int // -1 until reasoning arrives
	text     int // -1 until text arrives
	calls    map[int64]*streamCall
	order    []*streamCall // open calls, in order of appearance
	finish   string
	refusal  bool
	ncalls   int
	usage    llm.Usage
}

func newStreamState() *streamState {
	return &streamState{thinking: -1, text: -1, calls: map[int64]*streamCall{}}
}

// chunk applies one chunk and returns the events it produced.
func (s *streamState) chunk(ch *wireChunk, evs []llm.Event) []llm.Event {
	if ch.ID != "" {
		s.acc.ID = string(ch.ID)
	}
	if ch.Usage != nil {
		s.usage = usage(ch.Usage)
	} else if ch.XGroq != nil && ch.XGroq.Usage != nil {
		// Groq sends the usage in x_groq.usage.
		s.usage = usage(ch.XGroq.Usage)
	}
	for i := range ch.Choices {
		c := &ch.Choices[i]
		if c.Index != 0 {
			continue // Keel asks for one choice
		}
		d := &c.Delta
		if r := d.reasoning(); r != "" {
			if s.thinking < 0 {
				s.thinking = s.alloc()
			}
			evs = append(evs, s.acc.Add(llm.Event{Kind: llm.EventThinking, Index: s.thinking, Text: r}))
		}
		for _, text := range [...]lenientjson.String{d.Content, d.Refusal} {
			if text == "" {
				continue
			}
			if s.text < 0 {
				s.text = s.alloc()
			}
			evs = append(evs, s.acc.Add(llm.Event{Kind: llm.EventText, Index: s.text, Text: string(text)}))
		}
		s.refusal = s.refusal || d.Refusal != ""
		for _, tc := range d.ToolCalls {
			var index int64 // 0 for calls sent whole, without one
			if tc.Index != nil {
				index = *tc.Index
			}
			evs = s.toolCall(index, tc, evs)
		}
		if d.FunctionCall.Name != "" || d.FunctionCall.Arguments != "" {
			// The deprecated function_call delta: one call, no index; -1
			// keeps it apart from every tool call.
			evs = s.toolCall(-1, wireToolCall{Function: d.FunctionCall}, evs)
		}
		if c.FinishReason != "" {
			s.finish = string(c.FinishReason)
			evs = s.closeCalls(evs)
		}
	}
	return evs
}

func (s *streamState) alloc() int {
	i := s.next
	s.next++
	return i
}

// toolCall handles a tool-call delta. Deltas are matched by index; the id
// and name come with the first delta of an index, the arguments in
// fragments. A delta bringing a different id for a known index starts a
// new call (servers that send whole calls without an index).
func (s *streamState) toolCall(index int64, tc wireToolCall, evs []llm.Event) []llm.Event {
	id := string(tc.ID)
	call, ok := s.calls[index]
	if ok && id != "" && call.wireID != "" && call.wireID != id {
		evs = s.closeCall(call, evs)
		ok = false
	}
	if !ok {
		call = &streamCall{index: s.alloc(), id: callID(id), wireID: id}
		s.calls[index] = call
		s.order = append(s.order, call)
		s.ncalls++
		evs = append(evs, s.acc.Add(llm.Event{
			Kind:     llm.EventToolCallStart,
			Index:    call.index,
			ToolCall: &llm.ToolCall{ID: call.id, Name: string(tc.Function.Name)},
		}))
	}
	if tc.Function.Arguments != "" {
		evs = append(evs, s.acc.Add(llm.Event{Kind: llm.EventToolCallDelta, Index: call.index, Text: string(tc.Function.Arguments)}))
	}
	return evs
}

func (s *streamState) closeCall(call *streamCall, evs []llm.Event) []llm.Event {
	i := slices.Index(s.order, call)
	if i < 0 {
		return evs
	}
	s.order = slices.Delete(s.order, i, i+1)
	return append(evs, s.acc.Add(llm.Event{Kind: llm.EventToolCallEnd, Index: call.index}))
}

func (s *streamState) closeCalls(evs []llm.Event) []llm.Event {
	for _, call := range s.order {
		evs = append(evs, s.acc.Add(llm.Event{Kind: llm.EventToolCallEnd, Index: call.index}))
	}
	s.order = s.order[:0]
	clear(s.calls)
	return evs
}

// stream runs one streamed call, yielding Keel events.
func (m *Model) stream(ctx context.Context, params openai.ChatCompletionNewParams, yield func(llm.Event, error) bool) {
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	if m.p.official {
		// OpenAI pads every chunk with random "obfuscation" text unless
		// told not to; compatible servers may not know the option.
		params.StreamOptions.IncludeObfuscation = openai.Bool(false)
	}
	start := time.Now()
	var raw *http.Response
	// New with stream:true and the body handed over raw, rather than
	// NewStreaming, so that "[DONE]" is seen and chunks are decoded with
	// Keel's types.
	_, err := m.p.chat.New(ctx, params,
		option.WithJSONSet("stream", true),
		option.WithResponseBodyInto(&raw),
	)
	if err != nil {
		yield(llm.Event{}, m.p.wrapErr(ctx, err, raw))
		return
	}
	// The SDK's decoder frames the events; each event's data is decoded
	// here (wire.go), as ssestream.Stream would, with Keel's types.
	dec := ssestream.NewDecoder(raw)
	// Closing the body ends the upstream request when the caller stops
	// early or ctx is canceled.
	defer dec.Close()

	st := newStreamState()
	st.acc.Model = m.name
	var evs []llm.Event
	done := false
	for dec.Next() {
		data := dec.Event().Data
		if bytes.HasPrefix(data, []byte("[DONE]")) {
			// The sentinel proves the answer is complete: a closed
			// connection ends the events the same way otherwise.
			done = true
			break
		}
		var ch wireChunk
		if err = lenientjson.Unmarshal(data, &ch); err != nil {
			err = m.p.malformed(err, raw)
			break
		}
		if e := string(ch.Error); e != "" && e != "null" {
			err = &ssestream.StreamError{Message: "received error while streaming: " + e, Event: dec.Event()}
			break
		}
		evs = st.chunk(&ch, evs[:0])
		for _, ev := range evs {
			if !yield(ev, nil) {
				return
			}
		}
	}
	if err == nil {
		err = dec.Err()
	}
	if err != nil {
		e := m.p.wrapErr(ctx, err, raw)
		if e.Kind == llm.KindNetwork {
			// The connection broke mid-body: the answer is cut short.
			e.Message = llm.ErrIncomplete.Error() + ": " + e.Message
			e.Err = fmt.Errorf("%w: %w", llm.ErrIncomplete, err)
		}
		e.RequestID = cmp.Or(e.RequestID, raw.Header.Get("x-request-id"))
		yield(llm.Event{}, e)
		return
	}
	if !done || st.finish == "" {
		if err := ctx.Err(); err != nil {
			yield(llm.Event{}, m.p.wrapErr(ctx, err, raw))
			return
		}
		yield(llm.Event{}, &llm.Error{
			Kind:      llm.KindNetwork,
			Provider:  m.p.name,
			Message:   llm.ErrIncomplete.Error(),
			RequestID: raw.Header.Get("x-request-id"),
			Err:       llm.ErrIncomplete,
		})
		return
	}
	st.acc.StopReason = stopReason(st.finish, st.ncalls > 0, st.refusal)
	st.acc.Usage = st.usage
	u := st.usage
	if !yield(st.acc.Add(llm.Event{Kind: llm.EventUsage, Usage: &u}), nil) {
		return
	}
	resp := st.acc.Response()
	resp.Latency = time.Since(start)
	yield(llm.Event{Kind: llm.EventDone, Response: resp}, nil)
}
