package eval

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keelai/keel/batch"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/provider/anthropic"
	"github.com/keelai/keel/provider/openai"
)

// batchEmulators serves both providers' wire emulators, whose batch
// endpoints answer each request with its own last user message.
type batchEmulators struct {
	ant *anthropictest.Server
	oai *openaitest.Server
}

// open opens a provider adapter on its emulator, as provider.Resolver
// does: what batch.Manager needs.
func (e *batchEmulators) open(name string) (llm.Model, error) {
	prov, model, err := llm.SplitName(name)
	if err != nil {
		return nil, err
	}
	switch prov {
	case "anthropic":
		return anthropic.New(anthropic.Options{APIKey: "sk-ant-test-secret", BaseURL: e.ant.URL}).Model(model), nil
	case "openai":
		return openai.New(openai.Options{APIKey: "sk-test-secret", BaseURL: e.oai.URL}).Model(model), nil
	}
	return nil, fmt.Errorf("unknown provider %q", prov)
}

// stackedOpen opens the same adapters in the middleware stack at list
// prices: the direct run.
func (e *batchEmulators) stackedOpen(t *testing.T) func(string) (llm.Model, error) {
	stack := middleware.Stack(middleware.StackOptions{NoGuard: true})
	return func(name string) (llm.Model, error) {
		m, err := e.open(name)
		if err != nil {
			return nil, err
		}
		return stack(m), nil
	}
}

