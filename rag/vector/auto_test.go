package vector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/keelai/keel/rag"
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
	recall := recallAt10(t, auto, exact, queries)
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

// recallAt10 is the recall@10 of auto against exact search.
func recallAt10(t *testing.T, auto *Auto, exact *Index, queries [][]float32) float64 {
	t.Helper()
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
	return float64(found) / float64(total)
}

// An index that grows re-trains √n partitions at 4×, 16× … its first
// training size (with Retrain; without, it keeps its first ones); every
// vector stays findable, removals survive the re-training, and recall
// holds.
func TestAutoRetrainsAsItGrows(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const threshold, n, dim = 256, 5000, 64
	vecs, queries := clustered(rng, n, 100, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: threshold, Seed: 1, Retrain: true})
	exact := New(dim)
	removed := map[string]bool{}
	for i, v := range vecs {
		id := strconv.Itoa(i)
		must(t, auto.Add(id, v))
		must(t, exact.Add(id, v))
		// Partitions: none below the threshold, √256 from it, re-trained
		// at 4 and 16 times that.
		want := 0
		switch size := i + 1 - len(removed); {
		case size >= 16*threshold:
			want = 64
		case size >= 4*threshold:
			want = 32
		case size >= threshold:
			want = 16
		}
		if got := auto.partitions(); got != want {
			t.Fatalf("after %d adds: %d partitions, want %d", i+1, got, want)
		}
		if i == 2000 {
			// Removals before a re-training stay removed after it.
			for j := range 10 {
				id := strconv.Itoa(j * 97)
				auto.Remove(id)
				exact.Remove(id)
				removed[id] = true
			}
		}
	}
	// Removing from re-trained partitions works.
	for i := range 10 {
		id := strconv.Itoa(i*97 + 1)
		auto.Remove(id)
		exact.Remove(id)
		removed[id] = true
	}
	if got, want := auto.Len(), n-len(removed); got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	for i, v := range vecs {
		id := strconv.Itoa(i)
		hits, err := auto.Search(v, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case removed[id] && len(hits) > 0 && hits[0].ID == id:
			t.Errorf("removed %s is found", id)
		case !removed[id] && (len(hits) != 1 || hits[0].ID != id):
			t.Errorf("%s searching for itself: %v", id, hits)
		}
	}
	recall := recallAt10(t, auto, exact, queries)
	t.Logf("recall@10 = %.3f", recall)
	if recall < 0.95 {
		t.Errorf("recall@10 = %.3f, want ≥ 0.95", recall)
	}
}

// Without Retrain the first partitions stay.
func TestAutoKeepsItsPartitionsByDefault(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const threshold, dim = 64, 16
	vecs, _ := clustered(rng, 5*threshold, 8, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: threshold, Seed: 1})
	for i, v := range vecs {
		must(t, auto.Add(strconv.Itoa(i), v))
	}
	if got := auto.partitions(); got != 8 {
		t.Errorf("%d partitions at %d vectors, want the first 8", got, auto.Len())
	}
}

// A training runs without the lock: while it runs (the trained hook, on
// the training Add's goroutine) searches answer and writes are accepted,
// and the writes made then are in the index it puts in place.
func TestAutoTrainsWithoutTheLock(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const threshold, dim = 300, 32
	vecs, queries := clustered(rng, threshold+50, 10, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: threshold, Seed: 1})
	for i := range threshold - 1 {
		must(t, auto.Add(strconv.Itoa(i), vecs[i]))
	}
	during := 0
	auto.trained = func() {
		during++
		// With the lock held by the training, each of these would wait
		// for ever (and the test would time out).
		if hits, err := auto.Search(queries[0], 3, nil); err != nil || len(hits) == 0 {
			t.Errorf("search during the training: %v, %v", hits, err)
		}
		if auto.Partitioned() {
			t.Error("partitioned before the training is done")
		}
		for i := threshold; i < threshold+50; i++ {
			must(t, auto.Add(strconv.Itoa(i), vecs[i]))
		}
		auto.Remove("0")
		must(t, auto.Add("1", vecs[threshold+1])) // replaced
	}
	must(t, auto.Add(strconv.Itoa(threshold-1), vecs[threshold-1])) // trains
	auto.trained = nil
	if during != 1 || !auto.Partitioned() {
		t.Fatalf("%d trainings, partitioned %v", during, auto.Partitioned())
	}
	if got, want := auto.Len(), threshold+50-1; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	if hits, _ := auto.Search(vecs[0], 1, nil); len(hits) > 0 && hits[0].ID == "0" {
		t.Error("the vector removed during the training is found")
	}
	for i := 2; i < threshold+50; i++ {
		id := strconv.Itoa(i)
		if hits, _ := auto.Search(vecs[i], 1, nil); len(hits) != 1 || (hits[0].ID != id && !(i == threshold+1 && hits[0].ID == "1")) {
			t.Errorf("%s searching for itself: %v", id, hits)
		}
	}
	auto.mu.RLock()
	c := auto.where["1"]
	auto.mu.RUnlock()
	want, _ := New(dim).normalise(vecs[threshold+1])
	if v, ok := auto.lists[c].Vector("1"); !ok || dotFloat(v, want) < 0.999 {
		t.Error("the vector replaced during the training is not the new one")
	}
}

