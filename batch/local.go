package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
)

// Local runs items itself, a bounded number at a time, for providers with
// no batch API (Gemini, Ollama and other local servers) or when results are
// wanted now rather than within the day. Each call goes through whatever
// Open returns, which should be the model wrapped in Keel's middleware
// stack: retries, breakers, rate limits and timeouts apply per item as they
// do to any call. It costs list prices, not batch prices.
type Local struct {
	// Open opens a model by name (the CLI gives the resolver wrapped in
	// middleware.Stack).
	Open func(name string) (llm.Model, error)
	// Model is the default model for items that name none.
	Model string
	// Concurrency bounds the calls in flight; 0 means 4.
	Concurrency int
	// Prices prices results; nil means cost.DefaultTable.
	Prices *cost.Table
	// Meter, when set, records every result's usage and cost.
	Meter *cost.Meter
	// OnResult, when set, is told each result as it is recorded (from
	// several goroutines, one at a time).
	OnResult func(Result)
}

// Run runs items and returns their results by custom id. It returns early
// only when ctx ends; a failed item is a Result with Outcome Errored.
func (l *Local) Run(ctx context.Context, items []Item) (map[string]Result, error) {
	out := make(map[string]Result, len(items))
	err := l.run(ctx, items, func(r Result) error {
		out[r.CustomID] = r
		return nil
	})
	return out, err
}

