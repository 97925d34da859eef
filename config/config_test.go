package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseFull(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("full.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File: "full.yaml",
		Providers: map[string]Provider{
			"anthropic": {Type: "anthropic", APIKeyEnv: "WORK_ANTHROPIC_KEY"},
			"local":     {Type: "openai", BaseURL: "http://localhost:8000/v1"},
			"groq":      {Type: "openai", BaseURL: "https://api.groq.com/openai/v1", APIKeyEnv: "GROQ_API_KEY"},
			"ollama":    {Type: "ollama", BaseURL: "localhost:11434"},
		},
		Models: map[string]Model{
			"default": {
				Provider: "anthropic", Model: "claude-sonnet-4-6",
				Fallbacks: []string{"fast", "openai/gpt-4.1-mini"},
				Price:     &Price{Input: 3, Output: 15, CacheRead: 0.3, CacheWrite: 3.75, CacheWrite1h: 6},
			},
			"fast":  {Provider: "groq", Model: "llama-3.3-70b-versatile", Rate: &Rate{RPM: 30, InputTPM: 60000, OutputTPM: 6000}},
			"local": {Provider: "ollama", Model: "llama3.2", Price: &Price{}},
		},
		Server: Server{Addr: "127.0.0.1:8080", ShutdownTimeout: 10 * time.Second, ReadHeaderTimeout: 5 * time.Second,
			BodyTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 32768, MaxConcurrentPerKey: 16, CacheTTL: 10 * time.Minute},
		Limits:  Limits{MaxRequestBytes: 1 << 20, MaxOutputTokens: 4096, RequestTimeout: 2 * time.Minute, DailyBudgetUSD: 25, RunBudgetUSD: 0.5},
		Storage: Storage{Data: "./state", DatabaseURL: "postgres://keel:hunter2@localhost/keel", RedisURL: "redis://localhost:6379/0", WeaviateURL: "http://127.0.0.1:18080"},
		RAG:     RAG{Embedder: "openai/text-embedding-3-small", Dimensions: 512},
		Guard:   Guard{Mode: "refuse", MaxInputBytes: 200000},
		Logging: Logging{File: "logs/calls.jsonl", Content: true, Capture: "capture.jsonl"},
		Routing: Routing{
			Tiers:           map[string]string{"cheap": "fast", "balanced": "default", "best": "anthropic/claude-opus-4-1"},
			Tasks:           map[string]string{"triage": "cheap"},
			LongInputTokens: 150000, LongModel: "gemini/gemini-2.5-pro",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if m, ok := got.Alias("default"); !ok || m.Name() != "anthropic/claude-sonnet-4-6" {
		t.Errorf("Alias(default) = %v, %v", m, ok)
	}
	if _, ok := got.Alias("nope"); ok {
		t.Error("Alias(nope) found")
	}
}

func TestParseExtensionFields(t *testing.T) {
	in := "x-price: &free {input: 0, output: 0}\nmodels:\n  a:\n    provider: ollama\n    model: m\n    price: *free\n    x-note: ignored\n"
	c, err := Parse("keel.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Model{"a": {Provider: "ollama", Model: "m", Price: &Price{}}}
	if diff := cmp.Diff(want, c.Models); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "# nothing yet\n", "---\n", "~\n", "null\n"} {
		c, err := Parse("keel.yaml", []byte(in))
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if diff := cmp.Diff(&Config{File: "keel.yaml"}, c); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const models = "models:\n  a:\n    provider: openai\n    model: m\n"
	tests := []struct {
		name string
		in   string
		want Error
	}{
		{"unknown top-level field", "provider:\n  openai: {}\n",
			Error{Line: 1, Column: 1, Msg: `unknown field "provider" (want providers, models, server, limits, storage, guard, logging, routing, rag)`}},
		{"unknown provider field", "providers:\n  openai:\n    bse_url: http://x\n",
			Error{Line: 3, Column: 5, Field: "providers.openai", Msg: `unknown field "bse_url" (want type, base_url, api_key, api_key_env)`}},
		{"unknown price field", models + "    price: {inptu: 1}\n",
			Error{Line: 5, Column: 13, Field: "models.a.price", Msg: `unknown field "inptu" (want input, output, cache_read, cache_write, cache_write_1h)`}},
		{"list for string", "providers:\n  openai:\n    base_url: [a]\n",
			Error{Line: 3, Column: 15, Field: "providers.openai.base_url", Msg: "want a string, got a list"}},
		{"string for number", models + "    price:\n      input: cheap\n",
			Error{Line: 6, Column: 14, Field: "models.a.price.input", Msg: "want a number, got a string"}},
		{"string for list", models + "    fallbacks: b\n",
			Error{Line: 5, Column: 16, Field: "models.a.fallbacks", Msg: "string was used where sequence is expected"}},
		{"negative rate", models + "    rate: {rpm: -1}\n",
			Error{Line: 5, Column: 5, Field: "models.a.rate", Msg: "limits must not be negative"}},
		{"bad guard mode", "guard:\n  mode: block\n",
			Error{Line: 2, Column: 3, Field: "guard.mode", Msg: `unknown mode "block"; want flag, refuse or off`}},
		{"negative budget", "limits:\n  daily_budget_usd: -5\n",
			Error{Line: 2, Column: 3, Field: "limits.daily_budget_usd", Msg: "want an amount of 0 or more (US dollars)"}},
		{"routing to an unknown alias", models + "routing:\n  tiers: {cheap: nope}\n",
			Error{Line: 6, Column: 11, Field: "routing.tiers.cheap", Msg: `unknown alias "nope"; known: a`}},
		{"task to an unknown tier", models + "routing:\n  tiers: {cheap: a}\n  tasks: {triage: fast}\n",
			Error{Line: 7, Column: 11, Field: "routing.tasks.triage", Msg: `unknown tier "fast"; declare it under routing.tiers`}},
		{"long model alone", models + "routing:\n  long_model: a\n",
			Error{Line: 6, Column: 3, Field: "routing.long_model", Msg: "set long_input_tokens and long_model together"}},
		{"bad duration", "limits:\n  request_timeout: soon\n",
			Error{Line: 2, Column: 20, Field: "limits.request_timeout", Msg: "want a duration such as 30s or 1m30s"}},
		{"not a mapping", "- providers\n",
			Error{Line: 1, Column: 1, Msg: "want a mapping of sections (providers, models, server, limits, storage, guard, logging, routing, rag), got sequence"}},
		{"two documents", "models: {}\n---\nmodels: {}\n",
			Error{Line: 3, Column: 7, Msg: "more than one YAML document; want one"}},
		{"syntax", "models:\n  a: b: c\n",
			Error{Line: 2, Column: 6, Msg: "mapping value is not allowed in this context"}},
		{"duplicate key", "providers:\n  openai: {}\n  openai: {}\n",
			Error{Line: 3, Column: 3, Msg: `mapping key "openai" already defined at [2:3]`}},
		{"unknown type", "providers:\n  mine:\n    type: mistral\n",
			Error{Line: 3, Column: 5, Field: "providers.mine.type", Msg: `unknown type "mistral"; want one of anthropic, openai, gemini, ollama`}},
		{"missing type", "providers:\n  mine:\n    base_url: http://x\n",
			Error{Line: 2, Column: 3, Field: "providers.mine.type", Msg: "missing; want one of anthropic, openai, gemini, ollama"}},
		{"key and key env", "providers:\n  openai:\n    api_key: k\n    api_key_env: K\n",
			Error{Line: 4, Column: 5, Field: "providers.openai.api_key_env", Msg: "set api_key or api_key_env, not both"}},
		{"bad env name", "providers:\n  openai:\n    api_key_env: 1KEY\n",
			Error{Line: 3, Column: 5, Field: "providers.openai.api_key_env", Msg: `"1KEY" is not an environment variable name`}},
		{"relative base url", "providers:\n  openai:\n    base_url: localhost:8000\n",
			Error{Line: 3, Column: 5, Field: "providers.openai.base_url", Msg: "want an absolute http:// or https:// URL"}},
		{"slash in provider name", "providers:\n  a/b:\n    type: openai\n",
			Error{Line: 2, Column: 3, Field: "providers.a/b", Msg: `provider name "a/b" must not contain '/': names with a slash are read as provider/model`}},
		{"slash in alias", "models:\n  openai/x:\n    provider: openai\n    model: x\n",
			Error{Line: 2, Column: 3, Field: "models.openai/x", Msg: `alias "openai/x" must not contain '/': names with a slash are read as provider/model`}},
		{"unknown provider", "models:\n  a:\n    provider: mistral\n    model: m\n",
			Error{Line: 3, Column: 5, Field: "models.a.provider", Msg: `unknown provider "mistral"; declare it under providers or use one of anthropic, openai, gemini, ollama`}},
		{"missing provider", "models:\n  a:\n    model: m\n",
			Error{Line: 2, Column: 3, Field: "models.a.provider", Msg: "missing; name a provider declared under providers or one of anthropic, openai, gemini, ollama"}},
		{"missing model", "models:\n  a:\n    provider: openai\n",
			Error{Line: 2, Column: 3, Field: "models.a.model", Msg: "missing; want the provider's model id, e.g. claude-sonnet-4-6"}},
		{"null alias", "models:\n  a:\n",
			Error{Line: 2, Column: 3, Field: "models.a.provider", Msg: "missing; name a provider declared under providers or one of anthropic, openai, gemini, ollama"}},
		{"unknown fallback", models + "    fallbacks: [b]\n",
			Error{Line: 5, Column: 17, Field: "models.a.fallbacks[0]", Msg: `unknown alias "b"; known: a`}},
		{"fallback to unknown provider", models + "    fallbacks: [mistral/large]\n",
			Error{Line: 5, Column: 17, Field: "models.a.fallbacks[0]", Msg: `unknown provider "mistral" in "mistral/large"`}},
		{"fallback to itself", models + "    fallbacks: [a]\n",
			Error{Line: 5, Column: 17, Field: "models.a.fallbacks[0]", Msg: `alias "a" falls back to itself`}},
		{"fallback twice", models + "    fallbacks: [openai/x, openai/x]\n",
			Error{Line: 5, Column: 27, Field: "models.a.fallbacks[1]", Msg: `"openai/x" is listed twice`}},
		{"fallback cycle", "models:\n" +
			"  a: {provider: openai, model: m, fallbacks: [b]}\n" +
			"  b: {provider: openai, model: m, fallbacks: [c]}\n" +
			"  c: {provider: openai, model: m, fallbacks: [a]}\n",
			Error{Line: 2, Column: 35, Field: "models.a.fallbacks", Msg: "fallback cycle a → b → c → a"}},
		{"negative price", models + "    price: {output: -1}\n",
			Error{Line: 5, Column: 13, Field: "models.a.price.output", Msg: "want a price of 0 or more (US dollars per million tokens)"}},
		{"bad addr", "server:\n  addr: localhost\n",
			Error{Line: 2, Column: 3, Field: "server.addr", Msg: "want host:port, e.g. 127.0.0.1:8080 or :8080"}},
		{"negative server timeout", "server:\n  addr: 127.0.0.1:0\n  body_timeout: -1s\n",
			Error{Line: 3, Column: 3, Field: "server.body_timeout", Msg: "must not be negative"}},
		{"negative concurrency", "server:\n  max_concurrent_per_key: -1\n",
			Error{Line: 2, Column: 3, Field: "server.max_concurrent_per_key", Msg: "must not be negative"}},
		{"negative limit", "limits:\n  max_output_tokens: -5\n",
			Error{Line: 2, Column: 3, Field: "limits.max_output_tokens", Msg: "must not be negative"}},
		{"bad database url", "storage:\n  database_url: mysql://u:p@h/db\n",
			Error{Line: 2, Column: 3, Field: "storage.database_url", Msg: "want a postgres:// URL"}},
		{"first problem wins", "models:\n  z: {provider: nope, model: m}\nlimits:\n  max_output_tokens: -5\n",
			Error{Line: 2, Column: 7, Field: "models.z.provider", Msg: `unknown provider "nope"; declare it under providers or use one of anthropic, openai, gemini, ollama`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("keel.yaml", []byte(tt.in))
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("Parse error = %v (%T), want *Error", err, err)
			}
			tt.want.File = "keel.yaml"
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if s := err.Error(); strings.Contains(s, "\n") || !strings.HasPrefix(s, "keel.yaml:") {
				t.Errorf("Error() = %q, want one line starting with the file name", s)
			}
		})
	}
}

// A key in a broken file must not reach the error message, whatever is
// broken around it.
func TestParseErrorsNeverQuoteKeys(t *testing.T) {
	const key = "sk-ant-api03-SECRETSECRETSECRET"
	for _, in := range []string{
		"providers:\n  anthropic:\n    api_key: " + key + "\n    api_key_env: X\n",
		"providers:\n  anthropic:\n    api_key: [" + key + "]\n",
		"providers:\n  anthropic:\n    api_key: \"" + key + "\n",
		"providers:\n  anthropic:\n    api_key: " + key + "\n    type: nope\n",
		"providers:\n  anthropic:\n    " + key + ": 1\n",
		"providers:\n  anthropic:\n    api_key: {" + key + ": x}\n",
		"storage:\n  database_url: mysql://u:" + key + "@h/db\n",
		"providers:\n  anthropic:\n    api_key: " + key + "\n  " + key + ": x: y\n",
	} {
		_, err := Parse("keel.yaml", []byte(in))
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", in)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("Parse(%q) error leaks the key: %v", in, err)
		}
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const key = "sk-test-0123456789abcdef"
	c, err := Parse("keel.yaml", []byte("providers:\n  openai:\n    api_key: "+key+"\nstorage:\n  redis_url: redis://:"+key+"@localhost:6379\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Providers["openai"].APIKey.Reveal(); got != key {
		t.Fatalf("Reveal = %q, want the key", got)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "key", c.Providers["openai"].APIKey, "storage", c.Storage)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	renders := map[string]string{
		"String": c.String(),
		"%v":     fmt.Sprintf("%v", c),
		"%+v":    fmt.Sprintf("%+v", *c),
		"%#v":    fmt.Sprintf("%#v", *c),
		"%s key": fmt.Sprintf("%s", c.Providers["openai"].APIKey),
		"%x key": fmt.Sprintf("%x", c.Providers["openai"].APIKey),
		"%q key": fmt.Sprintf("%q", c.Providers["openai"].APIKey),
		"%d key": fmt.Sprintf("%d", c.Providers["openai"].APIKey),
		"slog":   logged.String(),
		"json":   string(js),
	}
	for how, s := range renders {
		if strings.Contains(s, key) || strings.Contains(s, fmt.Sprintf("%x", key)) {
			t.Errorf("%s leaks the key: %s", how, s)
		}
		if !strings.Contains(s, "[REDACTED]") {
			t.Errorf("%s does not show that a key is set: %s", how, s)
		}
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Errorf("empty secret prints %q, want nothing", got)
	}
}

func TestPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		name     string
		flag     string
		env      func(string) string
		withFile bool
		want     string
	}{
		{"nothing", "", env(), false, ""},
		{"default file", "", env(), true, DefaultFile},
		{"KEEL_CONFIG over default", "", env(EnvConfig, "other.yaml"), true, "other.yaml"},
		{"flag over KEEL_CONFIG", "flag.yaml", env(EnvConfig, "other.yaml"), true, "flag.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(DefaultFile)
			if tt.withFile {
				if err := os.WriteFile(DefaultFile, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Path(tt.flag, tt.env)
			if err != nil || got != tt.want {
				t.Errorf("Path = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	sub := filepath.Join(dir, "conf")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sub, "keel.yaml")
	if err := os.WriteFile(file, []byte("storage:\n  data: state\n  redis_url: redis://file:6379\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("no file", func(t *testing.T) {
		c, err := Load("", env())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&Config{Storage: Storage{Data: DefaultData}}, c); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("file, data relative to it", func(t *testing.T) {
		c, err := Load(file, env())
		if err != nil {
			t.Fatal(err)
		}
		want := Storage{Data: filepath.Join(sub, "state"), RedisURL: "redis://file:6379"}
		if diff := cmp.Diff(want, c.Storage); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("environment wins", func(t *testing.T) {
		c, err := Load("", env(EnvConfig, file, EnvData, "/var/keel", EnvRedisURL, "redis://env:6379", EnvDatabaseURL, "postgres://env/db"))
		if err != nil {
			t.Fatal(err)
		}
		want := Storage{Data: "/var/keel", RedisURL: "redis://env:6379", DatabaseURL: "postgres://env/db"}
		if diff := cmp.Diff(want, c.Storage); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if c.File != file {
			t.Errorf("File = %q, want %q", c.File, file)
		}
	})
	t.Run("named file missing", func(t *testing.T) {
		for _, tc := range []struct{ flag, env string }{{"missing.yaml", ""}, {"", "missing.yaml"}} {
			_, err := Load(tc.flag, env(EnvConfig, tc.env))
			if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
				t.Errorf("Load(%+v) = %v, want a not-exist error naming the file", tc, err)
			}
		}
	})
	t.Run("too large", func(t *testing.T) {
		big := filepath.Join(dir, "big.yaml")
		if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), MaxFileSize/10+1), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(big, env())
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "larger than") {
			t.Errorf("Load(big) = %v, want a size error", err)
		}
	})
}

// Aliases that expand exponentially (a "billion laughs") must fail fast
// on the typed schema rather than eat memory.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("models:\n  a:\n    provider: openai\n    model: m\n    fallbacks: *a9\n")
	if _, err := Parse("keel.yaml", []byte(b.String())); err == nil {
		t.Fatal("Parse accepted an alias bomb")
	}
}
