package eval

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/store/state"
)

// Result is one run of a suite.
type Result struct {
	ID        string       `json:"id"`
	Suite     string       `json:"suite"`
	CreatedAt time.Time    `json:"created_at"`
	Summary   Summary      `json:"summary"`
	Cases     []CaseResult `json:"cases"`
}

// CaseResult is one case (one repeat) of a run.
type CaseResult struct {
	CaseID        string `json:"case_id"`
	Repeat        int    `json:"repeat"`
	Model         string `json:"model,omitempty"`
	PromptVersion string `json:"prompt_version,omitempty"`
	// Score is the mean of the grades; meaningless when Error is set.
	Score  float64 `json:"score"`
	Passed bool    `json:"passed"`
	// Error is why the case has no complete grade: the target failed, a
	// grader failed (a judge's error), or the run stopped before it.
	Error     string        `json:"error,omitempty"`
	Cost      cost.USD      `json:"cost"`
	LatencyMS int64         `json:"latency_ms"`
	Grades    []GradeResult `json:"grades"`
	Detail    CaseDetail    `json:"detail"`
}

// GradeResult is one grader's verdict on one case, or its error.
type GradeResult struct {
	Grader string `json:"grader"`
	Grade
	Error string `json:"error,omitempty"`
}

// CaseDetail is what a case's output was, for reports and comparisons.
type CaseDetail struct {
	Input     string    `json:"input,omitempty"`
	Output    string    `json:"output,omitempty"`
	DocIDs    []string  `json:"doc_ids,omitempty"`
	Cited     []string  `json:"cited,omitempty"`
	ToolCalls []string  `json:"tool_calls,omitempty"`
	Usage     llm.Usage `json:"usage"`
	CacheHit  bool      `json:"cache_hit,omitempty"`
}

// Summary aggregates a run.
type Summary struct {
	Target string `json:"target"`
	// Runs counts case×repeat entries; Passed those that passed every
	// grader; Errors those with an error (never averaged in).
	Cases   int `json:"cases"`
	Repeats int `json:"repeats"`
	Runs    int `json:"runs"`
	Passed  int `json:"passed"`
	Errors  int `json:"errors"`
	// PassRate is Passed/Runs (an errored case counts as not passed).
	PassRate float64 `json:"pass_rate"`
	// MeanScore is the mean case score over cases without error.
	MeanScore float64         `json:"mean_score"`
	Graders   []GraderSummary `json:"graders"`
	Cost      cost.USD        `json:"cost"`
	LatencyMS LatencySummary  `json:"latency_ms"`
	CacheHits int             `json:"cache_hits"`
	Stopped   string          `json:"stopped,omitempty"`
	// Batch says the target's calls ran as one batch: their cost is at
	// batch prices and they have no latency.
	Batch   bool       `json:"batch,omitempty"`
	Thresh  Thresholds `json:"thresholds"`
	Models  []string   `json:"models,omitempty"`
	Prompts []string   `json:"prompt_versions,omitempty"`
}

// GraderSummary aggregates one grader over a run.
type GraderSummary struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"`
	N        int     `json:"n"`
	Mean     float64 `json:"mean"`
	PassRate float64 `json:"pass_rate"`
	Errors   int     `json:"errors"`
}

// LatencySummary gives latency percentiles in milliseconds.
type LatencySummary struct {
	P50 int64 `json:"p50"`
	P95 int64 `json:"p95"`
	Max int64 `json:"max"`
}

// summarize fills r.Summary from r.Cases.
func (r *Result) summarize(s *Suite) {
	sum := Summary{Target: r.Summary.Target, Cases: len(s.Cases), Repeats: s.repeats(), Thresh: s.Thresholds, Stopped: r.Summary.Stopped, Batch: r.Summary.Batch}
	gs := make([]GraderSummary, len(s.Graders))
	sums := make([]float64, len(s.Graders))
	passes := make([]int, len(s.Graders))
	for i, g := range s.Graders {
		gs[i] = GraderSummary{Name: g.name(), Type: g.Type}
	}
	var total float64
	var lat []int64
	models, prompts := map[string]bool{}, map[string]bool{}
	for _, c := range r.Cases {
		sum.Runs++
		sum.Cost += c.Cost
		if c.Detail.CacheHit {
			sum.CacheHits++
		}
		if c.Model != "" {
			models[c.Model] = true
		}
		if c.PromptVersion != "" {
			prompts[c.PromptVersion] = true
		}
		if c.Error != "" {
			sum.Errors++
		} else {
			total += c.Score
			lat = append(lat, c.LatencyMS)
		}
		if c.Passed {
			sum.Passed++
		}
		for i, g := range c.Grades {
			if i >= len(gs) {
				break
			}
			if g.Error != "" {
				gs[i].Errors++
				continue
			}
			gs[i].N++
			sums[i] += g.Score
			if g.Pass {
				passes[i]++
			}
		}
	}
	if sum.Runs > 0 {
		sum.PassRate = float64(sum.Passed) / float64(sum.Runs)
	}
	if n := sum.Runs - sum.Errors; n > 0 {
		sum.MeanScore = total / float64(n)
	}
	for i := range gs {
		if gs[i].N > 0 {
			gs[i].Mean = sums[i] / float64(gs[i].N)
			gs[i].PassRate = float64(passes[i]) / float64(gs[i].N)
		}
	}
	sum.Graders = gs
	slices.Sort(lat)
	if len(lat) > 0 && !sum.Batch {
		sum.LatencyMS = LatencySummary{P50: percentile(lat, 0.5), P95: percentile(lat, 0.95), Max: lat[len(lat)-1]}
	}
	sum.Models = sortedKeys(models)
	sum.Prompts = sortedKeys(prompts)
	r.Summary = sum
}