// RunFile runs items, appending each result to the JSONL file path as it
// arrives, and returns every item's result in item order. It resumes: an
// item whose custom id already has a succeeded line in path is not run
// again (items that errored, expired or were canceled are), and a last line
// cut short by a crash is dropped first.
func (l *Local) RunFile(ctx context.Context, items []Item, path string) ([]Result, error) {
	done, good, err := readRecords(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Drop a torn last line, then append after what is whole.
	if err := f.Truncate(good); err != nil {
		return nil, err
	}
	if _, err := f.Seek(good, 0); err != nil {
		return nil, err
	}
	var todo []Item
	for _, it := range items {
		if rec, ok := done[it.CustomID]; !ok || rec.Status != Succeeded {
			todo = append(todo, it)
		}
	}
	runErr := l.run(ctx, todo, func(r Result) error {
		line, err := json.Marshal(r.Record())
		if err != nil {
			return err
		}
		// One write per line: a crash tears at most the last one.
		if _, err := f.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		done[r.CustomID] = r.Record()
		return nil
	})
	if err := f.Sync(); err != nil && runErr == nil {
		runErr = err
	}
	results := make([]Result, 0, len(items))
	for _, it := range items {
		if rec, ok := done[it.CustomID]; ok {
			results = append(results, rec.Result())
		}
	}
	return results, runErr
}

// run calls every item with at most Concurrency in flight and hands each
// result to record, one at a time. Items whose call was cut by ctx are not
// recorded: they have no outcome yet.
func (l *Local) run(ctx context.Context, items []Item, record func(Result) error) error {
	if l.Open == nil {
		return errors.New("batch: Local.Open is required")
	}
	prices := l.Prices
	if prices == nil {
		prices = cost.DefaultTable()
	}
	// Open every model first: an unknown name fails before any call.
	models := map[string]llm.Model{}
	for _, it := range items {
		name := it.Model
		if name == "" {
			name = l.Model
		}
		if name == "" {
			return fmt.Errorf("item %s: no model (give the item one, or a default)", it.CustomID)
		}
		if _, ok := models[name]; ok {
			continue
		}
		m, err := l.Open(name)
		if err != nil {
			return fmt.Errorf("item %s: %w", it.CustomID, err)
		}
		models[name] = m
	}
	n := l.Concurrency
	if n <= 0 {
		n = 4
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next = make(chan Item)
	)
	for range min(n, len(items)) {
		wg.Go(func() {
			for it := range next {
				name := it.Model
				if name == "" {
					name = l.Model
				}
				m := models[name]
				r := Result{CustomID: it.CustomID, Model: m.Name()}
				resp, err := m.Generate(ctx, it.Request)
				if ctx.Err() != nil {
					continue // cut short: no outcome, run again on resume
				}
				if err != nil {
					r.Outcome, r.Err = Errored, asLLMError(err, providerOf(m.Name()))
				} else {
					r.Outcome, r.Response = Succeeded, resp
					r.Cost, r.Priced = prices.Cost(r.Model, resp.Usage, false)
					if l.Meter != nil {
						l.Meter.Record(r.Model, map[string]string{"batch": "local"}, resp.Usage, r.Cost, r.Priced)
					}
				}
				mu.Lock()
				err = record(r)
				if err == nil && l.OnResult != nil {
					l.OnResult(r)
				}
				mu.Unlock()
				if err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case next <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

func providerOf(name string) string {
	p, _, _ := llm.SplitName(name)
	return p
}

// localBackend answers status and results of a local job from its output
// file, so that `keel batch status` and `results` treat every job alike.
type localBackend struct{}

func (localBackend) submit(context.Context, []prepared) (string, string, string, error) {
	return "", "", "", errors.New("local jobs run with batch.Local")
}

func (localBackend) status(_ context.Context, job *Job) (Status, error) {
	recs, _, err := readRecords(job.Output)
	if err != nil {
		return Status{}, err
	}
	st := Status{Counts: Counts{Total: len(job.Items)}}
	for _, it := range job.Items {
		rec, ok := recs[it.CustomID]
		switch {
		case !ok:
			st.Counts.Processing++
		case rec.Status == Succeeded:
			st.Counts.Succeeded++
		case rec.Status == Expired:
			st.Counts.Expired++
		case rec.Status == Canceled:
			st.Counts.Canceled++
		default:
			st.Counts.Errored++
		}
	}
	// A local job runs while its command runs: with items left it is
	// resumed by submitting the same file again.
	st.State, st.ProviderStatus = Ended, "complete"
	if st.Counts.Processing > 0 {
		st.State, st.ProviderStatus = InProgress, "incomplete"
	}
	return st, nil
}

func (localBackend) results(_ context.Context, job *Job) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		recs, _, err := readRecords(job.Output)
		if err != nil {
			yield(Result{}, err)
			return
		}
		for _, it := range job.Items {
			if _, ok := recs[it.CustomID]; !ok {
				yield(Result{}, fmt.Errorf("%s has items not yet run (submit the same file again to resume): %w", job.ID, ErrNotEnded))
				return
			}
		}
		for _, it := range job.Items {
			if rec, ok := recs[it.CustomID]; ok {
				if !yield(rec.Result(), nil) {
					return
				}
			}
		}
	}
}

func (localBackend) cancel(context.Context, *Job) error {
	return errors.New("a local job runs in its command: stop it with Ctrl-C, and submit the same file again to resume")
}

var _ Runner = (*Local)(nil)

// LocalJob returns the record of the local job for an input file, known by
// the file's SHA-256, creating and saving it when new; resumed says it was
// there already, so running it again resumes it. Its results go to
// <id>.results.jsonl beside the record.
func LocalJob(store *Store, items []Item, model, inputHash string, now time.Time) (job *Job, resumed bool, err error) {
	if len(inputHash) < 16 {
		return nil, false, errors.New("batch: input hash too short")
	}
	id := "local_" + inputHash[:16]
	if job, err := store.Load(id); err == nil {
		return job, true, nil
	} else if !errors.Is(err, ErrNoJob) {
		return nil, false, err
	}
	job = &Job{
		ID: id, API: APILocal, Provider: providerOf(model), Model: model, SubmittedAt: now.UTC(),
		InputHash: inputHash, Output: filepath.Join(store.Dir(), id+".results.jsonl"),
	}
	for _, it := range items {
		job.Items = append(job.Items, JobItem{CustomID: it.CustomID, Model: it.Model})
	}
	if err := store.Save(job); err != nil {
		return nil, false, err
	}
	return job, false, nil
}
