package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/store/postgres/pgtest"
)

// evalEnv is an environment with the echoing target server as the openai
// provider and a scripted judge server as the provider "judge".
func evalEnv(t *testing.T, target, judge *openaitest.Server) map[string]string {
	t.Helper()
	cfg := writeConfig(t, fmt.Sprintf("providers:\n  judge:\n    type: openai\n    base_url: %s\n    api_key: %s\n", judge.URL, openaiKey))
	env := openaiEnv(target)
	env["KEEL_CONFIG"] = cfg
	env["KEEL_DATA"] = t.TempDir()
	return env
}

func verdict(score int, reason string) llmtest.WireReply {
	return llmtest.WireReply{Response: textResponse(fmt.Sprintf(`{"reason":%q,"score":%d}`, reason, score))}
}

type evalJSON struct {
	ID      string `json:"id"`
	Summary struct {
		Runs, Passed, Errors int
		CacheHits            int      `json:"cache_hits"`
		Prompts              []string `json:"prompt_versions"`
		Graders              []struct {
			Name string
			Mean float64
		}
	} `json:"summary"`
	Cases []struct {
		CaseID        string `json:"case_id"`
		Repeat        int    `json:"repeat"`
		PromptVersion string `json:"prompt_version"`
		Model         string `json:"model"`
	} `json:"cases"`
	Failures []string `json:"failures"`
}

