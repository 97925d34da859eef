package eval

import (
	"math"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// TestPairedBootstrapMath checks the interval on differences whose answer
// is known in closed form.
func TestPairedBootstrapMath(t *testing.T) {
	t.Run("constant differences have a point interval", func(t *testing.T) {
		d := make([]float64, 40)
		for i := range d {
			d[i] = 0.2
		}
		iv := PairedBootstrap(d, Resamples, Seed)
		if math.Abs(iv.Low-0.2) > 1e-12 || math.Abs(iv.High-0.2) > 1e-12 {
			t.Fatalf("interval %+v, want [0.2, 0.2]", iv)
		}
	})
	t.Run("half ones half zeros", func(t *testing.T) {
		// The mean of n=100 resampled 0/1 values with p=0.5 has standard
		// error sqrt(0.25/100) = 0.05, so the 95% percentile interval is
		// close to 0.5 ± 1.96 × 0.05 = [0.402, 0.598].
		d := make([]float64, 100)
		for i := range 50 {
			d[i] = 1
		}
		iv := PairedBootstrap(d, Resamples, Seed)
		if math.Abs(iv.Low-0.402) > 0.015 || math.Abs(iv.High-0.598) > 0.015 {
			t.Fatalf("interval [%.4f, %.4f], want about [0.402, 0.598]", iv.Low, iv.High)
		}
		if again := PairedBootstrap(d, Resamples, Seed); again != iv {
			t.Fatalf("the same seed gave %+v then %+v", iv, again)
		}
	})
	t.Run("no differences", func(t *testing.T) {
		if iv := PairedBootstrap(nil, Resamples, Seed); iv.Low != 0 || iv.High != 0 {
			t.Fatalf("%+v", iv)
		}
	})
}

func result(id string, scores map[string][]float64, errs ...string) *Result {
	r := &Result{ID: id, Suite: "s"}
	for _, cid := range []string{"a", "b", "c", "d", "e"} {
		for rep, sc := range scores[cid] {
			r.Cases = append(r.Cases, CaseResult{CaseID: cid, Repeat: rep, Score: sc, Passed: sc == 1})
		}
	}
	for _, cid := range errs {
		r.Cases = append(r.Cases, CaseResult{CaseID: cid, Error: "target: boom"})
	}
	return r
}

func TestCompare(t *testing.T) {
	a := result("A", map[string][]float64{"a": {1, 1}, "b": {0.5, 0.5}, "c": {0, 0}, "d": {1, 1}})
	b := result("B", map[string][]float64{"a": {1, 1}, "b": {1, 0}, "c": {1, 1}, "d": {0.5, 0}, "e": {1}}, "d")
	c := Compare(a, b)
	// d errored once in B: left out, listed; e is only in B.
	if len(c.Cases) != 3 || c.Wins != 1 || c.Losses != 0 || c.Ties != 2 {
		t.Fatalf("comparison %+v", c)
	}
	if strings.Join(c.OnlyA, ",") != "d" || strings.Join(c.OnlyB, ",") != "d,e" {
		t.Fatalf("unpaired A %v B %v", c.OnlyA, c.OnlyB)
	}
	if math.Abs(c.MeanDiff-1.0/3) > 1e-12 || c.CI.Low > c.MeanDiff || c.CI.High < c.MeanDiff {
		t.Fatalf("mean %v, CI %+v", c.MeanDiff, c.CI)
	}
}

func TestGateRegression(t *testing.T) {
	limit := 0.05
	base := map[string][]float64{}
	worse := map[string][]float64{}
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		base[id] = []float64{1}
		worse[id] = []float64{1 - 0.1*float64(i%2+1)} // every case drops 0.1 or 0.2
	}
	b := result("B", worse)
	b.Summary.Thresh.MaxRegression = &limit
	cmp := Compare(result("A", base), b)
	fails := b.Gate(cmp)
	if len(fails) != 1 || !strings.Contains(fails[0], "regression against A") {
		t.Fatalf("gate %q", fails)
	}
	// The same drop with some cases improving is noise, not a measured
	// regression: the interval reaches above zero.
	mixed := result("B", map[string][]float64{"a": {0}, "b": {1}, "c": {1}, "d": {0.2}, "e": {1}})
	mixed.Summary.Thresh.MaxRegression = &limit
	base2 := result("A", map[string][]float64{"a": {1}, "b": {0.9}, "c": {0.9}, "d": {1}, "e": {0.9}})
	cmp2 := Compare(base2, mixed)
	if cmp2.MeanDiff >= -limit || cmp2.CI.High <= 0 {
		t.Fatalf("constructed case is wrong: %+v", cmp2)
	}
	if fails := mixed.Gate(cmp2); len(fails) != 0 {
		t.Fatalf("gate %q on an unmeasured drop", fails)
	}
}

// TestPairwiseJudgeSwapsOrder: a judge that always prefers the first output
// it is shown has no say once each pair is judged in both orders.
func TestPairwiseJudgeSwapsOrder(t *testing.T) {
	first := `{"reason":"the first reads better","winner":"first"}`
	biased := llmtest.NewModel("fake/judge", llmtest.Text(first), llmtest.Text(first))
	j := &PairwiseJudge{Model: biased}
	pref, _, err := j.Prefer(t.Context(), "q", "answer A", "answer B")
	if err != nil || pref != 0 {
		t.Fatalf("biased judge: preference %v, %v; want 0", pref, err)
	}
	reqs := biased.Requests()
	m0, m1 := reqs[0].Messages[0].Text(), reqs[1].Messages[0].Text()
	if strings.Index(m0, "answer A") > strings.Index(m0, "answer B") || strings.Index(m1, "answer B") > strings.Index(m1, "answer A") {
		t.Fatal("the pair was not swapped")
	}

	fair := llmtest.NewModel("fake/judge", llmtest.Text(`{"reason":"B","winner":"second"}`), llmtest.Text(`{"reason":"B","winner":"first"}`))
	j.Model = fair
	if pref, _, err := j.Prefer(t.Context(), "q", "a", "b"); err != nil || pref != 1 {
		t.Fatalf("consistent judge: %v, %v; want 1", pref, err)
	}
	j.Model = llmtest.NewModel("fake/judge", llmtest.Fail(llm.KindOverloaded))
	if _, _, err := j.Prefer(t.Context(), "q", "a", "b"); err == nil {
		t.Fatal("a judge failure gave a preference")
	}
}

func TestComparePairwise(t *testing.T) {
	a := result("A", map[string][]float64{"a": {1}, "b": {1}})
	b := result("B", map[string][]float64{"a": {1}, "b": {1}})
	judge := llmtest.NewModel("fake/judge",
		llmtest.Text(`{"reason":"x","winner":"second"}`), llmtest.Text(`{"reason":"x","winner":"first"}`), // a: B wins both
		llmtest.Text(`{"reason":"x","winner":"tie"}`), llmtest.Text(`{"reason":"x","winner":"tie"}`), // b: tie
	)
	c, err := ComparePairwise(t.Context(), a, b, &PairwiseJudge{Model: judge})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Pairwise || c.Wins != 1 || c.Ties != 1 || c.MeanDiff != 0.5 {
		t.Fatalf("%+v", c)
	}
}
