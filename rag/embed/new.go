package embed

import (
	"fmt"

	"github.com/keelai/keel/rag"
)

// New returns the embedder for a provider type: "openai" (OpenAI or any
// compatible server at o.BaseURL), "ollama" (o.BaseURL is its
// OpenAI-compatible root), "gemini" or "voyage". Callers that resolve
// models by name get the type, base URL and key from
// provider.Resolver.Endpoint.
func New(typ string, o Options) (rag.Embedder, error) {
	switch typ {
	case "openai":
		return NewOpenAI(o)
	case "ollama":
		return NewOllama("", o)
	case "gemini":
		return NewGemini(o)
	case "voyage":
		return NewVoyage(o)
	}
	return nil, fmt.Errorf("embed: provider type %q has no embeddings API Keel speaks (want openai, ollama, gemini or voyage)", typ)
}
