package vector

import (
	"fmt"
	"github.com/keelai/keel/rag"
	"math/rand/v2"
	"testing"
)

func TestAutoPartitionsAboveThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, dim = 4000, 64
	vecs, queries := clustered(rng, n, 100, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: 3000, Seed: 1})
	exact := New(dim)
	for i, v := range vecs {
		id := fmt.Sprintf("v%d", i)
		if err := auto.Add(id, v); err != nil {
			t.Fatal(err)
		}
		exact.Add(id, v)
		if i == 2998 && auto.Partitioned() {
			t.Fatal("partitioned below the threshold")
		}
	}
	if !auto.Partitioned() || auto.Len() != n {
		t.Fatalf("partitioned %v, len %d; want true, %d", auto.Partitioned(), auto.Len(), n)
	}

	// Recall@10 against exact search, on queries near the data.
	found, total := 0, 0
	for _, q := range queries {
		want, _ := exact.Search(q, 10, nil)
		got, err := auto.Search(q, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{}
		for _, h := range got {
			in[h.ID] = true
		}
		for _, h := range want {
			total++
			if in[h.ID] {
				found++
			}
		}
	}
	recall := float64(found) / float64(total)
	t.Logf("recall@10 = %.3f", recall)
	if recall < 0.95 {
		t.Errorf("recall@10 = %.3f, want ≥ 0.95", recall)
	}

	// Replacing moves a vector to its new partition; removing forgets it;
	// filters apply.
	far := make([]float32, dim)
	far[0] = 1
	if err := auto.Add("v0", far); err != nil {
		t.Fatal(err)
	}
	hits, _ := auto.Search(far, 1, nil)
	if len(hits) != 1 || hits[0].ID != "v0" || auto.Len() != n {
		t.Errorf("after replacing v0: %v, len %d", hits, auto.Len())
	}
	auto.Remove("v0")
	if hits, _ := auto.Search(far, 3, nil); len(hits) > 0 && hits[0].ID == "v0" || auto.Len() != n-1 {
		t.Errorf("after removing v0: %v, len %d", hits, auto.Len())
	}
	hits, _ = auto.Search(queries[0], 5, func(id string) bool { return id == "v7" })
	if len(hits) > 1 || (len(hits) == 1 && hits[0].ID != "v7") {
		t.Errorf("filter: %v", hits)
	}
	if err := auto.Add("bad", make([]float32, dim)); err == nil {
		t.Error("a zero vector was accepted")
	}
}

// Below the threshold an Auto index is the exact Index.
func TestAutoExactWhileSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	vecs, _ := clustered(rng, 500, 0, 32)
	auto, exact := NewAuto(32, AutoOptions{}), New(32)
	for i, v := range vecs {
		auto.Add(fmt.Sprint(i), v)
		exact.Add(fmt.Sprint(i), v)
	}
	for _, q := range vecs[:20] {
		a, _ := auto.Search(q, 10, nil)
		e, _ := exact.Search(q, 10, nil)
		if fmt.Sprint(a) != fmt.Sprint(e) {
			t.Fatalf("auto %v, exact %v", a, e)
		}
	}
}

// BenchmarkAutoSearch compares a partitioned index with the exact scan on
// the same 100k clustered vectors.
func BenchmarkAutoSearch(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, dim = 100_000, 384
	vecs, queries := clustered(rng, n, 64, dim)
	auto, exact := NewAuto(dim, AutoOptions{Threshold: n, Seed: 1}), New(dim)
	for i, v := range vecs {
		auto.Add(fmt.Sprint(i), v)
		exact.Add(fmt.Sprint(i), v)
	}
	for _, bc := range []struct {
		name string
		ix   interface {
			Search([]float32, int, func(string) bool) ([]rag.Scored, error)
		}
	}{{"exact", exact}, {"partitioned", auto}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				bc.ix.Search(queries[i%len(queries)], 10, nil)
				i++
			}
		})
	}
}
