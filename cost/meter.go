package cost

import (
	"maps"
	"sync"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Total is what a group of calls used and cost.
type Total struct {
	Calls int       `json:"calls"`
	Usage llm.Usage `json:"usage"`
	Cost  USD       `json:"cost_nano_usd"`
	// Unpriced counts calls to models the price table does not know; their
	// tokens are in Usage but not in Cost.
	Unpriced int `json:"unpriced,omitempty"`
}

func (t *Total) add(u llm.Usage, c USD, priced bool) {
	t.Calls++
	t.Usage = t.Usage.Add(u)
	t.Cost += c
	if !priced {
		t.Unpriced++
	}
}

// Report is a Meter's aggregates at one moment.
type Report struct {
	Total   Total            `json:"total"`
	ByModel map[string]Total `json:"by_model"`
	// ByTag maps a tag name to its values' totals: ByTag["task"]["summarize"].
	ByTag map[string]map[string]Total `json:"by_tag"`
	// ByKey groups by the API key name (the "key" tag).
	ByKey map[string]Total `json:"by_key"`
}

// Meter aggregates usage and cost by model, by tag and by API key. It is
// safe for concurrent use.
type Meter struct {
	tags []string

	mu      sync.Mutex
	total   Total
	byModel map[string]*Total
	byTag   map[string]map[string]*Total
	byKey   map[string]*Total
}

// NewMeter returns a meter that groups by the given tag names besides
// model and key; none means "task" and "prompt". Tags with unbounded values
// (conversation ids) would grow the meter without bound: leave them out.
func NewMeter(tags ...string) *Meter {
	if len(tags) == 0 {
		tags = []string{"task", "prompt"}
	}
	return &Meter{
		tags:    tags,
		byModel: map[string]*Total{},
		byTag:   map[string]map[string]*Total{},
		byKey:   map[string]*Total{},
	}
}

// Record adds one call.
func (m *Meter) Record(model string, tags map[string]string, u llm.Usage, c USD, priced bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total.add(u, c, priced)
	group(m.byModel, model).add(u, c, priced)
	if key := tags[callinfo.TagKey]; key != "" {
		group(m.byKey, key).add(u, c, priced)
	}
	for _, name := range m.tags {
		v, ok := tags[name]
		if !ok {
			continue
		}
		values := m.byTag[name]
		if values == nil {
			values = map[string]*Total{}
			m.byTag[name] = values
		}
		group(values, v).add(u, c, priced)
	}
}

func group(m map[string]*Total, k string) *Total {
	t := m[k]
	if t == nil {
		t = new(Total)
		m[k] = t
	}
	return t
}

// Report returns a copy of the aggregates.
func (m *Meter) Report() Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := Report{Total: m.total, ByModel: flat(m.byModel), ByKey: flat(m.byKey), ByTag: map[string]map[string]Total{}}
	for name, values := range m.byTag {
		r.ByTag[name] = flat(values)
	}
	return r
}

func flat(m map[string]*Total) map[string]Total {
	out := make(map[string]Total, len(m))
	for k, v := range maps.All(m) {
		out[k] = *v
	}
	return out
}
