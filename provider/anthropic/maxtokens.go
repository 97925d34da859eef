package anthropic

import "strings"

// fallbackMaxTokens is max_tokens for a model missing from the table: low
// enough for every Claude model to accept.
const fallbackMaxTokens = 4096

// DefaultMaxTokens returns the max_tokens sent when a request leaves
// MaxTokens at 0: the model's output limit for current Claude models (found
// by the longest matching id prefix, so dated snapshots match their alias),
// else 4096. The API requires max_tokens and rejects values above a model's
// limit.
func DefaultMaxTokens(model string) int {
	best, n := 0, fallbackMaxTokens
	for _, l := range []struct {
		prefix string
		limit  int
	}{
		{"claude-fable-5", 128000},
		{"claude-opus-5", 128000},
		{"claude-sonnet-5", 128000},
		{"claude-opus-4-8", 128000},
		{"claude-opus-4-7", 128000},
		{"claude-opus-4-6", 128000},
		{"claude-sonnet-4-6", 64000},
		{"claude-opus-4-5", 64000},
		{"claude-sonnet-4-5", 64000},
		{"claude-haiku-4-5", 64000},
		{"claude-opus-4-1", 32000},
		{"claude-opus-4-0", 32000},
		{"claude-opus-4-2025", 32000},
		{"claude-sonnet-4-0", 64000},
		{"claude-sonnet-4-2025", 64000},
		{"claude-3-7-sonnet", 64000},
		{"claude-3-5-haiku", 8192},
		{"claude-3-haiku", 4096},
	} {
		if strings.HasPrefix(model, l.prefix) && len(l.prefix) > best {
			best, n = len(l.prefix), l.limit
		}
	}
	return n
}
