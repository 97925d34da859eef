package anthropictest_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keelai/keel/llm/llmtest/anthropictest"
)

func TestEnableCache(t *testing.T) {
	srv := anthropictest.NewServer(t)
	srv.EnableCache(50)
	long := strings.Repeat("word ", 60)
	body := func(ttl, question string) string {
		cc := `{"type":"ephemeral"}`
		if ttl != "" {
			cc = fmt.Sprintf(`{"type":"ephemeral","ttl":%q}`, ttl)
		}
		return fmt.Sprintf(`{"model":"claude-sonnet-4-6","max_tokens":10,"system":[{"type":"text","text":%q,"cache_control":%s}],"messages":[{"role":"user","content":%q}]}`, long, cc, question)
	}
	usage := func(b string) map[string]any {
		t.Helper()
		_, out := post(t, srv, "/v1/messages", b, nil)
		var m struct{ Usage map[string]any }
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return m.Usage
	}
	first := usage(body("1h", "one two"))
	if first["cache_creation_input_tokens"] != 60.0 || first["cache_read_input_tokens"] != 0.0 || first["input_tokens"] != 5.0 {
		t.Errorf("first call: %v, want 60 written, 0 read, 5 input", first)
	}
	if cc, _ := first["cache_creation"].(map[string]any); cc["ephemeral_1h_input_tokens"] != 60.0 {
		t.Errorf("first call's write is not at the 1h rate: %v", first["cache_creation"])
	}
	second := usage(body("1h", "three four five"))
	if second["cache_read_input_tokens"] != 60.0 || second["cache_creation_input_tokens"] != 0.0 || second["input_tokens"] != 6.0 {
		t.Errorf("second call: %v, want 60 read, nothing written, 6 input", second)
	}
	// Below the minimum, a breakpoint caches nothing.
	small := `{"model":"claude-sonnet-4-6","max_tokens":10,"system":[{"type":"text","text":"short","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`
	for range 2 {
		if u := usage(small); u["cache_read_input_tokens"] != 0.0 || u["cache_creation_input_tokens"] != 0.0 {
			t.Errorf("a prefix below the minimum was cached: %v", u)
		}
	}
}
