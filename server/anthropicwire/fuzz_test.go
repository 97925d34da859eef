package anthropicwire

import (
	"errors"
	"net/http"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/keelai/keel/llm"
)

var fuzzSeeds = []string{
	`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","max_tokens":5,"stream":true,"system":"s","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"top_p":0.9,"top_k":3,"stop_sequences":["x"],"metadata":{"user_id":"u"}}`,
	`{"model":"m","max_tokens":5,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]}]}`,
	`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`,
	`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","title":"t","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain"}},{"type":"document","source":{"type":"url","url":"https://example.com/a.pdf"},"citations":{"enabled":false}}]}]}`,
	`{"model":"m","max_tokens":5,"tools":[{"name":"t","description":"d","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],"tool_choice":{"type":"tool","name":"t","disable_parallel_tool_use":true},"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"redacted_thinking","data":"xx"},{"type":"tool_use","id":"toolu_1","name":"t","input":{"a":1},"cache_control":{"type":"ephemeral"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"r"}],"is_error":true,"cache_control":{"type":"ephemeral"}}]}]}`,
	`{"model":"m","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},"output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}},"cache_control":{"type":"ephemeral"},"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"plain"}]}],"foo":1}`,
	`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"\ud800"}]}`,
	`[]`, `null`, `{`, ``,
}

// FuzzDecodeMessagesRequest feeds arbitrary bodies to the decoder: it must
// never panic, must answer every bad body with a 400 *llm.Error carrying a
// message, and must only accept what gives a usable request whose response
// encodes as valid JSON.
func FuzzDecodeMessagesRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		model, _, req, err := decodeMessagesRequest(body)
		if err != nil {
			var le *llm.Error
			if !errors.As(err, &le) || le.Status != http.StatusBadRequest || le.Kind != llm.KindInvalidRequest || le.Message == "" {
				t.Fatalf("error %#v, want a 400 invalid_request *llm.Error with a message", err)
			}
			return
		}
		if model == "" || req == nil || len(req.Messages) == 0 || req.MaxTokens < 1 {
			t.Fatalf("accepted an unusable request: model %q, %+v", model, req)
		}
		// Whatever was accepted comes back as the assistant's answer: the
		// encoder must make valid JSON of any text and tool input.
		resp := &llm.Response{Content: req.Messages[len(req.Messages)-1].Parts}
		if out := appendMessage(nil, "msg_x", model, resp); !jsontext.Value(out).IsValid() {
			t.Fatalf("encoded an invalid message: %s", out)
		}
	})
}
