package batch

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider/anthropic"
	"github.com/keelai/keel/provider/openai"
)

// Runner runs items and returns their results by custom id. A provider
// batch (Manager) and the local runner (Local) both are one, so a caller
// such as the eval runner can take either.
type Runner interface {
	Run(ctx context.Context, items []Item) (map[string]Result, error)
}

// State is where a batch is in its life, the same for every API.
type State string

const (
	InProgress State = "in_progress"
	Canceling  State = "canceling"
	// Ended: every item has an outcome and the results can be fetched.
	Ended State = "ended"
	// Failed: the provider refused the batch as a whole (OpenAI's input
	// validation); Status.Errors says why.
	Failed State = "failed"
)

// Status is a batch's state and its tallies.
type Status struct {
	State State
	// ProviderStatus is the provider's own word (validating, finalizing,
	// expired, …).
	ProviderStatus string
	Counts         Counts
	Errors         []string
}

// Done reports whether the batch will change no more.
func (s Status) Done() bool { return s.State == Ended || s.State == Failed }

// Counts tallies a batch's items by outcome. Anthropic tallies only once the
// batch has ended; until then every item is Processing.
type Counts struct {
	Total, Processing, Succeeded, Errored, Expired, Canceled int
}

// ErrNotEnded is returned for the results of a batch still running.
var ErrNotEnded = errors.New("batch has not ended yet")

// backend is one provider's batch API.
type backend interface {
	submit(ctx context.Context, items []prepared) (batchID, fileID, hash string, err error)
	status(ctx context.Context, job *Job) (Status, error)
	// results yields every item the provider reports on, in its order.
	results(ctx context.Context, job *Job) iter.Seq2[Result, error]
	cancel(ctx context.Context, job *Job) error
}

// prepared is an item with its model opened.
type prepared struct {
	Item
	model llm.Model
}

// Options configures a Manager.
type Options struct {
	// Open opens a model by name, as provider.Resolver.Open does. It must
	// return the provider adapter itself (*anthropic.Model or
	// *openai.Model), not a middleware stack around it: a batch goes to the
	// provider's batch API, not through per-call middleware.
	Open func(name string) (llm.Model, error)
	// Store keeps the job records.
	Store *Store
	// Model is the default model for items that name none.
	Model string
	// Prices prices results at batch rates; nil means cost.DefaultTable.
	Prices *cost.Table
	// Meter, when set, records every result's usage and batch cost, tagged
	// batch=<job id>.
	Meter *cost.Meter
	// PollBase and PollCap bound the wait between two status polls in
	// Wait: it starts at PollBase and doubles up to PollCap, each wait
	// jittered by ±20%. Zero means 5s and 2m.
	PollBase, PollCap time.Duration
	// Clock drives the polls' waits; nil means the real clock.
	Clock clockwork.Clock
	// OnPoll, when set, is told each status Wait reads.
	OnPoll func(Status)
}

// Manager submits batches to the providers' batch APIs, follows them, and
// maps their results back by custom id, priced at batch rates. It keeps
// a record of each job in its Store, so that another Manager (another
// process, after a restart) can pick any job up by id. It is safe for
// concurrent use.
type Manager struct {
	opts  Options
	clock clockwork.Clock
}

// New returns a Manager.
func New(opts Options) (*Manager, error) {
	if opts.Open == nil || opts.Store == nil {
		return nil, errors.New("batch: Options.Open and Options.Store are required")
	}
	if opts.Prices == nil {
		opts.Prices = cost.DefaultTable()
	}
	if opts.PollBase <= 0 {
		opts.PollBase = 5 * time.Second
	}
	if opts.PollCap <= 0 {
		opts.PollCap = 2 * time.Minute
	}
	opts.PollCap = max(opts.PollCap, opts.PollBase)
	m := &Manager{opts: opts, clock: opts.Clock}
	if m.clock == nil {
		m.clock = clockwork.NewRealClock()
	}
	return m, nil
}

// NoBatchAPIError says that a model's provider has no batch API (Gemini
// and OpenAI-compatible servers here): run such items with Local.
type NoBatchAPIError struct{ Model string }

func (e *NoBatchAPIError) Error() string {
	return fmt.Sprintf("%s: the provider has no batch API Keel can use; run it with the local runner", e.Model)
}

