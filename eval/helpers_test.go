package eval

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/store/state"
)

// memStore is the eval part of state.Store in memory, for tests that need a
// store before one is at hand; the other methods are not used by eval.
type memStore struct {
	state.Store
	mu    sync.Mutex
	runs  map[string]state.EvalRun
	saves int
}

func newMemStore() *memStore { return &memStore{runs: map[string]state.EvalRun{}} }

func (m *memStore) SaveEvalRun(_ context.Context, r state.EvalRun) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs[r.ID] = r
	m.saves++
	return nil
}

func (m *memStore) EvalRun(_ context.Context, id string) (state.EvalRun, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	if !ok {
		return r, fmt.Errorf("run %s: %w", id, state.ErrNotFound)
	}
	return r, nil
}

func (m *memStore) EvalRuns(_ context.Context, suite string, limit int) ([]state.EvalRun, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.EvalRun
	for _, r := range m.runs {
		if suite == "" || r.Suite == suite {
			r.Cases = nil
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// funcModel answers each request with answer(text of the last user
// message, request), counting calls; it reports usage so that calls cost.
type funcModel struct {
	name   string
	answer func(in string, req *llm.Request) (string, error)
	calls  atomic.Int64
}

func (f *funcModel) model() llm.Model {
	return llm.Funcs{
		NameFunc: func() string { return f.name },
		GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			f.calls.Add(1)
			in := ""
			if n := len(req.Messages); n > 0 {
				in = req.Messages[n-1].Text()
			}
			text, err := f.answer(in, req)
			if err != nil {
				return nil, err
			}
			return &llm.Response{Model: f.name, Content: []llm.Part{llm.Text{Text: text}}, StopReason: llm.StopEndTurn,
				Usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}}, nil
		},
	}
}

// testPrices prices the fake models at $1 per million input and $10 per
// million output tokens: a call of funcModel costs $0.002.
func testPrices(t testing.TB) *cost.Table {
	t.Helper()
	tab, err := cost.NewTable(map[string]cost.Price{"fake/*": {Input: 1, Output: 10}})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// stacked wraps models in the middleware stack with the run budgets (for
// the cost cap) and the given extra options.
func stacked(t testing.TB, opts middleware.StackOptions, models ...*funcModel) func(string) (llm.Model, error) {
	t.Helper()
	opts.Prices = testPrices(t)
	opts.Budgets = append(opts.Budgets, cost.RunBudgets())
	opts.NoGuard = true
	opts.Retry.MaxAttempts = 1
	stack := middleware.Stack(opts)
	byName := map[string]llm.Model{}
	for _, m := range models {
		byName[m.name] = stack(m.model())
	}
	return func(name string) (llm.Model, error) {
		m, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("no model %q", name)
		}
		return m, nil
	}
}

func mustParse(t testing.TB, yaml string) *Suite {
	t.Helper()
	s, err := ParseSuite("suite.yaml", []byte(strings.TrimLeft(yaml, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