func (e *batchEmulators) manager(t *testing.T, onPoll func(batch.Status)) *batch.Manager {
	t.Helper()
	m, err := batch.New(batch.Options{Open: e.open, Store: batch.NewStore(t.TempDir()),
		PollBase: time.Millisecond, PollCap: time.Millisecond, OnPoll: onPoll})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var batchProviders = []struct{ name, model string }{
	{"anthropic", "anthropic/claude-haiku-4-5"},
	{"openai", "openai/gpt-4.1-mini"},
}

// batchSuite has an id that is not a valid custom id (a space), so the
// hashed form is exercised, and two repeats.
func batchSuite(t *testing.T, model string) *Suite {
	return mustParse(t, `
name: capitals
target:
  model: `+model+`
  system: Repeat the input.
  input: "Say {{.word}}"
  max_tokens: 50
repeats: 2
cases:
  - {id: a, vars: {word: alpha}, expected: Say alpha}
  - {id: b, vars: {word: beta}, expected: Say gamma}
  - {id: "c d", vars: {word: delta}, expected: Say delta}
graders:
  - type: exact
  - type: cost
    max_usd: 1
`)
}

// TestBatchRunGradesAsDirectRun: a suite run through a provider batch gets
// the same grades as the same suite run call by call, each case costs the
// batch price (half the list price the direct run paid), and no latency
// is recorded.
func TestBatchRunGradesAsDirectRun(t *testing.T) {
	for _, p := range batchProviders {
		t.Run(p.name, func(t *testing.T) {
			emu := &batchEmulators{ant: anthropictest.NewServer(t), oai: openaitest.NewServer(t)}
			emu.ant.EndBatchesAfter(1)
			emu.oai.EndBatchesAfter(1)
			s := batchSuite(t, p.model)
			direct, err := Run(t.Context(), s, Options{Env: Env{Model: emu.stackedOpen(t)}})
			if err != nil {
				t.Fatal(err)
			}
			calls := len(emu.ant.Requests()) + len(emu.oai.Requests())

			m := emu.manager(t, nil)
			batched, err := Run(t.Context(), s, Options{Env: Env{Model: emu.stackedOpen(t)}, Batch: m})
			if err != nil {
				t.Fatal(err)
			}
			items := 0
			for _, r := range append(emu.ant.Requests(), emu.oai.Requests()...)[calls:] {
				if r.Path == "/v1/messages" || r.Path == "/v1/chat/completions" {
					items++ // the emulators record each batched request as a call
				}
			}
			jobs, err := m.List()
			if err != nil || len(jobs) != 1 || len(jobs[0].Items) != 6 || items != 6 {
				t.Fatalf("the batch run made jobs %+v (%v) and %d calls, want one batch of 6 (3 cases x 2 repeats)", jobs, err, items)
			}
			if !batched.Summary.Batch || direct.Summary.Batch || batched.Summary.LatencyMS != (LatencySummary{}) {
				t.Fatalf("summaries: batch %v/%v, latency %+v", batched.Summary.Batch, direct.Summary.Batch, batched.Summary.LatencyMS)
			}
			if len(batched.Cases) != len(direct.Cases) {
				t.Fatalf("%d cases, direct %d", len(batched.Cases), len(direct.Cases))
			}
			for i, b := range batched.Cases {
				d := direct.Cases[i]
				if b.CaseID != d.CaseID || b.Repeat != d.Repeat || b.Error != "" || b.Score != d.Score || b.Passed != d.Passed {
					t.Fatalf("case %s/%d: batch %+v, direct %+v", d.CaseID, d.Repeat, b, d)
				}
				if b.Detail.Output != d.Detail.Output || b.Detail.Usage != d.Detail.Usage {
					t.Fatalf("case %s/%d: batch output %q %+v, direct %q %+v", d.CaseID, d.Repeat, b.Detail.Output, b.Detail.Usage, d.Detail.Output, d.Detail.Usage)
				}
				want, ok := cost.DefaultTable().Cost(p.model, b.Detail.Usage, true)
				if !ok || want == 0 || b.Cost != want || d.Cost <= b.Cost {
					t.Fatalf("case %s/%d: batch cost %v, want %v at batch prices (direct paid %v)", d.CaseID, d.Repeat, b.Cost, want, d.Cost)
				}
				if b.LatencyMS != 0 {
					t.Fatalf("case %s/%d: latency %d ms in a batch", d.CaseID, d.Repeat, b.LatencyMS)
				}
			}
			if s := batched.Summary; s.Passed != 4 || s.Errors != 0 || s.Cost*2 > direct.Summary.Cost+10 || s.Cost*2 < direct.Summary.Cost-10 {
				t.Fatalf("batch summary %+v; direct cost %v", s, direct.Summary.Cost)
			}
		})
	}
}

// TestBatchExpiredItemIsCaseError: items the batch window closed on are
// their cases' errors, never scores, and fail the gate.
func TestBatchExpiredItemIsCaseError(t *testing.T) {
	for _, p := range batchProviders {
		t.Run(p.name, func(t *testing.T) {
			emu := &batchEmulators{ant: anthropictest.NewServer(t), oai: openaitest.NewServer(t)}
			polls := 0
			// At the first poll, one request has run when the window closes.
			m := emu.manager(t, func(batch.Status) {
				if polls++; polls == 1 {
					emu.ant.ProcessBatches(1)
					emu.oai.ProcessBatches(1)
					emu.ant.ExpireBatches()
					emu.oai.ExpireBatches()
				}
			})
			res, err := Run(t.Context(), batchSuite(t, p.model), Options{Env: Env{Model: emu.open}, Batch: m})
			if err != nil {
				t.Fatal(err)
			}
			if res.Summary.Errors != 5 || res.Summary.Runs != 6 {
				t.Fatalf("summary %+v, want 5 of 6 errors", res.Summary)
			}
			for _, c := range res.Cases {
				if c.CaseID == "a" && c.Repeat == 0 {
					if c.Error != "" || !c.Passed || c.Cost == 0 {
						t.Fatalf("the request that ran: %+v", c)
					}
					continue
				}
				if !strings.Contains(c.Error, "expired") || c.Score != 0 || c.Passed || len(c.Grades) != 0 || c.Cost != 0 {
					t.Fatalf("case %s/%d: %+v, want an expiry error", c.CaseID, c.Repeat, c)
				}
			}
			if fails := res.Gate(nil); len(fails) == 0 {
				t.Fatal("a run with expired cases passed its gate")
			}
		})
	}
}

// TestBatchRefusesLatencyGrader: a batched case has no latency to grade,
// so the run is refused before anything is sent.
func TestBatchRefusesLatencyGrader(t *testing.T) {
	emu := &batchEmulators{ant: anthropictest.NewServer(t), oai: openaitest.NewServer(t)}
	s := mustParse(t, `
name: fast
target: {model: anthropic/claude-haiku-4-5}
cases: [{id: a, vars: {input: hi}}]
graders: [{type: latency, max_ms: 500}]
`)
	_, err := Run(t.Context(), s, Options{Env: Env{Model: emu.open}, Batch: emu.manager(t, nil)})
	if !errors.Is(err, ErrBatchLatency) || !strings.Contains(err.Error(), `"latency"`) {
		t.Fatalf("err = %v, want ErrBatchLatency naming the grader", err)
	}
	if n := len(emu.ant.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// TestBatchCustomIDs: ids follow the batch APIs' rule and stay distinct.
func TestBatchCustomIDs(t *testing.T) {
	long := strings.Repeat("x", 70)
	seen := map[string]bool{}
	for _, c := range []struct {
		id  string
		rep int
	}{{"a", 0}, {"a", 1}, {"a-1", 0}, {"c d", 0}, {"c d", 1}, {long, 0}, {long + "y", 0}, {"é", 3}} {
		id := customID(c.id, c.rep)
		if !batch.ValidCustomID(id) {
			t.Fatalf("customID(%q, %d) = %q is not a valid custom id", c.id, c.rep, id)
		}
		if seen[id] {
			t.Fatalf("customID(%q, %d) = %q twice", c.id, c.rep, id)
		}
		seen[id] = true
	}
	if got := customID("a", 1); got != "a-1" {
		t.Fatalf("a valid id is kept readable: got %q", got)
	}
}