// TestEvalRunListShowCompare runs the testdata suite (a prompt file, three
// cases, two repeats, a judge) twice: the first run calls the models for
// every repeat, the second is answered from the response cache; both are
// stored, listed, shown and compared.
func TestEvalRunListShowCompare(t *testing.T) {
	target, judge := openaitest.NewServer(t), openaitest.NewServer(t)
	for _, s := range []int{5, 5, 4, 4, 2, 2} {
		judge.Enqueue(verdict(s, "ok"))
	}
	env := evalEnv(t, target, judge)
	out := t.TempDir()
	junit, html := filepath.Join(out, "junit.xml"), filepath.Join(out, "report.html")
	r := keel(t, env, "", "eval", "run", "testdata/eval/support.yaml", "--json", "--junit", junit, "--html", html)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var first evalJSON
	if err := json.Unmarshal([]byte(r.stdout), &first); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	s := first.Summary
	if s.Runs != 6 || s.Passed != 4 || s.Errors != 0 || len(first.Failures) != 0 {
		t.Fatalf("first run %+v, failures %v", s, first.Failures)
	}
	if n := len(target.Requests()); n != 6 {
		t.Fatalf("%d target requests, want 3 cases x 2 repeats", n)
	}
	if n := len(judge.Requests()); n != 6 {
		t.Fatalf("%d judge requests, want 6", n)
	}
	c := first.Cases[1]
	if c.CaseID != "reset-password" || c.Repeat != 1 || !strings.HasPrefix(c.PromptVersion, "answer@1.0.0+") || c.Model != "openai/gpt-test" {
		t.Fatalf("case %+v", c)
	}
	if body := requestBody(t, target.Requests()[0]); body["model"] != "gpt-test" {
		t.Fatalf("target model %v", body["model"])
	}
	for _, f := range []string{junit, html} {
		if b, err := os.ReadFile(f); err != nil || len(b) < 200 {
			t.Fatalf("%s: %d bytes, %v", f, len(b), err)
		}
	}
	b, _ := os.ReadFile(junit)
	if err := xml.Unmarshal(b, new(struct{})); err != nil || strings.Count(string(b), "<testcase ") != 19 {
		t.Fatalf("JUnit: %v, %d testcases (want 3 cases x 2 repeats x 3 graders + the gate)", err, strings.Count(string(b), "<testcase "))
	}

	r = keel(t, env, "", "eval", "run", "testdata/eval/support.yaml", "--json")
	if r.code != 0 {
		t.Fatalf("re-run: exit %d, stderr %q", r.code, r.stderr)
	}
	var second evalJSON
	if err := json.Unmarshal([]byte(r.stdout), &second); err != nil {
		t.Fatal(err)
	}
	if len(target.Requests()) != 6 || len(judge.Requests()) != 6 || second.Summary.CacheHits != 6 || second.Summary.Passed != 4 {
		t.Fatalf("the re-run was not answered from the cache: %d target and %d judge requests, summary %+v",
			len(target.Requests()), len(judge.Requests()), second.Summary)
	}

	r = keel(t, env, "", "eval", "list", "--suite", "support")
	if r.code != 0 || !strings.Contains(r.stdout, first.ID) || !strings.Contains(r.stdout, second.ID) {
		t.Fatalf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = keel(t, env, "", "eval", "show", first.ID)
	if r.code != 0 || !strings.Contains(r.stdout, "reset-password") || !strings.Contains(r.stdout, "MENTIONS-RESET") {
		t.Fatalf("show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = keel(t, env, "", "eval", "compare", first.ID, second.ID)
	if r.code != 0 || !strings.Contains(r.stdout, "0 wins, 0 losses, 3 ties") || !strings.Contains(r.stdout, "95% CI [+0.000, +0.000]") {
		t.Fatalf("compare: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = keel(t, env, "", "eval", "run", "testdata/eval/support.yaml", "--compare", first.ID)
	if r.code != 0 || !strings.Contains(r.stdout, "3 ties") {
		t.Fatalf("run --compare: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestEvalGateFails: a missed threshold and a judge error each fail the
// command with exit status 1, naming what was missed.
func TestEvalGateFails(t *testing.T) {
	target, judge := openaitest.NewServer(t), openaitest.NewServer(t)
	judge.Enqueue(verdict(5, "fine"), llmtest.WireReply{Fault: llmtest.Fault{Status: 400}})
	env := evalEnv(t, target, judge)
	dir := t.TempDir()
	suite := filepath.Join(dir, "gate.yaml")
	os.WriteFile(suite, []byte(`name: gate
target: {model: openai/gpt-test, system: Echo., temperature: 0}
concurrency: 1
cases:
  - {id: one, vars: {input: "hello there"}}
  - {id: two, vars: {input: "general kenobi"}}
graders:
  - {type: contains, value: hello}
  - {type: judge, rubric: Is it a greeting?, model: judge/gpt-judge}
thresholds:
  mean: {contains: 0.9}
`), 0o600)
	r := keel(t, env, "", "eval", "run", suite)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"keel: eval gate: 1 of 2 cases errored", "keel: eval gate: grader contains: mean 0.500 is below the threshold 0.900", "failed its gate"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "two") || !strings.Contains(r.stdout, "error") {
		t.Errorf("the table does not show the errored case:\n%s", r.stdout)
	}
}

func TestEvalUsageAndFileErrors(t *testing.T) {
	env := map[string]string{"KEEL_DATA": t.TempDir(), "OPENAI_API_KEY": openaiKey}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: x\ntarget: {model: openai/m}\ngraders:\n  - type: sentiment\ncases: [{id: a}]\n"), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"eval"}, 2, "want a subcommand"},
		{[]string{"eval", "frobnicate"}, 2, `unknown subcommand "frobnicate"`},
		{[]string{"eval", "run"}, 2, "want one suite file"},
		{[]string{"eval", "run", bad}, 1, "bad.yaml:4: graders[0] (sentiment): unknown type"},
		{[]string{"eval", "run", filepath.Join(dir, "missing.yaml")}, 1, "no such file"},
		{[]string{"eval", "show", "nope"}, 1, `no eval run "nope"`},
		{[]string{"eval", "compare", "a"}, 2, "want two run ids"},
	} {
		r := keel(t, env, "", tc.args...)
		if got := oneErrorLine(t, r, tc.code); !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
		}
	}
	if r := keel(t, env, "", "eval", "run", "--help"); r.code != 0 || !strings.Contains(r.stdout, "--max-cost") {
		t.Errorf("help: %d %q", r.code, r.stdout)
	}
}

// TestEvalOnPostgres stores runs in PostgreSQL when KEEL_DATABASE_URL is
// set: a run is listed and shown from there, and nothing goes to the
// embedded state file.
func TestEvalOnPostgres(t *testing.T) {
	url := pgtest.Schema(t)
	target, judge := openaitest.NewServer(t), openaitest.NewServer(t)
	for range 6 {
		judge.Enqueue(verdict(4, "fine"))
	}
	env := evalEnv(t, target, judge)
	env["KEEL_DATABASE_URL"] = url
	r := keel(t, env, "", "eval", "run", "testdata/eval/support.yaml", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var run evalJSON
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
		t.Fatal(err)
	}
	r = keel(t, env, "", "eval", "show", run.ID, "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"reset-password"`) {
		t.Fatalf("show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(env["KEEL_DATA"], "keel.db")); err == nil {
		t.Error("the run went to the embedded state file too")
	}
	delete(env, "KEEL_DATABASE_URL")
	if r := keel(t, env, "", "eval", "show", run.ID); r.code != 1 {
		t.Errorf("the embedded store has the run: exit %d", r.code)
	}
}

// TestEvalRunBatch: --batch sends the prompt file's calls as one provider
// batch and grades them as a direct run does (the same suite and verdicts
// as TestEvalRunListShowCompare); the judge still calls directly.
func TestEvalRunBatch(t *testing.T) {
	target, judge := openaitest.NewServer(t), openaitest.NewServer(t)
	target.EndBatchesAfter(1)
	for _, s := range []int{5, 5, 4, 4, 2, 2} {
		judge.Enqueue(verdict(s, "ok"))
	}
	env := evalEnv(t, target, judge)
	r := keel(t, env, "", "eval", "run", "--batch", "--json", "testdata/eval/support.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var run struct {
		evalJSON
		Summary struct {
			Runs, Passed, Errors int
			Batch                bool
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if s := run.Summary; s.Runs != 6 || s.Passed != 4 || s.Errors != 0 || !s.Batch {
		t.Fatalf("batch run %+v", s)
	}
	if c := run.Cases[1]; c.CaseID != "reset-password" || c.Repeat != 1 || c.Model != "openai/gpt-test" {
		t.Fatalf("case %+v", c)
	}
	if n := len(judge.Requests()); n != 6 {
		t.Fatalf("%d judge requests, want 6", n)
	}
	r = keel(t, env, "", "batch", "list", "--json")
	var job struct {
		ID       string `json:"id"`
		Requests int    `json:"requests"`
	}
	if l := lines(r.stdout); len(l) != 1 || json.Unmarshal([]byte(l[0]), &job) != nil || !strings.HasPrefix(job.ID, "batch_") || job.Requests != 6 {
		t.Fatalf("batch list: %q (%s)", r.stdout, r.stderr)
	}
	// A batched case has no latency: a latency ceiling is refused up front.
	dir := t.TempDir()
	suite, err := os.ReadFile("testdata/eval/support.yaml")
	if err != nil {
		t.Fatal(err)
	}
	suite = []byte(strings.Replace(string(suite), "graders:\n", "graders:\n  - type: latency\n    max_ms: 1000\n", 1))
	suite = []byte(strings.Replace(string(suite), "prompts: prompts", "prompts: "+filepath.Join(mustAbs(t, "testdata/eval"), "prompts"), 1))
	suite = []byte(strings.Replace(string(suite), "cases_file: support.jsonl", "cases_file: "+filepath.Join(mustAbs(t, "testdata/eval"), "support.jsonl"), 1))
	p := filepath.Join(dir, "slow.yaml")
	if err := os.WriteFile(p, suite, 0o644); err != nil {
		t.Fatal(err)
	}
	r = keel(t, env, "", "eval", "run", "--batch", p)
	if msg := oneErrorLine(t, r, 1); !strings.Contains(msg, "latency") {
		t.Fatalf("latency grader with --batch: %q", msg)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestEvalRunResumeBatch: --resume-batch waits for a batch submitted
// earlier (here by 'keel batch submit', as an interrupted run would have)
// instead of submitting another, and refuses a batch of another suite.
func TestEvalRunResumeBatch(t *testing.T) {
	target, judge := openaitest.NewServer(t), openaitest.NewServer(t)
	for range 6 {
		judge.Enqueue(verdict(5, "ok"))
	}
	env := evalEnv(t, target, judge)
	var in strings.Builder
	for _, c := range []struct{ id, q string }{
		{"reset-password", "How do I reset my password?"}, {"reset-device", "How do I reset the router?"}, {"billing", "Why was I billed twice?"},
	} {
		for rep := range 2 {
			fmt.Fprintf(&in, `{"custom_id":"%s-%d","model":"openai/gpt-test","prompt":%q}`+"\n", c.id, rep, c.q)
		}
	}
	r := keel(t, env, "", "batch", "submit", writeInput(t, in.String()))
	if r.code != 0 {
		t.Fatalf("submit: %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	other := keel(t, env, "", "batch", "submit", writeInput(t, `{"custom_id":"q1","model":"openai/gpt-test","prompt":"hi"}`+"\n"))
	if other.code != 0 {
		t.Fatalf("submit: %d %s", other.code, other.stderr)
	}
	target.ProcessBatches(-1)

	r = keel(t, env, "", "eval", "run", "--batch", "--resume-batch", strings.TrimSpace(other.stdout), "testdata/eval/support.yaml")
	if msg := oneErrorLine(t, r, 1); !strings.Contains(msg, "not this suite's") {
		t.Fatalf("resuming another suite's batch: %q", msg)
	}
	r = keel(t, env, "", "eval", "run", "--batch", "--resume-batch", id, "--json", "testdata/eval/support.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var run struct {
		Summary struct {
			Runs, Passed, Errors int
			Batch                bool
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if s := run.Summary; s.Runs != 6 || s.Errors != 0 || s.Passed != 4 || !s.Batch {
		t.Fatalf("resumed run %+v", s)
	}
	r = keel(t, env, "", "batch", "list", "--json")
	if n := len(lines(r.stdout)); n != 2 {
		t.Fatalf("%d batch jobs after resuming, want the 2 submitted:\n%s", n, r.stdout)
	}
	r = keel(t, env, "", "eval", "run", "--resume-batch", id, "testdata/eval/support.yaml")
	if msg := oneErrorLine(t, r, 2); !strings.Contains(msg, "--batch") {
		t.Fatalf("--resume-batch alone: %q", msg)
	}
}
