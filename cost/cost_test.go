package cost_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/callinfo"
)

// TestCostIsHandComputed checks the table against sums done by hand from
// the providers' price sheets (dollars per million tokens).
func TestCostIsHandComputed(t *testing.T) {
	tests := []struct {
		name  string
		model string
		u     llm.Usage
		batch bool
		want  cost.USD
	}{
		{
			// 1000×3 + 500×15 + 2000×0.30 + 3000×3.75 + 4000×6 = 46 350 µ$
			name:  "anthropic every class",
			model: "anthropic/claude-sonnet-4-5",
			u:     llm.Usage{InputTokens: 1000, OutputTokens: 500, CacheReadTokens: 2000, CacheWriteTokens: 3000, CacheWrite1hTokens: 4000},
			want:  46_350_000,
		},
		{
			name:  "anthropic batch halves",
			model: "anthropic/claude-sonnet-4-5",
			u:     llm.Usage{InputTokens: 1000, OutputTokens: 500, CacheReadTokens: 2000, CacheWriteTokens: 3000, CacheWrite1hTokens: 4000},
			batch: true,
			want:  23_175_000,
		},
		{
			// over 200K prompt tokens: 150 000×6 + 60 000×0.60 + 1 000×22.50
			name:  "anthropic long context tier counts cached tokens",
			model: "anthropic/claude-sonnet-4-5",
			u:     llm.Usage{InputTokens: 150_000, CacheReadTokens: 60_000, OutputTokens: 1000},
			want:  Dollars(0.9 + 0.036 + 0.0225),
		},
		{
			// exactly 200K stays in the base tier: 200 000×3
			name:  "anthropic at the tier boundary",
			model: "anthropic/claude-sonnet-4-5",
			u:     llm.Usage{InputTokens: 200_000},
			want:  Dollars(0.6),
		},
		{
			name:  "dated snapshot",
			model: "anthropic/claude-haiku-4-5-20251001",
			u:     llm.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000},
			want:  Dollars(6),
		},
		{
			// 10 000×0.40 + 5 000×0.10 + 2 000×1.60 = 7 700 µ$
			name:  "openai cached input",
			model: "openai/gpt-4.1-mini",
			u:     llm.Usage{InputTokens: 10_000, CacheReadTokens: 5_000, OutputTokens: 2_000},
			want:  7_700_000,
		},
		{
			name:  "openai snapshot batch",
			model: "openai/gpt-4.1-mini-2025-04-14",
			u:     llm.Usage{InputTokens: 10_000, CacheReadTokens: 5_000, OutputTokens: 2_000},
			batch: true,
			want:  3_850_000,
		},
		{
			name:  "cheapest class is exact",
			model: "openai/gpt-5-nano",
			u:     llm.Usage{CacheReadTokens: 1},
			want:  5,
		},
		{
			// 300 000×2.50 + 1 000×15
			name:  "gemini pro long prompt",
			model: "gemini/gemini-2.5-pro",
			u:     llm.Usage{InputTokens: 300_000, OutputTokens: 1000},
			want:  Dollars(0.765),
		},
		{
			// 100 000×0.30 + 50 000×0.03 + 10 000×2.50
			name:  "gemini flash cache read",
			model: "gemini/gemini-2.5-flash",
			u:     llm.Usage{InputTokens: 100_000, CacheReadTokens: 50_000, OutputTokens: 10_000},
			want:  Dollars(0.03 + 0.0015 + 0.025),
		},
		{
			name:  "local models are free",
			model: "ollama/llama3.2",
			u:     llm.Usage{InputTokens: 1000, OutputTokens: 1000},
			want:  0,
		},
	}
	table := cost.DefaultTable()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := table.Cost(tt.model, tt.u, tt.batch)
			if !ok {
				t.Fatalf("no price for %s", tt.model)
			}
			if got != tt.want {
				t.Errorf("cost = %v (%d), want %v (%d)", got, got, tt.want, tt.want)
			}
		})
	}
}

func Dollars(d float64) cost.USD { return cost.USD(math.Round(d * 1e9)) }

func TestUnknownModelHasNoPrice(t *testing.T) {
	if _, ok := cost.DefaultTable().Cost("acme/unknown", llm.Usage{InputTokens: 1}, false); ok {
		t.Error("an unknown model has a price")
	}
	if _, ok := cost.DefaultTable().Lookup("openai/gpt-4.10"); ok {
		t.Error("a prefix without a dash matched")
	}
}

