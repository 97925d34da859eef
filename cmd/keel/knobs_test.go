package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
)

// keel.yaml's routing, logging and run budget, through keel run.
func TestRunConfigKnobs(t *testing.T) {
	srv := openaitest.NewServer(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keel.yaml")
	os.WriteFile(cfg, []byte(`
models:
  small:
    provider: openai
    model: tiny-model
  pricey:
    provider: openai
    model: pricey-model
    price: {input: 1000000, output: 1000000}
routing:
  tiers: {cheap: small, best: pricey}
limits:
  run_budget_usd: 1
logging:
  file: logs/calls.jsonl
`), 0o600)
	env := openaiEnv(srv)

	srv.Enqueue(llmtest.WireReply{Response: textResponse("spam")})
	r := keel(t, env, "", "--config", cfg, "run", "--task", "classify", "Is this spam?")
	if r.code != 0 || r.stdout != "spam\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if body := requestBody(t, srv.Requests()[0]); body["model"] != "tiny-model" {
		t.Errorf("--task classify went to %v, want the cheap tier's tiny-model", body["model"])
	}
	log, err := os.ReadFile(filepath.Join(dir, "logs", "calls.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(string(log), "\n", 2)[0]), &rec); err != nil {
		t.Fatalf("log line: %v\n%s", err, log)
	}
	if rec["model"] != "openai/tiny-model" || rec["task"] != "classify" {
		t.Errorf("log record %v", rec)
	}

	// A research task goes to the best tier, whose price ($1 a token) no
	// $1 run budget can pay: refused before anything is sent.
	r = keel(t, env, "", "--config", cfg, "run", "--task", "research", "Survey the field.")
	if r.code != 1 || !strings.Contains(r.stderr, "budget") {
		t.Errorf("exit %d, stderr %q; want a budget refusal", r.code, r.stderr)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests sent, want 1", n)
	}
	if r := keel(t, env, "", "run", "--task", "classify", "x"); r.code != 2 || !strings.Contains(r.stderr, "routing") {
		t.Errorf("--task without a routing table: exit %d, %q", r.code, r.stderr)
	}
}
