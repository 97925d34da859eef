package embed

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// countingEmbedder is a fake that records which texts it was asked for.
type countingEmbedder struct {
	mu    sync.Mutex
	asked []string
	query []string
}

func (c *countingEmbedder) Name() string    { return "fake/m" }
func (c *countingEmbedder) Dimensions() int { return 3 }
func (c *countingEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, texts...)
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = fakeVec(t, 3)
	}
	return out, nil
}

func (c *countingEmbedder) EmbedQuery(_ context.Context, text string) ([]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.query = append(c.query, text)
	v := fakeVec(text, 3)
	v[2] = -1 // queries embed differently
	return v, nil
}

func TestCachedEmbedsEachTextOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	disk, err := OpenSQLiteCache(ctx, path)
	must(t, err)
	fake := &countingEmbedder{}
	mem := NewMemoryCache(100)
	e := Cached(fake, mem, disk)

	texts := []string{"alpha", "beta", "alpha", "gamma"}
	want := [][]float32{fakeVec("alpha", 3), fakeVec("beta", 3), fakeVec("alpha", 3), fakeVec("gamma", 3)}
	got, err := e.Embed(ctx, texts)
	must(t, err)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("first call (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"alpha", "beta", "gamma"}, fake.asked); d != "" {
		t.Errorf("asked (-want +got)\n%s", d)
	}
	// Again: all from memory.
	got, err = e.Embed(ctx, append(texts, "delta"))
	must(t, err)
	if d := cmp.Diff(append(want, fakeVec("delta", 3)), got); d != "" {
		t.Errorf("second call (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"alpha", "beta", "gamma", "delta"}, fake.asked); d != "" {
		t.Errorf("asked after second call (-want +got)\n%s", d)
	}
	// A caller modifying a result must not corrupt the cache.
	got[0][0] = 999
	again, err := e.Embed(ctx, []string{"alpha"})
	must(t, err)
	if d := cmp.Diff(want[:1], again); d != "" {
		t.Errorf("after modifying a result (-want +got)\n%s", d)
	}
	must(t, disk.Close())

	// A new process: fresh memory, the same file. Nothing is re-embedded,
	// and the memory cache is warmed from disk.
	disk, err = OpenSQLiteCache(ctx, path)
	must(t, err)
	defer disk.Close()
	fake2 := &countingEmbedder{}
	mem2 := NewMemoryCache(100)
	e2 := Cached(fake2, mem2, disk)
	got, err = e2.Embed(ctx, texts)
	must(t, err)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after reopening (-want +got)\n%s", d)
	}
	if len(fake2.asked) != 0 {
		t.Errorf("re-embedded %v after reopening", fake2.asked)
	}
	if mem2.Len() != 3 {
		t.Errorf("memory cache holds %d entries, want 3 warmed from disk", mem2.Len())
	}

	// Queries are cached apart from documents with the same text.
	q, err := e2.EmbedQuery(ctx, "alpha")
	must(t, err)
	if q[2] != -1 || !cmp.Equal(fake2.query, []string{"alpha"}) {
		t.Errorf("query vector %v, asked %v: want the query embedding", q, fake2.query)
	}
	if _, err := e2.EmbedQuery(ctx, "alpha"); err != nil || len(fake2.query) != 1 {
		t.Errorf("second query asked again: %v %v", fake2.query, err)
	}
	if e2.Name() != "fake/m" || e2.Dimensions() != 3 || e2.Fingerprint() != "fake/m@3" {
		t.Errorf("Name %q Dimensions %d Fingerprint %q", e2.Name(), e2.Dimensions(), e2.Fingerprint())
	}
}

func TestMemoryCacheEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryCache(2)
	k := func(s string) Key { return Key{Model: "m", Hash: [32]byte{s[0]}} }
	must(t, m.Put(ctx, []Key{k("a"), k("b")}, [][]float32{{1}, {2}}))
	if _, err := m.Get(ctx, []Key{k("a")}); err != nil { // a is now the most recent
		t.Fatal(err)
	}
	must(t, m.Put(ctx, []Key{k("c")}, [][]float32{{3}}))
	got, _ := m.Get(ctx, []Key{k("a"), k("b"), k("c")})
	if d := cmp.Diff([][]float32{{1}, nil, {3}}, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

func TestSQLiteCacheManyKeysAndBadRows(t *testing.T) {
	ctx := context.Background()
	c, err := OpenSQLiteCache(ctx, filepath.Join(t.TempDir(), "c.db"))
	must(t, err)
	defer c.Close()
	var keys []Key
	var vecs [][]float32
	for i := range 1000 { // more than one lookup chunk
		keys = append(keys, Key{Model: "m@1", Hash: [32]byte{byte(i), byte(i >> 8)}})
		vecs = append(vecs, []float32{float32(i)})
	}
	must(t, c.Put(ctx, keys, vecs))
	got, err := c.Get(ctx, append(keys, Key{Model: "other", Hash: keys[0].Hash}))
	must(t, err)
	if d := cmp.Diff(append(vecs, nil), got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// A damaged row reads as a miss rather than a wrong vector.
	if _, err := c.db.ExecContext(ctx, "UPDATE embedding_cache SET vector = x'0102' WHERE hash = ?", keys[5].Hash[:]); err != nil {
		t.Fatal(err)
	}
	got, err = c.Get(ctx, keys[5:6])
	must(t, err)
	if got[0] != nil {
		t.Errorf("damaged row read as %v", got[0])
	}
	if _, err := OpenSQLiteCache(ctx, filepath.Join(t.TempDir(), "missing-dir", "c.db")); err == nil || !strings.Contains(err.Error(), "missing-dir") {
		t.Errorf("opening in a missing folder: %v, want an error naming the path", err)
	}
}
