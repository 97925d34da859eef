package weaviate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/internal/testenv"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/store/sqlite"
)

// The suite below checks the rag.Store contract on any store; it runs on
// the embedded SQLite store always and on Weaviate when
// KEEL_TEST_WEAVIATE_URL points at one (.ci/run starts it), so that both
// stores are held to the same behaviour.

const dims = 32

// bow is a deterministic bag-of-words embedding: texts sharing words are
// close.
func bow(text string) []float32 {
	v := make([]float32, dims)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		h := fnv.New32a()
		h.Write([]byte(strings.Trim(w, ".,?!")))
		v[h.Sum32()%dims]++
	}
	v[0] += 0.01
	return v
}

func document(id, title string, meta map[string]string, passages ...string) rag.Indexed {
	d := rag.Document{ID: id, Title: title, Source: id + ".md", Text: strings.Join(passages, "\n\n"), Metadata: meta}
	d.Hash = d.ContentHash()
	ix := rag.Indexed{Document: d}
	off := 0
	for i, p := range passages {
		ix.Chunks = append(ix.Chunks, rag.Chunk{ID: rag.ChunkID(id, i), DocID: id, Index: i, Text: p, Start: off, End: off + len(p), Headings: []string{title}})
		ix.Vectors = append(ix.Vectors, bow(p))
		off += len(p) + 2
	}
	return ix
}

var corpus = []rag.Indexed{
	document("stream", "Streaming", map[string]string{"lang": "en"}, "Stream a response token by token and range over the events."),
	document("retry", "Retries", map[string]string{"lang": "en"}, "Retries back off exponentially when the provider is overloaded."),
	document("cache", "Caching", map[string]string{"lang": "fr", "tier": "gold"}, "The response cache keys requests by model and content."),
}

func batch(put ...rag.Indexed) rag.Batch {
	return rag.Batch{Put: put, Embedder: "fake/bow", Dimensions: dims}
}

func docIDs(hits []rag.Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.DocID)
	}
	return out
}

func chunkIDs(hits []rag.Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.ChunkID)
	}
	slices.Sort(out)
	return out
}

