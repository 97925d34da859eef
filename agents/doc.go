// Package agents composes LLM agents into the three multi-agent patterns
// that cover most applications: a pipeline of typed stages, a parallel
// fan-out, and an orchestrator that plans, hands subtasks to workers and
// merges their results.
//
// An Agent is a name, a model, a system prompt and optional tools; it runs
// tool.Agent's loop and structured.Generate, so every pattern gets tool use,
// typed output, repair and typed stop outcomes for free. Each agent's usage
// and cost is recorded under its name into the cost.Meter carried by the
// context (WithMeter), and each run is an OpenTelemetry span (no-op unless a
// TracerProvider is given or a recording span is already in the context).
//
//	review := func(a *agents.Agent) agents.Task[string] {
//		return func(ctx context.Context) (string, error) { return a.Ask(ctx, code) }
//	}
//	reviews, err := agents.All(ctx, agents.FanOut{Limit: 3},
//		review(security), review(performance), review(style))
//	...
//	merged, err := synthesiser.Ask(ctx, strings.Join(reviews, "\n\n"))
package agents
