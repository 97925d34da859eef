package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/vector"
)

// These tests reach inside the Store (its pending loads, its trainer) to
// check that loads and trainings never hold the lock that every search and
// write of every collection takes.

// unitVec is a vector of dim dimensions pointing mostly along axis i, so
// that a query for it finds the chunk that has it.
func unitVec(dim, i int) []float32 {
	v := make([]float32, dim)
	v[i%dim] = 1
	v[(i+1)%dim] = 0.01 * float32(i/dim+1)
	return v
}

// vecBatch is a batch of one-chunk documents d<from>…d<to-1>, document
// di having unitVec(dim, i).
func vecBatch(dim, from, to int) rag.Batch {
	b := rag.Batch{Embedder: "fake/unit", Dimensions: dim}
	for i := from; i < to; i++ {
		id := fmt.Sprintf("d%d", i)
		d := rag.Document{ID: id, Title: id, Source: id, Text: "text " + id}
		d.Hash = d.ContentHash()
		b.Put = append(b.Put, rag.Indexed{
			Document: d,
			Chunks:   []rag.Chunk{{ID: rag.ChunkID(id, 0), DocID: id, Text: d.Text, End: len(d.Text)}},
			Vectors:  [][]float32{unitVec(dim, i)},
		})
	}
	return b
}

