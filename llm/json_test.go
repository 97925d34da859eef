package llm

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMessageJSONRoundTrip(t *testing.T) {
	msgs := []Message{
		{Role: RoleUser, Parts: []Part{
			Text{Text: "look", Cache: &CacheControl{TTL: CacheTTL1h}},
			Image{MediaType: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}},
			Image{URL: "https://example.com/a.jpg"},
			Document{MediaType: "application/pdf", Data: []byte("%PDF-1.7"), Title: "spec"},
		}},
		{Role: RoleAssistant, Parts: []Part{
			Thinking{Text: "hmm", Signature: "sig=="},
			Thinking{Redacted: "opaque"},
			Text{Text: "calling"},
			ToolCall{ID: "c1", Name: "add", Input: json.RawMessage(`{"a":1}`), Signature: "gsig"},
		}},
		{Role: RoleUser, Parts: []Part{
			ToolResult{CallID: "c1", Name: "add", IsError: true, Content: []Part{Text{Text: "boom"}}, Cache: &CacheControl{}},
		}},
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		t.Fatal(err)
	}
	var got []Message
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(msgs, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestMessageJSONUnknownPart(t *testing.T) {
	var m Message
	err := json.Unmarshal([]byte(`{"role":"user","parts":[{"type":"text","text":"a"},{"type":"video"}]}`), &m)
	if err == nil || err.Error() != `part 1: unknown part type "video"` {
		t.Fatalf("err = %v, want the part index and its type", err)
	}
	if m.Parts != nil {
		t.Errorf("message changed on failure: %+v", m)
	}
}

func FuzzMessageJSON(f *testing.F) {
	f.Add([]byte(`{"role":"user","parts":[{"type":"text","text":"hi"}]}`))
	f.Add([]byte(`{"role":"assistant","parts":[{"type":"tool_call","id":"1","name":"f","input":{"x":[1,2]}}]}`))
	f.Add([]byte(`{"role":"user","parts":[{"type":"tool_result","call_id":"1","content":[{"type":"image","data":"AAE="}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			return
		}
		// Whatever decodes must encode, and decode again to the same value.
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", b, err)
		}
		var again Message
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("re-decode of %q: %v", out, err)
		}
		if diff := cmp.Diff(m, again); diff != "" {
			t.Fatalf("not stable (-first +second):\n%s", diff)
		}
	})
}
