package agents

import (
	"context"
	"slices"

	"github.com/keelai/keel/cost"
)

// TagAgent is the llm.Request tag (and cost.Meter tag) naming the agent a
// model call is made for.
const TagAgent = "agent"

// NewMeter returns a cost.Meter grouping by agent (Report().ByTag[TagAgent])
// as well as by model.
func NewMeter() *cost.Meter { return cost.NewMeter(TagAgent) }

type meterKey struct{}

// WithMeter returns a context whose agents record each model call's usage
// and cost into m, besides any meter already in ctx (an orchestrator's own
// meter and the caller's both see its calls). m should group by TagAgent
// (see NewMeter) for per-agent figures.
func WithMeter(ctx context.Context, m *cost.Meter) context.Context {
	prev, _ := ctx.Value(meterKey{}).([]*cost.Meter)
	// Clone: a context shared by siblings must not see each other's meters.
	return context.WithValue(ctx, meterKey{}, append(slices.Clone(prev), m))
}

func metersFrom(ctx context.Context) []*cost.Meter {
	ms, _ := ctx.Value(meterKey{}).([]*cost.Meter)
	return ms
}

// ByAgent returns the per-agent totals of a meter made by NewMeter.
func ByAgent(m *cost.Meter) map[string]cost.Total {
	return m.Report().ByTag[TagAgent]
}
