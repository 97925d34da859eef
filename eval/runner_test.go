package eval

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/middleware/respcache"
)

const echoSuite = `
name: echo
target:
  model: fake/echo
  system: Repeat the input.
  input: "Say {{.word}}"
  temperature: 0
cases:
  - {id: a, vars: {word: alpha}, expected: Say alpha}
  - {id: b, vars: {word: beta}, expected: Say beta}
  - {id: c, vars: {word: gamma}, expected: Say gamma}
graders:
  - type: exact
  - type: contains
    value: "a"
thresholds:
  pass_rate: 1
`

func echo() *funcModel {
	return &funcModel{name: "fake/echo", answer: func(in string, _ *llm.Request) (string, error) { return in, nil }}
}

func TestRunRecordsEveryCaseAndSavesIt(t *testing.T) {
	s := mustParse(t, echoSuite)
	st := newMemStore()
	var progress atomic.Int64
	m := echo()
	res, err := Run(t.Context(), s, Options{Env: Env{Model: stacked(t, middleware.StackOptions{}, m)}, Store: st,
		Progress: func(done, total int) {
			if total != 3 {
				t.Errorf("progress total %d", total)
			}
			progress.Add(1)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Cases); got != 3 || progress.Load() != 3 {
		t.Fatalf("%d cases, %d progress calls", got, progress.Load())
	}
	sm := res.Summary
	if sm.Passed != 3 || sm.Errors != 0 || sm.MeanScore != 1 || sm.Graders[0].Mean != 1 {
		t.Fatalf("summary %+v", sm)
	}
	// $1/M input and $10/M output: 1000 and 100 tokens cost $0.002 a call.
	if got := sm.Cost.Float(); got < 0.00599 || got > 0.00601 {
		t.Fatalf("cost %v, want $0.006", sm.Cost)
	}
	if fails := res.Gate(nil); len(fails) != 0 {
		t.Fatalf("gate: %v", fails)
	}
	for _, c := range res.Cases {
		if c.Model != "fake/echo" || c.Detail.Input == "" || c.Detail.Output != c.Detail.Input {
			t.Fatalf("case %+v", c)
		}
	}
	stored, err := st.EvalRun(t.Context(), res.ID)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromState(stored)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Cases) != 3 || back.Summary.Passed != 3 || back.Cases[1].Grades[0].Grader != "exact" || back.Cases[1].Detail.Output != "Say beta" {
		t.Fatalf("stored run read back as %+v", back)
	}
}

// TestRepeatsAreRealRepeats runs a suite with three repeats through the
// response cache: each repeat reaches the model (the repeat index is in the
// cache key), and running the suite again is answered from the cache.
func TestRepeatsAreRealRepeats(t *testing.T) {
	s := mustParse(t, echoSuite+"repeats: 3\n")
	var mu sync.Mutex
	seen := map[string]int{}
	m := &funcModel{name: "fake/echo", answer: func(in string, req *llm.Request) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		seen[in+"#"+req.Tags["repeat"]]++
		return in, nil
	}}
	cache := respcache.New(respcache.NewMemory(1<<20), respcache.Options{})
	open := stacked(t, middleware.StackOptions{Cache: cache}, m)
	res, err := Run(t.Context(), s, Options{Env: Env{Model: open}})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.calls.Load(); got != 9 {
		t.Fatalf("first run: %d model calls, want 3 cases x 3 repeats", got)
	}
	if len(seen) != 9 {
		t.Fatalf("distinct (input, repeat) pairs %d, want 9: %v", len(seen), seen)
	}
	if res.Summary.Runs != 9 || res.Summary.CacheHits != 0 {
		t.Fatalf("summary %+v", res.Summary)
	}
	again, err := Run(t.Context(), s, Options{Env: Env{Model: open}})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.calls.Load(); got != 9 {
		t.Fatalf("the re-run called the model %d more times, want 0", got-9)
	}
	if again.Summary.CacheHits != 9 || again.Summary.Cost != 0 || again.Summary.Passed != 9 {
		t.Fatalf("re-run summary %+v", again.Summary)
	}
}

