package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
)

const batchInput = `{"custom_id":"q1","prompt":"What is the capital of France?","max_tokens":50}
{"custom_id":"q2","system":"Answer in one word.","messages":[{"role":"user","content":"Largest planet?"}]}

{"custom_id":"q3","prompt":"Too long a prompt","temperature":0.1}
`

func writeInput(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type resultLine struct {
	CustomID string     `json:"custom_id"`
	Status   string     `json:"status"`
	Text     string     `json:"text"`
	Usage    *llm.Usage `json:"usage"`
	CostUSD  float64    `json:"cost_usd"`
	Error    *struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	} `json:"error"`
}

func parseResults(t *testing.T, out string) map[string]resultLine {
	t.Helper()
	got := map[string]resultLine{}
	for _, l := range lines(out) {
		var r resultLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("results line %q: %v", l, err)
		}
		got[r.CustomID] = r
	}
	return got
}

// TestBatchAnthropicAcrossProcesses: submit, status, results and list
// run as separate commands sharing only KEEL_DATA, as after a restart.
func TestBatchAnthropicAcrossProcesses(t *testing.T) {
	srv := anthropictest.NewServer(t)
	env := map[string]string{"ANTHROPIC_BASE_URL": srv.URL, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789", "KEEL_DATA": t.TempDir()}
	srv.Enqueue(
		llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "Paris."}}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 2000, OutputTokens: 100}}},
		llmtest.WireReply{Response: textResponse("Jupiter")},
		llmtest.WireReply{Fault: llmtest.Fault{Status: 400, Body: anthropictest.ErrorBody("invalid_request_error", "prompt is too long: 300000 tokens > 200000 maximum")}},
	)
	in := writeInput(t, batchInput)
	r := keel(t, env, "", "batch", "submit", "--model", "anthropic/claude-haiku-4-5", in)
	if r.code != 0 {
		t.Fatalf("submit: %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(id, "msgbatch_") || strings.Contains(r.stderr, "sk-ant") {
		t.Fatalf("submit printed %q, stderr %q", r.stdout, r.stderr)
	}

	r = keel(t, env, "", "batch", "status", id)
	if r.code != 0 || !strings.Contains(r.stdout, "state: in_progress") || !strings.Contains(r.stdout, "3 total, 3 processing") {
		t.Fatalf("status: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = keel(t, env, "", "batch", "results", id)
	if msg := oneErrorLine(t, r, 1); !strings.Contains(msg, "not ended") {
		t.Fatalf("results of a running batch: %q", msg)
	}

	srv.ProcessBatches(-1)
	r = keel(t, env, "", "batch", "status", "--json", id)
	var st struct {
		State  string         `json:"state"`
		Counts map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.State != "ended" || st.Counts["succeeded"] != 2 || st.Counts["errored"] != 1 {
		t.Fatalf("status --json: %+v, %v\n%s", st, err, r.stdout)
	}
	r = keel(t, env, "", "batch", "results", id)
	if r.code != 0 {
		t.Fatalf("results: %d %s", r.code, r.stderr)
	}
	got := parseResults(t, r.stdout)
	if q := got["q1"]; q.Status != "succeeded" || q.Text != "Paris." || q.Usage.InputTokens != 2000 || q.CostUSD <= 0 {
		t.Fatalf("q1 = %+v", q)
	}
	// Haiku 4.5 at $1/$5 per million, halved: 2000 in + 100 out = $0.00125.
	if c := got["q1"].CostUSD; c < 0.00124 || c > 0.00126 {
		t.Fatalf("q1 cost %v, want the batch price 0.00125", c)
	}
	if q := got["q3"]; q.Status != "errored" || q.Error == nil || q.Error.Kind != "context_length" {
		t.Fatalf("q3 = %+v", q)
	}
	if lines := lines(r.stdout); len(lines) != 3 || !strings.Contains(lines[0], `"q1"`) {
		t.Fatalf("results not in input order:\n%s", r.stdout)
	}
	r = keel(t, env, "", "batch", "list")
	if r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "anthropic/claude-haiku-4-5") {
		t.Fatalf("list: %s %s", r.stdout, r.stderr)
	}
}

// TestBatchOpenAIExpiryAndOut: an expired batch's results name the
// requests it never ran; --out writes the file.
func TestBatchOpenAIExpiryAndOut(t *testing.T) {
	srv := openaitest.NewServer(t)
	env := openaiEnv(srv)
	env["KEEL_DATA"] = t.TempDir()
	in := writeInput(t, batchInput)
	r := keel(t, env, "", "batch", "submit", "--model", "openai/gpt-4.1-mini", in)
	if r.code != 0 {
		t.Fatalf("submit: %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	srv.ProcessBatches(1)
	srv.ExpireBatches()
	out := filepath.Join(t.TempDir(), "results.jsonl")
	r = keel(t, env, "", "batch", "results", "--out", out, id)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("results --out: %d %q %s", r.code, r.stdout, r.stderr)
	}
	data, _ := os.ReadFile(out)
	got := parseResults(t, string(data))
	if got["q1"].Status != "succeeded" || got["q1"].Text != "What is the capital of France?" || got["q2"].Status != "expired" || got["q3"].Status != "expired" {
		t.Fatalf("results = %+v", got)
	}
	if !strings.Contains(r.stderr, "1 succeeded") || !strings.Contains(r.stderr, "2 expired") {
		t.Fatalf("summary %q", r.stderr)
	}
}

// TestBatchCancel: cancel from one process, canceled results in the next.
func TestBatchCancel(t *testing.T) {
	srv := anthropictest.NewServer(t)
	env := map[string]string{"ANTHROPIC_BASE_URL": srv.URL, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789", "KEEL_DATA": t.TempDir()}
	r := keel(t, env, "", "batch", "submit", "--model", "anthropic/claude-haiku-4-5", writeInput(t, batchInput))
	id := strings.TrimSpace(r.stdout)
	if r = keel(t, env, "", "batch", "cancel", id); r.code != 0 {
		t.Fatalf("cancel: %s", r.stderr)
	}
	r = keel(t, env, "", "batch", "results", id)
	got := parseResults(t, r.stdout)
	if len(got) != 3 || got["q2"].Status != "canceled" {
		t.Fatalf("results after cancel = %+v (%s)", got, r.stderr)
	}
}

// TestBatchBadInput: a bad line is named and nothing is sent or recorded.
func TestBatchBadInput(t *testing.T) {
	srv := anthropictest.NewServer(t)
	data := t.TempDir()
	env := map[string]string{"ANTHROPIC_BASE_URL": srv.URL, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789", "KEEL_DATA": data}
	in := writeInput(t, `{"custom_id":"a","prompt":"x"}
{"custom_id":"b","promt":"y"}
`)
	r := keel(t, env, "", "batch", "submit", "--model", "anthropic/claude-haiku-4-5", in)
	if msg := oneErrorLine(t, r, 1); msg != "keel: "+in+":2: promt: unknown field (want custom_id, model, system, prompt or messages, max_tokens, temperature)" {
		t.Fatalf("error %q", msg)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	if _, err := os.Stat(filepath.Join(data, "batches")); !os.IsNotExist(err) {
		t.Fatalf("a job was recorded: %v", err)
	}
	for _, args := range [][]string{
		{"batch", "status", "msgbatch_nothing"},
		{"batch", "results", "../../etc/passwd"},
	} {
		oneErrorLine(t, keel(t, env, "", args...), 1)
	}
	oneErrorLine(t, keel(t, env, "", "batch", "submit"), 2)
	oneErrorLine(t, keel(t, env, "", "batch", "frobnicate"), 2)
}

// TestBatchLocalResume: --local runs through the model stack; an item that
// fails is run again, and only it, when the same file is submitted again.
func TestBatchLocalResume(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.SetCompat(openaitest.Compat{NoAuth: true})
	u, _ := url.Parse(srv.URL)
	env := map[string]string{"OLLAMA_HOST": u.Host, "KEEL_DATA": t.TempDir()}
	in := writeInput(t, batchInput)

	// No batch API for Ollama: the error says what to do.
	r := keel(t, env, "", "batch", "submit", "--model", "ollama/llama3.2", in)
	if msg := oneErrorLine(t, r, 1); !strings.Contains(msg, "--local") {
		t.Fatalf("error %q", msg)
	}

	srv.Enqueue(
		llmtest.WireReply{Response: textResponse("one")},
		llmtest.WireReply{Fault: llmtest.Fault{Status: 400}}, // not retried
		llmtest.WireReply{Response: textResponse("three")},
	)
	r = keel(t, env, "", "batch", "submit", "--local", "--concurrency", "1", "--model", "ollama/llama3.2", in)
	if r.code != 0 {
		t.Fatalf("local: %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(id, "local_") || !strings.Contains(r.stderr, "2 succeeded, 1 errored") {
		t.Fatalf("local run: %q %q", r.stdout, r.stderr)
	}
	r = keel(t, env, "", "batch", "status", id)
	if !strings.Contains(r.stdout, "2 succeeded, 1 errored") {
		t.Fatalf("status: %s", r.stdout)
	}
	before := len(srv.Requests())
	r = keel(t, env, "", "batch", "submit", "--local", "--model", "ollama/llama3.2", in)
	if r.code != 0 || strings.TrimSpace(r.stdout) != id || !strings.Contains(r.stderr, "resuming") {
		t.Fatalf("resume: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if n := len(srv.Requests()) - before; n != 1 {
		t.Fatalf("resume sent %d requests, want 1 (the failed item)", n)
	}
	r = keel(t, env, "", "batch", "results", id)
	got := parseResults(t, r.stdout)
	if got["q1"].Text != "one" || got["q2"].Status != "succeeded" || got["q3"].Text != "three" {
		t.Fatalf("results = %+v", got)
	}
}
