package embed_test

import (
	"context"
	"fmt"

	"github.com/keelai/keel/rag/embed"
)

// letters is a stand-in embedder that counts its calls.
type letters struct{ calls int }

func (l *letters) Name() string    { return "toy/letters" }
func (l *letters) Dimensions() int { return 2 }
func (l *letters) Embed(_ context.Context, texts []string) ([][]float32, error) {
	l.calls++
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = []float32{float32(len(t)), float32(t[0])}
	}
	return out, nil
}

func ExampleCached() {
	ctx := context.Background()
	inner := &letters{}
	e := embed.Cached(inner, embed.NewMemoryCache(1000))

	e.Embed(ctx, []string{"alpha", "beta", "alpha"}) // "alpha" is embedded once
	e.Embed(ctx, []string{"beta", "alpha"})          // nothing to embed
	v, _ := e.Embed(ctx, []string{"gamma"})
	fmt.Println(inner.calls, v[0])
	// Output: 2 [5 103]
}