// TestJudgeErrorIsAnErrorNotAScore: the judge fails on one case; that case
// is recorded with the error, excluded from the means, and fails the gate.
func TestJudgeErrorIsAnErrorNotAScore(t *testing.T) {
	s := mustParse(t, `
name: judged
target: {model: fake/echo, temperature: 0}
concurrency: 1
cases:
  - {id: a, vars: {input: one}}
  - {id: b, vars: {input: two}}
  - {id: c, vars: {input: three}}
graders:
  - type: judge
    rubric: Is it a number word?
thresholds:
  mean: {judge: 0.5}
`)
	judge := llmtest.NewModel("fake/judge",
		llmtest.Text(`{"reason":"yes","score":5}`),
		llmtest.Fail(llm.KindServer),
		llmtest.Text(`{"reason":"yes","score":4}`),
	)
	open := stacked(t, middleware.StackOptions{}, echo())
	env := Env{JudgeModel: "fake/judge", Model: func(name string) (llm.Model, error) {
		if name == "fake/judge" {
			return judge, nil
		}
		return open(name)
	}}
	res, err := Run(t.Context(), s, Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Cases[1]
	if b.CaseID != "b" || b.Error == "" || b.Passed || b.Grades[0].Error == "" || !strings.Contains(b.Error, "judge") {
		t.Fatalf("case b: %+v", b)
	}
	sm := res.Summary
	if sm.Errors != 1 || sm.Graders[0].Errors != 1 || sm.Graders[0].N != 2 || sm.Graders[0].Mean != 0.875 {
		t.Fatalf("summary %+v", sm.Graders[0])
	}
	fails := res.Gate(nil)
	if len(fails) != 1 || !strings.Contains(fails[0], "1 of 3 cases errored") {
		t.Fatalf("gate %q, want the error to fail it", fails)
	}
}

func TestTargetErrorIsRecorded(t *testing.T) {
	s := mustParse(t, echoSuite)
	m := &funcModel{name: "fake/echo", answer: func(in string, _ *llm.Request) (string, error) {
		if strings.Contains(in, "beta") {
			return "", &llm.Error{Kind: llm.KindInvalidRequest, Message: "bad request"}
		}
		return in, nil
	}}
	res, err := Run(t.Context(), s, Options{Env: Env{Model: stacked(t, middleware.StackOptions{}, m)}})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Cases[1]; c.Error == "" || len(c.Grades) != 0 || c.Passed {
		t.Fatalf("case b %+v", c)
	}
	if res.Summary.Errors != 1 || res.Summary.MeanScore != 1 || len(res.Gate(nil)) == 0 {
		t.Fatalf("summary %+v", res.Summary)
	}
}

// TestCostCapStopsTheRun: each call costs $0.002; a $0.005 cap lets some
// run, refuses the rest, and every case is still in the result.
func TestCostCapStopsTheRun(t *testing.T) {
	s := mustParse(t, echoSuite+"concurrency: 1\nmax_cost: 0.005\n")
	s.Cases = append(s.Cases, Case{ID: "d", Vars: map[string]any{"word": "delta"}, Expected: "Say delta"})
	m := echo()
	res, err := Run(t.Context(), s, Options{Env: Env{Model: stacked(t, middleware.StackOptions{}, m)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cases) != 4 {
		t.Fatalf("%d cases recorded, want all 4", len(res.Cases))
	}
	if res.Summary.Stopped == "" || !strings.Contains(res.Summary.Stopped, "cost cap") {
		t.Fatalf("stopped %q", res.Summary.Stopped)
	}
	if spent := res.Summary.Cost.Float(); spent > 0.005 {
		t.Fatalf("spent $%v past the $0.005 cap", spent)
	}
	if res.Summary.Errors == 0 || len(res.Gate(nil)) == 0 {
		t.Fatalf("summary %+v", res.Summary)
	}
	if m.calls.Load() > 2 {
		t.Fatalf("%d calls, the cap allows 2", m.calls.Load())
	}
}

// TestConcurrencyIsBounded: the model blocks until the runner has as many
// calls in flight as allowed, then checks none goes past the bound.
func TestConcurrencyIsBounded(t *testing.T) {
	const bound = 3
	s := mustParse(t, echoSuite+"repeats: 4\n")
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	m := &funcModel{name: "fake/echo", answer: func(in string, _ *llm.Request) (string, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == bound {
			once.Do(func() { close(release) })
		}
		<-release
		return in, nil
	}}
	res, err := Run(t.Context(), s, Options{Env: Env{Model: stacked(t, middleware.StackOptions{}, m)}, Concurrency: bound})
	if err != nil {
		t.Fatal(err)
	}
	if peak.Load() != bound || res.Summary.Passed != 12 {
		t.Fatalf("peak %d in flight (bound %d), %d passed", peak.Load(), bound, res.Summary.Passed)
	}
}

func TestCancelledRunRecordsWhatDidNotRun(t *testing.T) {
	s := mustParse(t, echoSuite+"concurrency: 1\n")
	ctx, cancel := context.WithCancel(t.Context())
	m := &funcModel{name: "fake/echo", answer: func(in string, _ *llm.Request) (string, error) {
		cancel()
		return in, nil
	}}
	st := newMemStore()
	res, err := Run(ctx, s, Options{Env: Env{Model: stacked(t, middleware.StackOptions{}, m)}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cases) != 3 || res.Summary.Stopped == "" {
		t.Fatalf("%d cases, stopped %q", len(res.Cases), res.Summary.Stopped)
	}
	if _, err := st.EvalRun(t.Context(), res.ID); err != nil {
		t.Fatalf("the stopped run was not saved: %v", err)
	}
}

type nanGrader struct{}

func (nanGrader) Name() string { return "nan" }
func (nanGrader) Grade(context.Context, *Case, *Output) (Grade, error) {
	var zero float64
	return Grade{Score: zero / zero}, nil
}

func TestNaNScoreIsAGraderError(t *testing.T) {
	r := &run{}
	if _, err := r.grade(t.Context(), nanGrader{}, &Case{}, &Output{}); err == nil {
		t.Fatal("NaN accepted as a score")
	}
}

func TestRunRefusesWhatItCannotStart(t *testing.T) {
	s := mustParse(t, echoSuite)
	_, err := Run(t.Context(), s, Options{Env: Env{Model: func(name string) (llm.Model, error) { return nil, errors.New("no key") }}})
	if err == nil || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("err %v", err)
	}
	s2 := mustParse(t, strings.Replace(echoSuite, "  - type: exact\n", "  - type: judge\n    rubric: r\n", 1))
	_, err = Run(t.Context(), s2, Options{Env: Env{Model: stacked(t, middleware.StackOptions{}, echo())}})
	if err == nil || !strings.Contains(err.Error(), "no judge model") {
		t.Fatalf("err %v", err)
	}
}

// TestCostCapWithoutRunBudgets: models whose stack charges no run budget
// still stop the run between cases once the recorded costs reach the cap.
func TestCostCapWithoutRunBudgets(t *testing.T) {
	s := mustParse(t, echoSuite+"concurrency: 1\nmax_cost: 0.003\n")
	var calls atomic.Int64
	m := llm.Funcs{
		NameFunc: func() string { return "fake/echo" },
		GenerateFunc: func(_ context.Context, req *llm.Request) (*llm.Response, error) {
			calls.Add(1)
			return &llm.Response{Content: []llm.Part{llm.Text{Text: req.Messages[0].Text()}}, Cost: 0.002}, nil
		},
	}
	res, err := Run(t.Context(), s, Options{Env: Env{Model: func(string) (llm.Model, error) { return m, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || len(res.Cases) != 3 || res.Cases[2].Error == "" || !strings.Contains(res.Summary.Stopped, "cost cap reached: spent $0.004") {
		t.Fatalf("%d calls, stopped %q, cases %+v", calls.Load(), res.Summary.Stopped, res.Cases)
	}
}
