package vector

import (
	"cmp"
	"slices"
)

type scored struct {
	row   int32
	score float32
}

// topK keeps the c best-scoring rows seen, as a min-heap on score so the
// weakest is at the root and a new row is compared with it in O(1).
type topK struct {
	c     int
	items []scored
}

func (t *topK) init(c int) {
	t.c = c
	t.items = make([]scored, 0, c)
}

// admits reports whether a row scoring s would enter the heap (before tie
// breaking).
func (t *topK) admits(s float32) bool {
	return len(t.items) < t.c || s >= t.items[0].score
}

// less orders the heap: lower score first; on equal scores the larger id
// (or row, when ids is nil) is weaker, so results are deterministic.
func less(a, b scored, ids []string) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	if ids != nil {
		return ids[a.row] > ids[b.row]
	}
	return a.row > b.row
}

func (t *topK) push(row int32, s float32, ids []string) {
	it := scored{row, s}
	if len(t.items) < t.c {
		t.items = append(t.items, it)
		t.up(len(t.items)-1, ids)
		return
	}
	if !less(t.items[0], it, ids) {
		return
	}
	t.items[0] = it
	t.down(0, ids)
}

func (t *topK) up(i int, ids []string) {
	h := t.items
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p], ids) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (t *topK) down(i int, ids []string) {
	h := t.items
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l], ids) {
			m = r
		}
		if !less(h[m], h[i], ids) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// sorted returns the items best first.
func (t *topK) sorted(ids []string) []scored {
	out := slices.Clone(t.items)
	slices.SortFunc(out, func(a, b scored) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		return cmp.Compare(ids[a.row], ids[b.row])
	})
	return out
}