// An index that shrinks below half its threshold is exact again, and
// partitions again when it regrows to the threshold.
func TestAutoUnpartitionsWhenSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const threshold, dim = 400, 32
	vecs, queries := clustered(rng, threshold, 20, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: threshold, Seed: 1})
	for i, v := range vecs {
		must(t, auto.Add(strconv.Itoa(i), v))
	}
	for i := range threshold/2 + 1 {
		if !auto.Partitioned() {
			t.Fatalf("flat again after %d removals, len %d", i, auto.Len())
		}
		auto.Remove(strconv.Itoa(i))
	}
	if auto.Partitioned() || auto.partitions() != 0 || auto.Len() != threshold/2-1 {
		t.Fatalf("at %d vectors: partitioned %v, %d partitions, want flat", auto.Len(), auto.Partitioned(), auto.partitions())
	}
	exact := New(dim)
	for i, v := range vecs[threshold/2+1:] {
		must(t, exact.Add(strconv.Itoa(threshold/2+1+i), v))
	}
	for _, q := range queries {
		a, _ := auto.Search(q, 10, nil)
		e, _ := exact.Search(q, 10, nil)
		if fmt.Sprint(a) != fmt.Sprint(e) {
			t.Fatalf("auto %v, exact %v", a, e)
		}
	}
	for i, v := range vecs[:threshold/2+1] {
		must(t, auto.Add(strconv.Itoa(i), v))
	}
	if !auto.Partitioned() || auto.partitions() != 20 {
		t.Errorf("regrown to %d: partitioned %v, %d partitions, want 20", auto.Len(), auto.Partitioned(), auto.partitions())
	}
}

