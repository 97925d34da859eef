package rag

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"
)

// Fused is an id with its fused score.
type Fused struct {
	ID    string
	Score float64
}

// RRF fuses ranked lists of ids by reciprocal rank fusion (Cormack, Clarke
// and Büttcher, 2009): an id scores the sum over lists of
// weight / (k + rank), rank counted from 1. k <= 0 means 60; missing or
// zero weights mean 1. Ties keep the order of first appearance, so the
// result is deterministic.
func RRF(k float64, weights []float64, lists ...[]string) []Fused {
	if k <= 0 {
		k = 60
	}
	score := map[string]float64{}
	var order []string
	for li, l := range lists {
		w := 1.0
		if li < len(weights) && weights[li] != 0 {
			w = weights[li]
		}
		for r, id := range l {
			if _, ok := score[id]; !ok {
				order = append(order, id)
			}
			score[id] += w / (k + float64(r+1))
		}
	}
	out := make([]Fused, len(order))
	for i, id := range order {
		out[i] = Fused{id, score[id]}
	}
	slices.SortStableFunc(out, func(a, b Fused) int { return cmp.Compare(b.Score, a.Score) })
	return out
}

// MMR picks k hits by maximal marginal relevance (Carbonell and Goldstein,
// 1998): each step takes the hit maximising
// lambda*relevance - (1-lambda)*max similarity to those already taken, so
// near-duplicate passages give way to different ones. Relevance is the
// hit's rank-normalised score. sim compares two hits (CosineSim when hits
// carry vectors, WordSim otherwise). lambda is clamped to [0, 1]; 1 keeps
// the original order.
func MMR(hits []Hit, k int, lambda float64, sim func(a, b *Hit) float64) []Hit {
	lambda = min(max(lambda, 0), 1)
	if k > len(hits) {
		k = len(hits)
	}
	if k <= 0 {
		return nil
	}
	rel := normalise(hits)
	taken := make([]bool, len(hits))
	maxSim := make([]float64, len(hits))
	out := make([]Hit, 0, k)
	for len(out) < k {
		best, bestScore := -1, math.Inf(-1)
		for i := range hits {
			if taken[i] {
				continue
			}
			s := lambda*rel[i] - (1-lambda)*maxSim[i]
			if s > bestScore {
				best, bestScore = i, s
			}
		}
		taken[best] = true
		out = append(out, hits[best])
		for i := range hits {
			if !taken[i] {
				maxSim[i] = max(maxSim[i], sim(&hits[i], &hits[best]))
			}
		}
	}
	return out
}

// normalise maps scores to [0, 1] by min-max, so MMR's lambda means the
// same for BM25 scores and cosine similarities.
func normalise(hits []Hit) []float64 {
	rel := make([]float64, len(hits))
	if len(hits) == 0 {
		return rel
	}
	lo, hi := hits[0].Score, hits[0].Score
	for _, h := range hits {
		lo, hi = min(lo, h.Score), max(hi, h.Score)
	}
	for i, h := range hits {
		if hi > lo {
			rel[i] = (h.Score - lo) / (hi - lo)
		} else {
			rel[i] = 1
		}
	}
	return rel
}

// CosineSim is the cosine similarity of two hits' vectors (0 when either
// has none), for MMR.
func CosineSim(a, b *Hit) float64 {
	if len(a.Vector) == 0 || len(a.Vector) != len(b.Vector) {
		return 0
	}
	var dot, na, nb float64
	for i := range a.Vector {
		x, y := float64(a.Vector[i]), float64(b.Vector[i])
		dot += x * y
		na += x * x
		nb += y * y
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// WordSim is the Jaccard similarity of two hits' sets of lower-cased words,
// for MMR when hits carry no vectors.
func WordSim(a, b *Hit) float64 {
	wa, wb := wordSet(a.Text), wordSet(b.Text)
	if len(wa) == 0 && len(wb) == 0 {
		return 0
	}
	inter := 0
	for w := range wa {
		if wb[w] {
			inter++
		}
	}
	return float64(inter) / float64(len(wa)+len(wb)-inter)
}

func wordSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		set[strings.ToLower(w)] = true
	}
	return set
}