func openWith(t *testing.T, o Options) *Store {
	t.Helper()
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "keel.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// findsItself checks that a vector search for unitVec(dim, i) in
// collection name answers di first.
func findsItself(ctx context.Context, st *Store, name string, dim, i int) error {
	hits, err := st.Search(ctx, name, rag.Query{Mode: rag.Vector, Vector: unitVec(dim, i), K: 1})
	if err != nil {
		return fmt.Errorf("search %s for d%d: %w", name, i, err)
	}
	if len(hits) != 1 || hits[0].DocID != fmt.Sprintf("d%d", i) {
		return fmt.Errorf("search %s for d%d: got %v", name, i, hits)
	}
	return nil
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gate holds loads back: an index from gate.index calls enter on its
// first Add, then waits until the gate opens; a load takes as long as the
// test wants.
type gate struct {
	entered   chan struct{}
	enterOnce sync.Once
	opened    chan struct{}
	openOnce  sync.Once
}

func newGate(t *testing.T) *gate {
	g := &gate{entered: make(chan struct{}), opened: make(chan struct{})}
	// A failing test must not leave a load blocked, or Close would wait
	// for its query.
	t.Cleanup(g.open)
	return g
}

func (g *gate) open() { g.openOnce.Do(func() { close(g.opened) }) }

func (g *gate) index(dims int) rag.VectorIndex { return &gatedIndex{vector.New(dims), g} }

type gatedIndex struct {
	*vector.Index
	g *gate
}

func (x *gatedIndex) Add(id string, v []float32) error {
	x.g.enterOnce.Do(func() { close(x.g.entered) })
	<-x.g.opened
	return x.Index.Add(id, v)
}

// collectionID returns the row id of collection name.
func collectionID(t *testing.T, st *Store, name string) int64 {
	t.Helper()
	var id int64
	if err := st.db.QueryRowContext(t.Context(), `SELECT id FROM rag_collections WHERE name = ?`, name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// While collection a's index loads, b is searched and written as usual,
// and a second search of a waits for the load under way instead of
// starting another.
func TestLoadDoesNotBlockOtherCollections(t *testing.T) {
	const dimA, dimB = 16, 8
	g := newGate(t)
	var loadsA atomic.Int32
	st := openWith(t, Options{NewIndex: func(dims int) rag.VectorIndex {
		if dims == dimA {
			loadsA.Add(1)
			return g.index(dims)
		}
		return vector.New(dims)
	}})
	ctx := t.Context()
	if err := st.Apply(ctx, "a", vecBatch(dimA, 0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, "b", vecBatch(dimB, 0, 5)); err != nil {
		t.Fatal(err)
	}

	errs := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs <- findsItself(ctx, st, "a", dimA, 3) })
	<-g.entered // the first search of a is loading its index

	// b answers and takes writes while a loads.
	if err := findsItself(ctx, st, "b", dimB, 2); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, "b", vecBatch(dimB, 5, 6)); err != nil {
		t.Fatal(err)
	}
	if err := findsItself(ctx, st, "b", dimB, 5); err != nil {
		t.Fatal(err)
	}

	// A second search of a waits for the same load.
	wg.Go(func() { errs <- findsItself(ctx, st, "a", dimA, 7) })
	aID := collectionID(t, st, "a")
	eventually(t, "the second search of a to wait for the load", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		p := st.loading[aID]
		return p != nil && p.waiters > 0
	})
	g.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := loadsA.Load(); n != 1 {
		t.Errorf("a's index was loaded %d times, want once", n)
	}
}

// A collection dropped while its index loads does not get the index
// installed; the search that loaded it still answers from its snapshot.
func TestDropDuringLoad(t *testing.T) {
	const dim = 8
	g := newGate(t)
	st := openWith(t, Options{NewIndex: g.index})
	ctx := t.Context()
	if err := st.Apply(ctx, "c", vecBatch(dim, 0, 4)); err != nil {
		t.Fatal(err)
	}
	id := collectionID(t, st, "c")
	errs := make(chan error, 1)
	go func() { errs <- findsItself(ctx, st, "c", dim, 1) }()
	<-g.entered
	if err := st.DropCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	// A new collection of the same name, which SQLite gives the same id:
	// the old collection's index must not answer for it.
	if err := st.Apply(ctx, "c", vecBatch(dim, 4, 6)); err != nil {
		t.Fatal(err)
	}
	if got := collectionID(t, st, "c"); got != id {
		t.Logf("the new collection has id %d, not %d: this test checks less", got, id)
	}
	g.open()
	if err := <-errs; err != nil {
		t.Error(err)
	}
	st.mu.RLock()
	stale, pending := st.indexes[id], st.loading[id]
	st.mu.RUnlock()
	if stale != nil || pending != nil {
		t.Errorf("after the drop: index %v, pending load %v; want neither", stale, pending)
	}
	hits, err := st.Search(ctx, "c", rag.Query{Mode: rag.Vector, Vector: unitVec(dim, 1), K: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.DocID != "d4" && h.DocID != "d5" {
			t.Errorf("the new collection answered %q, a document of the dropped one", h.DocID)
		}
	}
}

// heldAuto is an Auto whose Train, once started, waits for release (or
// its context) before training.
type heldAuto struct {
	*vector.Auto
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *heldAuto) Train(ctx context.Context) error {
	h.once.Do(func() { close(h.started) })
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.Auto.Train(ctx)
}

// An Apply that takes a collection past the threshold returns without
// training; the store's trainer trains in the background while searches
// answer, and swaps the partitions in.
func TestTrainsInTheBackground(t *testing.T) {
	const dim, threshold = 16, 32
	held := &heldAuto{started: make(chan struct{}), release: make(chan struct{})}
	var made atomic.Int32
	st := openWith(t, Options{NewIndex: func(dims int) rag.VectorIndex {
		if made.Add(1) > 1 {
			t.Errorf("a second index was made")
		}
		held.Auto = vector.NewAuto(dims, vector.AutoOptions{Threshold: threshold, Probe: 1, Seed: 1, DeferTraining: true})
		return held
	}})
	ctx := t.Context()
	if err := st.Apply(ctx, "c", vecBatch(dim, 0, threshold-1)); err != nil {
		t.Fatal(err)
	}
	if err := findsItself(ctx, st, "c", dim, 1); err != nil { // loads the index
		t.Fatal(err)
	}
	if err := st.Apply(ctx, "c", vecBatch(dim, threshold-1, threshold+8)); err != nil {
		t.Fatal(err)
	}
	if held.Partitioned() {
		t.Fatal("the Apply trained the index")
	}
	<-held.started
	// The training is under way: searches answer, exactly, and writes
	// are taken.
	for i := range threshold + 8 {
		if err := findsItself(ctx, st, "c", dim, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Apply(ctx, "c", vecBatch(dim, threshold+8, threshold+10)); err != nil {
		t.Fatal(err)
	}
	close(held.release)
	eventually(t, "the index to be partitioned", held.Partitioned)
	for i := range threshold + 10 {
		if err := findsItself(ctx, st, "c", dim, i); err != nil {
			t.Error(err)
		}
	}
}

// stuckTrainer is an index with a training due that runs until its
// context is cancelled.
type stuckTrainer struct {
	*vector.Index
	started  chan struct{}
	returned chan struct{}
	err      error
	once     sync.Once
}

func (s *stuckTrainer) TrainingDue() bool { return true }

func (s *stuckTrainer) Train(ctx context.Context) error {
	defer s.once.Do(func() { close(s.returned) })
	close(s.started)
	<-ctx.Done()
	s.err = ctx.Err()
	return s.err
}

// Close stops a training under way and waits for the trainer to return.
func TestCloseStopsTraining(t *testing.T) {
	const dim = 8
	stuck := &stuckTrainer{started: make(chan struct{}), returned: make(chan struct{})}
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "keel.db"), Options{NewIndex: func(dims int) rag.VectorIndex {
		stuck.Index = vector.New(dims)
		return stuck
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := st.Apply(ctx, "c", vecBatch(dim, 0, 4)); err != nil {
		t.Fatal(err)
	}
	if err := findsItself(ctx, st, "c", dim, 2); err != nil { // loads, then signals
		t.Fatal(err)
	}
	<-stuck.started
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stuck.returned:
	default:
		t.Fatal("Close returned before the training did")
	}
	select {
	case <-st.trainerDone:
	default:
		t.Fatal("Close returned before the trainer goroutine did")
	}
	if stuck.err != context.Canceled {
		t.Errorf("Train saw %v, want context.Canceled", stuck.err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
