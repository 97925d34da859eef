package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/geminitest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func mustParse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("keel.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const testYAML = `
providers:
  groq:
    type: openai
    base_url: https://api.groq.com/openai/v1
    api_key_env: GROQ_API_KEY
  vllm:
    type: openai
    base_url: http://user:pw@127.0.0.1:8000/v1
  work:
    type: anthropic
    api_key: sk-ant-from-file-0123456789
models:
  fast:
    provider: groq
    model: llama-3.3-70b
    fallbacks: [local, anthropic/claude-haiku-4-5]
  local:
    provider: vllm
    model: qwen3
  smart:
    provider: anthropic
    model: claude-opus-4-1
`

func TestOpen(t *testing.T) {
	cfg := mustParse(t, testYAML)
	tests := []struct {
		name    string
		env     func(string) string
		open    string
		want    string // the model's Name
		wantErr error
	}{
		{"anthropic from env", env("ANTHROPIC_API_KEY", "k"), "anthropic/claude-sonnet-4-6", "anthropic/claude-sonnet-4-6", nil},
		{"openai from env", env("OPENAI_API_KEY", "k"), "openai/gpt-4.1-mini", "openai/gpt-4.1-mini", nil},
		{"gemini from env", env("GEMINI_API_KEY", "k"), "gemini/gemini-2.5-flash", "gemini/gemini-2.5-flash", nil},
		{"model with slashes", env("OPENAI_API_KEY", "k"), "openai/meta-llama/Llama-3.3-70B", "openai/meta-llama/Llama-3.3-70B", nil},
		{"openai compatible without key", env("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"), "openai/qwen3", "openai/qwen3", nil},
		{"ollama needs nothing", env(), "ollama/llama3.2", "ollama/llama3.2", nil},
		{"alias", env("GROQ_API_KEY", "k"), "fast", "groq/llama-3.3-70b", nil},
		{"alias to keyless server", env(), "local", "vllm/qwen3", nil},
		{"declared provider with key in file", env(), "work/claude-haiku-4-5", "work/claude-haiku-4-5", nil},
		{"alias to built-in", env("ANTHROPIC_API_KEY", "k"), "smart", "anthropic/claude-opus-4-1", nil},

		{"unknown alias", env(), "fastest", "", ErrUnknownModel},
		{"unknown provider", env(), "mistral/large", "", ErrUnknownProvider},
		{"empty model", env("OPENAI_API_KEY", "k"), "openai/", "", ErrUnknownProvider},
		{"anthropic without key", env(), "anthropic/claude-sonnet-4-6", "", ErrNoKey},
		{"openai without key", env(), "openai/gpt-4.1-mini", "", ErrNoKey},
		{"official openai base url needs a key", env("OPENAI_BASE_URL", "https://api.openai.com/v1"), "openai/gpt-4.1", "", ErrNoKey},
		{"alias whose env key is unset", env(), "fast", "", ErrNoKey},
		{"alias to built-in without key", env(), "smart", "", ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewResolver(cfg, tt.env).Open(tt.open)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open(%q) error = %v, want %v", tt.open, err, tt.wantErr)
				}
				var re *Error
				if !errors.As(err, &re) || re.Hint == "" {
					t.Errorf("Open(%q) error %#v: want an *Error with a hint", tt.open, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.open, err)
			}
			if m.Name() != tt.want {
				t.Errorf("Open(%q).Name() = %q, want %q", tt.open, m.Name(), tt.want)
			}
		})
	}
}

func TestOpenErrorMessages(t *testing.T) {
	cfg := mustParse(t, testYAML)
	tests := []struct{ env, open, want string }{
		{"", "anthropic/x", `model "anthropic/x": provider "anthropic": no API key: set ANTHROPIC_API_KEY`},
		{"", "openai/x", `model "openai/x": provider "openai": no API key: set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)`},
		{"", "fast", `model "fast": provider "groq": no API key: set GROQ_API_KEY`},
		{"", "mistral/x", `model "mistral/x": unknown provider "mistral": known providers: ollama, groq, vllm, work`},
		{"", "fastest", `model "fastest": unknown model alias: use provider/model, e.g. anthropic/claude-sonnet-4-6, or one of the aliases fast, local, smart`},
	}
	for _, tt := range tests {
		_, err := NewResolver(cfg, env()).Open(tt.open)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Open(%q) error:\n got %v\nwant %s", tt.open, err, tt.want)
		}
	}
}

// The resolver must hand each adapter the key and base URL it resolved:
// the emulators see the key on the wire and answer.
func TestOpenReachesServers(t *testing.T) {
	ctx := context.Background()
	oa := openaitest.NewServer(t)
	oa.RequireAPIKey("sk-test-openai-0123456789")
	an := anthropictest.NewServer(t)
	ge := geminitest.NewServer(t)
	compat := openaitest.NewServer(t)
	compat.SetCompat(openaitest.Compat{NoAuth: true})

	cfg := mustParse(t, fmt.Sprintf(`
