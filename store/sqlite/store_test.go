package sqlite_test

import (
	"context"
	"errors"
	"hash/fnv"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/store/sqlite"
)

const dims = 64

// embed is a deterministic bag-of-words embedding: each word adds 1 to a
// hashed dimension, so texts sharing words are close.
func embed(text string) []float32 {
	v := make([]float32, dims)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		h := fnv.New32a()
		h.Write([]byte(strings.Trim(w, ".,?!")))
		v[h.Sum32()%dims]++
	}
	v[0] += 0.01 // never the zero vector
	return v
}

func doc(id, title, text string, meta map[string]string) rag.Indexed {
	d := rag.Document{ID: id, Title: title, Source: id + ".md", Text: text, Metadata: meta}
	d.Hash = d.ContentHash()
	return rag.Indexed{Document: d, Chunks: []rag.Chunk{{ID: rag.ChunkID(id, 0), DocID: id, Text: text, End: len(text), Headings: []string{title}}}}
}

func withVectors(ix rag.Indexed) rag.Indexed {
	for _, c := range ix.Chunks {
		ix.Vectors = append(ix.Vectors, embed(c.Text))
	}
	return ix
}

var corpus = []rag.Indexed{
	doc("stream", "Streaming", "Stream a response token by token with Stream and range over the events.", map[string]string{"lang": "en"}),
	doc("retry", "Retries", "Retries back off exponentially when the provider is overloaded.", map[string]string{"lang": "en"}),
	doc("cache", "Caching", "The response cache keys requests by model and content.", map[string]string{"lang": "fr"}),
}

func open(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keel.db")
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func ids(hits []rag.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.DocID
	}
	return out
}

func vectorBatch() rag.Batch {
	b := rag.Batch{Embedder: "fake/bow", Dimensions: dims}
	for _, ix := range corpus {
		b.Put = append(b.Put, withVectors(ix))
	}
	return b
}

