package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keelai/keel/batch"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/middleware/ratelimit"
)

const batchSynopsis = "submit [--model M] [--local [--concurrency N] [--rpm N]] FILE.jsonl | status [--json] ID | results [--out FILE] ID | cancel ID | list [--json]"

func cmdBatch(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usagef("batch", "want a subcommand: %s", batchSynopsis)
	}
	switch args[0] {
	case "submit":
		return a.batchSubmit(ctx, args[1:])
	case "status":
		return a.batchStatus(ctx, args[1:])
	case "results":
		return a.batchResults(ctx, args[1:])
	case "cancel":
		return a.batchCancel(ctx, args[1:])
	case "list":
		return a.batchList(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		a.batchFlags("").printHelp(a.stdout)
		return errHelpShown
	}
	return usagef("batch", "unknown subcommand %q; want submit, status, results, cancel or list", args[0])
}

func (a *app) batchFlags(sub string) *flags {
	name := "batch"
	if sub != "" {
		name += " " + sub
	}
	return a.newFlags(name, batchSynopsis, `
Run many requests offline through the providers' batch APIs (Anthropic
Message Batches, the OpenAI Batch API) at half the list price, or locally
for providers without one. Jobs are recorded in $KEEL_DATA/batches, so any
later 'keel batch' picks them up by id.

  submit   checks every line of FILE.jsonl (one request a line:
           {"custom_id", "model"?, "system"?, "prompt" | "messages",
           "max_tokens"?, "temperature"?}) and submits them as one batch;
           prints the batch id. A bad line is named (file:line) and nothing
           is sent. --local runs the requests here, --concurrency at a
           time, through retries and rate limits (--rpm); submitting the
           same file again resumes it.
  status   shows a job's state and counts.
  results  writes a finished job's results as JSONL (custom_id, status,
           model, text, usage, cost_usd, error) to stdout or --out.
  cancel   asks the provider to cancel a job.
  list     lists the recorded jobs, newest first.

See docs/batch.md.`)
}

// batchManager opens the job records and the providers, unwrapped: a
// batch goes to the provider's batch API, not through per-call middleware.
func (a *app) batchManager() (*batch.Manager, *batch.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	prices, err := middleware.Prices(cfg)
	if err != nil {
		return nil, nil, err
	}
	open := a.openModel
	if open == nil {
		r, err := a.resolver()
		if err != nil {
			return nil, nil, err
		}
		open = r.Open
	}
	store := batch.NewStore(filepath.Join(cfg.Storage.Data, "batches"))
	m, err := batch.New(batch.Options{Open: open, Store: store, Prices: prices})
	return m, store, err
}

// oneID parses a subcommand that takes a job id.
func (a *app) oneID(f *flags, args []string) (string, error) {
	pos, err := a.parse(f, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef(f.cmd, "want one batch ID (see 'keel batch list')")
	}
	return pos[0], nil
}

func (a *app) batchSubmit(ctx context.Context, args []string) error {
	f := a.batchFlags("submit")
	model := f.String("model", "", "the default `model` for lines that name none (default: the configured default)")
	local := f.Bool("local", false, "run the requests here instead of through a provider's batch API")
	conc := f.Int("concurrency", 4, "with --local, the requests in flight at once")
	rpm := f.Int("rpm", 0, "with --local, at most `N` requests per minute per model (0: no limit)")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef(f.cmd, "want one FILE.jsonl")
	}
	if *conc < 1 || *rpm < 0 {
		return usagef(f.cmd, "--concurrency must be at least 1 and --rpm not negative")
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	items, err := batch.ReadItems(bytes.NewReader(data), pos[0])
	if err != nil {
		return err
	}
	name := *model
	if name == "" && needsDefault(items) {
		r, err := a.resolver()
		if err != nil {
			return err
		}
		if name, err = r.Default(); err != nil {
			return err
		}
	}
	if *local {
		sum := sha256.Sum256(data)
		return a.batchLocal(ctx, items, name, hex.EncodeToString(sum[:]), *conc, *rpm)
	}
	m, _, err := a.batchManager()
	if err != nil {
		return err
	}
	for i := range items {
		if items[i].Model == "" {
			items[i].Model = name
		}
	}
	job, err := m.Submit(ctx, items)
	if nb := (*batch.NoBatchAPIError)(nil); errors.As(err, &nb) {
		return fmt.Errorf("%w (add --local)", err)
	}
	if err != nil {
		if job != nil {
			// Submitted but not recorded: the id must not be lost.
			fmt.Fprintln(a.stdout, job.ID)
		}
		return err
	}
	a.notef("submitted %d requests to %s as %s; follow it with 'keel batch status %s'", len(job.Items), job.Provider, job.ID, job.ID)
	fmt.Fprintln(a.stdout, job.ID)
	return nil
}

func needsDefault(items []batch.Item) bool {
	for _, it := range items {
		if it.Model == "" {
			return true
		}
	}
	return false
}

