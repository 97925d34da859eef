package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"

	"github.com/keelai/keel/batch"
	"github.com/keelai/keel/eval"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/respcache"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/server"
	"github.com/keelai/keel/store/state"
)

const evalSynopsis = "run SUITE.yaml [flags] | list [--suite S] | show RUN_ID | compare RUN_A RUN_B"

// evalCacheFile holds the responses of eval runs, so that a re-run of an
// unchanged suite costs nothing.
const evalCacheFile = "eval-cache.db"

func cmdEval(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usagef("eval", "want a subcommand: %s", evalSynopsis)
	}
	switch args[0] {
	case "run":
		return a.evalRun(ctx, args[1:])
	case "list":
		return a.evalList(ctx, args[1:])
	case "show":
		return a.evalShow(ctx, args[1:])
	case "compare":
		return a.evalCompare(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		a.evalFlags("", "").printHelp(a.stdout)
		return errHelpShown
	}
	return usagef("eval", "unknown subcommand %q; want run, list, show or compare", args[0])
}

func (a *app) evalFlags(sub, synopsis string) *flags {
	name := "eval"
	if sub != "" {
		name += " " + sub
	}
	if synopsis == "" {
		synopsis = evalSynopsis
	}
	return a.newFlags(name, synopsis, `
Run evaluation suites and gate deploys on them (see docs/evaluation.md).

  keel eval run SUITE.yaml     runs every case of the suite (with its repeats), grades the outputs,
                               stores the run and prints a table; exits 1 when a threshold is missed,
                               a case errored, or (with --compare) the score regressed
  keel eval list [--suite S]   lists stored runs, newest first
  keel eval show RUN_ID        prints a stored run (table, --json, --junit, --html)
  keel eval compare A B        compares two runs case by case: wins, losses, ties and the mean
                               difference B - A with a paired bootstrap 95% confidence interval

Runs are stored in the embedded store ($KEEL_DATA/keel.db) or in PostgreSQL when KEEL_DATABASE_URL
is set. Model responses are cached in $KEEL_DATA/`+evalCacheFile+` keyed on the request and the
repeat index: repeats are real repeats, and re-running an unchanged suite is free.

With --batch, a suite whose target is a model or a prompt file sends all its calls as one provider
batch at half the list price and grades the answers when it ends (batched calls are not cached and
have no latency, so latency graders are refused).`)
}

type evalOutputs struct {
	asJSON      *bool
	junit, html *string
}

func addOutputs(f *flags) evalOutputs {
	return evalOutputs{
		asJSON: f.Bool("json", false, "print the run as JSON instead of a table"),
		junit:  f.String("junit", "", "write JUnit XML to `file` (one testcase per case and grader)"),
		html:   f.String("html", "", "write a self-contained HTML report with charts to `file`"),
	}
}

