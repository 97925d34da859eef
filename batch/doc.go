// Package batch runs many model requests offline: through the providers'
// batch APIs (Anthropic Message Batches, the OpenAI Batch API) at their
// batch prices, half the list price, or locally with bounded concurrency
// for providers that have none (Gemini here, Ollama and other local
// servers).
//
// A Manager submits a batch, polls it with capped, jittered backoff, and
// maps its results back to the items by custom id, each with its outcome
// (succeeded, errored with the *llm.Error kind, expired, canceled), its
// usage and its batch-priced cost:
//
//	m, _ := batch.New(batch.Options{Open: resolver.Open, Store: batch.NewStore(dir)})
//	job, err := m.Submit(ctx, items)     // one provider per batch
//	st, err := m.Wait(ctx, job.ID)       // or Status, from any process
//	results, err := m.Results(ctx, job.ID)
//
// Requests are translated by the provider adapters' own code
// (provider/anthropic, provider/openai), so a batched request is exactly
// what a direct call would send and its answer reads the same. The SDKs'
// retries stay off: a poll that fails is retried by Wait.
//
// Every job is recorded as a small JSON file in the Store's folder
// ($KEEL_DATA/batches for the CLI), written atomically, so a new process
// picks a job up by id after a restart.
//
// Local runs the items itself through whatever Open returns (the CLI gives
// the middleware stack: retries, breakers, rate limits). RunFile appends each
// result to a JSONL file as it arrives and, run again over the same file,
// skips the items that already succeeded: a crash or Ctrl-C loses nothing.
//
// Manager.Run and Local.Run both satisfy Runner, which takes items and
// returns results by custom id, for callers (the eval runner) that do not
// care how the work is done.
package batch
