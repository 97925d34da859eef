// Package window keeps a conversation inside a model's context window:
// token counting per model family, a table of context windows and output
// limits, budget windows that drop the oldest turns without breaking the
// conversation's structure, and summarising compaction. The fitting and
// the compaction are llm.Middleware, so a long chat never reaches a
// context_length error in normal use:
//
//	m = llm.Chain(model, window.Middleware(window.Options{}))
//
// (The package is not called context, to leave the standard library's
// name alone.)
package window