providers:
  gemini:
    base_url: %s
  local:
    type: openai
    base_url: %s
`, ge.URL, compat.URL))
	r := NewResolver(cfg, env(
		"OPENAI_API_KEY", "sk-test-openai-0123456789", "OPENAI_BASE_URL", oa.URL,
		"ANTHROPIC_API_KEY", "sk-ant-test-0123456789", "ANTHROPIC_BASE_URL", an.URL,
		"GEMINI_API_KEY", "gemini-test-key",
	))
	tests := []struct {
		name   string
		header func() string
		want   string
	}{
		{"openai/gpt-4.1-mini", func() string { return oa.Requests()[0].Header.Get("Authorization") }, "Bearer sk-test-openai-0123456789"},
		// anthropic-sdk-go v2 sends the key as a bearer token.
		{"anthropic/claude-sonnet-4-6", func() string { return an.Requests()[0].Header.Get("Authorization") }, "Bearer sk-ant-test-0123456789"},
		{"gemini/gemini-2.5-flash", func() string { return ge.Requests()[0].Header.Get("X-Goog-Api-Key") }, "gemini-test-key"},
		{"local/qwen3", func() string { return compat.Requests()[0].Header.Get("Authorization") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := r.Open(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := m.Generate(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("ping " + tt.name)}})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Text(); got != "ping "+tt.name {
				t.Errorf("answer = %q, want the echo", got)
			}
			if got := tt.header(); got != tt.want {
				t.Errorf("credential on the wire = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     func(string) string
		want    string
		wantErr error
	}{
		{"nothing", "", env(), "", ErrNoProvider},
		{"anthropic first", "", env("GEMINI_API_KEY", "k", "OPENAI_API_KEY", "k", "ANTHROPIC_API_KEY", "k"), "anthropic/claude-sonnet-4-6", nil},
		{"openai next", "", env("GEMINI_API_KEY", "k", "OPENAI_API_KEY", "k"), "openai/gpt-4.1-mini", nil},
		{"gemini next", "", env("GEMINI_API_KEY", "k", "OLLAMA_HOST", "gpu:11434"), "gemini/gemini-2.5-flash", nil},
		{"ollama last", "", env("OLLAMA_HOST", "gpu:11434"), "ollama/llama3.2", nil},
		{"compatible openai server", "", env("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"), "openai/gpt-4.1-mini", nil},
		{"default alias wins", "models:\n  default: {provider: ollama, model: qwen3}\n", env("ANTHROPIC_API_KEY", "k"), "default", nil},
		{"declared provider with its key", "providers:\n  gemini: {api_key: gk}\n", env(), "gemini/gemini-2.5-flash", nil},
		{"usable before keyless", "providers:\n  anthropic: {api_key_env: WORK}\n", env("OPENAI_API_KEY", "k"), "openai/gpt-4.1-mini", nil},
		{"keyless declared one when nothing is usable", "providers:\n  anthropic: {api_key_env: WORK}\n", env(), "anthropic/claude-sonnet-4-6", nil},
		{"only a custom provider", "providers:\n  vllm: {type: openai, base_url: 'http://h:1/v1'}\n", env(), "", ErrNoDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewResolver(mustParse(t, tt.yaml), tt.env).Default()
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("Default() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := NewResolver(nil, env()).Default(); !errors.Is(err, ErrNoProvider) {
		t.Errorf("nil config: Default() error = %v, want ErrNoProvider", err)
	}
}

func TestModels(t *testing.T) {
	const fileKey = "sk-ant-from-file-0123456789"
	const envKey = "sk-groq-env-0123456789"
	cfg := mustParse(t, testYAML+"  default:\n    provider: work\n    model: claude-sonnet-4-6\n")
	r := NewResolver(cfg, env("GROQ_API_KEY", envKey, "OPENAI_API_KEY", "sk-openai-0123456789", "OLLAMA_HOST", "gpu:11434"))
	got := r.Models()
	want := []Entry{
		{Alias: "default", Provider: "work", Type: "anthropic", Model: "claude-sonnet-4-6", NeedsKey: true, HasKey: true, KeySource: "api_key in keel.yaml", Default: true},
		{Alias: "fast", Provider: "groq", Type: "openai", Model: "llama-3.3-70b", BaseURL: "https://api.groq.com/openai/v1", NeedsKey: true, HasKey: true, KeySource: "GROQ_API_KEY", Fallbacks: []string{"local", "anthropic/claude-haiku-4-5"}},
		{Alias: "local", Provider: "vllm", Type: "openai", Model: "qwen3", BaseURL: "http://user:xxxxx@127.0.0.1:8000/v1"},
		{Alias: "smart", Provider: "anthropic", Type: "anthropic", Model: "claude-opus-4-1", NeedsKey: true},
		{Provider: "openai", Type: "openai", Model: "gpt-4.1-mini", NeedsKey: true, HasKey: true, KeySource: "OPENAI_API_KEY"},
		{Provider: "ollama", Type: "ollama", Model: "llama3.2", BaseURL: "http://gpu:11434/v1"},
		{Provider: "groq", Type: "openai", BaseURL: "https://api.groq.com/openai/v1", NeedsKey: true, HasKey: true, KeySource: "GROQ_API_KEY"},
		{Provider: "vllm", Type: "openai", BaseURL: "http://user:xxxxx@127.0.0.1:8000/v1"},
		{Provider: "work", Type: "anthropic", NeedsKey: true, HasKey: true, KeySource: "api_key in keel.yaml"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Models() (-want +got):\n%s", diff)
	}
	if s := fmt.Sprintf("%+v", got); strings.Contains(s, fileKey) || strings.Contains(s, envKey) || strings.Contains(s, ":pw@") {
		t.Errorf("Models() leaks a secret: %s", s)
	}
	if got, want := got[1].Name(), "fast"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if got, want := got[4].Name(), "openai/gpt-4.1-mini"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
}

func TestAlias(t *testing.T) {
	r := NewResolver(mustParse(t, testYAML), env())
	m, ok := r.Alias("fast")
	if !ok {
		t.Fatal("Alias(fast) not found")
	}
	if diff := cmp.Diff([]string{"local", "anthropic/claude-haiku-4-5"}, m.Fallbacks); diff != "" {
		t.Errorf("fallbacks (-want +got):\n%s", diff)
	}
	if _, ok := r.Alias("nope"); ok {
		t.Error("Alias(nope) found")
	}
}

func TestRedact(t *testing.T) {
	r := NewResolver(mustParse(t, testYAML), env("GROQ_API_KEY", "plainsecretvalue", "GEMINI_API_KEY", "short"))
	tests := []struct{ in, want string }{
		{"key plainsecretvalue rejected", "key [REDACTED] rejected"},
		{"file key sk-ant-from-file-0123456789.", "file key [REDACTED]."},
		{"shaped sk-proj-abcdefghijkl", "shaped [REDACTED]"},
		{"a short key stays: short", "a short key stays: short"},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
