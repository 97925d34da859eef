package openaiwire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keelai/keel/llm"
)

func TestDecodeChatRequestErrors(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name, body string
		param, msg string
	}{
		{"not json", `{"model":`, "", "We could not parse the JSON body"},
		{"trailing data", `{"model":"m",` + user + `} {}`, "", "unexpected data"},
		{"unknown argument", `{"model":"m",` + user + `,"foo":1}`, "", "Unrecognized request argument supplied: foo"},
		{"unknown nested", `{"model":"m","messages":[{"role":"user","content":"hi","colour":"red"}]}`, "messages[0].colour", "Unrecognized argument supplied at 'messages[0]': colour"},
		{"unknown in part", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","x":1}]}]}`, "messages[0].content.x", "Unrecognized argument"},
		{"no model", `{` + user + `}`, "model", "Missing required parameter: 'model'"},
		{"no messages", `{"model":"m"}`, "messages", "Missing required parameter"},
		{"only system", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, "messages", "at least one user message"},
		{"wrong type top", `{"model":"m",` + user + `,"temperature":"hot"}`, "temperature", "Invalid type for 'temperature': expected a number, but got a string instead."},
		{"wrong type nested", `{"model":"m","messages":[{"role":"user","content":"hi","name":7}]}`, "messages[0].name", "expected a string, but got a number"},
		{"content number", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content", "expected a string or an array of objects, but got a number"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", `"robot"`},
		{"function role", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, "messages[0].role", "deprecated"},
		{"n", `{"model":"m",` + user + `,"n":2}`, "n", "only n=1"},
		{"logprobs", `{"model":"m",` + user + `,"logprobs":true}`, "logprobs", "not supported"},
		{"audio out", `{"model":"m",` + user + `,"audio":{"voice":"alloy","format":"wav"}}`, "audio", "not supported"},
		{"modalities", `{"model":"m",` + user + `,"modalities":["text","audio"]}`, "modalities[1]", "only \"text\""},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}`, "messages[0].content[0].type", "audio input is not supported"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"x"}]}`, "messages[0].content[0].type", "cannot hold"},
		{"bad data url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "messages[0].content[0].image_url.url", "not base64"},
		{"ftp url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`, "messages[0].content[0].image_url.url", "http(s)"},
		{"file id", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`, "messages[0].content[0].file.file_id", "uploaded files"},
		{"bad arguments", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}`, "messages[1].tool_calls[0].function.arguments", "not valid JSON"},
		{"empty assistant", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null}]}`, "messages[1].content", "needs 'content' or 'tool_calls'"},
		{"tool without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id", "Missing"},
		{"tool type", `{"model":"m",` + user + `,"tools":[{"type":"custom","custom":{}}]}`, "tools[0].type", `Supported values are: 'function'`},
		{"tool choice unknown", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`, "tool_choice", `"sometimes"`},
		{"tool choice no tools", `{"model":"m",` + user + `,"tool_choice":"required"}`, "tool_choice", "only allowed when 'tools'"},
		{"tool choice unknown name", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, "tool_choice.function.name", `"g"`},
		{"stop type", `{"model":"m",` + user + `,"stop":3}`, "stop", "expected a string or an array of strings"},
		{"stop list type", `{"model":"m",` + user + `,"stop":["a",3]}`, "stop", "expected a string"},
		{"response format", `{"model":"m",` + user + `,"response_format":{"type":"xml"}}`, "response_format.type", `"xml"`},
		{"schema missing", `{"model":"m",` + user + `,"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`, "response_format.json_schema.schema", "Missing"},
		{"reasoning effort", `{"model":"m",` + user + `,"reasoning_effort":"extreme"}`, "reasoning_effort", `"extreme"`},
		{"max tokens", `{"model":"m",` + user + `,"max_tokens":0}`, "max_tokens", ">= 1"},
		{"temperature range", `{"model":"m",` + user + `,"temperature":3}`, "temperature", "between 0 and 2"},
		{"stream options without stream", `{"model":"m",` + user + `,"stream_options":{"include_usage":true}}`, "stream_options", "only allowed when 'stream'"},
		{"cache ttl", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral","ttl":"2h"}}]}]}`, "messages[0].content[0].cache_control.ttl", `"2h"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call, err := decodeChatRequest([]byte(tc.body))
			if err == nil {
				t.Fatalf("decoded %+v, want an error", call)
			}
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is a %T", err, err)
			}
			if re.status != 400 || re.param != tc.param || !strings.Contains(re.msg, tc.msg) {
				t.Errorf("got %d param %q msg %q; want param %q, msg containing %q", re.status, re.param, re.msg, tc.param, tc.msg)
			}
		})
	}
}