func TestSearchModes(t *testing.T) {
	ctx := t.Context()
	st, _ := open(t)
	if err := st.Apply(ctx, "docs", vectorBatch()); err != nil {
		t.Fatal(err)
	}
	q := "how do I stream a response"
	tests := []struct {
		name  string
		query rag.Query
		want  []string
	}{
		{"lexical", rag.Query{Text: q, K: 1}, []string{"stream"}},
		{"vector", rag.Query{Mode: rag.Vector, Vector: embed(q), K: 1}, []string{"stream"}},
		{"hybrid", rag.Query{Mode: rag.Hybrid, Text: q, Vector: embed(q), K: 1}, []string{"stream"}},
		{"lexical filter", rag.Query{Text: "response", Filter: map[string]string{"lang": "fr"}}, []string{"cache"}},
		{"vector filter", rag.Query{Mode: rag.Vector, Vector: embed(q), K: 3, Filter: map[string]string{"lang": "fr"}}, []string{"cache"}},
		{"hybrid filter", rag.Query{Mode: rag.Hybrid, Text: q, Vector: embed(q), Filter: map[string]string{"lang": "fr"}}, []string{"cache"}},
		{"no match", rag.Query{Text: "zebra"}, []string{}},
		{"stop words only are kept", rag.Query{Text: "the of and", K: 1, Filter: map[string]string{"lang": "fr"}}, []string{"cache"}},
		{"query syntax is not FTS5 syntax", rag.Query{Text: `"token" OR NEAR(x) AND -zebra* ^`, K: 1}, []string{"stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits, err := st.Search(ctx, "docs", tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(hits), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("hits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHitCarriesCitation(t *testing.T) {
	ctx := t.Context()
	st, _ := open(t)
	d := rag.Document{ID: "guide.md", Title: "Guide", Source: "docs/guide.md", Text: "# Guide\n\n## Streaming\n\nCall Stream.", Metadata: map[string]string{"k": "v"}}
	ix := rag.Indexed{Document: d, Chunks: []rag.Chunk{{Index: 0, Text: "Call Stream.", Start: 23, End: 35, Headings: []string{"Guide", "Streaming"}}}}
	if err := st.Apply(ctx, "c", rag.Batch{Put: []rag.Indexed{ix}}); err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(ctx, "c", rag.Query{Text: "stream"})
	if err != nil {
		t.Fatal(err)
	}
	want := []rag.Hit{{
		ChunkID:  "guide.md#0",
		Text:     "Call Stream.",
		Citation: rag.Citation{DocID: "guide.md", Title: "Guide", Source: "docs/guide.md", Headings: []string{"Guide", "Streaming"}, Start: 23, End: 35},
		Metadata: map[string]string{"k": "v"},
	}}
	if diff := cmp.Diff(want, hits, cmpopts.IgnoreFields(rag.Hit{}, "Score")); diff != "" {
		t.Errorf("hit (-want +got):\n%s", diff)
	}
	if hits[0].Score <= 0 {
		t.Errorf("score %v, want > 0", hits[0].Score)
	}
}

func TestApplyReplacesAndDeletes(t *testing.T) {
	ctx := t.Context()
	st, _ := open(t)
	if err := st.Apply(ctx, "c", rag.Batch{Put: corpus}); err != nil {
		t.Fatal(err)
	}
	changed := doc("retry", "Retries", "Retries now use jitter.", nil)
	if err := st.Apply(ctx, "c", rag.Batch{Put: []rag.Indexed{changed}, Delete: []string{"cache", "absent"}}); err != nil {
		t.Fatal(err)
	}
	docs, err := st.Documents(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	want := []rag.DocInfo{{ID: "retry", Hash: changed.Document.Hash}, {ID: "stream", Hash: corpus[0].Document.Hash}}
	if diff := cmp.Diff(want, docs); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
	for q, want := range map[string][]string{"overloaded": {}, "jitter": {"retry"}, "cache": {}} {
		hits, err := st.Search(ctx, "c", rag.Query{Text: q})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, ids(hits), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("search %q (-want +got):\n%s", q, diff)
		}
	}
	cols, err := st.Collections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]rag.CollectionInfo{{Name: "c", Documents: 2, Chunks: 2}}, cols); diff != "" {
		t.Errorf("collections (-want +got):\n%s", diff)
	}
}

// failingCtx reports cancellation from its n-th Err call on, to fail an
// Apply in the middle of its transaction.
type failingCtx struct {
	context.Context
	left atomic.Int32
}

func (c *failingCtx) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestFailedApplyChangesNothing(t *testing.T) {
	st, _ := open(t)
	ctx := t.Context()
	if err := st.Apply(ctx, "c", rag.Batch{Put: corpus[:1]}); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Documents(ctx, "c")
	tests := []struct {
		name string
		ctx  context.Context
		b    rag.Batch
	}{
		{"cancelled mid-way", func() context.Context { c := &failingCtx{Context: ctx}; c.left.Store(1); return c }(),
			rag.Batch{Put: corpus[1:], Delete: []string{"stream"}}},
		{"duplicate id", ctx, rag.Batch{Put: []rag.Indexed{corpus[1], corpus[1]}}},
		{"empty id", ctx, rag.Batch{Put: []rag.Indexed{doc("", "x", "y", nil)}}},
		{"vectors without chunks", ctx, rag.Batch{Embedder: "fake/bow", Dimensions: dims, Put: []rag.Indexed{corpus[1]}}},
		{"other embedder", ctx, rag.Batch{Embedder: "fake/other", Dimensions: dims, Put: []rag.Indexed{withVectors(corpus[1])}}},
		{"bad name", ctx, rag.Batch{Put: corpus[1:2]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "c"
			if tt.name == "bad name" {
				name = "bad\nname"
			}
			if err := st.Apply(tt.ctx, name, tt.b); err == nil {
				t.Fatal("Apply succeeded, want an error")
			}
			after, err := st.Documents(ctx, "c")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("documents changed (-before +after):\n%s", diff)
			}
			hits, err := st.Search(ctx, "c", rag.Query{Text: "stream overloaded cache"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"stream"}, ids(hits)); diff != "" {
				t.Errorf("index changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	st, _ := open(t)
	ctx := t.Context()
	if _, err := st.Search(ctx, "nope", rag.Query{Text: "x"}); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("search of an unknown collection: %v, want ErrNotFound", err)
	}
	if err := st.DropCollection(ctx, "nope"); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("drop of an unknown collection: %v, want ErrNotFound", err)
	}
	if err := st.Apply(ctx, "lex", rag.Batch{Put: corpus}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []rag.Query{
		{Mode: rag.Vector, Vector: embed("x")},
		{Mode: rag.Vector},
		{Mode: "fuzzy", Text: "x"},
	} {
		if _, err := st.Search(ctx, "lex", q); err == nil {
			t.Errorf("search %+v succeeded, want an error", q)
		}
	}
	if err := st.DropCollection(ctx, "lex"); err != nil {
		t.Fatal(err)
	}
	if docs, err := st.Documents(ctx, "lex"); err != nil || len(docs) != 0 {
		t.Errorf("after drop: %v, %v; want no documents", docs, err)
	}
}

// TestTwoProcesses opens the file twice, as two processes would: a write
// through one is seen by the other's (already loaded) vector index.
func TestTwoProcesses(t *testing.T) {
	ctx := t.Context()
	a, path := open(t)
	b, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	batch := vectorBatch()
	batch.Put = batch.Put[:1]
	if err := a.Apply(ctx, "c", batch); err != nil {
		t.Fatal(err)
	}
	q := rag.Query{Mode: rag.Vector, Vector: embed("cache keys requests by model"), K: 1}
	if hits, err := b.Search(ctx, "c", q); err != nil || len(hits) != 1 || hits[0].DocID != "stream" {
		t.Fatalf("before: %v %v", ids(hits), err)
	}
	batch = vectorBatch()
	batch.Put = batch.Put[2:]
	if err := a.Apply(ctx, "c", batch); err != nil {
		t.Fatal(err)
	}
	if hits, err := b.Search(ctx, "c", q); err != nil || len(hits) != 1 || hits[0].DocID != "cache" {
		t.Fatalf("after: %v %v", ids(hits), err)
	}
}

// TestConcurrentReadersOneWriter runs readers against a writer that
// replaces the whole collection, alternating between two versions: every
// read sees one version whole, never a mix or an error.
func TestConcurrentReadersOneWriter(t *testing.T) {
	ctx := t.Context()
	st, _ := open(t)
	version := func(tag string) rag.Batch {
		b := rag.Batch{Embedder: "fake/bow", Dimensions: dims}
		for _, ix := range corpus {
			ix = doc(ix.Document.ID, ix.Document.Title, ix.Document.Text+" "+tag, nil)
			b.Put = append(b.Put, withVectors(ix))
		}
		return b
	}
	if err := st.Apply(ctx, "c", version("alpha")); err != nil {
		t.Fatal(err)
	}
	const readers = 4
	var started sync.WaitGroup
	started.Add(readers)
	done := make(chan struct{})
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			started.Done()
			for n := 0; ; n++ {
				select {
				case <-done:
					if n == 0 {
						errs <- errors.New("reader never ran")
					}
					return
				default:
				}
				for _, q := range []rag.Query{
					{Text: "alpha beta", K: 10},
					{Mode: rag.Hybrid, Text: "alpha beta", Vector: embed("alpha beta"), K: 10},
				} {
					hits, err := st.Search(ctx, "c", q)
					if err != nil {
						errs <- err
						return
					}
					tags := map[string]bool{}
					for _, h := range hits {
						tags[h.Text[strings.LastIndex(h.Text, " ")+1:]] = true
					}
					if len(hits) != 3 || len(tags) != 1 {
						errs <- errors.New("a read saw a mix of versions: " + strings.Join(ids(hits), ","))
						return
					}
				}
			}
		})
	}
	started.Wait()
	for i := range 10 {
		tag := []string{"beta", "alpha"}[i%2]
		if err := st.Apply(ctx, "c", version(tag)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
