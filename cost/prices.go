package cost

// anthropic returns an Anthropic price: cache writes at 1.25× (5 minutes)
// and 2× (1 hour) the input price, cache reads at 0.1×, batch at half.
func anthropic(in, out float64) Price {
	return Price{Input: in, Output: out, CacheRead: in / 10, CacheWrite5m: in * 1.25, CacheWrite1h: in * 2, BatchDiscount: 0.5}
}

// anthropicLong adds the tier Anthropic charges for prompts above 200K
// tokens on the models with a 1M-token window (beta).
func anthropicLong(in, out, longIn, longOut float64) Price {
	p := anthropic(in, out)
	long := anthropic(longIn, longOut)
	p.LongContextAbove, p.Long = 200_000, &long
	return p
}

// openai returns an OpenAI price: cached input at its own price, cache
// writes free (charged as plain input), batch at half.
func openai(in, cached, out float64) Price {
	return Price{Input: in, Output: out, CacheRead: cached, CacheWrite5m: in, CacheWrite1h: in, BatchDiscount: 0.5}
}

// gemini returns a Gemini price: context-cache reads at their own price,
// writes charged as input (storage per hour is billed apart and not
// modelled), batch at half.
func gemini(in, cached, out float64) Price {
	return Price{Input: in, Output: out, CacheRead: cached, CacheWrite5m: in, CacheWrite1h: in, BatchDiscount: 0.5}
}

func geminiLong(in, cached, out, longIn, longCached, longOut float64) Price {
	p := gemini(in, cached, out)
	long := gemini(longIn, longCached, longOut)
	p.LongContextAbove, p.Long = 200_000, &long
	return p
}

// DefaultPrices returns the list prices, in dollars per million tokens, of
// current Anthropic, OpenAI and Gemini models as published by the providers
// when this table was written; local models (ollama) are free. Override or
// extend them with Table.With (keel.yaml `price:`).
func DefaultPrices() map[string]Price {
	return map[string]Price{
		"anthropic/claude-opus-4-6":   anthropic(5, 25),
		"anthropic/claude-opus-4-5":   anthropic(5, 25),
		"anthropic/claude-opus-4-1":   anthropic(15, 75),
		"anthropic/claude-opus-4-0":   anthropic(15, 75),
		"anthropic/claude-opus-4":     anthropic(15, 75),
		"anthropic/claude-sonnet-4-6": anthropicLong(3, 15, 6, 22.5),
		"anthropic/claude-sonnet-4-5": anthropicLong(3, 15, 6, 22.5),
		"anthropic/claude-sonnet-4-0": anthropicLong(3, 15, 6, 22.5),
		"anthropic/claude-sonnet-4":   anthropicLong(3, 15, 6, 22.5),
		"anthropic/claude-3-7-sonnet": anthropic(3, 15),
		"anthropic/claude-haiku-4-5":  anthropic(1, 5),
		"anthropic/claude-3-5-haiku":  anthropic(0.8, 4),
		"anthropic/claude-3-haiku":    anthropic(0.25, 1.25),

		"openai/gpt-5.1":      openai(1.25, 0.125, 10),
		"openai/gpt-5":        openai(1.25, 0.125, 10),
		"openai/gpt-5-mini":   openai(0.25, 0.025, 2),
		"openai/gpt-5-nano":   openai(0.05, 0.005, 0.4),
		"openai/gpt-4.1":      openai(2, 0.5, 8),
		"openai/gpt-4.1-mini": openai(0.4, 0.1, 1.6),
		"openai/gpt-4.1-nano": openai(0.1, 0.025, 0.4),
		"openai/gpt-4o":       openai(2.5, 1.25, 10),
		"openai/gpt-4o-mini":  openai(0.15, 0.075, 0.6),
		"openai/o3":           openai(2, 0.5, 8),
		"openai/o3-mini":      openai(1.1, 0.55, 4.4),
		"openai/o4-mini":      openai(1.1, 0.275, 4.4),

		"gemini/gemini-3-pro-preview":  geminiLong(2, 0.2, 12, 4, 0.4, 18),
		"gemini/gemini-2.5-pro":        geminiLong(1.25, 0.125, 10, 2.5, 0.25, 15),
		"gemini/gemini-2.5-flash":      gemini(0.3, 0.03, 2.5),
		"gemini/gemini-2.5-flash-lite": gemini(0.1, 0.01, 0.4),
		"gemini/gemini-2.0-flash":      gemini(0.1, 0.025, 0.4),
		"gemini/gemini-2.0-flash-lite": gemini(0.075, 0.075, 0.3),

		"ollama/*": {},
	}
}

// DefaultTable returns a Table of DefaultPrices.
func DefaultTable() *Table {
	t, err := NewTable(DefaultPrices())
	if err != nil {
		panic(err) // the built-in prices are checked by the tests
	}
	return t
}
