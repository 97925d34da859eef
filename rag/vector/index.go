package vector

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/keelai/keel/rag"
)

var _ rag.VectorIndex = (*Index)(nil)

// Meta is an item's metadata, matched by Where.
type Meta map[string]string

// Item is one vector to index.
type Item struct {
	// ID identifies the item; adding an ID again replaces the item.
	ID string
	// Vector is the embedding. It need not be normalised; the index keeps a
	// normalised copy.
	Vector []float32
	// Meta is optional metadata for filters.
	Meta Meta
}

// Filter decides whether an item may appear in the results of SearchMeta.
// It is called only for items that score well enough to enter the results,
// while the index's read lock is held: it must not call the index.
type Filter func(id string, meta Meta) bool

// Where returns a filter that admits items whose metadata has every key of
// m with the same value.
func Where(m Meta) Filter {
	m = maps.Clone(m)
	return func(_ string, meta Meta) bool {
		for k, v := range m {
			if got, ok := meta[k]; !ok || got != v {
				return false
			}
		}
		return true
	}
}

// Index is an in-memory cosine-similarity index of fixed dimension. It
// implements rag.VectorIndex. The zero value is usable only as the target
// of UnmarshalBinary; otherwise call New.
type Index struct {
	dim    int
	stride int // bytes per code row: dim rounded up to the kernel's width

	mu     sync.RWMutex
	ids    []string
	meta   []Meta
	rows   map[string]int
	vecs   []float32 // len(ids)·dim, each row of unit length
	codes  []int8    // len(ids)·stride, zero-padded
	scales []float32 // per row: the float value of one code step
	sums   []int32   // per row: Σ codes, to undo the query's +128 bias
}

// MaxDim bounds the dimension of an index, well above any embedding model's
// (the largest common ones have 4096).
const MaxDim = 1 << 16

// New returns an empty index for vectors of dim dimensions.
func New(dim int) *Index {
	if dim <= 0 || dim > MaxDim {
		panic(fmt.Sprintf("vector.New: dimension %d out of range 1..%d", dim, MaxDim))
	}
	return &Index{
		dim:    dim,
		stride: (dim + 63) &^ 63,
		rows:   make(map[string]int),
	}
}

// Dim returns the dimension of the index's vectors.
func (ix *Index) Dim() int { return ix.dim }

// Len returns the number of items.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.ids)
}

// Has reports whether an item with this id is indexed.
func (ix *Index) Has(id string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.rows[id]
	return ok
}

// Add indexes vec under id, replacing any vector id had.
func (ix *Index) Add(id string, vec []float32) error {
	return ix.Put(Item{ID: id, Vector: vec})
}

// Put indexes items, replacing those whose ID is already present. It checks
// every item before changing anything: on error the index is unchanged.
// Within one call, a later item with the same ID wins.
func (ix *Index) Put(items ...Item) error {
	for i, it := range items {
		if it.ID == "" {
			return fmt.Errorf("vector: item %d: empty id", i)
		}
		if _, err := ix.check(it.Vector); err != nil {
			return fmt.Errorf("vector: item %d (id %q): %w", i, it.ID, err)
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	// Grow every block once: appending row by row would copy the whole
	// index again and again.
	fresh := 0
	for _, it := range items {
		if _, ok := ix.rows[it.ID]; !ok {
			fresh++
		}
	}
	ix.vecs = slices.Grow(ix.vecs, fresh*ix.dim)
	ix.codes = slices.Grow(ix.codes, fresh*ix.stride)
	ix.ids = slices.Grow(ix.ids, fresh)
	ix.meta = slices.Grow(ix.meta, fresh)
	ix.scales = slices.Grow(ix.scales, fresh)
	ix.sums = slices.Grow(ix.sums, fresh)
	for _, it := range items {
		r, ok := ix.rows[it.ID]
		if !ok {
			r = len(ix.ids)
			ix.rows[it.ID] = r
			ix.ids = append(ix.ids, it.ID)
			ix.meta = append(ix.meta, nil)
			ix.vecs = ix.vecs[:len(ix.vecs)+ix.dim]
			ix.codes = ix.codes[:len(ix.codes)+ix.stride]
			ix.scales = append(ix.scales, 0)
			ix.sums = append(ix.sums, 0)
		}
		ix.meta[r] = maps.Clone(it.Meta)
		ix.setRow(r, it.Vector)
	}
	return nil
}

// check validates v and returns 1/‖v‖.
func (ix *Index) check(v []float32) (float64, error) {
	if len(v) != ix.dim {
		return 0, fmt.Errorf("vector has %d dimensions, index has %d", len(v), ix.dim)
	}
	var ss float64
	for j, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, fmt.Errorf("component %d is %v", j, x)
		}
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return 0, errors.New("zero vector has no direction")
	}
	return 1 / math.Sqrt(ss), nil
}

// normalise checks v and returns a unit-length copy.
func (ix *Index) normalise(v []float32) ([]float32, error) {
	inv, err := ix.check(v)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(v))
	for j, x := range v {
		out[j] = float32(float64(x) * inv)
	}
	return out, nil
}

// setRow stores v, normalised, at row r with its quantised code. v has
// passed check.
func (ix *Index) setRow(r int, v []float32) {
	dst := ix.vecs[r*ix.dim : (r+1)*ix.dim]
	inv, _ := ix.check(v)
	for j, x := range v {
		dst[j] = float32(float64(x) * inv)
	}
	v = dst
	code := ix.codes[r*ix.stride : (r+1)*ix.stride]
	ix.scales[r], ix.sums[r] = quantise(v, code)
}