func (a *app) evalRun(ctx context.Context, args []string) error {
	f := a.evalFlags("run", "SUITE.yaml [--compare RUN_ID] [--json] [--junit FILE] [--html FILE] [--concurrency N] [--max-cost USD] [--judge MODEL] [--no-cache] [--batch [--resume-batch ID]]")
	out := addOutputs(f)
	compare := f.String("compare", "", "compare with the stored run `id` and gate on the suite's max_regression")
	conc := f.Int("concurrency", 0, "run at most `n` cases at once (default: the suite's, else 4)")
	maxCost := f.Float64("max-cost", 0, "stop the run once it has cost this many US `dollars` (default: the suite's max_cost)")
	judge := f.String("judge", "", "the judge `model` of graders that name none (default: the default model)")
	noCache := f.Bool("no-cache", false, "do not answer from (or fill) the response cache")
	useBatch := f.Bool("batch", false, "send the target's calls as one provider batch (Anthropic, OpenAI) at half price and wait for it (up to a day); judges still call directly")
	resume := f.String("resume-batch", "", "with --batch, wait for the batch `id` this suite submitted before (after Ctrl-C or a restart) instead of submitting a new one")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("eval run", "want one suite file (see 'keel eval run --help')")
	}
	if *resume != "" && !*useBatch {
		return usagef("eval run", "--resume-batch needs --batch")
	}
	if *conc < 0 || *maxCost < 0 {
		return usagef("eval run", "--concurrency and --max-cost must not be negative")
	}
	suite, err := eval.LoadSuite(pos[0])
	if err != nil {
		return err
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	st, err := a.evalState(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var base *eval.Result
	if *compare != "" {
		if base, err = loadRun(ctx, st, *compare); err != nil {
			return err
		}
	}

	var cache *respcache.Cache
	if !*noCache {
		if err := os.MkdirAll(cfg.Storage.Data, 0o755); err != nil {
			return err
		}
		store, err := respcache.OpenSQLite(ctx, filepath.Join(cfg.Storage.Data, evalCacheFile))
		if err != nil {
			return fmt.Errorf("response cache: %w", err)
		}
		cache = respcache.New(store, respcache.Options{OnError: func(err error) { a.notef("keel: response cache: %v", a.redact(err.Error())) }})
	}
	env := eval.Env{JudgeModel: *judge, Model: a.evalModels(cache)}
	if env.JudgeModel == "" {
		if r, err := a.resolver(); err == nil && a.openModel == nil {
			env.JudgeModel, _ = r.Default()
		}
	}
	if suite.Target.RAG != nil {
		rs, err := a.ragStore(ctx)
		if err != nil {
			return err
		}
		defer rs.Close()
		env.Retriever = &rag.Retriever{Store: rs}
	}
	opts := eval.Options{Env: env, Store: st, Concurrency: *conc, MaxCost: *maxCost}
	if *useBatch {
		if suite.Target.RAG != nil || suite.Target.Agent != nil {
			a.notef("keel: --batch: a RAG or agent target makes its calls case by case; running without a batch")
		} else {
			m, _, err := a.batchManager()
			if err != nil {
				return err
			}
			opts.Batch = batchFunc(func(ctx context.Context, items []batch.Item) (map[string]batch.Result, error) {
				if *resume != "" {
					return a.resumeBatch(ctx, m, *resume, items)
				}
				a.notef("sending %d requests as one batch; the provider may take up to a day (Ctrl-C stops waiting, the batch goes on: resume with --resume-batch ID, see 'keel batch list')", len(items))
				return m.Run(ctx, items)
			})
		}
	}
	if a.stdoutTTY { // as for ingest: the bar goes to stderr when a person watches
		bar := progressbar.NewOptions(len(suite.Cases)*max(suite.Repeats, 1), progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(suite.Name), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		defer bar.Finish()
		opts.Progress = func(done, _ int) { bar.Set(done) }
	}
	res, err := eval.Run(ctx, suite, opts)
	if nb := (*batch.NoBatchAPIError)(nil); errors.As(err, &nb) {
		return fmt.Errorf("%w (run without --batch)", err)
	}
	if err != nil {
		return err
	}
	var cmp *eval.Comparison
	if base != nil {
		cmp = eval.Compare(base, res)
	}
	if err := a.writeEval(res, cmp, out); err != nil {
		return err
	}
	return a.gate(res, cmp)
}

// batchFunc is a batch.Runner from a function.
type batchFunc func(context.Context, []batch.Item) (map[string]batch.Result, error)

func (f batchFunc) Run(ctx context.Context, items []batch.Item) (map[string]batch.Result, error) {
	return f(ctx, items)
}

// resumeBatch waits for job id, submitted earlier for the same items, and
// returns its results by custom id. The custom ids are derived from the
// case ids and repeats, so a job whose ids differ from the suite's is
// refused: it was submitted for another suite (or another version of it).
func (a *app) resumeBatch(ctx context.Context, m *batch.Manager, id string, items []batch.Item) (map[string]batch.Result, error) {
	job, err := m.Job(id)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, it := range items {
		want[it.CustomID] = true
	}
	same := len(job.Items) == len(want)
	for _, it := range job.Items {
		same = same && want[it.CustomID]
	}
	if !same {
		return nil, fmt.Errorf("batch %s has %d requests that are not this suite's %d cases and repeats; run with --batch alone to submit a new one", id, len(job.Items), len(items))
	}
	a.notef("waiting for batch %s (%d requests)", id, len(items))
	st, err := m.Wait(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", id, err)
	}
	if st.State == batch.Failed {
		return nil, fmt.Errorf("batch %s failed: %s", id, strings.Join(st.Errors, "; "))
	}
	rs, err := m.Results(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make(map[string]batch.Result, len(rs))
	for _, r := range rs {
		out[r.CustomID] = r
	}
	return out, nil
}

// evalModels opens models for a run: the reliability stack of keel.yaml
// (retries, fallbacks, prices and the per-run budget the cost cap puts in
// the context) under the response cache. A second callinfo.Stamp outside
// the cache writes a hit's facts (zero cost, CacheHit) on the response.
func (a *app) evalModels(cache *respcache.Cache) func(string) (llm.Model, error) {
	var mu sync.Mutex
	opened := map[string]llm.Model{}
	return func(name string) (llm.Model, error) {
		mu.Lock()
		defer mu.Unlock()
		if m, ok := opened[name]; ok {
			return m, nil
		}
		m, err := a.model(name)
		if err != nil {
			return nil, err
		}
		if cache != nil {
			m = llm.Chain(m, callinfo.Stamp(), cache.Middleware())
		}
		opened[name] = m
		return m, nil
	}
}

// gate prints the missed thresholds, one a line, and fails the command.
func (a *app) gate(res *eval.Result, cmp *eval.Comparison) error {
	fails := res.Gate(cmp)
	if len(fails) == 0 {
		return nil
	}
	for _, f := range fails {
		a.notef("keel: eval gate: %s", a.redact(f))
	}
	return fmt.Errorf("eval run %s failed its gate (%d of its checks)", res.ID, len(fails))
}

// writeEval prints a run (table or JSON) and writes the report files.
func (a *app) writeEval(res *eval.Result, cmp *eval.Comparison, out evalOutputs) error {
	for _, w := range []struct {
		path  string
		write func(io.Writer, *eval.Result, *eval.Comparison) error
	}{{*out.junit, eval.WriteJUnit}, {*out.html, eval.WriteHTML}} {
		if w.path == "" {
			continue
		}
		if err := writeFile(w.path, func(f io.Writer) error { return w.write(f, res, cmp) }); err != nil {
			return err
		}
	}
	if *out.asJSON {
		return eval.WriteJSON(a.stdout, res, cmp)
	}
	return eval.WriteTable(a.stdout, res, cmp)
}

// writeFile writes path whole or not at all: a CI must not read half a
// report.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (a *app) evalList(ctx context.Context, args []string) error {
	f := a.evalFlags("list", "[--suite S] [--limit N] [--json]")
	suite := f.String("suite", "", "list only the runs of the suite `name`")
	limit := f.Int("limit", 20, "list at most `n` runs (0: all)")
	asJSON := f.Bool("json", false, "print one JSON object per run per line")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("eval list", "takes no arguments")
	}
	st, err := a.evalState(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.EvalRuns(ctx, *suite, max(*limit, 0))
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		for _, r := range runs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSUITE\tCREATED\tRUNS\tPASSED\tERRORS\tMEAN\tCOST\tTARGET")
	for _, r := range runs {
		res, err := eval.FromState(r)
		if err != nil {
			return err
		}
		s := res.Summary
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.3f\t%s\t%s\n", r.ID, r.Suite, r.CreatedAt.UTC().Format("2006-01-02 15:04"),
			s.Runs, s.Passed, s.Errors, s.MeanScore, s.Cost, s.Target)
	}
	return tw.Flush()
}

func (a *app) evalShow(ctx context.Context, args []string) error {
	f := a.evalFlags("show", "RUN_ID [--json] [--junit FILE] [--html FILE]")
	out := addOutputs(f)
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("eval show", "want one run id")
	}
	st, err := a.evalState(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := loadRun(ctx, st, pos[0])
	if err != nil {
		return err
	}
	return a.writeEval(res, nil, out)
}

func (a *app) evalCompare(ctx context.Context, args []string) error {
	f := a.evalFlags("compare", "RUN_A RUN_B [--json] [--html FILE] [--judge MODEL [--rubric TEXT]]")
	asJSON := f.Bool("json", false, "print the comparison as JSON")
	html := f.String("html", "", "write RUN_B's HTML report with the comparison to `file`")
	judge := f.String("judge", "", "compare the outputs with a pairwise judge `model` (each pair judged in both orders) instead of the graders' scores")
	rubric := f.String("rubric", "", "what makes an output better, for --judge")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("eval compare", "want two run ids: the baseline, then the candidate")
	}
	st, err := a.evalState(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	ra, err := loadRun(ctx, st, pos[0])
	if err != nil {
		return err
	}
	rb, err := loadRun(ctx, st, pos[1])
	if err != nil {
		return err
	}
	var cmp *eval.Comparison
	if *judge != "" {
		m, err := a.model(*judge)
		if err != nil {
			return err
		}
		if cmp, err = eval.ComparePairwise(ctx, ra, rb, &eval.PairwiseJudge{Model: m, Rubric: *rubric}); err != nil {
			return err
		}
	} else {
		cmp = eval.Compare(ra, rb)
	}
	if *html != "" {
		if err := writeFile(*html, func(w io.Writer) error { return eval.WriteHTML(w, rb, cmp) }); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(cmp)
	}
	eval.WriteComparison(a.stdout, cmp)
	return nil
}

func loadRun(ctx context.Context, st state.Store, id string) (*eval.Result, error) {
	er, err := st.EvalRun(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return nil, fmt.Errorf("no eval run %q (see 'keel eval list')", id)
	}
	if err != nil {
		return nil, err
	}
	return eval.FromState(er)
}

// evalState opens the relational state: PostgreSQL when KEEL_DATABASE_URL
// (or storage.database_url) is set, else the embedded store's file.
func (a *app) evalState(ctx context.Context) (state.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	return server.OpenState(ctx, cfg)
}