func TestDefaultPricesAreValid(t *testing.T) {
	for name, p := range cost.DefaultPrices() {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestOverridesAndValidation(t *testing.T) {
	table, err := cost.DefaultTable().With(map[string]cost.Price{"openai/my-finetune": {Input: 1, Output: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := table.Cost("openai/my-finetune", llm.Usage{InputTokens: 1_000_000}, false); got != cost.Dollar {
		t.Errorf("override cost = %v", got)
	}
	if _, ok := cost.DefaultTable().Lookup("openai/my-finetune"); ok {
		t.Error("With changed the original table")
	}
	_, err = cost.NewTable(map[string]cost.Price{"x/y": {Input: -1}})
	if err == nil || err.Error() != "x/y: price: input = -1, want a non-negative number of dollars per million tokens" {
		t.Errorf("err = %v", err)
	}
}

func TestUSDString(t *testing.T) {
	for _, tt := range []struct {
		in   cost.USD
		want string
	}{
		{0, "$0.00"}, {cost.Dollar * 12, "$12.00"}, {12_300_000, "$0.0123"}, {5, "$0.000000005"}, {-cost.Dollar / 2, "-$0.50"},
	} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%d: %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func ExamplePrice_Cost() {
	p, _ := cost.DefaultTable().Lookup("anthropic/claude-sonnet-4-6")
	u := llm.Usage{InputTokens: 2_000, CacheReadTokens: 10_000, CacheWriteTokens: 1_000, OutputTokens: 500}
	fmt.Println(p.Cost(u, false), p.Cost(u, true))
	// Output: $0.02025 $0.010125
}

// usageModel answers every call with the same usage; its Stream reports
// usage in two cumulative steps, cache tokens arriving last, as Anthropic's
// message_delta does.
func usageModel(name string, u llm.Usage) llm.Model {
	resp := func() *llm.Response {
		return &llm.Response{Model: name, Content: []llm.Part{llm.Text{Text: "ok"}}, StopReason: llm.StopEndTurn, Usage: u}
	}
	first := llm.Usage{InputTokens: u.InputTokens}
	return llmtest.NewModel(name, llmtest.Reply{Response: resp()}, llmtest.Reply{Events: []llm.Event{
		{Kind: llm.EventUsage, Usage: &first},
		{Kind: llm.EventText, Text: "ok"},
		{Kind: llm.EventUsage, Usage: &u},
		{Kind: llm.EventDone, Response: resp()},
	}})
}

// TestStreamedAndGeneratedCostTheSame: cache reads and writes are priced as
// their own classes on both paths (the peers' bug).
func TestStreamedAndGeneratedCostTheSame(t *testing.T) {
	u := llm.Usage{InputTokens: 100, OutputTokens: 50, CacheReadTokens: 4000, CacheWriteTokens: 2000, CacheWrite1hTokens: 1000}
	model := usageModel("anthropic/claude-sonnet-4-5", u)
	gm, sm := cost.NewMeter(), cost.NewMeter()
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tags: map[string]string{"task": "summarize", "key": "k1"}}

	ctx, genInfo := callinfo.Ensure(t.Context())
	if _, err := cost.Track(cost.TrackOptions{Meter: gm})(model).Generate(ctx, req); err != nil {
		t.Fatal(err)
	}
	ctx, streamInfo := callinfo.Ensure(t.Context())
	if _, err := llm.Collect(cost.Track(cost.TrackOptions{Meter: sm})(model).Stream(ctx, req)); err != nil {
		t.Fatal(err)
	}
	// 100×3 + 50×15 + 4000×0.30 + 2000×3.75 + 1000×6 = 15 750 µ$
	want := cost.Total{Calls: 1, Usage: u, Cost: 15_750_000}
	for name, m := range map[string]*cost.Meter{"generate": gm, "stream": sm} {
		r := m.Report()
		if diff := cmp.Diff(want, r.ByModel["anthropic/claude-sonnet-4-5"]); diff != "" {
			t.Errorf("%s by model (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(want, r.ByTag["task"]["summarize"]); diff != "" {
			t.Errorf("%s by task (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(want, r.ByKey["k1"]); diff != "" {
			t.Errorf("%s by key (-want +got):\n%s", name, diff)
		}
	}
	if g, s := genInfo.Record().CostNanoUSD, streamInfo.Record().CostNanoUSD; g != 15_750_000 || s != g {
		t.Errorf("callinfo cost: generate %d, stream %d", g, s)
	}
}

// fixed returns a model whose every answer uses in and out tokens, counting
// its requests.
type fixed struct {
	in, out int
	mu      sync.Mutex
	calls   int
}

func (f *fixed) model() llm.Model {
	return llm.Funcs{
		NameFunc: func() string { return "openai/gpt-4.1" },
		GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			f.mu.Lock()
			f.calls++
			f.mu.Unlock()
			return &llm.Response{Model: "openai/gpt-4.1", Usage: llm.Usage{InputTokens: f.in, OutputTokens: f.out}}, nil
		},
	}
}

func estimate(in, out int) func(*llm.Request) (int, int) {
	return func(*llm.Request) (int, int) { return in, out }
}

func TestBudgetRefusesBeforeAnyRequestOnceSpent(t *testing.T) {
	f := &fixed{in: 1_000_000} // $2 a call
	b := cost.NewBudget("run", 3*cost.Dollar, cost.BudgetOptions{})
	m := cost.Track(cost.TrackOptions{Budgets: []cost.BudgetSource{cost.RunBudgets()}, Estimate: estimate(0, 0)})(f.model())
	ctx := cost.WithBudget(t.Context(), b)
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}
	for range 2 { // $2 then $4: the second overspends, having been admitted at $2 spent
		if _, err := m.Generate(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	_, err := m.Generate(ctx, req)
	var ex *cost.ExceededError
	if !errors.As(err, &ex) || !cost.IsBudgetExceeded(err) || llm.KindOf(err) != llm.KindBudgetExceeded || llm.IsRetryable(err) {
		t.Fatalf("err = %v, want an unretryable budget refusal", err)
	}
	if diff := cmp.Diff(&cost.ExceededError{Budget: "run", Limit: 3 * cost.Dollar, Spent: 4 * cost.Dollar}, ex); diff != "" {
		t.Errorf("refusal (-want +got):\n%s", diff)
	}
	if f.calls != 2 {
		t.Errorf("requests = %d, want 2: the refused call must not be sent", f.calls)
	}
	// Streams are refused the same way, before anything is sent.
	if _, err := llm.Collect(m.Stream(ctx, req)); !cost.IsBudgetExceeded(err) {
		t.Errorf("stream err = %v", err)
	}
	if f.calls != 2 {
		t.Errorf("requests = %d after a refused stream", f.calls)
	}
}

// TestConcurrentCallsOverspendOnlyByAdmittedReservations: 100 callers
// released at once against a nearly spent budget. When real costs equal
// the estimates nothing is overspent and exactly the calls that fit are
// admitted; when real costs are higher, the overspend is bounded by what
// the admitted calls cost beyond their reservations.
func TestConcurrentCallsOverspendOnlyByAdmittedReservations(t *testing.T) {
	tests := []struct {
		name      string
		actualIn  int
		wantCalls int // -1: not fixed by the interleaving
	}{
		{"actual equals estimate", 10_000, 7}, // 7 × $0.02 fit in $0.15 left
		{"actual is double", 20_000, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const est = 10_000 // tokens of gpt-4.1 input: $0.02
			f := &fixed{in: tt.actualIn}
			b := cost.NewBudget("key k", cost.Dollar, cost.BudgetOptions{})
			r, _ := b.Reserve(t.Context(), 0)
			r.Commit(t.Context(), Dollars(0.85))
			m := cost.Track(cost.TrackOptions{Budgets: []cost.BudgetSource{cost.Always(b)}, Estimate: estimate(est, 0)})(f.model())

			start := make(chan struct{})
			var wg sync.WaitGroup
			for range 100 {
				wg.Go(func() {
					<-start
					m.Generate(t.Context(), &llm.Request{})
				})
			}
			close(start)
			wg.Wait()

			perCall := Dollars(float64(tt.actualIn) * 2 / 1e6)
			admitted := f.calls
			if tt.wantCalls >= 0 && admitted != tt.wantCalls {
				t.Errorf("admitted %d calls, want %d", admitted, tt.wantCalls)
			}
			if admitted > 7 {
				t.Errorf("admitted %d calls; only 7 reservations fit", admitted)
			}
			spent, _ := b.Spent(t.Context())
			if want := Dollars(0.85) + cost.USD(admitted)*perCall; spent != want {
				t.Errorf("spent %v, want %v", spent, want)
			}
			beyond := cost.USD(admitted) * (perCall - Dollars(0.02))
			if over := spent - cost.Dollar; over > beyond {
				t.Errorf("overspent %v, more than the %v the admitted calls cost beyond their reservations", over, beyond)
			}
		})
	}
}

func TestFailedCallReleasesReservation(t *testing.T) {
	b := cost.NewBudget("b", cost.Dollar, cost.BudgetOptions{})
	fail := llmtest.NewModel("openai/gpt-4.1", llmtest.Fail(llm.KindServer))
	m := cost.Track(cost.TrackOptions{Budgets: []cost.BudgetSource{cost.Always(b)}, Estimate: estimate(400_000, 0)})(fail)
	m.Generate(t.Context(), &llm.Request{})
	// $0.80 was held during the call; once released, another $0.80 fits.
	if _, err := b.Reserve(t.Context(), Dollars(0.8)); err != nil {
		t.Errorf("reservation of the failed call was not released: %v", err)
	}
}

func TestDailyBudgetResetsAtMidnight(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC))
	b := cost.NewBudget("day", cost.Dollar, cost.BudgetOptions{Daily: true, Clock: clock})
	r, err := b.Reserve(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(t.Context(), cost.Dollar)
	if _, err := b.Reserve(t.Context(), 1); !cost.IsBudgetExceeded(err) {
		t.Fatalf("err = %v, want exceeded", err)
	}
	clock.Advance(time.Hour)
	if _, err := b.Reserve(t.Context(), 1); err != nil {
		t.Errorf("after midnight: %v", err)
	}
}

func TestPerKeyBudgets(t *testing.T) {
	limits := map[string]cost.USD{"limited": cost.Dollar}
	src := cost.PerKey(func(key string) (cost.USD, bool) { l, ok := limits[key]; return l, ok }, cost.BudgetOptions{})
	tagged := func(key string) *llm.Request { return &llm.Request{Tags: map[string]string{"key": key}} }
	a := src(t.Context(), tagged("limited"))
	if len(a) != 1 || a[0].Name() != "key limited" || a[0].Limit() != cost.Dollar {
		t.Fatalf("budgets of key limited: %v", a)
	}
	r, _ := a[0].Reserve(t.Context(), 0)
	r.Commit(t.Context(), cost.Dollar)
	b := src(t.Context(), tagged("limited"))
	if _, err := b[0].Reserve(t.Context(), 0); !cost.IsBudgetExceeded(err) {
		t.Errorf("a key's calls must share one account: err = %v, want exceeded", err)
	}
	limits["limited"] = 2 * cost.Dollar // an operator raises the budget
	if _, err := src(t.Context(), tagged("limited"))[0].Reserve(t.Context(), 0); err != nil {
		t.Errorf("after the limit was raised: %v", err)
	}
	if got := src(t.Context(), tagged("free")); got != nil {
		t.Errorf("unlimited key got budgets %v", got)
	}
	if got := src(t.Context(), &llm.Request{}); got != nil {
		t.Errorf("untagged call got budgets %v", got)
	}
}

func TestRouter(t *testing.T) {
	r := cost.Router{
		Tiers:     map[string]string{cost.TierCheap: "cheap/m", cost.TierBalanced: "mid/m", cost.TierBest: "best/m"},
		Default:   "mid/m",
		LongInput: 1000,
		LongModel: "long/m",
	}
	task := func(label, text string) *llm.Request {
		return &llm.Request{Messages: []llm.Message{llm.UserText(text)}, Tags: map[string]string{"task": label}}
	}
	long := string(make([]byte, 8000))
	for _, tt := range []struct {
		req  *llm.Request
		want string
	}{
		{task("classify", "x"), "cheap/m"},
		{task("summarize", "x"), "cheap/m"},
		{task("code_review", "x"), "mid/m"},
		{task("research", "x"), "best/m"},
		{task("unknown", "x"), "mid/m"},
		{&llm.Request{}, "mid/m"},
		{task("classify", long), "long/m"},
	} {
		if got := r.Choose(tt.req); got != tt.want {
			t.Errorf("task %q: %q, want %q", tt.req.Tags["task"], got, tt.want)
		}
	}
	models := map[string]llm.Model{}
	for _, n := range []string{"cheap/m", "mid/m", "best/m"} {
		models[n] = llmtest.NewEcho(n)
	}
	if _, err := r.Model("keel/router", models); err == nil || err.Error() != `router: model "long/m" is not among the models given` {
		t.Errorf("err = %v", err)
	}
	models["long/m"] = llmtest.NewEcho("long/m")
	routed, err := r.Model("keel/router", models)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := routed.Generate(t.Context(), task("research", "q"))
	if err != nil || resp.Model != "best/m" {
		t.Errorf("routed to %v, %v", resp, err)
	}
}

func TestEstimateTokens(t *testing.T) {
	req := &llm.Request{
		System:   []llm.Text{{Text: "12345678"}},
		Messages: []llm.Message{llm.UserText("1234"), llm.User(llm.Image{MediaType: "image/png"})},
	}
	// 2 system + (4 + 1) + (4 + 1600)
	if got := cost.EstimateTokens(req); got != 1611 {
		t.Errorf("estimate = %d, want 1611", got)
	}
}
