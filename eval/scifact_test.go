package eval

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelai/keel/bench/retrieval"
	"github.com/keelai/keel/internal/testenv"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/chunk"
	"github.com/keelai/keel/rag/load"
	"github.com/keelai/keel/store/sqlite"
)

// TestSciFactRecallSuite runs a suite of SciFact train claims with the
// recall@10 grader on the embedded store (lexical search), written as a
// YAML header with JSONL cases, and checks the eval's numbers against
// recall computed independently by bench/retrieval. To take seconds, it
// indexes the judged abstracts of its claims and 1,000 others as
// distractors rather than all 5,183.
func TestSciFactRecallSuite(t *testing.T) {
	ds := retrieval.Dataset{Dir: testenv.SharedData(t, "scifact")}
	ctx := t.Context()
	const queries, distractors = 200, 1000

	qs, qrels, err := ds.Split("train")
	if err != nil {
		t.Fatal(err)
	}
	qs = qs[:queries]
	judged := map[string]bool{}
	for _, q := range qs {
		for id := range qrels[q.ID] {
			judged[id] = true
		}
	}
	dir := t.TempDir()
	all, err := load.Path(ctx, ds.Corpus(), load.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []rag.Document
	for i, d := range all {
		if judged[d.ID] || i < distractors {
			docs = append(docs, d)
		}
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "keel.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in := rag.Ingester{Store: st, Chunker: chunk.New(chunk.Options{})}
	if _, err := in.Ingest(ctx, "scifact", docs, rag.IngestOptions{}); err != nil {
		t.Fatal(err)
	}

	var cases strings.Builder
	for _, q := range qs {
		var gold []string
		for id, g := range qrels[q.ID] {
			if g > 0 {
				gold = append(gold, id)
			}
		}
		line, _ := json.Marshal(Case{ID: q.ID, Vars: map[string]any{"claim": q.Text}, Gold: gold})
		cases.Write(line)
		cases.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "cases.jsonl"), []byte(cases.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	suite := `name: scifact-train
description: SciFact train claims; the gold documents are the judged abstracts.
target:
  input: "{{.claim}}"
  rag: {collection: scifact, k: 10, mode: lexical}
cases_file: cases.jsonl
graders:
  - type: recall
    name: recall@10
    threshold: 0.5
  - type: recall
    name: recall@3
    k: 3
    threshold: 0.5
thresholds:
  mean: {recall@10: 0.70}
concurrency: 4
`
	if err := os.WriteFile(filepath.Join(dir, "scifact.yaml"), []byte(suite), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSuite(filepath.Join(dir, "scifact.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	res, err := Run(ctx, s, Options{Env: Env{Retriever: &rag.Retriever{Store: st}}, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Runs != queries || res.Summary.Errors != 0 {
		t.Fatalf("summary %+v", res.Summary)
	}

	// The same recall, computed by the benchmark harness's own function.
	var want10, want3 float64
	for _, q := range qs {
		hits, err := st.Search(ctx, "scifact", rag.Query{Text: q.Text, K: 10, Mode: rag.Lexical, PerDocument: true})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.DocID
		}
		want10 += retrieval.Recall(ids, qrels[q.ID], 10)
		want3 += retrieval.Recall(ids, qrels[q.ID], 3)
	}
	want10 /= queries
	want3 /= queries
	got10, got3 := res.Summary.Graders[0].Mean, res.Summary.Graders[1].Mean
	if math.Abs(got10-want10) > 1e-9 || math.Abs(got3-want3) > 1e-9 {
		t.Fatalf("recall@10 %.4f recall@3 %.4f, the harness says %.4f and %.4f", got10, got3, want10, want3)
	}
	if fails := res.Gate(nil); len(fails) != 0 {
		t.Fatalf("gate: %v", fails)
	}
	t.Logf("SciFact train, %d claims: recall@10 %.4f, recall@3 %.4f", queries, got10, got3)
	if saved, err := store.EvalRun(ctx, res.ID); err != nil || len(saved.Cases) != queries {
		t.Fatalf("saved run: %d cases, %v", len(saved.Cases), err)
	}
}
