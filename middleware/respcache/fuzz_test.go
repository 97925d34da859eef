package respcache

import (
	"testing"

	"github.com/keelai/keel/llm"
)

// FuzzDecode feeds arbitrary bytes to the entry decoder, which reads a
// persistent store that may be corrupted: it must fail cleanly, never
// panic, and what it accepts must survive a round trip.
func FuzzDecode(f *testing.F) {
	good, _ := encode(&llm.Response{
		ID: "r1", Model: "a/m", StopReason: llm.StopToolUse,
		Content: []llm.Part{llm.Text{Text: "hi"}, llm.ToolCall{ID: "c", Name: "f", Input: []byte(`{"x":1}`)}},
		Usage:   llm.Usage{InputTokens: 3, CacheReadTokens: 2},
	})
	f.Add(good)
	f.Add([]byte(`{"content":[{"type":"nope"}]}`))
	f.Add([]byte(`{"content":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := decode(b)
		if err != nil {
			return
		}
		again, err := encode(resp)
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if _, err := decode(again); err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
	})
}
