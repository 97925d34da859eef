package llm

import (
	"fmt"
	"strings"
)

// SplitName splits a `provider/model` name. The model part may itself
// contain slashes ("openai/meta-llama/Llama-3.3-70B" on OpenRouter); the
// provider is everything before the first one.
func SplitName(name string) (provider, model string, err error) {
	provider, model, ok := strings.Cut(name, "/")
	if !ok || provider == "" || model == "" {
		return "", "", fmt.Errorf("model name %q: want provider/model, e.g. anthropic/claude-sonnet-4-6", name)
	}
	return provider, model, nil
}
