package cost

import (
	"fmt"
	"maps"
	"math"
	"strings"

	"github.com/keelai/keel/llm"
)

// Price is what a model charges, in US dollars per million tokens of each
// class of llm.Usage.
type Price struct {
	Input  float64 `json:"input" yaml:"input"`
	Output float64 `json:"output" yaml:"output"`
	// CacheRead is charged for llm.Usage.CacheReadTokens.
	CacheRead float64 `json:"cache_read" yaml:"cache_read"`
	// CacheWrite5m and CacheWrite1h are charged for CacheWriteTokens and
	// CacheWrite1hTokens. Providers that do not charge for writes (OpenAI,
	// Gemini's implicit cache) list their input price here.
	CacheWrite5m float64 `json:"cache_write_5m" yaml:"cache_write_5m"`
	CacheWrite1h float64 `json:"cache_write_1h" yaml:"cache_write_1h"`
	// BatchDiscount is the fraction taken off every class for calls made
	// through the provider's batch API (0.5 at all three providers).
	BatchDiscount float64 `json:"batch_discount" yaml:"batch_discount"`
	// LongContextAbove, when positive, is the prompt size (every input
	// token, cached or not) above which the whole call is priced at Long,
	// as Anthropic's 1M-context and Gemini Pro's long-prompt tiers are.
	LongContextAbove int    `json:"long_context_above,omitempty" yaml:"long_context_above,omitempty"`
	Long             *Price `json:"long,omitempty" yaml:"long,omitempty"`
}

// Validate reports a negative or non-finite price, naming the field.
func (p Price) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"input", p.Input}, {"output", p.Output}, {"cache_read", p.CacheRead},
		{"cache_write_5m", p.CacheWrite5m}, {"cache_write_1h", p.CacheWrite1h},
	} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("price: %s = %v, want a non-negative number of dollars per million tokens", f.name, f.v)
		}
	}
	if p.BatchDiscount < 0 || p.BatchDiscount > 1 || math.IsNaN(p.BatchDiscount) {
		return fmt.Errorf("price: batch_discount = %v, want a fraction between 0 and 1", p.BatchDiscount)
	}
	if p.Long != nil {
		if p.LongContextAbove <= 0 {
			return fmt.Errorf("price: long tier without long_context_above")
		}
		if err := p.Long.Validate(); err != nil {
			return fmt.Errorf("long: %w", err)
		}
	}
	return nil
}

// Cost returns what usage u costs at p; batch applies the batch discount.
//
// The sum is taken in pico-dollars (a per-million price times a token
// count) and rounded once to the nearest nano-dollar, so that costs equal
// the ones computed by hand from the price sheet.
func (p Price) Cost(u llm.Usage, batch bool) USD {
	if p.Long != nil && p.LongContextAbove > 0 && u.PromptTokens() > p.LongContextAbove {
		long := *p.Long
		if long.BatchDiscount == 0 {
			long.BatchDiscount = p.BatchDiscount
		}
		return long.Cost(u, batch)
	}
	pico := int64(u.InputTokens)*micros(p.Input) +
		int64(u.OutputTokens)*micros(p.Output) +
		int64(u.CacheReadTokens)*micros(p.CacheRead) +
		int64(u.CacheWriteTokens)*micros(p.CacheWrite5m) +
		int64(u.CacheWrite1hTokens)*micros(p.CacheWrite1h)
	if batch && p.BatchDiscount > 0 {
		pico = int64(math.Round(float64(pico) * (1 - p.BatchDiscount)))
	}
	return USD((pico + 500) / 1000)
}

// micros returns a per-million-token dollar price in micro-dollars, which
// is the price of one token in pico-dollars.
func micros(perMillion float64) int64 { return int64(math.Round(perMillion * 1e6)) }

// Table maps `provider/model` names to prices. A Table is immutable; With
// returns a changed copy. The zero value has no prices.
type Table struct {
	prices map[string]Price
}

// NewTable returns a table of prices, checking each. A key may be a full
// `provider/model` name or `provider/*` for every model of a provider.
func NewTable(prices map[string]Price) (*Table, error) {
	for name, p := range prices {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return &Table{prices: maps.Clone(prices)}, nil
}

// With returns a copy of t with prices added or replaced (keel.yaml's
// `price:` overrides).
func (t *Table) With(prices map[string]Price) (*Table, error) {
	merged := maps.Clone(t.prices)
	if merged == nil {
		merged = map[string]Price{}
	}
	maps.Copy(merged, prices)
	return NewTable(merged)
}

// Lookup returns the price of model: the entry of its exact name, else of
// the longest listed name it extends with a dash (dated snapshots such as
// claude-sonnet-4-5-20250929 or gpt-4.1-mini-2025-04-14), else its
// provider's `provider/*` entry.
func (t *Table) Lookup(model string) (Price, bool) {
	if t == nil {
		return Price{}, false
	}
	if p, ok := t.prices[model]; ok {
		return p, true
	}
	best, found := "", false
	for name := range t.prices {
		if len(name) > len(best) && strings.HasPrefix(model, name+"-") {
			best, found = name, true
		}
	}
	if found {
		return t.prices[best], true
	}
	if provider, _, err := llm.SplitName(model); err == nil {
		p, ok := t.prices[provider+"/*"]
		return p, ok
	}
	return Price{}, false
}

// Cost returns the cost of usage u on model, and false when the table has
// no price for it.
func (t *Table) Cost(model string, u llm.Usage, batch bool) (USD, bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return p.Cost(u, batch), true
}

// Models returns the names the table prices.
func (t *Table) Models() []string {
	if t == nil {
		return nil
	}
	names := make([]string, 0, len(t.prices))
	for n := range maps.Keys(t.prices) {
		names = append(names, n)
	}
	return names
}
