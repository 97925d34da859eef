package vector

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keelai/keel/rag"
)

func randVec(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = float32(rng.NormFloat64())
	}
	return v
}

// clustered returns n vectors drawn around a few centres, the shape real
// embeddings have (near neighbours much closer than the crowd), and
// queries near some of them.
func clustered(rng *rand.Rand, n, nq, dim int) (docs, queries [][]float32) {
	centres := make([][]float32, 64)
	for i := range centres {
		centres[i] = randVec(rng, dim)
	}
	near := func(c []float32, spread float64) []float32 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + float32(spread*rng.NormFloat64())
		}
		return v
	}
	for range n {
		docs = append(docs, near(centres[rng.IntN(len(centres))], 0.8))
	}
	for range nq {
		queries = append(queries, near(docs[rng.IntN(n)], 0.5))
	}
	return docs, queries
}

// exact is the reference: float64 cosine over every vector.
func exact(docs [][]float32, q []float32, k int) []int {
	type sc struct {
		i int
		s float64
	}
	cos := func(a, b []float32) float64 {
		var d, na, nb float64
		for j := range a {
			d += float64(a[j]) * float64(b[j])
			na += float64(a[j]) * float64(a[j])
			nb += float64(b[j]) * float64(b[j])
		}
		return d / math.Sqrt(na*nb)
	}
	all := make([]sc, len(docs))
	for i, d := range docs {
		all[i] = sc{i, cos(d, q)}
	}
	slices.SortFunc(all, func(a, b sc) int { return cmp.Compare(b.s, a.s) })
	out := make([]int, 0, k)
	for _, s := range all[:min(k, len(all))] {
		out = append(out, s.i)
	}
	return out
}

func id(i int) string { return fmt.Sprintf("d%06d", i) }

func build(t testing.TB, docs [][]float32) *Index {
	t.Helper()
	ix := New(len(docs[0]))
	items := make([]Item, len(docs))
	for i, d := range docs {
		items[i] = Item{ID: id(i), Vector: d}
	}
	if err := ix.Put(items...); err != nil {
		t.Fatal(err)
	}
	return ix
}

// TestRecall measures recall@10 of Search against exact float64 search, on
// uniformly random vectors (the hard case for quantisation: every score is
// close to every other) and on clustered ones, below and above the size at
// which the scan goes parallel.
func TestRecall(t *testing.T) {
	const k = 10
	for _, tc := range []struct {
		name      string
		n, dim    int
		clustered bool
	}{
		{"random-2k-384", 2000, 384, false},
		{"random-20k-384", 20000, 384, false},
		{"clustered-20k-384", 20000, 384, true},
		{"random-5k-1536", 5000, 1536, false},
		{"random-3k-100", 3000, 100, false}, // dim not a multiple of 64
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.dim)))
			var docs, queries [][]float32
			if tc.clustered {
				docs, queries = clustered(rng, tc.n, 50, tc.dim)
			} else {
				for range tc.n {
					docs = append(docs, randVec(rng, tc.dim))
				}
				for range 50 {
					queries = append(queries, randVec(rng, tc.dim))
				}
			}
			ix := build(t, docs)
			found, total := 0, 0
			for _, q := range queries {
				want := exact(docs, q, k)
				hits, err := ix.Search(q, k, nil)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]bool{}
				for _, h := range hits {
					got[h.ID] = true
				}
				for _, w := range want {
					total++
					if got[id(w)] {
						found++
					}
				}
			}
			recall := float64(found) / float64(total)
			t.Logf("recall@%d = %.4f", k, recall)
			if recall < 0.99 {
				t.Errorf("recall@%d = %.4f, want >= 0.99", k, recall)
			}
		})
	}
}

