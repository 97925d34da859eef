package vector

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/keelai/keel/rag"
)

var _ rag.VectorIndex = (*Auto)(nil)

// DefaultThreshold is the size from which an Auto index partitions itself:
// below it an exact scan answers in a few milliseconds (about 15 ms at a
// million 384-dimension vectors on two cores), above it the scan grows
// linearly and an approximate index pays.
const DefaultThreshold = 1 << 20

// AutoOptions configures NewAuto. Zero values mean defaults.
type AutoOptions struct {
	// Threshold is the number of vectors from which the index is
	// partitioned; 0 means DefaultThreshold.
	Threshold int
	// Probe is the fraction of the partitions a search scans, 0 < Probe ≤ 1;
	// 0 means 1/16, with at least 8 partitions scanned.
	Probe float64
	// Seed makes the partitioning (a k-means clustering of a sample)
	// repeatable.
	Seed uint64
	// Retrain trains the partitions again, √n of them for the new size,
	// each time the index has grown fourfold since the last training, so
	// that they follow data that grows and drifts. Off by default: the
	// training does not hold the index's lock, but it runs in the Add that
	// starts it, so a caller that calls Add under a lock of its own would
	// stop for each training, longer each time. Such a caller sets
	// DeferTraining as well and trains in the background instead.
	Retrain bool
	// DeferTraining keeps Add from ever training: the owner asks
	// TrainingDue and calls Train when it chooses, typically on a
	// goroutine of its own that holds none of its locks. Until then the
	// index answers as it is (exactly, while flat).
	DeferTraining bool
}

// Auto is a rag.VectorIndex that is exact while it is small and
// approximate when it is large: one flat Index up to Threshold vectors, and
// above it an inverted-file index (IVF) of √n partitions, each a flat
// Index, found by spherical k-means on a sample. A search scores the
// query against the partitions' centroids and scans only the best
// Probe fraction of them, so it scans about that fraction of the vectors
// (plus the √n centroids) instead of all of them; recall against exact
// search depends on how clustered the vectors are (real embeddings are:
// the tests measure it on clustered data).
//
// Vectors added after partitioning join their nearest partition; with
// AutoOptions.Retrain the partitions are trained again each time the
// index has grown fourfold. A training (k-means on a sample, then every
// vector to its nearest centroid: about 23 s at 200k 384-dimension vectors
// on two cores, growing as n√n) runs in the Add that starts it, or, with
// AutoOptions.DeferTraining, in the Train its owner calls; either way on a
// copy of the vectors and without the index's lock: searches and writes go
// on meanwhile against the index as it was, and the writes made during the
// training are applied to the new partitions when they replace the old.
// Removals leave the partitions as they are
// (thinner; a search still scans the same fraction of the vectors) until
// the index falls below half the Threshold, when it becomes one exact
// Index again. It is safe for concurrent use like Index.
type Auto struct {
	dim int
	o   AutoOptions

	mu        sync.RWMutex
	flat      *Index      // nil once partitioned
	centroids [][]float32 // unit vectors
	lists     []*Index
	where     map[string]int // id → partition

	// trainedAt is the size the partitions were trained at.
	trainedAt int
	// changed, non-nil while a training runs off the lock, holds the ids
	// added or removed since its copy, for the swap to apply.
	changed map[string]struct{}
	// trained, when set (by tests), is called by a training between its
	// copy and its swap, without the lock.
	trained func()
}

// retrainGrowth is the factor by which a partitioned index has grown when
// its partitions are trained again: at 4, there are then twice as many.
const retrainGrowth = 4

// NewAuto returns an empty index for vectors of dim dimensions.
func NewAuto(dim int, o AutoOptions) *Auto {
	if o.Threshold <= 0 {
		o.Threshold = DefaultThreshold
	}
	if o.Probe <= 0 || o.Probe > 1 {
		o.Probe = 1.0 / 16
	}
	return &Auto{dim: dim, o: o, flat: New(dim)}
}

// Partitioned reports whether the index has become approximate.
func (a *Auto) Partitioned() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.flat == nil
}

// Len returns the number of vectors.
func (a *Auto) Len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.flat != nil {
		return a.flat.Len()
	}
	return len(a.where)
}

// Add indexes vec under id, replacing any vector id had. Unless
// DeferTraining is set, the Add that brings the index to Threshold (or,
// with Retrain, to four times its size at the last training)
// (re)partitions it before returning, which takes a while (k-means over a
// sample, then assigning every vector); other calls are not held up
// meanwhile (see Auto).
func (a *Auto) Add(id string, vec []float32) error {
	a.mu.Lock()
	err := a.add(id, vec)
	var snap *snapshot
	if err == nil && !a.o.DeferTraining {
		snap = a.startTraining()
	}
	a.mu.Unlock()
	if snap != nil {
		// Without a context to stop it, the training cannot fail.
		_ = a.train(context.Background(), snap)
	}
	return err
}

