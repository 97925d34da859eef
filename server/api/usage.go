package api

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/state"
)

// usageRow is state.UsageRow with the cost in dollars, as every other
// cost the API reports (state.UsageRow's cost is in nanodollars). The
// fields a grouping sums over are empty.
type usageRow struct {
	Day     string    `json:"day,omitempty"`
	KeyID   string    `json:"key_id,omitempty"`
	Model   string    `json:"model,omitempty"`
	Calls   int       `json:"calls"`
	Errors  int       `json:"errors"`
	Usage   llm.Usage `json:"usage"`
	CostUSD float64   `json:"cost_usd"`
	cost    cost.USD
}

func (u *usageRow) add(r state.UsageRow) {
	u.Calls += r.Calls
	u.Errors += r.Errors
	u.Usage = u.Usage.Add(r.Usage)
	u.cost += r.Cost
	u.CostUSD = u.cost.Float()
}

// usage answers GET /api/usage. A key sees only its own rows; the local
// owner (no keys) sees every key's.
func (h *handler) usage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	group := q.Get("group")
	switch group {
	case "", "day", "model", "key":
	default:
		h.fail(w, r, badRequest(`query parameter "group" must be day, model or key, not %q`, group))
		return
	}
	var f state.UsageFilter
	for _, p := range []struct {
		name string
		to   *time.Time
		end  bool
	}{{"since", &f.Since, false}, {"until", &f.Until, true}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			h.fail(w, r, badRequest("query parameter %q must be a date like 2026-01-31, not %q", p.name, s))
			return
		}
		if p.end {
			d = d.AddDate(0, 0, 1) // until names the last day included
		}
		*p.to = d
	}
	if !f.Until.IsZero() && !f.Since.IsZero() && !f.Until.After(f.Since) {
		h.fail(w, r, badRequest(`query parameter "until" is before "since"`))
		return
	}
	f.KeyID = backend.CallerFrom(r.Context()).KeyID
	f.Model = q.Get("model")

	rows, err := h.d.State.Usage(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, total := groupUsage(rows, group)
	writeJSON(w, http.StatusOK, map[string]any{"rows": out, "total": total})
}

// groupUsage sums rows by the grouping ("" keeps day, key and model).
func groupUsage(rows []state.UsageRow, group string) ([]*usageRow, usageRow) {
	var (
		total usageRow
		out   = []*usageRow{}
		index = map[[3]string]*usageRow{}
	)
	for _, r := range rows {
		total.add(r)
		var k [3]string
		switch group {
		case "day":
			k[0] = r.Day
		case "key":
			k[1] = r.KeyID
		case "model":
			k[2] = r.Model
		default:
			k = [3]string{r.Day, r.KeyID, r.Model}
		}
		u := index[k]
		if u == nil {
			u = &usageRow{Day: k[0], KeyID: k[1], Model: k[2]}
			index[k] = u
			out = append(out, u)
		}
		u.add(r)
	}
	slices.SortFunc(out, func(a, b *usageRow) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Model, b.Model))
	})
	return out, total
}
