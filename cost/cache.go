package cost

import "github.com/keelai/keel/llm"

// CacheReport says how well prompt caching served a set of calls.
type CacheReport struct {
	// PromptTokens counts every input token, cached or not.
	PromptTokens int `json:"prompt_tokens"`
	// CacheReadTokens and CacheWriteTokens are the tokens read from and
	// written to the cache (both lifetimes).
	CacheReadTokens  int `json:"cache_read_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens"`
	// HitRate is CacheReadTokens / PromptTokens: the share of the input
	// served from the cache.
	HitRate float64 `json:"hit_rate"`
	// Saved is what the calls would have cost with every input token at
	// the plain input price, minus what they cost. Cache writes cost more
	// than plain input, so it is negative while a cache is being filled and
	// never read.
	Saved USD `json:"saved_nano_usd"`
}

// CacheReport returns the cache report for usage u on model; the money is
// zero when the table has no price for the model.
func (t *Table) CacheReport(model string, u llm.Usage) CacheReport {
	r := CacheReport{
		PromptTokens:     u.PromptTokens(),
		CacheReadTokens:  u.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens + u.CacheWrite1hTokens,
	}
	if r.PromptTokens > 0 {
		r.HitRate = float64(r.CacheReadTokens) / float64(r.PromptTokens)
	}
	if p, ok := t.Lookup(model); ok {
		uncached := llm.Usage{InputTokens: r.PromptTokens, OutputTokens: u.OutputTokens}
		r.Saved = p.Cost(uncached, false) - p.Cost(u, false)
	}
	return r
}

// Cache returns the cache report over every model of a meter's report,
// each model's tokens priced at its own prices.
func (r Report) Cache(t *Table) CacheReport {
	var sum CacheReport
	for model, total := range r.ByModel {
		c := t.CacheReport(model, total.Usage)
		sum.PromptTokens += c.PromptTokens
		sum.CacheReadTokens += c.CacheReadTokens
		sum.CacheWriteTokens += c.CacheWriteTokens
		sum.Saved += c.Saved
	}
	if sum.PromptTokens > 0 {
		sum.HitRate = float64(sum.CacheReadTokens) / float64(sum.PromptTokens)
	}
	return sum
}
