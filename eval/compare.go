package eval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
)

// Comparison is run B measured against run A, case by case.
type Comparison struct {
	// RunA and RunB are the runs' ids.
	RunA string `json:"run_a"`
	RunB string `json:"run_b"`
	// Cases are the cases both runs graded without error, in A's order.
	Cases []CaseDiff `json:"cases"`
	// Wins counts cases where B scored higher, Losses lower, Ties equal
	// (within 1e-9).
	Wins   int `json:"wins"`
	Losses int `json:"losses"`
	Ties   int `json:"ties"`
	// OnlyA and OnlyB list the cases of each run that are not paired (the
	// other run lacks them, or either errored on them); they are left out
	// of the statistics.
	OnlyA []string `json:"only_a,omitempty"`
	OnlyB []string `json:"only_b,omitempty"`
	// MeanA, MeanB and MeanDiff (B − A) are over the paired cases.
	MeanA    float64 `json:"mean_a"`
	MeanB    float64 `json:"mean_b"`
	MeanDiff float64 `json:"mean_diff"`
	// CI is the paired bootstrap 95% confidence interval of MeanDiff.
	CI Interval `json:"ci"`
	// Pairwise is set when a pairwise judge compared the outputs: then
	// each case's Diff, MeanDiff and CI are the judge's preference for B,
	// in [-1, 1], while A, B, MeanA and MeanB stay the graders' scores.
	Pairwise bool `json:"pairwise,omitempty"`
}

// CaseDiff is one case in both runs: its score averaged over repeats.
type CaseDiff struct {
	CaseID string  `json:"case_id"`
	A      float64 `json:"a"`
	B      float64 `json:"b"`
	Diff   float64 `json:"diff"`
	Reason string  `json:"reason,omitempty"`
}

// Interval is a confidence interval.
type Interval struct {
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
	Level float64 `json:"level"`
	// Resamples and Seed say how it was computed, so it can be repeated.
	Resamples int    `json:"resamples"`
	Seed      uint64 `json:"seed"`
}

// Bootstrap settings: 10,000 resamples give percentile bounds stable to
// about ±0.002 on a [0, 1] score; the fixed seed makes a comparison
// reproducible (same runs, same interval).
const (
	Resamples = 10_000
	Seed      = 20240607
	tieEps    = 1e-9
)

// Compare pairs the cases of two runs by case id (each case's score is its
// mean over repeats; cases with any errored repeat are left out and listed)
// and measures B − A.
func Compare(a, b *Result) *Comparison {
	ma, mb := caseMeans(a), caseMeans(b)
	c := &Comparison{RunA: a.ID, RunB: b.ID}
	paired := map[string]bool{}
	for _, id := range caseOrder(a) {
		va, okA := ma[id]
		vb, okB := mb[id]
		if okA && okB {
			c.Cases = append(c.Cases, CaseDiff{CaseID: id, A: va, B: vb, Diff: vb - va})
			paired[id] = true
		} else {
			c.OnlyA = append(c.OnlyA, id)
		}
	}
	for _, id := range caseOrder(b) {
		if !paired[id] {
			c.OnlyB = append(c.OnlyB, id)
		}
	}
	c.finish()
	return c
}

// ComparePairwise is Compare with the judge deciding each pair instead of
// the graders' scores: Diff is the judge's preference for B's output (first
// repeat of each), judged in both orders.
func ComparePairwise(ctx context.Context, a, b *Result, j *PairwiseJudge) (*Comparison, error) {
	c := Compare(a, b)
	outA, outB := firstOutputs(a), firstOutputs(b)
	for i := range c.Cases {
		d := &c.Cases[i]
		ca, cb := outA[d.CaseID], outB[d.CaseID]
		pref, reason, err := j.Prefer(ctx, ca.Detail.Input, ca.Detail.Output, cb.Detail.Output)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", d.CaseID, err)
		}
		d.Diff, d.Reason = pref, reason
	}
	c.Pairwise = true
	c.finish()
	return c, nil
}

func (c *Comparison) finish() {
	c.Wins, c.Losses, c.Ties = 0, 0, 0
	diffs := make([]float64, len(c.Cases))
	var sa, sb float64
	for i, d := range c.Cases {
		diffs[i] = d.Diff
		sa += d.A
		sb += d.B
		switch {
		case d.Diff > tieEps:
			c.Wins++
		case d.Diff < -tieEps:
			c.Losses++
		default:
			c.Ties++
		}
	}
	if n := float64(len(diffs)); n > 0 {
		c.MeanA, c.MeanB = sa/n, sb/n
		c.MeanDiff = mean(diffs)
	}
	c.CI = PairedBootstrap(diffs, Resamples, Seed)
}

// PairedBootstrap returns the 95% percentile bootstrap interval of the mean
// of paired differences: resample the cases with replacement (a case keeps
// its A and B together, which is what makes it paired), take each
// resample's mean difference, and read the 2.5th and 97.5th percentiles of
// those means. The RNG is seeded, so the same differences give the same
// interval.
func PairedBootstrap(diffs []float64, resamples int, seed uint64) Interval {
	iv := Interval{Level: 0.95, Resamples: resamples, Seed: seed}
	n := len(diffs)
	if n == 0 || resamples <= 0 {
		return iv
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	means := make([]float64, resamples)
	for r := range means {
		var s float64
		for range n {
			s += diffs[rng.IntN(n)]
		}
		means[r] = s / float64(n)
	}
	slices.Sort(means)
	iv.Low = quantile(means, 0.025)
	iv.High = quantile(means, 0.975)
	return iv
}

// quantile interpolates linearly between order statistics (type 7, the
// default of R and NumPy).
func quantile(sorted []float64, p float64) float64 {
	h := p * float64(len(sorted)-1)
	lo := int(h)
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// caseMeans averages each case's score over its repeats, leaving out cases
// with any errored repeat: an error is not a score.
func caseMeans(r *Result) map[string]float64 {
	sums, ns, errs := map[string]float64{}, map[string]int{}, map[string]bool{}
	for _, c := range r.Cases {
		if c.Error != "" {
			errs[c.CaseID] = true
			continue
		}
		sums[c.CaseID] += c.Score
		ns[c.CaseID]++
	}
	out := map[string]float64{}
	for id, s := range sums {
		if !errs[id] {
			out[id] = s / float64(ns[id])
		}
	}
	return out
}

func caseOrder(r *Result) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range r.Cases {
		if !seen[c.CaseID] {
			seen[c.CaseID] = true
			out = append(out, c.CaseID)
		}
	}
	return out
}

func firstOutputs(r *Result) map[string]CaseResult {
	out := map[string]CaseResult{}
	cs := slices.Clone(r.Cases)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Repeat < cs[j].Repeat })
	for _, c := range cs {
		if _, ok := out[c.CaseID]; !ok {
			out[c.CaseID] = c
		}
	}
	return out
}