// TrainingDue reports whether a training is due and none is under way: the
// index is flat and holds Threshold vectors or more, or, with Retrain, it
// has grown fourfold since its last training.
func (a *Auto) TrainingDue() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.changed == nil && a.due()
}

// Train runs a due training now, in the caller's goroutine and without the
// index's lock (see Auto); it returns nil at once when none is due or one
// is under way. When ctx is cancelled it stops early and returns ctx.Err(),
// leaving the index as it was (with the writes made meanwhile), so that a
// later Train can start again.
func (a *Auto) Train(ctx context.Context) error {
	a.mu.Lock()
	snap := a.startTraining()
	a.mu.Unlock()
	if snap == nil {
		return nil
	}
	return a.train(ctx, snap)
}

// add indexes vec under id. The caller holds a.mu for writing.
func (a *Auto) add(id string, vec []float32) error {
	if a.flat != nil {
		if err := a.flat.Add(id, vec); err != nil {
			return err
		}
	} else {
		q, err := a.flat0().normalise(vec)
		if err != nil {
			return fmt.Errorf("vector: id %q: %w", id, err)
		}
		c := nearest(a.centroids, q)
		if prev, ok := a.where[id]; ok && prev != c {
			a.lists[prev].Remove(id)
		}
		if err := a.lists[c].Add(id, q); err != nil {
			return err
		}
		a.where[id] = c
	}
	if a.changed != nil {
		a.changed[id] = struct{}{}
	}
	return nil
}

// flat0 is an empty Index of the right dimension, for its checks.
func (a *Auto) flat0() *Index { return a.lists[0] }

// Remove deletes id; removing an absent id does nothing. The Remove that
// takes a partitioned index below half the Threshold turns it back into
// one exact Index (a copy of every vector, without k-means).
func (a *Auto) Remove(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.changed != nil {
		a.changed[id] = struct{}{}
	}
	if a.flat != nil {
		a.flat.Remove(id)
		return
	}
	c, ok := a.where[id]
	if !ok {
		return
	}
	a.lists[c].Remove(id)
	delete(a.where, id)
	// Below the Threshold an exact scan is cheap by definition, so the
	// approximation no longer buys anything (and partitions trained on a
	// much larger index would be mostly near-empty). Half, not the
	// Threshold itself, so that an index hovering around the Threshold is
	// not rebuilt back and forth. Not while a training is under way: its
	// swap checks again.
	if len(a.where) < a.o.Threshold/2 && a.changed == nil {
		a.unpartition()
	}
}

