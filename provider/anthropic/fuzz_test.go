package anthropic_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider/anthropic"
)

// bytesTransport answers every request with status and body, without a
// network, so that fuzzing runs fast and offline.
type bytesTransport struct {
	status      int
	contentType string
	body        []byte
}

func (b bytesTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: b.status,
		Header:     http.Header{"Content-Type": {b.contentType}},
		Body:       io.NopCloser(bytes.NewReader(b.body)),
		Request:    r,
	}, nil
}

func fuzzModel(status int, contentType string, body []byte) *anthropic.Model {
	return anthropic.New(anthropic.Options{
		APIKey:     testKey,
		BaseURL:    "http://fuzz.invalid",
		HTTPClient: &http.Client{Transport: bytesTransport{status, contentType, body}},
	}).Model(testModel)
}

// FuzzStream feeds arbitrary bytes to the stream decoder as the API's
// event stream. Whatever arrives, a stream either fails with one
// *llm.Error, or ends with one EventDone whose response holds a part for
// every index an event named.
func FuzzStream(f *testing.F) {
	block := sse(ev("content_block_start", textStart), ev("content_block_delta", textDelta), ev("content_block_stop", stop0))
	for _, seed := range []string{
		"",
		sse(ev("message_start", msgStart), block, ev("message_delta", msgDelta), ev("message_stop", msgStop)),
		sse(ev("message_start", msgStart), block),
		sse(ev("message_start", msgStart),
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}`),
			ev("content_block_stop", stop0),
			ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}`),
			ev("content_block_stop", `{"type":"content_block_stop","index":1}`),
			ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9,"cache_creation":{"ephemeral_1h_input_tokens":4}}}`),
			ev("message_stop", msgStop)),
		sse(ev("message_start", msgStart), ev("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)),
		"event: message_start\ndata: {\"type\": this is not json\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m := fuzzModel(http.StatusOK, eventStream, body)
		var done *llm.Response
		maxIndex := -1
		for e, err := range m.Stream(t.Context(), hi) {
			if done != nil {
				t.Fatal("events after EventDone")
			}
			if err != nil {
				if _, ok := errors.AsType[*llm.Error](err); !ok {
					t.Fatalf("error %T %v is not an *llm.Error", err, err)
				}
				return
			}
			switch e.Kind {
			case llm.EventDone:
				done = e.Response
			case llm.EventText, llm.EventThinking, llm.EventToolCallStart, llm.EventToolCallDelta, llm.EventToolCallEnd:
				maxIndex = max(maxIndex, e.Index)
			}
		}
		if done == nil {
			t.Fatal("a stream ended with neither EventDone nor an error")
		}
		if maxIndex >= len(done.Content) {
			t.Fatalf("an event named part %d of a response with %d parts", maxIndex, len(done.Content))
		}
	})
}

// FuzzGenerate feeds arbitrary bytes to the response decoder, as a
// success and as an error body: the answer is a response or an
// *llm.Error, never a panic.
func FuzzGenerate(f *testing.F) {
	for _, seed := range []string{
		`{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":1}}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		`{"content":null,"usage":null}`,
		`<html>`,
		``,
	} {
		f.Add([]byte(seed), uint16(200))
		f.Add([]byte(seed), uint16(529))
	}
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		if status < 200 || status > 599 {
			return
		}
		resp, err := fuzzModel(int(status), jsonResponse, body).Generate(t.Context(), hi)
		if err != nil {
			if _, ok := errors.AsType[*llm.Error](err); !ok {
				t.Fatalf("error %T %v is not an *llm.Error", err, err)
			}
			return
		}
		if resp == nil || resp.Model != "anthropic/"+testModel {
			t.Fatalf("response %+v", resp)
		}
	})
}
