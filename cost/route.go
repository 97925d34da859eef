package cost

import (
	"context"
	"fmt"
	"iter"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Tiers of models a Router chooses among.
const (
	TierCheap    = "cheap"
	TierBalanced = "balanced"
	TierBest     = "best"
)

// DefaultTasks maps task labels to tiers, as the seed's choose_model does.
func DefaultTasks() map[string]string {
	return map[string]string{
		"classify":    TierCheap,
		"extract":     TierCheap,
		"summarize":   TierCheap,
		"reason":      TierBalanced,
		"code_review": TierBalanced,
		"research":    TierBest,
	}
}

// Router chooses a model for a request by its task label (the "task" tag)
// and its estimated input size. A Router is a value; configure it before
// use and do not change it after.
type Router struct {
	// Tasks maps a task label to a tier; nil means DefaultTasks.
	Tasks map[string]string
	// Tiers maps a tier to a `provider/model` name or alias.
	Tiers map[string]string
	// Default is the model for requests without a known task.
	Default string
	// LongInput, when positive, sends requests estimated above that many
	// input tokens to LongModel whatever their task (a cheap model with a
	// small window would refuse them, or a long-context tier would cost
	// more than a model priced for it).
	LongInput int
	LongModel string
}

// Choose returns the model name for req.
func (r Router) Choose(req *llm.Request) string {
	if r.LongInput > 0 && r.LongModel != "" && EstimateTokens(req) > r.LongInput {
		return r.LongModel
	}
	tasks := r.Tasks
	if tasks == nil {
		tasks = DefaultTasks()
	}
	if tier, ok := tasks[req.Tags[callinfo.TagTask]]; ok {
		if m, ok := r.Tiers[tier]; ok {
			return m
		}
	}
	return r.Default
}

// Model returns an llm.Model that sends each request to the model Choose
// names, looked up in models. It fails now, naming the missing model, when
// the router can choose a model that models lacks.
func (r Router) Model(name string, models map[string]llm.Model) (llm.Model, error) {
	need := []string{r.Default}
	for _, m := range r.Tiers {
		need = append(need, m)
	}
	if r.LongInput > 0 && r.LongModel != "" {
		need = append(need, r.LongModel)
	}
	for _, n := range need {
		if _, ok := models[n]; !ok {
			return nil, fmt.Errorf("router: model %q is not among the models given", n)
		}
	}
	pick := func(req *llm.Request) llm.Model { return models[r.Choose(req)] }
	return llm.Funcs{
		NameFunc: func() string { return name },
		GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			return pick(req).Generate(ctx, req)
		},
		StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
			return pick(req).Stream(ctx, req)
		},
	}, nil
}