// Searches run while writers add (through the first partitioning) and
// remove; the race detector checks the locking, and every search must see
// a consistent index.
func TestAutoConcurrentAddSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	const threshold, n, dim = 64, 1000, 32
	vecs, queries := clustered(rng, n, 3, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: threshold, Seed: 1})
	must(t, auto.Add("seed", vecs[0]))
	start := make(chan struct{})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for _, q := range queries {
		wg.Go(func() {
			<-start
			for range 200 {
				hits, err := auto.Search(q, 5, nil)
				if err != nil {
					errs <- err
					return
				}
				if len(hits) == 0 || !slices.IsSortedFunc(hits, func(a, b rag.Scored) int { return cmp.Compare(b.Score, a.Score) }) {
					errs <- fmt.Errorf("bad hits %v", hits)
					return
				}
			}
		})
	}
	for w := range 2 {
		wg.Go(func() {
			<-start
			for i := w; i < n; i += 2 {
				if err := auto.Add(strconv.Itoa(i), vecs[i]); err != nil {
					errs <- err
					return
				}
				if i%10 == w {
					auto.Remove(strconv.Itoa(i))
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Each writer removes one vector in five of those it adds.
	if got, want := auto.Len(), n-n/5+1; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	if auto.partitions() == 0 {
		t.Errorf("not partitioned at %d vectors", auto.Len())
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

// BenchmarkAutoAdd measures adding new vectors to a partitioned index of
// 50k. Up to 100k adds (-benchtime=Nx) it is the common path, nearest
// centroid and append; from 150k on the index grows past four times its
// training size and the figure includes the amortised re-training.
func BenchmarkAutoAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 9))
	const n, dim = 50_000, 384
	vecs, _ := clustered(rng, n+4096, 0, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: n, Seed: 1})
	for i, v := range vecs[:n] {
		must(b, auto.Add(strconv.Itoa(i), v))
	}
	fresh := vecs[n:]
	i := n
	for b.Loop() {
		must(b, auto.Add(strconv.Itoa(i), fresh[i%len(fresh)]))
		i++
	}
}

// With DeferTraining, Add never trains: the index stays flat (and exact)
// past its threshold until Train, which partitions it once.
func TestAutoDeferTraining(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	const threshold, dim = 200, 32
	vecs, _ := clustered(rng, threshold+20, 10, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: threshold, Seed: 1, DeferTraining: true})
	for i, v := range vecs {
		must(t, auto.Add(strconv.Itoa(i), v))
		if want := i+1 >= threshold; auto.TrainingDue() != want {
			t.Fatalf("after %d adds: TrainingDue %v, want %v", i+1, !want, want)
		}
	}
	if auto.Partitioned() {
		t.Fatal("an Add trained although training is deferred")
	}
	must(t, auto.Train(t.Context()))
	if !auto.Partitioned() || auto.TrainingDue() || auto.partitions() != 14 {
		t.Fatalf("after Train: partitioned %v, TrainingDue %v, %d partitions; want true, false, 14",
			auto.Partitioned(), auto.TrainingDue(), auto.partitions())
	}
	// Nothing is due: Train does nothing.
	must(t, auto.Train(t.Context()))
	for i, v := range vecs {
		if hits, _ := auto.Search(v, 1, nil); len(hits) != 1 || hits[0].ID != strconv.Itoa(i) {
			t.Errorf("%d searching for itself: %v", i, hits)
		}
	}
}

// A Train whose context is cancelled returns context.Canceled and leaves
// the index flat, exact and with the writes made meanwhile; a later Train
// partitions it.
func TestAutoTrainCancelled(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	const threshold, dim = 200, 32
	vecs, _ := clustered(rng, threshold+20, 10, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: threshold, Seed: 1, DeferTraining: true})
	for i, v := range vecs[:threshold] {
		must(t, auto.Add(strconv.Itoa(i), v))
	}

	// Cancelled before it starts: k-means stops at its first round.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := auto.Train(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Train with a cancelled context: %v, want context.Canceled", err)
	}
	if auto.Partitioned() || !auto.TrainingDue() {
		t.Fatalf("after a cancelled Train: partitioned %v, TrainingDue %v; want false, true", auto.Partitioned(), auto.TrainingDue())
	}

	// Cancelled while it runs, with writes made meanwhile.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	hooked := 0
	auto.trained = func() {
		hooked++
		if auto.TrainingDue() {
			t.Error("TrainingDue while a training is under way")
		}
		for i := threshold; i < threshold+20; i++ {
			must(t, auto.Add(strconv.Itoa(i), vecs[i]))
		}
		auto.Remove("0")
		cancel()
	}
	if err := auto.Train(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Train cancelled during the training: %v, want context.Canceled", err)
	}
	auto.trained = nil
	if hooked != 1 || auto.Partitioned() {
		t.Fatalf("%d trainings reached the hook, partitioned %v; want 1, false", hooked, auto.Partitioned())
	}
	exact := New(dim)
	for i, v := range vecs[1:] {
		must(t, exact.Add(strconv.Itoa(i+1), v))
	}
	for _, q := range vecs[:20] {
		a, _ := auto.Search(q, 10, nil)
		e, _ := exact.Search(q, 10, nil)
		if fmt.Sprint(a) != fmt.Sprint(e) {
			t.Fatalf("after a cancelled training: auto %v, exact %v", a, e)
		}
	}
	if got, want := auto.Len(), threshold+19; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}

	must(t, auto.Train(t.Context()))
	if !auto.Partitioned() || auto.TrainingDue() {
		t.Fatalf("after a later Train: partitioned %v, TrainingDue %v; want true, false", auto.Partitioned(), auto.TrainingDue())
	}
	for i := 1; i < threshold+20; i++ {
		if hits, _ := auto.Search(vecs[i], 1, nil); len(hits) != 1 || hits[0].ID != strconv.Itoa(i) {
			t.Errorf("%d searching for itself: %v", i, hits)
		}
	}
}

// With DeferTraining and Retrain, a training falls due again at each
// fourfold growth.
func TestAutoDeferredRetrain(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	const threshold, dim = 64, 16
	vecs, _ := clustered(rng, 4*threshold, 8, dim)
	auto := NewAuto(dim, AutoOptions{Threshold: threshold, Seed: 1, DeferTraining: true, Retrain: true})
	for i, v := range vecs {
		must(t, auto.Add(strconv.Itoa(i), v))
		if i+1 == threshold {
			must(t, auto.Train(t.Context()))
		}
		if want := i+1 == 4*threshold; auto.TrainingDue() != want {
			t.Fatalf("after %d adds: TrainingDue %v, want %v", i+1, !want, want)
		}
	}
	must(t, auto.Train(t.Context()))
	if got := auto.partitions(); got != 16 {
		t.Errorf("%d partitions after re-training at %d vectors, want 16", got, auto.Len())
	}
}