// quantise writes v as symmetric int8 codes scaled by v's largest
// component, and returns the scale and the sum of the codes. The range is
// ±127 so that negation never overflows.
func quantise(v []float32, code []int8) (scale float32, sum int32) {
	var maxAbs float32
	for _, x := range v {
		maxAbs = max(maxAbs, float32(math.Abs(float64(x))))
	}
	clear(code)
	if maxAbs == 0 {
		return 0, 0
	}
	inv := 127 / maxAbs
	for j, x := range v {
		c := int8(max(-127, min(127, math.Round(float64(x*inv)))))
		code[j] = c
		sum += int32(c)
	}
	return maxAbs / 127, sum
}

// Remove deletes id; removing an absent id does nothing.
func (ix *Index) Remove(id string) { ix.Delete(id) }

// Delete removes the items with these ids; unknown ids are ignored. It
// reports how many were removed.
func (ix *Index) Delete(ids ...string) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for _, id := range ids {
		r, ok := ix.rows[id]
		if !ok {
			continue
		}
		n++
		// Move the last row into the hole so the block stays contiguous.
		last := len(ix.ids) - 1
		if r != last {
			ix.ids[r] = ix.ids[last]
			ix.meta[r] = ix.meta[last]
			copy(ix.vecs[r*ix.dim:(r+1)*ix.dim], ix.vecs[last*ix.dim:])
			copy(ix.codes[r*ix.stride:(r+1)*ix.stride], ix.codes[last*ix.stride:])
			ix.scales[r] = ix.scales[last]
			ix.sums[r] = ix.sums[last]
			ix.rows[ix.ids[r]] = r
		}
		delete(ix.rows, id)
		ix.ids[last] = ""
		ix.meta[last] = nil
		ix.ids = ix.ids[:last]
		ix.meta = ix.meta[:last]
		ix.vecs = ix.vecs[:last*ix.dim]
		ix.codes = ix.codes[:last*ix.stride]
		ix.scales = ix.scales[:last]
		ix.sums = ix.sums[:last]
	}
	return n
}

// IDs returns the ids of all items, in no particular order.
func (ix *Index) IDs() []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return slices.Clone(ix.ids)
}

// Vector returns a copy of the stored (unit-length) vector of id.
func (ix *Index) Vector(id string) ([]float32, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	r, ok := ix.rows[id]
	if !ok {
		return nil, false
	}
	return slices.Clone(ix.vecs[r*ix.dim : (r+1)*ix.dim]), true
}

// parallelMin is the row count from which a search splits its scan across
// CPUs; below it, starting goroutines costs more than it saves.
const parallelMin = 16384

// Search returns up to k ids most similar to query by cosine similarity,
// best first, skipping ids for which filter (when not nil) returns false.
// Ties are broken by id so that results are deterministic. filter is
// called with the index's read lock held and must not call the index.
func (ix *Index) Search(query []float32, k int, filter func(id string) bool) ([]rag.Scored, error) {
	var f Filter
	if filter != nil {
		f = func(id string, _ Meta) bool { return filter(id) }
	}
	return ix.SearchMeta(query, k, f)
}

// SearchMeta is Search with a filter that also sees each item's metadata
// (see Where).
func (ix *Index) SearchMeta(query []float32, k int, filter Filter) ([]rag.Scored, error) {
	if k <= 0 {
		return nil, nil
	}
	q, err := ix.normalise(query)
	if err != nil {
		return nil, fmt.Errorf("vector: query: %w", err)
	}
	qcode := make([]int8, ix.stride)
	quantise(q, qcode)
	qbytes := make([]byte, ix.stride)
	for j, c := range qcode {
		qbytes[j] = byte(int16(c) + 128)
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := len(ix.ids)
	if n == 0 {
		return nil, nil
	}
	// Candidates for exact rescoring: the quantised scores' error is far
	// below the gap this margin leaves (see TestRecall).
	c := min(n, 3*k+32)
	shards := 1
	if n >= parallelMin {
		shards = min(runtime.GOMAXPROCS(0), n/(parallelMin/2))
	}
	tops := make([]topK, shards)
	if shards == 1 {
		tops[0] = ix.scan(qbytes, 0, n, c, filter)
	} else {
		var wg sync.WaitGroup
		per := (n + shards - 1) / shards
		for s := range shards {
			wg.Go(func() {
				lo := s * per
				tops[s] = ix.scan(qbytes, lo, min(n, lo+per), c, filter)
			})
		}
		wg.Wait()
	}

	// Rescore every shard's candidates exactly.
	var best topK
	best.init(k)
	for _, t := range tops {
		for _, cand := range t.items {
			r := int(cand.row)
			best.push(int32(r), dotFloat(q, ix.vecs[r*ix.dim:(r+1)*ix.dim]), ix.ids)
		}
	}
	hits := make([]rag.Scored, len(best.items))
	for i, it := range best.sorted(ix.ids) {
		hits[i] = rag.Scored{ID: ix.ids[it.row], Score: it.score}
	}
	return hits, nil
}

// block is how many rows the kernel scores per call: enough to amortise
// the call, few enough that the scores stay in L1.
const block = 256

// scan scores rows [lo, hi) on their codes and returns the best c that the
// filter admits.
func (ix *Index) scan(q []byte, lo, hi, c int, filter Filter) topK {
	var top topK
	top.init(c)
	var raw [block]int32
	for b := lo; b < hi; b += block {
		m := min(block, hi-b)
		dots(q, ix.codes[b*ix.stride:(b+m)*ix.stride], ix.stride, m, raw[:m])
		for i, d := range raw[:m] {
			r := b + i
			// Unbias the query (it was shifted by +128 to be unsigned).
			s := float32(d-128*ix.sums[r]) * ix.scales[r]
			if !top.admits(s) {
				continue
			}
			if filter != nil && !filter(ix.ids[r], ix.meta[r]) {
				continue
			}
			top.push(int32(r), s, nil)
		}
	}
	return top
}
