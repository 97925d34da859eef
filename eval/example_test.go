package eval_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/keelai/keel/batch"
	"github.com/keelai/keel/eval"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// A suite on the scripted fake model: the model echoes each question, and
// a fake judge scores the answers.
func ExampleRun() {
	suite, err := eval.ParseSuite("capitals.yaml", []byte(`
name: capitals
target:
  model: fake/echo
  input: "The capital of {{.country}} is {{.capital}}."
cases:
  - {id: france, vars: {country: France, capital: Paris}, expected: Paris}
  - {id: peru, vars: {country: Peru, capital: Cusco}, expected: Lima}
graders:
  - type: contains
  - type: judge
    rubric: Is the statement true?
thresholds:
  pass_rate: 1
concurrency: 1
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	judge := llmtest.NewModel("fake/judge",
		llmtest.Text(`{"reason":"Paris is the capital of France.","score":5}`),
		llmtest.Text(`{"reason":"Lima is the capital of Peru, not Cusco.","score":1}`),
	)
	models := map[string]llm.Model{"fake/echo": llmtest.NewEcho("fake/echo"), "fake/judge": judge}
	res, err := eval.Run(context.Background(), suite, eval.Options{Env: eval.Env{
		JudgeModel: "fake/judge",
		Model:      func(name string) (llm.Model, error) { return models[name], nil },
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range res.Cases {
		fmt.Printf("%s: score %.2f, passed %v\n", c.CaseID, c.Score, c.Passed)
		for _, g := range c.Grades {
			fmt.Printf("  %s %.2f: %s\n", g.Grader, g.Score, g.Reason)
		}
	}
	fmt.Println("gate:", strings.Join(res.Gate(nil), "; "))
	// Output:
	// france: score 1.00, passed true
	//   contains 1.00: all present
	//   judge 1.00: 5/5: Paris is the capital of France.
	// peru: score 0.00, passed false
	//   contains 0.00: missing "Lima"
	//   judge 0.00: 1/5: Lima is the capital of Peru, not Cusco.
	// gate: pass rate 0.500 is below the threshold 1.000
}

// Two runs compared case by case, with the paired bootstrap interval of the
// mean difference.
func ExampleCompare() {
	run := func(id string, scores ...float64) *eval.Result {
		r := &eval.Result{ID: id}
		for i, s := range scores {
			r.Cases = append(r.Cases, eval.CaseResult{CaseID: fmt.Sprint("case", i), Score: s})
		}
		return r
	}
	a := run("A", 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5)
	b := run("B", 0.75, 1, 0.5, 0.75, 1, 0.75, 0.25, 1)
	c := eval.Compare(a, b)
	fmt.Printf("%d wins, %d losses, %d ties\n", c.Wins, c.Losses, c.Ties)
	fmt.Printf("B - A = %+.3f, 95%% CI [%+.3f, %+.3f]\n", c.MeanDiff, c.CI.Low, c.CI.High)
	// Output:
	// 6 wins, 1 losses, 1 ties
	// B - A = +0.250, 95% CI [+0.062, +0.406]
}

// A suite whose calls run as one batch. Here batch.Local answers them on
// the fake model; with a *batch.Manager they would go to a provider's batch
// API at half price. The grades are the direct run's.
func ExampleOptions_batch() {
	suite, err := eval.ParseSuite("capitals.yaml", []byte(`
name: capitals
target:
  model: fake/echo
  input: "The capital of {{.country}} is {{.capital}}."
cases:
  - {id: france, vars: {country: France, capital: Paris}, expected: Paris}
  - {id: peru, vars: {country: Peru, capital: Cusco}, expected: Lima}
graders:
  - type: contains
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	open := func(string) (llm.Model, error) { return llmtest.NewEcho("fake/echo"), nil }
	res, err := eval.Run(context.Background(), suite, eval.Options{
		Env:   eval.Env{Model: open},
		Batch: &batch.Local{Open: open},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range res.Cases {
		fmt.Printf("%s: passed %v, latency %d ms\n", c.CaseID, c.Passed, c.LatencyMS)
	}
	fmt.Println("batch:", res.Summary.Batch)
	// Output:
	// france: passed true, latency 0 ms
	// peru: passed false, latency 0 ms
	// batch: true
}