// apiOf returns the batch API of an opened model.
func apiOf(m llm.Model) (API, bool) {
	switch m.(type) {
	case *anthropic.Model:
		return APIAnthropic, true
	case *openai.Model:
		if prov, _, _ := llm.SplitName(m.Name()); prov != "ollama" {
			return APIOpenAI, true
		}
	}
	return "", false
}

func (m *Manager) backend(api API) (backend, error) {
	switch api {
	case APIAnthropic:
		return anthropicBackend{open: m.opts.Open}, nil
	case APIOpenAI:
		return openaiBackend{open: m.opts.Open}, nil
	case APILocal:
		return localBackend{}, nil
	}
	return nil, fmt.Errorf("unknown batch API %q", api)
}

// prepare opens every item's model and checks that they share one
// provider (and, for OpenAI, one model, as its Batch API requires).
func (m *Manager) prepare(items []Item) ([]prepared, API, error) {
	if len(items) == 0 {
		return nil, "", errors.New("batch: no items")
	}
	var (
		out   []prepared
		api   API
		first llm.Model
		seen  = map[string]bool{}
		open  = map[string]llm.Model{}
	)
	for i, it := range items {
		if !ValidCustomID(it.CustomID) {
			return nil, "", fmt.Errorf("item %d: custom id %q: want 1 to 64 letters, digits, '-' or '_'", i, it.CustomID)
		}
		if seen[it.CustomID] {
			return nil, "", fmt.Errorf("item %d: custom id %q is used twice", i, it.CustomID)
		}
		seen[it.CustomID] = true
		if it.Request == nil {
			return nil, "", fmt.Errorf("item %s: nil request", it.CustomID)
		}
		name := it.Model
		if name == "" {
			name = m.opts.Model
		}
		if name == "" {
			return nil, "", fmt.Errorf("item %s: no model (give the item one, or a default)", it.CustomID)
		}
		mod, ok := open[name]
		if !ok {
			var err error
			if mod, err = m.opts.Open(name); err != nil {
				return nil, "", fmt.Errorf("item %s: %w", it.CustomID, err)
			}
			open[name] = mod
		}
		a, ok := apiOf(mod)
		if !ok {
			return nil, "", &NoBatchAPIError{Model: mod.Name()}
		}
		if first == nil {
			first, api = mod, a
		}
		fp, _, _ := llm.SplitName(first.Name())
		mp, _, _ := llm.SplitName(mod.Name())
		switch {
		case mp != fp:
			return nil, "", fmt.Errorf("item %s: model %s is on another provider than %s: a batch goes to one provider", it.CustomID, mod.Name(), first.Name())
		case api == APIOpenAI && mod.Name() != first.Name():
			return nil, "", fmt.Errorf("item %s: model %s differs from %s: an OpenAI batch runs one model", it.CustomID, mod.Name(), first.Name())
		}
		out = append(out, prepared{Item: it, model: mod})
	}
	return out, api, nil
}

// Submit sends items as one batch and saves its job record. Items may name
// their model; all must be on one provider that has a batch API, and on
// OpenAI on one model. Nothing is sent when an item cannot be translated.
func (m *Manager) Submit(ctx context.Context, items []Item) (*Job, error) {
	ps, api, err := m.prepare(items)
	if err != nil {
		return nil, err
	}
	b, err := m.backend(api)
	if err != nil {
		return nil, err
	}
	id, fileID, hash, err := b.submit(ctx, ps)
	if err != nil {
		return nil, err
	}
	prov, _, _ := llm.SplitName(ps[0].model.Name())
	job := &Job{ID: id, API: api, Provider: prov, Model: ps[0].model.Name(), SubmittedAt: m.clock.Now().UTC(), InputHash: hash, InputFileID: fileID}
	for _, p := range ps {
		ji := JobItem{CustomID: p.CustomID}
		if n := p.model.Name(); n != job.Model {
			ji.Model = n
		}
		job.Items = append(job.Items, ji)
	}
	if err := m.opts.Store.Save(job); err != nil {
		// The batch runs and bills anyway: say which, so it can be found.
		return job, fmt.Errorf("batch %s was submitted but its record could not be saved: %w", id, err)
	}
	return job, nil
}

// Job returns the record of job id.
func (m *Manager) Job(id string) (*Job, error) { return m.opts.Store.Load(id) }

func (m *Manager) load(id string) (*Job, backend, error) {
	job, err := m.opts.Store.Load(id)
	if err != nil {
		return nil, nil, err
	}
	b, err := m.backend(job.API)
	if err != nil {
		return nil, nil, err
	}
	return job, b, nil
}