// TestSearchScores checks that scores are exact cosines and ordered.
func TestSearchScores(t *testing.T) {
	ix := New(3)
	must(t, ix.Put(
		Item{ID: "x", Vector: []float32{1, 0, 0}},
		Item{ID: "xy", Vector: []float32{2, 2, 0}},
		Item{ID: "y", Vector: []float32{0, 5, 0}},
		Item{ID: "-x", Vector: []float32{-1, 0, 0}},
	))
	hits, err := ix.Search([]float32{3, 0, 0}, 10, nil)
	must(t, err)
	want := []rag.Scored{{ID: "x", Score: 1}, {ID: "xy", Score: float32(math.Sqrt2 / 2)}, {ID: "y", Score: 0}, {ID: "-x", Score: -1}}
	if d := gocmp.Diff(want, hits, cmpopts.EquateApprox(0, 1e-6)); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

func TestAddDeleteFilter(t *testing.T) {
	unit := func(i int) []float32 {
		v := make([]float32, 8)
		v[i] = 1
		return v
	}
	type step struct {
		add    []Item
		del    []string
		query  []float32
		k      int
		filter Filter
		want   []string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"replace", []step{
			{add: []Item{{ID: "a", Vector: unit(0)}, {ID: "b", Vector: unit(1)}}},
			{add: []Item{{ID: "a", Vector: unit(2)}}, query: unit(2), k: 1, want: []string{"a"}},
			{query: unit(0), k: 3, want: []string{"a", "b"}}, // both orthogonal: tie broken by id
		}},
		{"later duplicate in one call wins", []step{
			{add: []Item{{ID: "a", Vector: unit(0)}, {ID: "a", Vector: unit(1)}}, query: unit(1), k: 1, want: []string{"a"}},
		}},
		{"delete middle keeps the rest", []step{
			{add: []Item{{ID: "a", Vector: unit(0)}, {ID: "b", Vector: unit(1)}, {ID: "c", Vector: unit(2)}}},
			{del: []string{"b", "nope"}, query: unit(1), k: 5, want: []string{"a", "c"}},
			{query: unit(2), k: 1, want: []string{"c"}},
		}},
		{"delete all", []step{
			{add: []Item{{ID: "a", Vector: unit(0)}}},
			{del: []string{"a"}, query: unit(0), k: 5, want: []string{}},
		}},
		{"where", []step{
			{add: []Item{
				{ID: "a", Vector: unit(0), Meta: Meta{"lang": "en"}},
				{ID: "b", Vector: unit(0), Meta: Meta{"lang": "fr"}},
				{ID: "c", Vector: unit(1), Meta: Meta{"lang": "fr", "year": "2024"}},
			}},
			{query: unit(0), k: 5, filter: Where(Meta{"lang": "fr"}), want: []string{"b", "c"}},
			{query: unit(0), k: 5, filter: Where(Meta{"lang": "fr", "year": "2024"}), want: []string{"c"}},
			{query: unit(0), k: 5, filter: Where(Meta{"missing": ""}), want: []string{}},
		}},
		{"ids", []step{
			{add: []Item{{ID: "a", Vector: unit(0)}, {ID: "b", Vector: unit(0)}}},
			{query: unit(0), k: 5, filter: func(id string, _ Meta) bool { return id != "a" }, want: []string{"b"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := New(8)
			for i, s := range tc.steps {
				must(t, ix.Put(s.add...))
				ix.Delete(s.del...)
				if s.query == nil {
					continue
				}
				hits, err := ix.SearchMeta(s.query, s.k, s.filter)
				must(t, err)
				got := []string{}
				for _, h := range hits {
					got = append(got, h.ID)
				}
				if d := gocmp.Diff(s.want, got); d != "" {
					t.Errorf("step %d: (-want +got)\n%s", i, d)
				}
			}
		})
	}
}

// TestAddInvalid checks that a bad item rejects the whole call, names the
// item, and leaves the index as it was.
func TestAddInvalid(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name string
		item Item
		want string
	}{
		{"wrong dimension", Item{ID: "bad", Vector: []float32{1, 2}}, `item 1 (id "bad"): vector has 2 dimensions, index has 3`},
		{"nan", Item{ID: "bad", Vector: []float32{1, nan, 0}}, "component 1 is NaN"},
		{"inf", Item{ID: "bad", Vector: []float32{float32(math.Inf(1)), 0, 0}}, "component 0 is +Inf"},
		{"zero", Item{ID: "bad", Vector: []float32{0, 0, 0}}, "zero vector"},
		{"empty id", Item{Vector: []float32{1, 0, 0}}, "item 1: empty id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := New(3)
			must(t, ix.Put(Item{ID: "keep", Vector: []float32{0, 1, 0}}))
			before, _ := ix.MarshalBinary()
			err := ix.Put(Item{ID: "new", Vector: []float32{1, 0, 0}}, tc.item)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			after, _ := ix.MarshalBinary()
			if !slices.Equal(before, after) {
				t.Error("failed Add changed the index")
			}
		})
	}
	ix := New(3)
	if _, err := ix.Search([]float32{1}, 1, nil); err == nil || !strings.Contains(err.Error(), "query: vector has 1 dimensions") {
		t.Errorf("Search with a short query: %v", err)
	}
}

// TestConcurrentSearchAndWrite runs searches while a writer adds and
// deletes; the race detector checks the locking, and every search must
// see a consistent index (each hit's score is its vector's cosine).
func TestConcurrentSearchAndWrite(t *testing.T) {
	const dim = 64
	rng := rand.New(rand.NewPCG(7, 7))
	var docs [][]float32
	for range 2000 {
		docs = append(docs, randVec(rng, dim))
	}
	ix := build(t, docs[:1000])
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 3 {
		q := randVec(rng, dim)
		wg.Go(func() {
			<-start
			for range 50 {
				hits, err := ix.Search(q, 5, nil)
				if err != nil {
					errs <- err
					return
				}
				if len(hits) != 5 || !slices.IsSortedFunc(hits, func(a, b rag.Scored) int { return cmp.Compare(b.Score, a.Score) }) {
					errs <- fmt.Errorf("reader %d: bad hits %v", w, hits)
					return
				}
			}
		})
	}
	wg.Go(func() {
		<-start
		for i := 1000; i < 2000; i += 10 {
			var items []Item
			for j := i; j < i+10; j++ {
				items = append(items, Item{ID: id(j), Vector: docs[j]})
			}
			if err := ix.Put(items...); err != nil {
				errs <- err
				return
			}
			ix.Delete(id(i - 1000))
		}
	})
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := ix.Len(), 1900; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
