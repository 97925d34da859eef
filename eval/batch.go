package eval

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/keelai/keel/batch"
	"github.com/keelai/keel/llm"
)

// batchable is a target that makes exactly one model call per case and
// repeat, so that all of a suite's calls can be rendered first and sent as
// one batch. Agents (several calls, each depending on the last) and RAG
// targets (retrieval first) are not.
type batchable interface {
	runner
	// prepare renders the request of one case and repeat and the Output
	// it will fill.
	prepare(c *Case, repeat int) (*llm.Request, *Output, error)
	// modelName is the model's name as the suite gives it, which the
	// batch runner opens.
	modelName() string
}

// ErrBatchLatency is returned by Run when a suite with a latency grader is
// run through a batch: a batched request waits in the provider's queue for
// minutes or hours, so its latency says nothing about the model, and a
// ceiling on it would pass or fail at random. The run is refused before
// anything is sent rather than graded on a made-up number.
var ErrBatchLatency = errors.New("eval: latency graders cannot grade a batch run (batched requests have no meaningful latency); run without a batch or drop the grader")

// checkBatch refuses a batch run of a suite whose graders need latency.
func checkBatch(s *Suite) error {
	for _, g := range s.Graders {
		if g.Type == TypeLatency {
			return fmt.Errorf("grader %q: %w", g.name(), ErrBatchLatency)
		}
	}
	return nil
}

// caseKey names one case and repeat.
type caseKey struct {
	id     string
	repeat int
}

// customID derives a batch custom id from a case id and repeat: the case id
// itself when it fits the batch APIs' rule (1 to 64 of [A-Za-z0-9_-]),
// else a hash of it, followed by the repeat. The repeat is always the last
// "-N", so two different cases cannot yield the same id unless a case id
// looks like a hash, which Run checks.
func customID(caseID string, repeat int) string {
	suffix := "-" + strconv.Itoa(repeat)
	if id := caseID + suffix; batch.ValidCustomID(id) {
		return id
	}
	sum := sha256.Sum256([]byte(caseID))
	return "h" + hex.EncodeToString(sum[:12]) + suffix
}

// prefetched answers each case and repeat from results fetched beforehand:
// the runner Run uses once a batch has answered every request.
type prefetched struct {
	outs map[caseKey]*Output
	errs map[caseKey]error
}

func (p *prefetched) run(_ context.Context, c *Case, repeat int) (*Output, error) {
	k := caseKey{c.ID, repeat}
	return p.outs[k], p.errs[k]
}

// runBatch renders every case and repeat of s, runs them through b as one
// batch, and returns a runner that answers from the results. A case whose
// request could not be rendered, or whose item errored, expired or was
// canceled, carries that error; it never gets a score. The error is
// non-nil when the batch as a whole could not be run.
func runBatch(ctx context.Context, s *Suite, t batchable, b batch.Runner) (*prefetched, error) {
	p := &prefetched{outs: map[caseKey]*Output{}, errs: map[caseKey]error{}}
	var items []batch.Item
	keys := map[string]caseKey{}
	for i := range s.Cases {
		c := &s.Cases[i]
		for rep := range s.repeats() {
			k := caseKey{c.ID, rep}
			req, out, err := t.prepare(c, rep)
			if err != nil {
				p.errs[k] = err
				continue
			}
			p.outs[k] = out
			id := customID(c.ID, rep)
			if prev, dup := keys[id]; dup {
				return nil, fmt.Errorf("eval: cases %q and %q map to the same batch custom id %q; rename one", prev.id, c.ID, id)
			}
			keys[id] = k
			items = append(items, batch.Item{CustomID: id, Model: t.modelName(), Request: req})
		}
	}
	if len(items) == 0 {
		return p, nil
	}
	results, err := b.Run(ctx, items)
	if err != nil {
		return nil, fmt.Errorf("eval: batch: %w", err)
	}
	for id, k := range keys {
		out := p.outs[k]
		r, ok := results[id]
		switch {
		case !ok:
			p.errs[k] = fmt.Errorf("batch item %s: no result came back", id)
		case r.Outcome != batch.Succeeded || r.Response == nil:
			// An expired or canceled item cost nothing and has no answer; an
			// errored one carries the provider's error, kind included.
			var cause error = r.Err
			if r.Err == nil {
				cause = errors.New("no response")
			}
			out.Cost = r.Cost
			p.errs[k] = fmt.Errorf("batch item %s %s: %w", id, r.Outcome, cause)
		default:
			out.Text = r.Response.Text()
			// The provider/model name, as the CLI's stack stamps a direct
			// call's answer.
			out.Model = cmp.Or(r.Model, r.Response.Model, out.Model)
			out.Usage = r.Response.Usage
			out.Cost = r.Cost // at the batch price
		}
	}
	return p, nil
}