// Status asks the provider where job id is.
func (m *Manager) Status(ctx context.Context, id string) (Status, error) {
	job, b, err := m.load(id)
	if err != nil {
		return Status{}, err
	}
	st, err := b.status(ctx, job)
	if err == nil && st.Counts.Total == 0 {
		st.Counts.Total = len(job.Items)
	}
	return st, err
}

// Wait polls job id until it is done, waiting between polls with capped,
// jittered exponential backoff (Options.PollBase, PollCap). A poll that
// fails with a retryable error is retried on the same schedule.
func (m *Manager) Wait(ctx context.Context, id string) (Status, error) {
	for attempt := 0; ; attempt++ {
		st, err := m.Status(ctx, id)
		switch {
		case err == nil:
			if m.opts.OnPoll != nil {
				m.opts.OnPoll(st)
			}
			if st.Done() {
				return st, nil
			}
		case errors.Is(err, ErrNoJob) || !llm.IsRetryable(err) || ctx.Err() != nil:
			return st, err
		}
		select {
		case <-m.clock.After(pollDelay(attempt, m.opts.PollBase, m.opts.PollCap, rand.Float64)):
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// pollDelay is the wait after poll number attempt (0 first): base·2^attempt
// capped at cap, times a jitter factor in [0.8, 1.2) so that many jobs do
// not poll in step.
func pollDelay(attempt int, base, cap time.Duration, rnd func() float64) time.Duration {
	d := cap
	if attempt < 30 {
		d = min(base<<attempt, cap)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rnd()))
}

// Results fetches the outcome of every item of an ended job, in the job's
// order, priced at batch rates (and recorded in Options.Meter when set).
// An item the provider does not report on is Errored with KindServer.
// ErrNotEnded is returned while the batch runs.
func (m *Manager) Results(ctx context.Context, id string) ([]Result, error) {
	job, b, err := m.load(id)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Result, len(job.Items))
	for r, err := range b.results(ctx, job) {
		if err != nil {
			return nil, err
		}
		byID[r.CustomID] = r
	}
	out := make([]Result, len(job.Items))
	for i, it := range job.Items {
		r, ok := byID[it.CustomID]
		if !ok {
			r = Result{CustomID: it.CustomID, Outcome: Errored, Err: &llm.Error{Kind: llm.KindServer, Provider: job.Provider, Message: "the batch's results do not include this item"}}
		}
		r.Model = job.ModelOf(i)
		if job.API != APILocal {
			// A local job's lines carry the list price they were run at.
			m.price(job, &r)
		}
		out[i] = r
	}
	return out, nil
}

// price sets r's batch cost and meters it.
func (m *Manager) price(job *Job, r *Result) {
	if r.Response == nil {
		return
	}
	r.Cost, r.Priced = m.opts.Prices.Cost(r.Model, r.Response.Usage, true)
	r.Response.Cost = r.Cost.Float()
	if m.opts.Meter != nil {
		m.opts.Meter.Record(r.Model, map[string]string{"batch": job.ID}, r.Response.Usage, r.Cost, r.Priced)
	}
}

// Cancel asks the provider to cancel job id. Items already answered keep
// their results; the rest end Canceled.
func (m *Manager) Cancel(ctx context.Context, id string) error {
	job, b, err := m.load(id)
	if err != nil {
		return err
	}
	return b.cancel(ctx, job)
}

// List returns the stored jobs, the most recent first.
func (m *Manager) List() ([]*Job, error) {
	jobs, _, err := m.opts.Store.List()
	return jobs, err
}

// Run submits items as one batch, waits for it and returns its results by
// custom id: the Runner for large offline workloads at batch prices.
func (m *Manager) Run(ctx context.Context, items []Item) (map[string]Result, error) {
	job, err := m.Submit(ctx, items)
	if err != nil {
		return nil, err
	}
	st, err := m.Wait(ctx, job.ID)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", job.ID, err)
	}
	if st.State == Failed {
		return nil, fmt.Errorf("batch %s failed: %s", job.ID, strings.Join(st.Errors, "; "))
	}
	rs, err := m.Results(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Result, len(rs))
	for _, r := range rs {
		out[r.CustomID] = r
	}
	return out, nil
}

var _ Runner = (*Manager)(nil)