func conformance(t *testing.T, st rag.Store, coll string) {
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	search := func(q rag.Query) []rag.Hit {
		t.Helper()
		hits, err := st.Search(ctx, coll, q)
		must(err)
		return hits
	}

	docs, err := st.Documents(ctx, coll)
	if err != nil || len(docs) != 0 {
		t.Fatalf("Documents of a new collection: %v, %v", docs, err)
	}
	if _, err := st.Search(ctx, coll, rag.Query{Text: "x"}); !errors.Is(err, rag.ErrNotFound) {
		t.Fatalf("Search of a missing collection: %v, want ErrNotFound", err)
	}

	must(st.Apply(ctx, coll, batch(corpus...)))
	docs, err = st.Documents(ctx, coll)
	must(err)
	want := []rag.DocInfo{{ID: "cache", Hash: corpus[2].Document.Hash}, {ID: "retry", Hash: corpus[1].Document.Hash}, {ID: "stream", Hash: corpus[0].Document.Hash}}
	if d := cmp.Diff(want, docs); d != "" {
		t.Errorf("Documents (-want +got)\n%s", d)
	}

	for _, tc := range []struct {
		name string
		q    rag.Query
		top  string
	}{
		{"lexical", rag.Query{Text: "exponentially overloaded", K: 3}, "retry"},
		{"vector", rag.Query{Vector: bow("range over the stream events"), Mode: rag.Vector, K: 3}, "stream"},
		{"hybrid", rag.Query{Text: "cache keys", Vector: bow("cache keys requests"), Mode: rag.Hybrid, K: 3}, "cache"},
	} {
		hits := search(tc.q)
		if len(hits) == 0 || hits[0].DocID != tc.top {
			t.Errorf("%s: hits %v, want %s first", tc.name, docIDs(hits), tc.top)
		}
		if !slices.IsSortedFunc(hits, func(a, b rag.Hit) int { return -cmpFloat(a.Score, b.Score) }) {
			t.Errorf("%s: scores not descending", tc.name)
		}
	}

	hits := search(rag.Query{Text: "response", Filter: map[string]string{"lang": "fr"}})
	if d := cmp.Diff([]string{"cache"}, docIDs(hits)); d != "" {
		t.Errorf("filter lang=fr (-want +got)\n%s", d)
	}
	hits = search(rag.Query{Vector: bow("response"), Mode: rag.Vector, Filter: map[string]string{"lang": "fr", "tier": "gold"}})
	if d := cmp.Diff([]string{"cache"}, docIDs(hits)); d != "" {
		t.Errorf("vector filter on two keys (-want +got)\n%s", d)
	}
	if hits := search(rag.Query{Text: "response", Filter: map[string]string{"lang": "de"}}); len(hits) != 0 {
		t.Errorf("filter lang=de: %v, want none", docIDs(hits))
	}

	hits = search(rag.Query{Text: "exponentially", K: 1})
	wantHit := rag.Hit{
		ChunkID:  "retry#0",
		Text:     corpus[1].Chunks[0].Text,
		Citation: rag.Citation{DocID: "retry", Title: "Retries", Source: "retry.md", Headings: []string{"Retries"}, Start: 0, End: len(corpus[1].Chunks[0].Text)},
		Metadata: map[string]string{"lang": "en"},
	}
	if len(hits) != 1 {
		t.Fatalf("K=1: %d hits", len(hits))
	}
	hits[0].Score = 0
	if d := cmp.Diff(wantHit, hits[0]); d != "" {
		t.Errorf("hit (-want +got)\n%s", d)
	}

	// Replace a document with more passages, then with fewer: no stale
	// passage may survive.
	long := document("stream", "Streaming", map[string]string{"lang": "en"}, "Stream tokens as they arrive.", "Cancel the context to stop the stream.", "Stream events end with done.")
	must(st.Apply(ctx, coll, batch(long)))
	if got := chunkIDs(search(rag.Query{Text: "stream", K: 10})); !cmp.Equal(got, []string{"stream#0", "stream#1", "stream#2"}) {
		t.Errorf("after growing: chunks %v", got)
	}
	if hits := search(rag.Query{Text: "stream", K: 10, PerDocument: true}); len(hits) != 1 {
		t.Errorf("PerDocument: %d hits, want 1", len(hits))
	}
	short := document("stream", "Streaming", map[string]string{"lang": "en"}, "Stream tokens as they arrive.")
	must(st.Apply(ctx, coll, batch(short)))
	if got := chunkIDs(search(rag.Query{Text: "stream", K: 10})); !cmp.Equal(got, []string{"stream#0"}) {
		t.Errorf("after shrinking: chunks %v, want only stream#0", got)
	}

	must(st.Apply(ctx, coll, rag.Batch{Delete: []string{"retry"}, Embedder: "fake/bow", Dimensions: dims}))
	if hits := search(rag.Query{Text: "exponentially overloaded"}); len(hits) != 0 {
		t.Errorf("deleted document still found: %v", docIDs(hits))
	}
	infos, err := st.Collections(ctx)
	must(err)
	i := slices.IndexFunc(infos, func(c rag.CollectionInfo) bool { return c.Name == coll })
	if i < 0 {
		t.Fatalf("Collections %v lacks %q", infos, coll)
	}
	if d := cmp.Diff(rag.CollectionInfo{Name: coll, Documents: 2, Chunks: 2, Embedder: "fake/bow", Dimensions: dims}, infos[i]); d != "" {
		t.Errorf("Collections (-want +got)\n%s", d)
	}

	// Vectors of another model are refused and change nothing.
	other := batch(document("new", "New", nil, "brand new text"))
	other.Embedder = "fake/other"
	if err := st.Apply(ctx, coll, other); err == nil {
		t.Error("Apply with another embedder succeeded")
	}
	bad := batch(document("bad", "Bad", nil, "one", "two"))
	bad.Put[0].Vectors = bad.Put[0].Vectors[:1]
	if err := st.Apply(ctx, coll, bad); err == nil {
		t.Error("Apply with fewer vectors than chunks succeeded")
	}
	docs, err = st.Documents(ctx, coll)
	must(err)
	if len(docs) != 2 {
		t.Errorf("after refused Applies: %v, want 2 documents", docs)
	}

	must(st.DropCollection(ctx, coll))
	if _, err := st.Search(ctx, coll, rag.Query{Text: "stream"}); !errors.Is(err, rag.ErrNotFound) {
		t.Errorf("Search after DropCollection: %v, want ErrNotFound", err)
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestConformanceSQLite(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keel.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conformance(t, st, "docs")
}

func openTest(t *testing.T) *Store {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// A prefix of its own per run, so that runs sharing a server do not
	// meet.
	st, err := Open(ctx, Options{URL: testenv.Service(t, testenv.WeaviateURL), Prefix: fmt.Sprintf("KeelTest%d", time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		infos, _ := st.Collections(ctx)
		for _, c := range infos {
			st.DropCollection(ctx, c.Name)
		}
		st.c.Schema().ClassDeleter().WithClassName(st.registry()).Do(ctx)
	})
	return st
}

func TestConformanceWeaviate(t *testing.T) {
	st := openTest(t)
	conformance(t, st, "docs")
	// Names outside Weaviate's alphabet map to distinct classes.
	conformance(t, st, "My Docs/2024")
}

func TestWeaviateManyChunks(t *testing.T) {
	st := openTest(t)
	ctx := t.Context()
	var passages []string
	for i := range 450 { // more than two write batches
		passages = append(passages, fmt.Sprintf("passage number %d about topic%d", i, i%7))
	}
	big := document("big", "Big", nil, passages...)
	if err := st.Apply(ctx, "bulk", batch(big)); err != nil {
		t.Fatal(err)
	}
	small := document("big", "Big", nil, passages[:3]...)
	if err := st.Apply(ctx, "bulk", batch(small)); err != nil {
		t.Fatal(err)
	}
	infos, err := st.Collections(ctx)
	if err != nil || len(infos) != 1 || infos[0].Chunks != 3 {
		t.Errorf("after shrinking 450 chunks to 3: %+v, %v", infos, err)
	}
}
