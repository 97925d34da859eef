package openai

//lint:file-ignore SA1019 OpenAI-compatible servers still send the legacy function_call field; reading it is deliberate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/keelai/keel/llm"
)

// doneDecoder notes whether the stream's "[DONE]" sentinel arrived: the
// SDK's Stream ends the same way on "[DONE]" and on a closed connection, and
// only the sentinel proves the answer is complete.
type doneDecoder struct {
	ssestream.Decoder
	done bool
}

func (d *doneDecoder) Next() bool {
	if !d.Decoder.Next() {
		return false
	}
	if bytes.HasPrefix(d.Event().Data, []byte("[DONE]")) {
		d.done = true
	}
	return true
}

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
func (s *streamState) chunk(ch *openai.ChatCompletionChunk, evs []llm.Event) []llm.Event {
	if ch.ID != "" {
		s.acc.ID = ch.ID
	}
	if ch.JSON.Usage.Valid() {
		s.usage = usage(ch.Usage)
	} else if u, ok := groqUsage(ch); ok {
		s.usage = u
	}
	for _, c := range ch.Choices {
		if c.Index != 0 {
			continue // Keel asks for one choice
		}
		d := &c.Delta
		if r := reasoning(d.JSON.ExtraFields); r != "" {
			if s.thinking < 0 {
				s.thinking = s.alloc()
			}
			evs = append(evs, s.acc.Add(llm.Event{Kind: llm.EventThinking, Index: s.thinking, Text: r}))
		}
		for _, text := range [...]string{d.Content, d.Refusal} {
			if text == "" {
				continue
			}
			if s.text < 0 {
				s.text = s.alloc()
			}
			evs = append(evs, s.acc.Add(llm.Event{Kind: llm.EventText, Index: s.text, Text: text}))
		}
		s.refusal = s.refusal || d.Refusal != ""
		for _, tc := range d.ToolCalls {
			evs = s.toolCall(tc, evs)
		}
		if d.FunctionCall.Name != "" || d.FunctionCall.Arguments != "" {
			// The deprecated function_call delta: one call, no index.
			evs = s.toolCall(openai.ChatCompletionChunkChoiceDeltaToolCall{
				Index:    -1,
				Function: openai.ChatCompletionChunkChoiceDeltaToolCallFunction{Name: d.FunctionCall.Name, Arguments: d.FunctionCall.Arguments},
			}, evs)
		}
		if c.FinishReason != "" {
			s.finish = c.FinishReason
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
func (s *streamState) toolCall(tc openai.ChatCompletionChunkChoiceDeltaToolCall, evs []llm.Event) []llm.Event {
	call, ok := s.calls[tc.Index]
	if ok && tc.ID != "" && call.wireID != "" && call.wireID != tc.ID {
		evs = s.closeCall(call, evs)
		ok = false
	}
	if !ok {
		call = &streamCall{index: s.alloc(), id: callID(tc.ID), wireID: tc.ID}
		s.calls[tc.Index] = call
		s.order = append(s.order, call)
		s.ncalls++
		evs = append(evs, s.acc.Add(llm.Event{
			Kind:     llm.EventToolCallStart,
			Index:    call.index,
			ToolCall: &llm.ToolCall{ID: call.id, Name: tc.Function.Name},
		}))
	}
	if tc.Function.Arguments != "" {
		evs = append(evs, s.acc.Add(llm.Event{Kind: llm.EventToolCallDelta, Index: call.index, Text: tc.Function.Arguments}))
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

// groqUsage reads the usage Groq sends in x_groq.usage instead of usage.
func groqUsage(ch *openai.ChatCompletionChunk) (llm.Usage, bool) {
	f, ok := ch.JSON.ExtraFields["x_groq"]
	if !ok || f.Raw() == "" || f.Raw() == "null" {
		return llm.Usage{}, false
	}
	var x struct {
		Usage *openai.CompletionUsage `json:"usage"`
	}
	if json.Unmarshal([]byte(f.Raw()), &x) != nil || x.Usage == nil {
		return llm.Usage{}, false
	}
	return usage(*x.Usage), true
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
	// NewStreaming, so that the decoder can be wrapped to see "[DONE]".
	_, err := m.p.chat.New(ctx, params,
		option.WithJSONSet("stream", true),
		option.WithResponseBodyInto(&raw),
	)
	if err != nil {
		yield(llm.Event{}, m.p.wrapErr(ctx, err, raw))
		return
	}
	dec := &doneDecoder{Decoder: ssestream.NewDecoder(raw)}
	stream := ssestream.NewStream[openai.ChatCompletionChunk](dec, nil)
	// Closing the body ends the upstream request when the caller stops
	// early or ctx is canceled.
	defer stream.Close()

	st := newStreamState()
	st.acc.Model = m.name
	var evs []llm.Event
	for stream.Next() {
		ch := stream.Current()
		evs = st.chunk(&ch, evs[:0])
		for _, ev := range evs {
			if !yield(ev, nil) {
				return
			}
		}
	}
	if err := stream.Err(); err != nil {
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
	if !dec.done || st.finish == "" {
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
