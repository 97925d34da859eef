package batch_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/batch"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider/anthropic"
	"github.com/keelai/keel/provider/openai"
)

const (
	claude = "anthropic/claude-haiku-4-5"
	gpt    = "openai/gpt-4.1-mini"
)

// emulators runs both providers' emulators and opens models on them as
// provider.Resolver would.
type emulators struct {
	ant *anthropictest.Server
	oai *openaitest.Server
}

func newEmulators(t *testing.T) *emulators {
	return &emulators{ant: anthropictest.NewServer(t), oai: openaitest.NewServer(t)}
}

func (e *emulators) open(name string) (llm.Model, error) {
	prov, model, err := llm.SplitName(name)
	if err != nil {
		return nil, err
	}
	switch prov {
	case "anthropic":
		return anthropic.New(anthropic.Options{APIKey: "sk-ant-test-secret", BaseURL: e.ant.URL}).Model(model), nil
	case "openai":
		return openai.New(openai.Options{APIKey: "sk-test-secret", BaseURL: e.oai.URL}).Model(model), nil
	case "ollama":
		return openai.New(openai.Options{Name: "ollama", BaseURL: e.oai.URL}).Model(model), nil
	}
	return nil, errors.New("unknown provider " + prov)
}

func (e *emulators) manager(t *testing.T, dir string, meter *cost.Meter) *batch.Manager {
	t.Helper()
	m, err := batch.New(batch.Options{Open: e.open, Store: batch.NewStore(dir), Meter: meter})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func items(model string, ids ...string) []batch.Item {
	var out []batch.Item
	for _, id := range ids {
		out = append(out, batch.Item{CustomID: id, Model: model, Request: &llm.Request{
			Messages:  []llm.Message{llm.UserText("question " + id)},
			MaxTokens: 100,
		}})
	}
	return out
}

func text(s string, in, out int) llmtest.WireReply {
	return llmtest.WireReply{Response: &llm.Response{
		Content: []llm.Part{llm.Text{Text: s}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{InputTokens: in, OutputTokens: out},
	}}
}

// enqueue scripts replies on the emulator of provider.
func (e *emulators) enqueue(provider string, replies ...llmtest.WireReply) {
	if provider == "anthropic" {
		e.ant.Enqueue(replies...)
	} else {
		e.oai.Enqueue(replies...)
	}
}

func (e *emulators) process(provider string, n int) {
	if provider == "anthropic" {
		e.ant.ProcessBatches(n)
	} else {
		e.oai.ProcessBatches(n)
	}
}

func (e *emulators) expire(provider string) {
	if provider == "anthropic" {
		e.ant.ExpireBatches()
	} else {
		e.oai.ExpireBatches()
	}
}

var providers = []struct {
	name, model string
	// badRequest is a Fault body making one item fail as a context-length
	// error in the provider's shape.
	badRequest string
}{
	{"anthropic", claude, anthropictest.ErrorBody("invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum")},
	{"openai", gpt, openaitest.ErrorBody("This model's maximum context length is 128000 tokens.", "invalid_request_error", "context_length_exceeded")},
}

func byID(rs []batch.Result) map[string]batch.Result {
	out := map[string]batch.Result{}
	for _, r := range rs {
		out[r.CustomID] = r
	}
	return out
}

// TestSubmitPollResults runs a batch on each provider through its
// emulator: one item succeeds, one fails as a bad request, one as an
// overloaded server; results come back by custom id (the emulators return
// them in reverse), priced at half the list price, and metered.
func TestSubmitPollResults(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			emu := newEmulators(t)
			meter := cost.NewMeter()
			m := emu.manager(t, t.TempDir(), meter)
			emu.enqueue(p.name,
				text("answer a", 1000, 200),
				llmtest.WireReply{Fault: llmtest.Fault{Status: 400, Body: p.badRequest}},
				llmtest.WireReply{Fault: llmtest.Fault{Status: 529}},
			)
			job, err := m.Submit(ctx, items(p.model, "a", "b", "c"))
			if err != nil {
				t.Fatal(err)
			}
			if job.ID == "" || job.Model != p.model || len(job.Items) != 3 || len(job.InputHash) != 64 {
				t.Fatalf("job record = %+v", job)
			}
			st, err := m.Status(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != batch.InProgress || st.Counts.Total != 3 || st.Counts.Processing != 3 {
				t.Fatalf("status before processing = %+v", st)
			}
			if _, err := m.Results(ctx, job.ID); !errors.Is(err, batch.ErrNotEnded) {
				t.Fatalf("results of a running batch: err = %v, want ErrNotEnded", err)
			}
			emu.process(p.name, -1)
			st, err = m.Status(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != batch.Ended || st.Counts.Succeeded != 1 || st.Counts.Errored != 2 {
				t.Fatalf("status after processing = %+v", st)
			}
			rs, err := m.Results(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 3 || rs[0].CustomID != "a" || rs[1].CustomID != "b" || rs[2].CustomID != "c" {
				t.Fatalf("results not in job order: %+v", rs)
			}
			a := rs[0]
			if a.Outcome != batch.Succeeded || a.Response.Text() != "answer a" || a.Model != p.model {
				t.Fatalf("a = %+v", a)
			}
			if u := a.Response.Usage; u.InputTokens != 1000 || u.OutputTokens != 200 {
				t.Fatalf("a usage = %+v", u)
			}
			list, _ := cost.DefaultTable().Cost(p.model, a.Response.Usage, false)
			if !a.Priced || a.Cost == 0 || a.Cost*2 != list {
				t.Fatalf("a cost = %v (priced %v), want half of the list %v", a.Cost, a.Priced, list)
			}
			if rs[1].Outcome != batch.Errored || rs[1].Err.Kind != llm.KindContextLength {
				t.Fatalf("b = %+v (err %v)", rs[1], rs[1].Err)
			}
			if rs[2].Outcome != batch.Errored || !(rs[2].Err.Kind == llm.KindOverloaded || rs[2].Err.Kind == llm.KindServer) {
				t.Fatalf("c = %+v (err %v)", rs[2], rs[2].Err)
			}
			rep := meter.Report()
			if got := rep.Total.Cost; got != a.Cost {
				t.Fatalf("meter total = %v, want %v", got, a.Cost)
			}
		})
	}
}

// TestWireRequests checks that a batched request is what Generate sends.
func TestWireRequests(t *testing.T) {
	ctx := context.Background()
	emu := newEmulators(t)
	m := emu.manager(t, t.TempDir(), nil)
	temp := 0.5
	its := items(claude, "x")
	its[0].Request.System = []llm.Text{{Text: "Be brief."}}
	its[0].Request.Temperature = &temp
	its[0].Request.TopK = 40
	job, err := m.Submit(ctx, its)
	if err != nil {
		t.Fatal(err)
	}
	var create llmtest.Recorded
	for _, r := range emu.ant.Requests() {
		if r.Path == "/v1/messages/batches" {
			create = r
		}
	}
	var body struct {
		Requests []struct {
			CustomID string         `json:"custom_id"`
			Params   map[string]any `json:"params"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(create.Body, &body); err != nil || len(body.Requests) != 1 {
		t.Fatalf("batch create body %s: %v", create.Body, err)
	}
	p := body.Requests[0].Params
	if body.Requests[0].CustomID != "x" || p["model"] != "claude-haiku-4-5" || p["max_tokens"] != 100.0 || p["temperature"] != 0.5 || p["top_k"] != 40.0 || p["system"] == nil {
		t.Fatalf("params = %v", p)
	}
	// Temperature and top_k need the API version that still takes them, for
	// the batch.
	if v := create.Header.Get("anthropic-version"); v != "2023-06-01" {
		t.Fatalf("anthropic-version = %q", v)
	}
	if strings.Contains(string(create.Body), "stream") {
		t.Fatalf("a batched request must not ask for a stream: %s", create.Body)
	}
	emu.ant.ProcessBatches(-1)
	if rs, err := m.Results(ctx, job.ID); err != nil || rs[0].Response.Text() != "question x" {
		t.Fatalf("echoed result = %+v, %v", rs, err)
	}
}

// TestExpiry: the window closes with one item answered.
func TestExpiry(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			emu := newEmulators(t)
			m := emu.manager(t, t.TempDir(), nil)
			emu.enqueue(p.name, text("first", 10, 2))
			job, err := m.Submit(ctx, items(p.model, "a", "b", "c"))
			if err != nil {
				t.Fatal(err)
			}
			emu.process(p.name, 1)
			emu.expire(p.name)
			st, err := m.Status(ctx, job.ID)
			if err != nil || st.State != batch.Ended {
				t.Fatalf("status = %+v, %v", st, err)
			}
			got := byID(must(m.Results(ctx, job.ID)))
			if got["a"].Outcome != batch.Succeeded || got["a"].Response.Text() != "first" {
				t.Fatalf("a = %+v", got["a"])
			}
			for _, id := range []string{"b", "c"} {
				if r := got[id]; r.Outcome != batch.Expired || r.Err == nil || r.Err.Kind != llm.KindTimeout || r.Cost != 0 {
					t.Fatalf("%s = %+v", id, r)
				}
			}
		})
	}
}

// TestCancel: items not yet run end canceled.
func TestCancel(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			emu := newEmulators(t)
			m := emu.manager(t, t.TempDir(), nil)
			job, err := m.Submit(ctx, items(p.model, "a", "b"))
			if err != nil {
				t.Fatal(err)
			}
			emu.process(p.name, 1)
			if err := m.Cancel(ctx, job.ID); err != nil {
				t.Fatal(err)
			}
			st, err := m.Wait(ctx, job.ID)
			if err != nil || st.State != batch.Ended {
				t.Fatalf("status = %+v, %v", st, err)
			}
			got := byID(must(m.Results(ctx, job.ID)))
			if got["a"].Outcome != batch.Succeeded || got["b"].Outcome != batch.Canceled || got["b"].Err.Kind != llm.KindCanceled {
				t.Fatalf("results = %+v", got)
			}
		})
	}
}

// TestResumeAfterRestart: a second Manager, sharing only the folder of
// job records, follows and collects a batch the first one submitted.
func TestResumeAfterRestart(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			emu := newEmulators(t)
			dir := t.TempDir()
			job, err := emu.manager(t, dir, nil).Submit(ctx, items(p.model, "a", "b"))
			if err != nil {
				t.Fatal(err)
			}
			emu.process(p.name, -1)

			m2 := emu.manager(t, dir, nil)
			jobs, err := m2.List()
			if err != nil || len(jobs) != 1 || jobs[0].ID != job.ID {
				t.Fatalf("list = %+v, %v", jobs, err)
			}
			st, err := m2.Status(ctx, job.ID)
			if err != nil || st.State != batch.Ended || st.Counts.Succeeded != 2 {
				t.Fatalf("status = %+v, %v", st, err)
			}
			got := byID(must(m2.Results(ctx, job.ID)))
			if got["a"].Response.Text() != "question a" || got["b"].Response.Text() != "question b" {
				t.Fatalf("results = %+v", got)
			}
			if _, err := m2.Status(ctx, "msgbatch_unknown"); !errors.Is(err, batch.ErrNoJob) {
				t.Fatalf("unknown id: err = %v", err)
			}
		})
	}
}

// TestWaitBacksOff: Wait polls on the clock's schedule until the batch
// ends by itself on its third retrieval.
func TestWaitBacksOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emu := newEmulators(t)
	emu.ant.EndBatchesAfter(3)
	clock := clockwork.NewFakeClock()
	var polls []batch.Status
	m, err := batch.New(batch.Options{
		Open: emu.open, Store: batch.NewStore(t.TempDir()), Clock: clock,
		PollBase: time.Second, PollCap: 4 * time.Second,
		OnPoll: func(s batch.Status) { polls = append(polls, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	job, err := m.Submit(ctx, items(claude, "a"))
	if err != nil {
		t.Fatal(err)
	}
	type waited struct {
		st  batch.Status
		err error
	}
	done := make(chan waited, 1)
	go func() {
		st, err := m.Wait(ctx, job.ID)
		done <- waited{st, err}
	}()
	for {
		select {
		case w := <-done:
			if w.err != nil || w.st.State != batch.Ended {
				t.Fatalf("Wait = %+v, %v", w.st, w.err)
			}
			if len(polls) != 3 || polls[0].State != batch.InProgress {
				t.Fatalf("polls = %+v, want 3 ending in ended", polls)
			}
			return
		default:
		}
		// Wait is either polling or asleep on the clock: wake it at the cap.
		bctx, bcancel := context.WithTimeout(ctx, 10*time.Millisecond)
		if clock.BlockUntilContext(bctx, 1) == nil {
			clock.Advance(5 * time.Second)
		}
		bcancel()
	}
}

// TestOneProviderPerBatch: mixed providers, and mixed models on OpenAI,
// are refused before anything is sent; so is a provider with no batch API.
func TestOneProviderPerBatch(t *testing.T) {
	ctx := context.Background()
	emu := newEmulators(t)
	m := emu.manager(t, t.TempDir(), nil)
	mixed := append(items(claude, "a"), items(gpt, "b")...)
	if _, err := m.Submit(ctx, mixed); err == nil || !strings.Contains(err.Error(), "one provider") {
		t.Fatalf("mixed providers: err = %v", err)
	}
	two := append(items(gpt, "a"), items("openai/gpt-4.1", "b")...)
	if _, err := m.Submit(ctx, two); err == nil || !strings.Contains(err.Error(), "one model") {
		t.Fatalf("two OpenAI models: err = %v", err)
	}
	var nb *batch.NoBatchAPIError
	if _, err := m.Submit(ctx, items("ollama/llama3.2", "a")); !errors.As(err, &nb) {
		t.Fatalf("ollama: err = %v", err)
	}
	if _, err := m.Submit(ctx, items(claude, "bad id")); err == nil {
		t.Fatal("a custom id with a space was accepted")
	}
	if n := len(emu.ant.Requests()) + len(emu.oai.Requests()); n != 0 {
		t.Fatalf("%d requests reached the emulators", n)
	}
}

// TestRunner: Manager.Run is the Runner interface end to end.
func TestRunner(t *testing.T) {
	emu := newEmulators(t)
	emu.oai.EndBatchesAfter(1)
	m, err := batch.New(batch.Options{Open: emu.open, Store: batch.NewStore(t.TempDir()), PollBase: time.Millisecond, PollCap: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var r batch.Runner = m
	got, err := r.Run(context.Background(), items(gpt, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["b"].Response.Text() != "question b" {
		t.Fatalf("Run = %+v", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
