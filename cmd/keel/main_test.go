package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
)

// result is what one keel invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// keel runs the CLI in-process with env as its whole environment.
func keel(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// oneErrorLine fails unless r is a failure with status code reported as
// exactly one "keel: " line on stderr, nothing on stdout.
func oneErrorLine(t *testing.T, r result, code int) string {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if l := lines(r.stderr); len(l) != 1 || !strings.HasPrefix(l[0], "keel: ") {
		t.Errorf("stderr = %q, want one line starting with \"keel: \"", r.stderr)
	}
	return strings.TrimSpace(r.stderr)
}

func textResponse(text string) *llm.Response {
	return &llm.Response{
		Content:    []llm.Part{llm.Text{Text: text}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 7, OutputTokens: 5},
	}
}

const openaiKey = "sk-test-keel-cli-0123456789"

func openaiEnv(srv *openaitest.Server) map[string]string {
	return map[string]string{"OPENAI_BASE_URL": srv.URL, "OPENAI_API_KEY": openaiKey}
}

// requestBody decodes a recorded request's JSON body.
func requestBody(t *testing.T, rec llmtest.Recorded) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body, &m); err != nil {
		t.Fatalf("request body: %v", err)
	}
	return m
}

func TestRunOpenAI(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.RequireAPIKey(openaiKey)
	srv.Enqueue(llmtest.WireReply{Response: textResponse("The sky scatters blue light.")})

	r := keel(t, openaiEnv(srv), "", "run", "--model", "openai/gpt-test", "--system", "Be brief.", "Why is the sky blue?")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stdout != "The sky scatters blue light.\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	body := requestBody(t, reqs[0])
	if body["model"] != "gpt-test" || body["stream"] != true {
		t.Errorf("request model %v stream %v, want gpt-test streamed", body["model"], body["stream"])
	}
	if s := string(reqs[0].Body); !strings.Contains(s, "Why is the sky blue?") || !strings.Contains(s, "Be brief.") {
		t.Errorf("request body lacks the prompt or the system prompt: %s", s)
	}
}

func TestRunAnthropic(t *testing.T) {
	srv := anthropictest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Response: textResponse("Rayleigh scattering.")})
	env := map[string]string{"ANTHROPIC_BASE_URL": srv.URL, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}

	// Flags may follow the prompt.
	r := keel(t, env, "", "run", "Why is the sky blue?", "--model", "anthropic/claude-test")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stdout != "Rayleigh scattering.\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	body := requestBody(t, srv.Requests()[0])
	if body["model"] != "claude-test" || body["stream"] != true {
		t.Errorf("request model %v stream %v, want claude-test streamed", body["model"], body["stream"])
	}
}

// Without --model, the default model of the configured provider answers.
func TestRunDefaultModel(t *testing.T) {
	srv := anthropictest.NewServer(t)
	env := map[string]string{"ANTHROPIC_BASE_URL": srv.URL, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}
	r := keel(t, env, "", "run", "echo me")
	if r.code != 0 || r.stdout != "echo me\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := requestBody(t, srv.Requests()[0])["model"]; got != "claude-sonnet-4-6" {
		t.Errorf("model = %v, want claude-sonnet-4-6", got)
	}
}

func TestRunStdin(t *testing.T) {
	srv := openaitest.NewServer(t)
	r := keel(t, openaiEnv(srv), "a prompt\nover two lines", "run", "--model", "openai/m", "-")
	if r.code != 0 || r.stdout != "a prompt\nover two lines\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestRunJSON(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Response: textResponse("Four.")})
	r := keel(t, openaiEnv(srv), "", "run", "--json", "--model", "openai/gpt-test", "2+2?")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "\n"); n != 1 {
		t.Errorf("stdout has %d lines, want one JSON object: %q", n, r.stdout)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["latency_ms"].(float64); !ok {
		t.Errorf("latency_ms missing: %v", got)
	}
	if id, _ := got["id"].(string); id == "" {
		t.Errorf("id missing: %v", got)
	}
	delete(got, "latency_ms")
	delete(got, "id")
	want := map[string]any{
		"model":       "openai/gpt-test",
		"text":        "Four.",
		"content":     []any{map[string]any{"type": "text", "text": "Four."}},
		"stop_reason": "end_turn",
		"usage":       map[string]any{"input_tokens": 7.0, "output_tokens": 5.0},
		"attempts":    1.0,
		"cost_usd":    0.0, // an unpriced model
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("--json output (-want +got):\n%s", diff)
	}
	if body := requestBody(t, srv.Requests()[0]); body["stream"] == true {
		t.Error("--json streamed; want one blocking call")
	}
}

