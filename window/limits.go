package window

import (
	"strings"

	"github.com/keelai/keel/llm"
)

// Limit is a model's context window and largest output, in tokens.
type Limit struct {
	Context int // input and output together
	Output  int // the most MaxTokens may ask for
}

// limits are published figures (provider model pages, 2025–2026), found by
// the longest matching prefix of the model name without its provider.
var limits = []struct {
	prefix string
	limit  Limit
}{
	{"claude-opus-4", Limit{200_000, 32_000}},
	{"claude-opus-4-5", Limit{200_000, 64_000}},
	{"claude-opus-4-6", Limit{200_000, 128_000}},
	{"claude-sonnet-4", Limit{200_000, 64_000}},
	{"claude-haiku-4", Limit{200_000, 64_000}},
	{"claude-3-7-sonnet", Limit{200_000, 64_000}},
	{"claude-3-5-haiku", Limit{200_000, 8_192}},
	{"claude-3-haiku", Limit{200_000, 4_096}},
	{"gpt-4.1", Limit{1_047_576, 32_768}},
	{"gpt-4o", Limit{128_000, 16_384}},
	{"gpt-4-turbo", Limit{128_000, 4_096}},
	{"gpt-4", Limit{8_192, 8_192}},
	{"gpt-3.5-turbo", Limit{16_385, 4_096}},
	{"gpt-5", Limit{400_000, 128_000}},
	{"o1", Limit{200_000, 100_000}},
	{"o3", Limit{200_000, 100_000}},
	{"o4-mini", Limit{200_000, 100_000}},
	{"gemini-2.5", Limit{1_048_576, 65_536}},
	{"gemini-2.0-flash", Limit{1_048_576, 8_192}},
	{"gemini-1.5-pro", Limit{2_097_152, 8_192}},
	{"gemini-1.5-flash", Limit{1_048_576, 8_192}},
	{"gemini-3", Limit{1_048_576, 65_536}},
	{"llama3", Limit{128_000, 4_096}},
}

// LimitFor returns the limits of the model name (`provider/model` or the
// bare model), by the longest known prefix, and whether it knows them.
func LimitFor(name string) (Limit, bool) {
	if _, m, err := llm.SplitName(name); err == nil {
		name = m
	}
	best, found := Limit{}, -1
	for _, l := range limits {
		if strings.HasPrefix(name, l.prefix) && len(l.prefix) > found {
			best, found = l.limit, len(l.prefix)
		}
	}
	return best, found >= 0
}
