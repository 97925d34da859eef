package eval

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keelai/keel/batch"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/store/state"
)

// Options configures Run.
type Options struct {
	Env
	// Store, when set, receives the run as it progresses (at most once a
	// second) and when it ends.
	Store state.Store
	// Concurrency and MaxCost (US dollars), when positive, override the
	// suite's.
	Concurrency int
	MaxCost     float64
	// Progress, when set, is called after each case and repeat, from the
	// goroutine that ran it.
	Progress func(done, total int)
	// ID names the run (default state.NewID()).
	ID string
	// Now tells the time of the run (default time.Now).
	Now func() time.Time
	// Batch, when set, runs the target's model calls as one batch (a
	// batch.Manager at the providers' batch prices, or a batch.Local) when
	// the target makes one call per case: a model with a system prompt or
	// a prompt file. Every case and repeat is rendered first, the batch
	// is run, and the answers are graded as a direct run's would be; judge
	// graders still call their models directly. Batched cases record no
	// latency, so a suite with a latency grader is refused
	// (ErrBatchLatency). RAG and agent targets ignore Batch.
	Batch batch.Runner
}

// saveEvery bounds how often a progressing run is written: each save
// replaces the whole run.
const saveEvery = time.Second

// Run runs every case of s, Repeats times each, with bounded concurrency,
// grades the outputs and returns the run. Each case and repeat is recorded,
// errors included: a case whose target or grader failed carries the error
// and never a made-up score, and cases the cost cap or a cancellation kept
// from running are recorded as not run. The error is non-nil only when the
// run could not start or could not be saved; missed thresholds are the
// caller's to check with Result.Gate.
func Run(ctx context.Context, s *Suite, opts Options) (*Result, error) {
	if len(s.Cases) == 0 {
		return nil, errNoCases
	}
	tgt, err := newRunner(s, opts.Env)
	if err != nil {
		return nil, err
	}
	bt, batched := tgt.(batchable)
	batched = batched && opts.Batch != nil
	if batched {
		if err := checkBatch(s); err != nil {
			return nil, err
		}
	}
	k := defaultK
	if s.Target.RAG != nil && s.Target.RAG.K > 0 {
		k = s.Target.RAG.K
	}
	deps := Deps{Model: opts.Env.Model, JudgeModel: opts.Env.JudgeModel, Embedder: opts.Env.Embedder, Dir: s.Dir, K: k}
	graders := make([]Grader, len(s.Graders))
	for i, spec := range s.Graders {
		if graders[i], err = NewGrader(spec, deps); err != nil {
			return nil, err
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	id := opts.ID
	if id == "" {
		id = state.NewID()
	}
	r := &run{
		suite: s, target: tgt, graders: graders, store: opts.Store, progress: opts.Progress,
		res: &Result{ID: id, Suite: s.Name, CreatedAt: now().UTC(), Summary: Summary{Target: s.Target.describe(), Batch: batched}},
	}
	conc := cmp.Or(opts.Concurrency, s.Concurrency, 4)
	if maxCost := cmp.Or(opts.MaxCost, s.MaxCost); maxCost > 0 {
		r.maxCost = cost.Dollars(maxCost)
		r.budget = cost.NewBudget("eval "+s.Name, r.maxCost, cost.BudgetOptions{})
		ctx = cost.WithBudget(ctx, r.budget)
	}
	if batched {
		// The whole batch is sent at once, so the cost cap cannot stop it
		// part way; it still stops the judges of the grading below.
		p, err := runBatch(ctx, s, bt, opts.Batch)
		if err != nil {
			return nil, err
		}
		r.target = p
	}

	type job struct{ index, repeat int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for j := range jobs {
				// The feeder checked before it sent, but the cap may have
				// been reached while this job waited for a worker; an
				// unrun job is recorded by fillNotRun.
				if reason := r.stopReason(ctx); reason != "" {
					r.stop(reason)
					continue
				}
				r.record(ctx, j.index, j.repeat)
			}
		})
	}
	r.total = len(s.Cases) * s.repeats()
	// Repeats of one case run side by side in the order cases are given,
	// so a stopped run has whole cases rather than one repeat of each.
feed:
	for i := range s.Cases {
		for rep := range s.repeats() {
			if reason := r.stopReason(ctx); reason != "" {
				r.stop(reason)
				break feed
			}
			select {
			case jobs <- job{i, rep}:
			case <-ctx.Done():
				r.stop(ctx.Err().Error())
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	r.fillNotRun()
	return r.res, r.save(ctx, true)
}

type run struct {
	suite    *Suite
	target   runner
	graders  []Grader
	store    state.Store
	progress func(done, total int)
	budget   *cost.Budget
	maxCost  cost.USD
	total    int

	mu       sync.Mutex
	res      *Result
	done     int
	spent    cost.USD
	lastSave time.Time
	saveErr  error
}

// stopReason says why no more cases should start, or "".
func (r *run) stopReason(ctx context.Context) string {
	if ctx.Err() != nil {
		return ctx.Err().Error()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res.Summary.Stopped != "" {
		return r.res.Summary.Stopped
	}
	return ""
}

func (r *run) stop(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res.Summary.Stopped == "" {
		r.res.Summary.Stopped = reason
	}
}

// record runs one case and repeat, grades it and adds it to the result.
func (r *run) record(ctx context.Context, index, repeat int) {
	c := &r.suite.Cases[index]
	cr := CaseResult{CaseID: c.ID, Repeat: repeat}
	rctx := withRepeat(ctx, repeat)
	out, err := r.target.run(rctx, c, repeat)
	if out != nil {
		cr.Model, cr.PromptVersion = out.Model, out.PromptVersion
		cr.Cost, cr.LatencyMS = out.Cost, out.Latency.Milliseconds()
		cr.Detail = CaseDetail{Input: out.Input, Output: out.Text, DocIDs: out.DocIDs, Cited: out.Cited,
			ToolCalls: out.ToolCalls, Usage: out.Usage, CacheHit: out.CacheHit}
	}
	switch {
	case err != nil:
		cr.Error = "target: " + llm.Redact(err.Error())
		if cost.IsBudgetExceeded(err) {
			r.stop("cost cap reached: " + llm.Redact(err.Error()))
		}
	default:
		var errs []string
		var total float64
		all := true
		for _, g := range r.graders {
			gr := GradeResult{Grader: g.Name()}
			grade, gerr := r.grade(rctx, g, c, out)
			if gerr != nil {
				gr.Error = llm.Redact(gerr.Error())
				errs = append(errs, g.Name()+": "+gr.Error)
				if cost.IsBudgetExceeded(gerr) {
					r.stop("cost cap reached: " + gr.Error)
				}
			} else {
				gr.Grade = grade
				total += grade.Score
				all = all && grade.Pass
			}
			cr.Grades = append(cr.Grades, gr)
		}
		if len(errs) > 0 {
			cr.Error = "grader " + strings.Join(errs, "; ")
		} else {
			cr.Score = total / float64(len(r.graders))
			cr.Passed = all
		}
	}
	r.mu.Lock()
	r.res.Cases = append(r.res.Cases, cr)
	r.done++
	done := r.done
	r.spent += cr.Cost
	// The budget in the context refuses calls when the models' stack
	// charges run budgets (cost.RunBudgets); this check also stops a run
	// whose models do not, between cases.
	if r.maxCost > 0 && r.spent >= r.maxCost && r.res.Summary.Stopped == "" {
		r.res.Summary.Stopped = fmt.Sprintf("cost cap reached: spent %s of %s", r.spent, r.maxCost)
	}
	r.mu.Unlock()
	if r.progress != nil {
		r.progress(done, r.total)
	}
	if err := r.save(ctx, false); err != nil {
		r.stop("saving the run: " + err.Error())
	}
}

// grade runs one grader, checking its contract: a score outside [0, 1] or
// NaN is a bug in the grader, reported as its error rather than averaged.
func (r *run) grade(ctx context.Context, g Grader, c *Case, out *Output) (Grade, error) {
	gr, err := g.Grade(ctx, c, out)
	if err != nil {
		return Grade{}, err
	}
	if !(gr.Score >= 0 && gr.Score <= 1) {
		return Grade{}, fmt.Errorf("score %v is not in [0, 1]", gr.Score)
	}
	return gr, nil
}

// fillNotRun records every case and repeat that never ran, so that a stopped
// run shows them as errors rather than leaving them out.
func (r *run) fillNotRun() {
	r.mu.Lock()
	defer r.mu.Unlock()
	ran := map[[2]any]bool{}
	for _, c := range r.res.Cases {
		ran[[2]any{c.CaseID, c.Repeat}] = true
	}
	reason := r.res.Summary.Stopped
	for _, c := range r.suite.Cases {
		for rep := range r.suite.repeats() {
			if !ran[[2]any{c.ID, rep}] {
				r.res.Cases = append(r.res.Cases, CaseResult{CaseID: c.ID, Repeat: rep, Error: "not run: " + reason})
			}
		}
	}
}

// save writes the run to the store: at most once per saveEvery while it
// progresses, and always at the end.
func (r *run) save(ctx context.Context, final bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	order := map[string]int{}
	for i, c := range r.suite.Cases {
		order[c.ID] = i
	}
	slices.SortFunc(r.res.Cases, func(a, b CaseResult) int {
		return cmp.Or(cmp.Compare(order[a.CaseID], order[b.CaseID]), cmp.Compare(a.Repeat, b.Repeat))
	})
	r.res.summarize(r.suite)
	if r.store == nil || r.saveErr != nil {
		return r.saveErr
	}
	if !final && time.Since(r.lastSave) < saveEvery {
		return nil
	}
	er, err := r.res.ToState()
	if err == nil {
		// The final save must land even when the run was cancelled.
		err = r.store.SaveEvalRun(context.WithoutCancel(ctx), er)
	}
	r.lastSave = time.Now()
	if err != nil {
		r.saveErr = fmt.Errorf("saving run %s: %w", r.res.ID, err)
	}
	return r.saveErr
}

// errNoCases is returned for a suite without cases.
var errNoCases = errors.New("eval: the suite has no cases")