func TestNoProvider(t *testing.T) {
	r := keel(t, map[string]string{}, "", "run", "hello")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
	}
	got := lines(r.stderr)
	want := []string{
		"keel: no model provider configured: set ANTHROPIC_API_KEY, OPENAI_API_KEY or GEMINI_API_KEY (ANTHROPIC_BASE_URL or OPENAI_BASE_URL for a compatible server), or OLLAMA_HOST=127.0.0.1:11434 for a local Ollama",
		"keel: or declare providers and models in keel.yaml (--config FILE or KEEL_CONFIG); see docs/models-and-providers.md",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "keel.yaml")
	if err := os.WriteFile(badConfig, []byte("models:\n  fast:\n    provider: openai\n    modle: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := openaitest.NewServer(t)
	env := openaiEnv(srv)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown command", []string{"frobnicate"}, 2, `keel: unknown command "frobnicate" (see 'keel help')`},
		{"unknown global flag", []string{"--frob", "run"}, 2, "keel: flag provided but not defined: -frob (see 'keel help')"},
		{"unknown flag", []string{"run", "--temperature", "2", "hi"}, 2, "keel: run: flag provided but not defined: -temperature (see 'keel run --help')"},
		{"flag without value", []string{"run", "hi", "--model"}, 2, "keel: run: flag needs an argument: -model (see 'keel run --help')"},
		{"no prompt", []string{"run", "--model", "openai/m"}, 2, "keel: run: want one PROMPT argument (quote it, or - to read standard input), got 0"},
		{"two prompts", []string{"run", "why", "blue"}, 2, "keel: run: want one PROMPT argument (quote it, or - to read standard input), got 2"},
		{"empty prompt", []string{"run", "  "}, 2, "keel: run: the prompt is empty"},
		{"chat arguments", []string{"chat", "hello"}, 2, `keel: chat: takes no arguments, got "hello"`},
		{"help for nothing", []string{"help", "frob"}, 2, `keel: help: unknown command "frob"`},
		{"missing key", []string{"run", "--model", "anthropic/claude-sonnet-4-6", "hi"}, 1, `keel: model "anthropic/claude-sonnet-4-6": provider "anthropic": no API key: set ANTHROPIC_API_KEY`},
		{"unknown alias", []string{"run", "--model", "fast", "hi"}, 1, `keel: model "fast": unknown model alias: use provider/model, e.g. anthropic/claude-sonnet-4-6`},
		{"bad config file", []string{"--config", badConfig, "run", "hi"}, 1, "keel: " + badConfig + `:4:5: models.fast: unknown field "modle" (want provider, model, fallbacks, price, rate)`},
		{"config flag after the command", []string{"run", "hi", "--config", badConfig}, 1, "keel: " + badConfig + `:4:5: models.fast: unknown field "modle" (want provider, model, fallbacks, price, rate)`},
		{"missing config file", []string{"--config", filepath.Join(dir, "nope.yaml"), "models"}, 1, "keel: config: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := keel(t, env, "", tt.args...)
			if got := oneErrorLine(t, r, tt.code); got != tt.want {
				t.Errorf("stderr:\n got %s\nwant %s", got, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

// Upstream failures are one line with exit status 1, whatever the body.
func TestUpstreamErrors(t *testing.T) {
	tests := []struct {
		name  string
		fault llmtest.Fault
		want  string
	}{
		{"server error", llmtest.Fault{Status: 500, Body: "{\"error\":{\"message\":\"The server had an error\\nwhile processing\",\"type\":\"server_error\"}}"}, "server"},
		{"rate limited", llmtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"3"}}}, "rate_limited"},
		{"dropped stream", llmtest.Fault{Drop: true, DropAfter: 2}, "network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t)
			srv.Enqueue(llmtest.WireReply{Response: textResponse("one two three four five six"), Fault: tt.fault})
			// One attempt, so the error itself reaches the user
			// (TestRetryAndFallback covers the retries).
			env := openaiEnv(srv)
			env["KEEL_CONFIG"] = writeConfig(t, "limits:\n  max_attempts: 1\n")
			r := keel(t, env, "", "run", "--model", "openai/m", "hi")
			got := oneErrorLine(t, r, 1)
			if !strings.Contains(got, tt.want) {
				t.Errorf("stderr %q does not name the kind %q", got, tt.want)
			}
		})
	}
}

// Keys never reach the output, even when the server echoes them back, and
// even when they are not shaped like a key.
func TestKeyNeverPrinted(t *testing.T) {
	const plainKey = "plainkey0123456789ABCDEF"
	const fileKey = "file0123456789SECRETKEY"
	echo := func(key string) llmtest.Fault {
		return llmtest.Fault{Status: 401, Body: fmt.Sprintf(`{"error":{"message":"Incorrect API key provided: %s (also sk-proj-%s)","type":"invalid_request_error","code":"invalid_api_key"}}`, key, key)}
	}

	t.Run("environment key", func(t *testing.T) {
		srv := openaitest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Fault: echo(plainKey)})
		env := map[string]string{"OPENAI_BASE_URL": srv.URL, "OPENAI_API_KEY": plainKey}
		r := keel(t, env, "", "run", "--model", "openai/m", "hi")
		got := oneErrorLine(t, r, 1)
		if strings.Contains(got, plainKey) || !strings.Contains(got, "[REDACTED]") {
			t.Errorf("stderr %q: want the key redacted", got)
		}
	})
	t.Run("config file key", func(t *testing.T) {
		srv := openaitest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Fault: echo(fileKey)})
		cfg := filepath.Join(t.TempDir(), "keel.yaml")
		yaml := fmt.Sprintf("providers:\n  acme:\n    type: openai\n    base_url: %s\n    api_key: %s\n", srv.URL, fileKey)
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		r := keel(t, map[string]string{"KEEL_CONFIG": cfg}, "", "run", "--model", "acme/m", "hi")
		got := oneErrorLine(t, r, 1)
		if strings.Contains(got, fileKey) || strings.Contains(got, "SECRET") {
			t.Errorf("stderr %q: want the key redacted", got)
		}
		m := keel(t, map[string]string{"KEEL_CONFIG": cfg}, "", "models", "--json")
		if m.code != 0 || strings.Contains(m.stdout, "SECRET") {
			t.Errorf("keel models: exit %d, output %q", m.code, m.stdout)
		}
	})
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want string // the beginning of stdout
	}{
		{[]string{"help"}, "Keel builds production LLM applications"},
		{[]string{"--help"}, "Keel builds production LLM applications"},
		{[]string{"-h"}, "Keel builds production LLM applications"},
		{[]string{"help", "help"}, "Keel builds production LLM applications"},
		{[]string{"help", "run"}, "Usage: keel run [--model M] [--system S] [--json]"},
		{[]string{"run", "--help"}, "Usage: keel run [--model M] [--system S] [--json]"},
		{[]string{"run", "a prompt", "-h"}, "Usage: keel run"},
		{[]string{"chat", "--help"}, "Usage: keel chat [--model M] [--system S]"},
		{[]string{"models", "--help"}, "Usage: keel models [--json]"},
	}
	for _, tt := range tests {
		r := keel(t, nil, "", tt.args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, tt.want) || r.stderr != "" {
			t.Errorf("keel %q: exit %d, stdout %.60q, stderr %q; want 0 and %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
	for _, c := range commands() {
		if c.name == "help" {
			continue
		}
		r := keel(t, nil, "", c.name, "--help")
		if !strings.Contains(r.stdout, "--config FILE") {
			t.Errorf("keel %s --help does not list --config:\n%s", c.name, r.stdout)
		}
	}

	// With no command, the usage goes to stderr and the status is 2.
	r := keel(t, nil, "")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "Usage: keel") {
		t.Errorf("keel: exit %d, stdout %q, stderr %.40q; want 2 and the usage on stderr", r.code, r.stdout, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := keel(t, nil, "", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "keel ") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("--version: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestModels(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "keel.yaml")
	yaml := "providers:\n  local:\n    type: openai\n    base_url: http://127.0.0.1:8000/v1\nmodels:\n  fast:\n    provider: local\n    model: qwen3\n    fallbacks: [openai/gpt-4.1-mini]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OPENAI_API_KEY": openaiKey, "GEMINI_API_KEY": "gemini-key-0123456789"}
	r := keel(t, env, "", "models", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := []string{
		"NAME    MODEL                    KEY                   NOTES",
		"fast    local/qwen3              not needed            fallbacks: openai/gpt-4.1-mini",
		"openai  openai/gpt-4.1-mini      yes (OPENAI_API_KEY)  default",
		"gemini  gemini/gemini-2.5-flash  yes (GEMINI_API_KEY)",
		"local   local/MODEL              not needed            openai API; http://127.0.0.1:8000/v1",
	}
	if diff := cmp.Diff(want, lines(r.stdout)); diff != "" {
		t.Errorf("keel models (-want +got):\n%s", diff)
	}
	if strings.Contains(r.stdout, openaiKey) {
		t.Error("keel models printed a key")
	}

	none := keel(t, map[string]string{}, "", "models")
	if none.code != 0 || !strings.HasPrefix(none.stdout, "No model provider is configured.") {
		t.Errorf("keel models with nothing configured: exit %d, stdout %q", none.code, none.stdout)
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args      []string
		model     string
		json      bool
		positions []string
	}{
		{[]string{"p"}, "", false, []string{"p"}},
		{[]string{"--model", "m", "p"}, "m", false, []string{"p"}},
		{[]string{"p", "--model=m", "--json"}, "m", true, []string{"p"}},
		{[]string{"a", "--json", "b"}, "", true, []string{"a", "b"}},
		{[]string{"-"}, "", false, []string{"-"}},
		{[]string{"--", "--json", "-x"}, "", false, []string{"--json", "-x"}},
		{[]string{"a", "--", "--model", "m"}, "", false, []string{"a", "--model", "m"}},
	}
	for _, tt := range tests {
		a := &app{stdout: &bytes.Buffer{}}
		f := a.newFlags("t", "", "")
		model := f.String("model", "", "")
		asJSON := f.Bool("json", false, "")
		pos, err := a.parse(f, tt.args)
		if err != nil {
			t.Errorf("parse(%q): %v", tt.args, err)
			continue
		}
		if *model != tt.model || *asJSON != tt.json || !cmp.Equal(pos, tt.positions) {
			t.Errorf("parse(%q) = model %q json %v args %q; want %q %v %q", tt.args, *model, *asJSON, pos, tt.model, tt.json, tt.positions)
		}
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keel.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// keel run goes through the default middleware stack: a transient failure
// is retried, and an alias's fallbacks from keel.yaml are honoured.
func TestRetryAndFallback(t *testing.T) {
	t.Run("retry", func(t *testing.T) {
		srv := openaitest.NewServer(t)
		srv.Enqueue(
			llmtest.WireReply{Fault: llmtest.Fault{Status: 500, Header: http.Header{"Retry-After-Ms": {"1"}}}},
			llmtest.WireReply{Response: textResponse("second time lucky")},
		)
		r := keel(t, openaiEnv(srv), "", "run", "--model", "openai/m", "hi")
		if r.code != 0 || r.stdout != "second time lucky\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if n := len(srv.Requests()); n != 2 {
			t.Errorf("%d requests, want 2 (one retry)", n)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		primary := anthropictest.NewServer(t)
		overloaded := llmtest.WireReply{Fault: llmtest.Fault{Status: 529}}
		primary.Enqueue(overloaded, overloaded, overloaded, overloaded)
		backup := openaitest.NewServer(t)
		backup.Enqueue(llmtest.WireReply{Response: textResponse("from the backup")})
		cfg := writeConfig(t, fmt.Sprintf(`providers:
  claude:
    type: anthropic
    base_url: %s
    api_key: sk-ant-test-0123456789
  gpt:
    type: openai
    base_url: %s
    api_key: %s
models:
  main:
    provider: claude
    model: claude-test
    fallbacks: [spare]
  spare:
    provider: gpt
    model: gpt-test
`, primary.URL, backup.URL, openaiKey))
		r := keel(t, map[string]string{"KEEL_CONFIG": cfg}, "", "run", "--model", "main", "--json", "hi")
		if r.code != 0 {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		var out struct{ Model, Text string }
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("--json output %q: %v", r.stdout, err)
		}
		if out.Text != "from the backup" || out.Model != "gpt/gpt-test" {
			t.Errorf("answer %q from %q, want the backup's from gpt/gpt-test", out.Text, out.Model)
		}
		// Overloaded moves on at once when there is a fallback: no retry.
		if n := len(primary.Requests()); n != 1 {
			t.Errorf("primary got %d requests, want 1", n)
		}
	})
}
