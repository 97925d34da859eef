package eval

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/chunk"
	"github.com/keelai/keel/store/sqlite"
	"github.com/keelai/keel/tool"
)

func fakes(models ...llm.Model) func(string) (llm.Model, error) {
	return func(name string) (llm.Model, error) {
		for _, m := range models {
			if m.Name() == name {
				return m, nil
			}
		}
		return nil, os.ErrNotExist
	}
}

// TestRAGAnswerTarget retrieves from the embedded store, answers with
// citations and grades recall, citation precision and faithfulness; the run
// is stored in the embedded state store.
func TestRAGAnswerTarget(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "keel.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	docs := []rag.Document{
		{ID: "tides", Title: "Tides", Text: "Tides are caused by the gravitational pull of the Moon and the Sun on the oceans."},
		{ID: "seasons", Title: "Seasons", Text: "Seasons are caused by the tilt of the Earth's axis relative to its orbit."},
		{ID: "rainbows", Title: "Rainbows", Text: "Rainbows appear when sunlight is refracted and reflected in raindrops."},
	}
	for i := range docs {
		docs[i].Hash = docs[i].ContentHash()
	}
	if _, err := (&rag.Ingester{Store: st, Chunker: chunk.New(chunk.Options{})}).Ingest(ctx, "sci", docs, rag.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	s := mustParse(t, `
name: sci-answers
target:
  model: fake/answer
  input: "{{.q}}"
  rag: {collection: sci, k: 2, mode: lexical, answer: true}
concurrency: 1
cases:
  - {id: tides, vars: {q: What causes tides on the oceans?}, gold: [tides]}
  - {id: seasons, vars: {q: What causes the seasons and the tilt of the axis?}, gold: [seasons]}
graders:
  - {type: recall, k: 1}
  - type: citation_precision
  - type: faithfulness
`)
	answer := llmtest.NewModel("fake/answer",
		llmtest.Text("The Moon and the Sun pull on the oceans [1]."),
		llmtest.Text("The axis is tilted [1], as the rainbow shows [2] [7]."),
	)
	judge := llmtest.NewModel("fake/judge",
		llmtest.Text(`{"reason":"supported","score":5}`),
		llmtest.Text(`{"reason":"the rainbow claim is not in the sources","score":2}`),
	)
	state, err := sqlite.OpenState(ctx, filepath.Join(dir, "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	res, err := Run(ctx, s, Options{Env: Env{Model: fakes(answer, judge), JudgeModel: "fake/judge", Retriever: &rag.Retriever{Store: st}}, Store: state})
	if err != nil {
		t.Fatal(err)
	}
	tides, seasons := res.Cases[0], res.Cases[1]
	if tides.Error != "" || !tides.Passed || tides.Detail.DocIDs[0] != "tides" || strings.Join(tides.Detail.Cited, ",") != "tides" {
		t.Fatalf("tides: %+v", tides)
	}
	// seasons cites a gold document, a retrieved non-gold one and an
	// invented [7]: precision 1/3.
	cp := seasons.Grades[1]
	if seasons.Passed || cp.Score < 0.33 || cp.Score > 0.34 || !strings.Contains(cp.Reason, "1 citations match no source") {
		t.Fatalf("seasons citation precision %+v", cp)
	}
	if f := seasons.Grades[2]; f.Score != 0.25 || f.Pass {
		t.Fatalf("faithfulness %+v", f)
	}
	// The judge saw the retrieved passages as the sources.
	if msg := judge.Requests()[0].Messages[0].Text(); !strings.Contains(msg, "gravitational pull") {
		t.Fatalf("the faithfulness judge did not get the sources:\n%s", msg)
	}
	stored, err := state.EvalRun(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromState(stored)
	if err != nil || len(back.Cases) != 2 || back.Cases[1].Grades[1].Reason != cp.Reason {
		t.Fatalf("stored run: %+v, %v", back, err)
	}
	runs, err := state.EvalRuns(ctx, "sci-answers", 0)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v, %v", runs, err)
	}
}

func TestAgentTarget(t *testing.T) {
	add := tool.Must("add", "Adds two numbers", func(_ context.Context, in struct {
		A float64 `json:"a"`
		B float64 `json:"b"`
	}) (float64, error) {
		return in.A + in.B, nil
	})
	other := tool.Must("shout", "Shouts", func(_ context.Context, in struct {
		S string `json:"s"`
	}) (string, error) {
		return strings.ToUpper(in.S), nil
	})
	reg, err := tool.NewRegistry([]tool.Tool{add, other})
	if err != nil {
		t.Fatal(err)
	}
	s := mustParse(t, `
name: math
target:
  model: fake/agent
  system: Use the tools.
  agent: {tools: [add], max_steps: 3}
cases:
  - {id: sum, vars: {input: What is 2 + 3?}, expected: "5"}
graders:
  - type: numeric
`)
	m := llmtest.NewModel("fake/agent", llmtest.ToolCall("c1", "add", `{"a":2,"b":3}`), llmtest.Text("It is 5."))
	res, err := Run(t.Context(), s, Options{Env: Env{Model: fakes(m), Tools: reg}})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Cases[0]
	if !c.Passed || strings.Join(c.Detail.ToolCalls, ",") != "add" || c.Detail.Output != "It is 5." {
		t.Fatalf("case %+v", c)
	}
	if specs := m.Requests()[0].Tools; len(specs) != 1 || specs[0].Name != "add" {
		t.Fatalf("the agent was offered %+v, want only add", specs)
	}
	s.Target.Agent.Tools = []string{"nope"}
	if _, err := Run(t.Context(), s, Options{Env: Env{Model: fakes(m), Tools: reg}}); err == nil || !strings.Contains(err.Error(), `no tool named "nope"`) {
		t.Fatalf("unknown tool: %v", err)
	}
}

func TestPromptTarget(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "prompts"), 0o755)
	os.WriteFile(filepath.Join(dir, "prompts", "greet.prompt"), []byte("---\nname: greet\nversion: 1.2.0\nmodel: fake/echo\nsystem: Greet.\n---\nHello {{.who}}!\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("name: greet\ntarget: {prompt: greet@1.2.0, prompts: prompts}\ncases: [{id: ann, vars: {who: Ann}, expected: Hello Ann!}]\ngraders: [{type: exact}]\n"), 0o600)
	s, err := LoadSuite(filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	echo := llmtest.NewEcho("fake/echo")
	res, err := Run(t.Context(), s, Options{Env: Env{Model: fakes(echo)}})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Cases[0]
	if !c.Passed || !strings.HasPrefix(c.PromptVersion, "greet@1.2.0+") || len(c.PromptVersion) < len("greet@1.2.0+")+8 {
		t.Fatalf("case %+v", c)
	}
	if got := echo.Requests()[0].Tags["repeat"]; got != "0" {
		t.Fatalf("repeat tag %q", got)
	}
	if strings.Join(res.Summary.Prompts, ",") != c.PromptVersion {
		t.Fatalf("summary prompts %v", res.Summary.Prompts)
	}
}
