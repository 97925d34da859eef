package llm

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWithCache(t *testing.T) {
	c := &CacheControl{TTL: CacheTTL1h}
	tests := []struct {
		name string
		in   Part
		want Part
		ok   bool
	}{
		{"text", Text{Text: "a"}, Text{Text: "a", Cache: c}, true},
		{"image", Image{URL: "u"}, Image{URL: "u", Cache: c}, true},
		{"document", Document{Title: "d"}, Document{Title: "d", Cache: c}, true},
		{"tool call", ToolCall{ID: "c1"}, ToolCall{ID: "c1", Cache: c}, true},
		{"tool result", ToolResult{CallID: "c1"}, ToolResult{CallID: "c1", Cache: c}, true},
		{"thinking", Thinking{Text: "hmm"}, Thinking{Text: "hmm"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := WithCache(tt.in, c)
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("part (-want +got):\n%s", diff)
			}
			if ok && CacheOf(got) != c {
				t.Errorf("CacheOf = %v, want %v", CacheOf(got), c)
			}
		})
	}
}

func TestWithCacheClears(t *testing.T) {
	got, ok := WithCache(Text{Text: "a", Cache: &CacheControl{}}, nil)
	if !ok || CacheOf(got) != nil {
		t.Errorf("WithCache(nil) = %#v, %v; want the breakpoint removed", got, ok)
	}
}