// batchLocal runs (or resumes) a local job in the foreground.
func (a *app) batchLocal(ctx context.Context, items []batch.Item, model, hash string, conc, rpm int) error {
	_, store, err := a.batchManager()
	if err != nil {
		return err
	}
	cfg, _ := a.config()
	prices, err := middleware.Prices(cfg)
	if err != nil {
		return err
	}
	job, resumed, err := batch.LocalJob(store, items, model, hash, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, job.ID)
	if resumed {
		a.notef("resuming %s: requests that succeeded before are not run again", job.ID)
	}
	limits := map[string]*ratelimit.Limiter{}
	open := func(name string) (llm.Model, error) {
		m, err := a.model(name)
		if err != nil || rpm == 0 {
			return m, err
		}
		// The limiter goes outside the stack, so retries count too.
		lim, ok := limits[name]
		if !ok {
			lim = ratelimit.New(ratelimit.Limits{RPM: rpm})
			limits[name] = lim
		}
		return lim.Middleware()(m), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer a.onInterrupt(cancel)()
	var tally batch.Counts
	l := &batch.Local{Open: open, Model: model, Concurrency: conc, Prices: prices,
		OnResult: func(r batch.Result) { tallyOutcome(&tally, r.Outcome) }}
	rs, err := l.RunFile(ctx, items, job.Output)
	total := cost.USD(0)
	for _, r := range rs {
		total += r.Cost
	}
	a.notef("%s: %d of %d done (%d run now: %d succeeded, %d errored), $%.4f at list prices; 'keel batch results %s' prints them",
		job.ID, len(rs), len(items), tally.Succeeded+tally.Errored, tally.Succeeded, tally.Errored, total.Float(), job.ID)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s stopped: submit the same file again to resume", job.ID)
		}
		return err
	}
	return nil
}

// tallyOutcome counts one result in c.
func tallyOutcome(c *batch.Counts, o batch.Outcome) {
	switch o {
	case batch.Succeeded:
		c.Succeeded++
	case batch.Expired:
		c.Expired++
	case batch.Canceled:
		c.Canceled++
	default:
		c.Errored++
	}
}

func (a *app) batchStatus(ctx context.Context, args []string) error {
	f := a.batchFlags("status")
	asJSON := f.Bool("json", false, "print one JSON object")
	id, err := a.oneID(f, args)
	if err != nil {
		return err
	}
	m, _, err := a.batchManager()
	if err != nil {
		return err
	}
	job, err := m.Job(id)
	if err != nil {
		return err
	}
	st, err := m.Status(ctx, id)
	if err != nil {
		return err
	}
	c := st.Counts
	if *asJSON {
		return json.NewEncoder(a.stdout).Encode(map[string]any{
			"id": job.ID, "api": job.API, "model": job.Model, "submitted_at": job.SubmittedAt,
			"state": st.State, "provider_status": st.ProviderStatus, "errors": st.Errors,
			"counts": map[string]int{"total": c.Total, "processing": c.Processing, "succeeded": c.Succeeded,
				"errored": c.Errored, "expired": c.Expired, "canceled": c.Canceled},
		})
	}
	fmt.Fprintf(a.stdout, "%s  %s (%s), submitted %s\n", job.ID, job.Model, job.API, job.SubmittedAt.Local().Format(time.DateTime))
	state := string(st.State)
	if st.ProviderStatus != "" && st.ProviderStatus != state {
		state += " (" + st.ProviderStatus + ")"
	}
	fmt.Fprintf(a.stdout, "state: %s\n", state)
	fmt.Fprintf(a.stdout, "requests: %d total, %d processing, %d succeeded, %d errored, %d expired, %d canceled\n",
		c.Total, c.Processing, c.Succeeded, c.Errored, c.Expired, c.Canceled)
	for _, e := range st.Errors {
		fmt.Fprintf(a.stdout, "error: %s\n", e)
	}
	return nil
}

func (a *app) batchResults(ctx context.Context, args []string) error {
	f := a.batchFlags("results")
	out := f.String("out", "", "write the results to `FILE` instead of stdout")
	id, err := a.oneID(f, args)
	if err != nil {
		return err
	}
	m, _, err := a.batchManager()
	if err != nil {
		return err
	}
	rs, err := m.Results(ctx, id)
	if errors.Is(err, batch.ErrNotEnded) {
		return fmt.Errorf("%w; see 'keel batch status %s'", err, id)
	}
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := batch.WriteRecords(&buf, rs); err != nil {
		return err
	}
	if *out == "" {
		if _, err := a.stdout.Write(buf.Bytes()); err != nil {
			return err
		}
	} else if err := writeFileAtomic(*out, buf.Bytes()); err != nil {
		return err
	}
	var c batch.Counts
	var total cost.USD
	for _, r := range rs {
		tallyOutcome(&c, r.Outcome)
		total += r.Cost
	}
	a.notef("%d results: %d succeeded, %d errored, %d expired, %d canceled; $%.4f", len(rs), c.Succeeded, c.Errored, c.Expired, c.Canceled, total.Float())
	return nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place, so a reader never sees half a results file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func (a *app) batchCancel(ctx context.Context, args []string) error {
	id, err := a.oneID(a.batchFlags("cancel"), args)
	if err != nil {
		return err
	}
	m, _, err := a.batchManager()
	if err != nil {
		return err
	}
	if err := m.Cancel(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "cancel requested for %s: requests not yet run end canceled\n", id)
	return nil
}

func (a *app) batchList(ctx context.Context, args []string) error {
	f := a.batchFlags("list")
	asJSON := f.Bool("json", false, "print one JSON object per job")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef(f.cmd, "takes no arguments")
	}
	_, store, err := a.batchManager()
	if err != nil {
		return err
	}
	jobs, ok, err := store.List()
	if err != nil {
		return err
	}
	if !ok {
		a.notef("some records in %s could not be read", store.Dir())
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		for _, j := range jobs {
			if err := enc.Encode(map[string]any{"id": j.ID, "api": j.API, "model": j.Model, "requests": len(j.Items), "submitted_at": j.SubmittedAt}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(jobs) == 0 {
		a.notef("no batch jobs in %s", store.Dir())
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPI\tMODEL\tREQUESTS\tSUBMITTED")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", j.ID, j.API, strings.TrimSpace(j.Model), len(j.Items), j.SubmittedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}