func TestDecodeChatRequestAccepts(t *testing.T) {
	// Every argument OpenAI documents that Keel accepts without using.
	body := `{"model":"m","messages":[{"role":"user","content":"hi","name":"ann"}],
		"frequency_penalty":0.5,"presence_penalty":0,"logit_bias":{"50256":-100},"metadata":{"k":"v"},
		"store":false,"service_tier":"auto","prompt_cache_key":"abc","prompt_cache_retention":"24h",
		"safety_identifier":"h","verbosity":"low","seed":1,"n":1,
		"stop":["x","y"],"response_format":{"type":"text"},"reasoning_effort":"none","modalities":["text"],
		"max_tokens":10,"max_completion_tokens":20,"stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}}`
	call, err := decodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if !call.Stream || !call.IncludeUsage || call.Request.MaxTokens != 20 || len(call.Request.StopSequences) != 2 || call.Request.Output != nil || call.Request.Thinking != nil {
		t.Errorf("call = %+v", call)
	}
}

func TestDecodeParallelToolCalls(t *testing.T) {
	const head = `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]`
	for _, tc := range []struct {
		name, body string
		want       *bool // nil: the provider's default
	}{
		{"absent", head + `}`, nil},
		{"false", head + `,"parallel_tool_calls":false}`, new(false)},
		{"true", head + `,"parallel_tool_calls":true}`, new(true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call, err := decodeChatRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			switch got := call.Request.ParallelToolCalls; {
			case (got == nil) != (tc.want == nil):
				t.Errorf("ParallelToolCalls = %v, want %v", got, tc.want)
			case got != nil && *got != *tc.want:
				t.Errorf("ParallelToolCalls = %v, want %v", *got, *tc.want)
			}
		})
	}
}

func TestDecodeToolMessages(t *testing.T) {
	// Consecutive tool messages answer one assistant turn: they become one
	// user turn, which the next user message joins.
	body := `{"model":"m","messages":[
		{"role":"user","content":"go"},
		{"role":"assistant","content":"two calls","tool_calls":[
			{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},
			{"id":"b","type":"function","function":{"name":"g","arguments":""}}]},
		{"role":"tool","tool_call_id":"a","content":"1"},
		{"role":"tool","tool_call_id":"b","content":[{"type":"text","text":"2"}]},
		{"role":"user","content":"and?"}]}`
	call, err := decodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	msgs := call.Request.Messages
	if len(msgs) != 3 {
		t.Fatalf("%d messages: %+v", len(msgs), msgs)
	}
	if calls := msgs[1].ToolCalls(); len(calls) != 2 || string(calls[1].Input) != "{}" {
		t.Errorf("assistant = %+v", msgs[1])
	}
	parts := msgs[2].Parts
	if len(parts) != 3 || parts[0].(llm.ToolResult).CallID != "a" || parts[1].(llm.ToolResult).CallID != "b" || parts[2].(llm.Text).Text != "and?" {
		t.Errorf("user turn = %+v", parts)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "tab\tnl\ncr\r\x00\x1f", "é日本🙂", "\u2028\u2029", "bad\xffutf8", "<html>&"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) = %s: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("round trip of %q = %q", s, back)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip of %q = %q", s, back)
		}
	})
}

func FuzzDecodeChatRequest(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"1h"}}]},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0K"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c","content":"ok"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"},"strict":true}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"},"strict":true}},"stop":["a"],"temperature":1,"top_p":0.5,"max_tokens":5,"reasoning_effort":"high"}`,
		`{"model":"m","messages":[{"role":"user","content":5}]}`,
		`{"model":"m","messages":[{"role":"developer","content":"d"},{"role":"user","content":"u"}],"foo":1}`,
		`[]`, `null`, `{}`, `{"model":"m","messages":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		call, err := decodeChatRequest(body)
		if (call == nil) == (err == nil) {
			t.Fatalf("call %v and err %v: want exactly one", call, err)
		}
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.status != 400 || re.msg == "" {
				t.Fatalf("error %v (%T) is not a 400 request error", err, err)
			}
			return
		}
		if call.Model == "" || len(call.Request.Messages) == 0 {
			t.Fatalf("accepted a request without model or messages: %s", body)
		}
		for _, tc := range call.Request.Messages {
			for _, c := range tc.ToolCalls() {
				if !json.Valid(c.Input) {
					t.Fatalf("tool call input %q is not JSON", c.Input)
				}
			}
		}
	})
}
