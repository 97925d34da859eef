package cost

import (
	"testing"

	"github.com/keelai/keel/llm"
)

func TestCacheReport(t *testing.T) {
	table := DefaultTable()
	const model = "anthropic/claude-sonnet-4-5" // $3 in, $15 out, reads $0.30, 5m writes $3.75
	tests := []struct {
		name  string
		usage llm.Usage
		rate  float64
		saved USD
	}{
		// Without the cache: 10,000 × $3 + 100 × $15 = $0.0315. With it:
		// 1,000 × $3 + 9,000 × $0.30 + 100 × $15 = $0.0072.
		{"mostly read", llm.Usage{InputTokens: 1000, CacheReadTokens: 9000, OutputTokens: 100}, 0.9, Dollars(0.0243)},
		// Filling the cache costs a quarter more than plain input.
		{"only written", llm.Usage{CacheWriteTokens: 10000}, 0, Dollars(-0.0075)},
		{"no cache", llm.Usage{InputTokens: 500, OutputTokens: 10}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := table.CacheReport(model, tt.usage)
			if r.HitRate != tt.rate || r.Saved != tt.saved {
				t.Errorf("hit rate %v, saved %v; want %v, %v", r.HitRate, r.Saved, tt.rate, tt.saved)
			}
		})
	}

	m := NewMeter()
	for _, u := range []llm.Usage{tests[0].usage, tests[1].usage} {
		m.Record(model, nil, u, 0, true)
	}
	sum := m.Report().Cache(table)
	if sum.PromptTokens != 20000 || sum.CacheReadTokens != 9000 || sum.CacheWriteTokens != 10000 || sum.HitRate != 0.45 || sum.Saved != Dollars(0.0243-0.0075) {
		t.Errorf("meter cache report = %+v", sum)
	}
	if r := table.CacheReport("nobody/unpriced", tests[0].usage); r.Saved != 0 || r.HitRate != 0.9 {
		t.Errorf("unpriced model: %+v, want a hit rate and no money", r)
	}
}