// Search returns up to k ids by descending cosine similarity: exactly
// while the index is flat, from the closest partitions once partitioned.
func (a *Auto) Search(query []float32, k int, filter func(id string) bool) ([]rag.Scored, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.flat != nil {
		return a.flat.Search(query, k, filter)
	}
	q, err := a.flat0().normalise(query)
	if err != nil {
		return nil, fmt.Errorf("vector: query: %w", err)
	}
	type list struct {
		i     int
		score float32
	}
	if k <= 0 {
		return nil, nil
	}
	order := make([]list, len(a.centroids))
	for i, c := range a.centroids {
		order[i] = list{i, dotFloat(q, c)}
	}
	slices.SortFunc(order, func(x, y list) int { return cmp.Compare(y.score, x.score) })
	probe := min(len(order), max(8, int(math.Ceil(a.o.Probe*float64(len(order))))))

	// One quantised query for every partition, their int8 scores pooled,
	// and only the best c candidates overall rescored exactly: searching
	// each partition as an Index would rescore c candidates per partition.
	// a.mu is held, and every write to a partition goes through a.mu too,
	// so the partitions' fields can be read here without their own locks.
	stride := a.lists[0].stride
	qcode := make([]int8, stride)
	quantise(q, qcode)
	qbytes := make([]byte, stride)
	for j, c := range qcode {
		qbytes[j] = byte(int16(c) + 128)
	}
	var f Filter
	if filter != nil {
		f = func(id string, _ Meta) bool { return filter(id) }
	}
	c := 3*k + 32
	type cand struct {
		list  int
		row   int32
		score float32
	}
	var cands []cand
	for _, l := range order[:probe] {
		ix := a.lists[l.i]
		if n := len(ix.ids); n > 0 {
			for _, it := range ix.scan(qbytes, 0, n, min(c, n), f).items {
				cands = append(cands, cand{l.i, it.row, it.score})
			}
		}
	}
	slices.SortFunc(cands, func(x, y cand) int { return cmp.Compare(y.score, x.score) })
	cands = cands[:min(len(cands), c)]
	hits := make([]rag.Scored, len(cands))
	for i, cd := range cands {
		ix := a.lists[cd.list]
		r := int(cd.row)
		hits[i] = rag.Scored{ID: ix.ids[r], Score: dotFloat(q, ix.vecs[r*ix.dim:(r+1)*ix.dim])}
	}
	slices.SortFunc(hits, func(x, y rag.Scored) int {
		if c := cmp.Compare(y.Score, x.Score); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return hits[:min(len(hits), k)], nil
}

// contents returns ix's ids and vectors (unit length), the vectors
// aliasing ix's storage. The caller holds a.mu for writing, through which
// every write to ix goes, and drops the slices before ix changes.
func contents(ix *Index) ([]string, [][]float32) {
	vecs := make([][]float32, len(ix.ids))
	for r := range vecs {
		vecs[r] = ix.vecs[r*ix.dim : (r+1)*ix.dim]
	}
	return ix.ids, vecs
}

// snapshot is a copy of the index's vectors for a training.
type snapshot struct {
	ids  []string
	vecs [][]float32 // unit length, copies
}

// due reports whether the index must be (re)partitioned. The caller holds
// a.mu.
func (a *Auto) due() bool {
	if a.flat != nil {
		return a.flat.Len() >= a.o.Threshold
	}
	return a.o.Retrain && len(a.where) >= retrainGrowth*a.trainedAt
}

// startTraining returns a copy of every vector when the index must be
// (re)partitioned and no training is under way, and from then on records
// the writes for the swap; nil otherwise. The caller holds a.mu for
// writing.
func (a *Auto) startTraining() *snapshot {
	if a.changed != nil || !a.due() {
		return nil
	}
	var ids []string
	var vecs [][]float32
	if a.flat != nil {
		ids, vecs = contents(a.flat)
	} else {
		ids, vecs = a.all()
	}
	// One allocation for all the vectors: the copy is what lets the
	// training run while the index changes.
	data := make([]float32, len(vecs)*a.dim)
	snap := &snapshot{ids: slices.Clone(ids), vecs: make([][]float32, len(vecs))}
	for i, v := range vecs {
		snap.vecs[i] = data[i*a.dim : (i+1)*a.dim : (i+1)*a.dim]
		copy(snap.vecs[i], v)
	}
	a.changed = map[string]struct{}{}
	return snap
}

// train makes √n partitions of the snapshot's vectors (centroids by
// k-means on a sample, every vector in its nearest partition) without the
// lock, then takes it to apply the writes made meanwhile and put the new
// partitions in place of the index's. When ctx is cancelled first it
// returns ctx.Err() and puts nothing in place.
func (a *Auto) train(ctx context.Context, snap *snapshot) error {
	n := len(snap.ids)
	nlist := max(1, int(math.Sqrt(float64(n))))
	centroids, err := kmeans(ctx, snap.vecs, nlist, a.o.Seed)
	if err != nil {
		return a.abandon(err)
	}
	lists := make([]*Index, len(centroids))
	for i := range lists {
		lists[i] = New(a.dim)
	}
	assign, err := assignAll(ctx, centroids, snap.vecs)
	if err != nil {
		return a.abandon(err)
	}
	where := make(map[string]int, n)
	byList := make([][]Item, len(centroids))
	for i, c := range assign {
		byList[c] = append(byList[c], Item{ID: snap.ids[i], Vector: snap.vecs[i]})
		where[snap.ids[i]] = c
	}
	for c, items := range byList {
		// The vectors were checked when first added: Put cannot fail.
		if err := lists[c].Put(items...); err != nil {
			panic(fmt.Sprintf("vector: re-indexing a partition: %v", err))
		}
	}
	if a.trained != nil {
		a.trained()
	}
	if err := ctx.Err(); err != nil {
		return a.abandon(err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.changed {
		if c, ok := where[id]; ok {
			lists[c].Remove(id)
			delete(where, id)
		}
		v, ok := a.vector(id)
		if !ok {
			continue // removed meanwhile
		}
		c := nearest(centroids, v)
		// Checked when added: Add cannot fail.
		if err := lists[c].Add(id, v); err != nil {
			panic(fmt.Sprintf("vector: re-indexing a partition: %v", err))
		}
		where[id] = c
	}
	a.flat, a.centroids, a.lists, a.where = nil, centroids, lists, where
	a.trainedAt, a.changed = len(where), nil
	if len(where) < a.o.Threshold/2 {
		a.unpartition()
	}
	return nil
}

// abandon ends a training that stopped before its swap: the index stays
// as it is, with every write made meanwhile, and a later training may
// start. It returns err.
func (a *Auto) abandon(err error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.changed = nil
	// Remove does not unpartition while a training runs, leaving it to the
	// swap; there is none now.
	if a.flat == nil && len(a.where) < a.o.Threshold/2 {
		a.unpartition()
	}
	return err
}

// vector returns id's vector (unit length) as the index holds it now. The
// caller holds a.mu.
func (a *Auto) vector(id string) ([]float32, bool) {
	if a.flat != nil {
		return a.flat.Vector(id)
	}
	c, ok := a.where[id]
	if !ok {
		return nil, false
	}
	return a.lists[c].Vector(id)
}

// unpartition turns the partitions back into one flat Index. The caller
// holds a.mu for writing.
func (a *Auto) unpartition() {
	ids, vecs := a.all()
	items := make([]Item, len(ids))
	for i := range ids {
		items[i] = Item{ID: ids[i], Vector: vecs[i]}
	}
	flat := New(a.dim)
	// The vectors were checked when first added: Put cannot fail.
	if err := flat.Put(items...); err != nil {
		panic(fmt.Sprintf("vector: re-indexing a partitioned index: %v", err))
	}
	a.flat, a.centroids, a.lists, a.where = flat, nil, nil, nil
}

// all gathers the ids and vectors of every partition, aliasing their
// storage (see contents).
func (a *Auto) all() ([]string, [][]float32) {
	ids := make([]string, 0, len(a.where))
	vecs := make([][]float32, 0, len(a.where))
	for _, l := range a.lists {
		li, lv := contents(l)
		ids = append(ids, li...)
		vecs = append(vecs, lv...)
	}
	return ids, vecs
}

// partitions returns how many partitions the index has, 0 while it is
// flat.
func (a *Auto) partitions() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.lists)
}

// kmeans clusters unit vectors into k unit centroids by spherical k-means
// on a sample of at most 64 vectors a centroid, 10 rounds: enough for
// partitions, which need to be coherent rather than optimal. It returns
// ctx.Err() once ctx is cancelled.
func kmeans(ctx context.Context, vecs [][]float32, k int, seed uint64) ([][]float32, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6b65656c))
	sample := vecs
	if limit := 64 * k; len(vecs) > limit {
		sample = make([][]float32, limit)
		for i, j := range rng.Perm(len(vecs))[:limit] {
			sample[i] = vecs[j]
		}
	}
	k = min(k, len(sample))
	cents := make([][]float32, k)
	for i, j := range rng.Perm(len(sample))[:k] {
		cents[i] = slices.Clone(sample[j])
	}
	dim := len(vecs[0])
	for range 10 {
		assign, err := assignAll(ctx, cents, sample)
		if err != nil {
			return nil, err
		}
		sums := make([][]float64, k)
		for i := range sums {
			sums[i] = make([]float64, dim)
		}
		counts := make([]int, k)
		for i, c := range assign {
			counts[c]++
			for j, x := range sample[i] {
				sums[c][j] += float64(x)
			}
		}
		for c := range cents {
			if counts[c] == 0 {
				// An empty cluster restarts at a random sample vector.
				cents[c] = slices.Clone(sample[rng.IntN(len(sample))])
				continue
			}
			var ss float64
			for _, x := range sums[c] {
				ss += x * x
			}
			inv := 1 / math.Sqrt(ss)
			for j, x := range sums[c] {
				cents[c][j] = float32(x * inv)
			}
		}
	}
	return cents, nil
}

// assignAll returns each vector's nearest centroid, on every core, or
// ctx.Err() once ctx is cancelled: each worker checks it every 1024
// vectors, a few milliseconds of work at √n centroids.
func assignAll(ctx context.Context, cents, vecs [][]float32) ([]int, error) {
	out := make([]int, len(vecs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	chunk := (len(vecs) + workers - 1) / workers
	for lo := 0; lo < len(vecs); lo += chunk {
		hi := min(len(vecs), lo+chunk)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				if (i-lo)%1024 == 0 && ctx.Err() != nil {
					return
				}
				out[i] = nearest(cents, vecs[i])
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// nearest returns the index of the centroid most similar to v.
func nearest(cents [][]float32, v []float32) int {
	best, bestScore := 0, float32(math.Inf(-1))
	for i, c := range cents {
		if s := dotFloat(v, c); s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}