func percentile(sorted []int64, p float64) int64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Gate returns the thresholds the run misses, one line each; none means it
// passes. Errors always fail: a case that could not be graded is not a pass.
// cmp, when not nil, is the comparison with a baseline (baseline A, this run
// B), checked against MaxRegression.
func (r *Result) Gate(c *Comparison) []string {
	var out []string
	sm := r.Summary
	if sm.Stopped != "" {
		out = append(out, "run stopped: "+sm.Stopped)
	}
	if sm.Errors > 0 {
		out = append(out, fmt.Sprintf("%d of %d cases errored (errors are never scores)", sm.Errors, sm.Runs))
	}
	if t := sm.Thresh.PassRate; t != nil && sm.PassRate < *t {
		out = append(out, fmt.Sprintf("pass rate %.3f is below the threshold %.3f", sm.PassRate, *t))
	}
	names := make([]string, 0, len(sm.Thresh.Mean))
	for n := range sm.Thresh.Mean {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		want := sm.Thresh.Mean[n]
		for _, g := range sm.Graders {
			if g.Name == n && (g.N == 0 || g.Mean < want) {
				out = append(out, fmt.Sprintf("grader %s: mean %.3f is below the threshold %.3f", n, g.Mean, want))
			}
		}
	}
	if c != nil && sm.Thresh.MaxRegression != nil {
		lim := *sm.Thresh.MaxRegression
		if c.MeanDiff < -lim && c.CI.High < 0 {
			out = append(out, fmt.Sprintf("regression against %s: mean score %+.3f (95%% CI %+.3f to %+.3f) is beyond the limit -%.3f",
				c.RunA, c.MeanDiff, c.CI.Low, c.CI.High, lim))
		}
	}
	return out
}

// caseData is what a state.EvalCase's Data holds.
type caseData struct {
	Grades []GradeResult `json:"grades"`
	Detail CaseDetail    `json:"detail"`
}

// ToState converts the run into the stored form.
func (r *Result) ToState() (state.EvalRun, error) {
	sum, err := json.Marshal(r.Summary)
	if err != nil {
		return state.EvalRun{}, err
	}
	out := state.EvalRun{ID: r.ID, Suite: r.Suite, CreatedAt: r.CreatedAt, Summary: sum, Cases: make([]state.EvalCase, len(r.Cases))}
	for i, c := range r.Cases {
		data, err := json.Marshal(caseData{Grades: c.Grades, Detail: c.Detail})
		if err != nil {
			return state.EvalRun{}, err
		}
		out.Cases[i] = state.EvalCase{CaseID: c.CaseID, Repeat: c.Repeat, Model: c.Model, PromptVersion: c.PromptVersion,
			Score: c.Score, Passed: c.Passed, Error: c.Error, Cost: c.Cost, LatencyMS: c.LatencyMS, Data: data}
	}
	return out, nil
}

// FromState reads a stored run back.
func FromState(er state.EvalRun) (*Result, error) {
	r := &Result{ID: er.ID, Suite: er.Suite, CreatedAt: er.CreatedAt}
	if len(er.Summary) > 0 {
		if err := json.Unmarshal(er.Summary, &r.Summary); err != nil {
			return nil, fmt.Errorf("run %s: summary: %w", er.ID, err)
		}
	}
	for _, c := range er.Cases {
		var d caseData
		if len(c.Data) > 0 {
			if err := json.Unmarshal(c.Data, &d); err != nil {
				return nil, fmt.Errorf("run %s case %s: %w", er.ID, c.CaseID, err)
			}
		}
		r.Cases = append(r.Cases, CaseResult{CaseID: c.CaseID, Repeat: c.Repeat, Model: c.Model, PromptVersion: c.PromptVersion,
			Score: c.Score, Passed: c.Passed, Error: c.Error, Cost: c.Cost, LatencyMS: c.LatencyMS, Grades: d.Grades, Detail: d.Detail})
	}
	return r, nil
}

// describe says what a target is, in one line.
func (t Target) describe() string {
	var parts []string
	switch {
	case t.Prompt != "":
		parts = append(parts, "prompt "+t.Prompt)
	case t.RAG != nil:
		s := fmt.Sprintf("rag %s k=%d", t.RAG.Collection, cmp.Or(t.RAG.K, defaultK))
		if t.RAG.Mode != "" {
			s += " " + t.RAG.Mode
		}
		parts = append(parts, s)
		if t.RAG.Answer {
			parts = append(parts, "answer")
		}
	case t.Agent != nil:
		parts = append(parts, "agent tools="+strings.Join(t.Agent.Tools, ","))
	}
	if t.Model != "" {
		parts = append(parts, "model "+t.Model)
	}
	return strings.Join(parts, ", ")
}
