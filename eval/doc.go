// Package eval runs evaluation suites: cases run against a target (a model
// with a system prompt, a versioned prompt file, a RAG collection or an agent
// with tools), graded by deterministic checks, embeddings or a judge model,
// with thresholds that make a run pass or fail a deploy gate, and comparisons
// of two runs with a paired bootstrap confidence interval.
//
// A suite is a YAML file (see docs/evaluation.md), decoded strictly:
//
//	s, err := eval.LoadSuite("evals/support.yaml")
//	res, err := eval.Run(ctx, s, eval.Options{Env: eval.Env{Model: open}, Store: st})
//	if fails := res.Gate(nil); len(fails) > 0 { ... }
//
// Evals must not lie. A target or grader error (a judge that timed out, a
// provider outage) is recorded on the case as an error — never as a zero or
// a NaN score, never skipped — and an errored case fails the gate. Requests
// carry the repeat index as a tag that the response cache keys on, so
// repeats are real repeats while a re-run of the same suite is answered from
// the cache.
//
// Large suites can run at the providers' batch prices: with Options.Batch
// set (a *batch.Manager), a target that makes one call per case sends all
// its requests as one batch and grades the answers when it ends; an item
// that errored or expired is its case's error.
package eval
