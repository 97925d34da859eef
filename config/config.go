// Package config loads Keel's optional configuration file, keel.yaml, and
// the environment variables that stand beside it.
//
// The file declares providers (where a model API lives and how to
// authenticate) and model aliases (short names with fallbacks and price
// overrides), plus settings for the server, limits and storage:
//
//	providers:
//	  local:
//	    type: openai                    # anthropic | openai | gemini | ollama
//	    base_url: http://localhost:8000/v1
//	  anthropic:
//	    api_key_env: WORK_ANTHROPIC_KEY # or api_key: (not recommended)
//	models:
//	  default:
//	    provider: anthropic
//	    model: claude-sonnet-4-6
//	    fallbacks: [fast]
//	  fast:
//	    provider: local
//	    model: llama3.2
//	    price: {input: 0, output: 0}
//
// Decoding is strict: an unknown field, a value of the wrong type or a
// reference to something undeclared is an *Error naming the file, the line
// and the field. Secrets are of type Secret, which never prints its value.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// Environment variables Keel reads. The provider variables are read by the
// provider resolver; the storage ones by Load.
const (
	EnvAnthropicKey     = "ANTHROPIC_API_KEY"
	EnvAnthropicBaseURL = "ANTHROPIC_BASE_URL"
	EnvOpenAIKey        = "OPENAI_API_KEY"
	EnvOpenAIBaseURL    = "OPENAI_BASE_URL"
	EnvGeminiKey        = "GEMINI_API_KEY"
	EnvOllamaHost       = "OLLAMA_HOST"
	EnvData             = "KEEL_DATA"
	EnvDatabaseURL      = "KEEL_DATABASE_URL"
	EnvRedisURL         = "KEEL_REDIS_URL"
	EnvConfig           = "KEEL_CONFIG"
	EnvWeaviateURL      = "KEEL_WEAVIATE_URL"
)

// DefaultFile is the file Load reads when neither --config nor KEEL_CONFIG
// names one and it exists in the working directory.
const DefaultFile = "keel.yaml"

// DefaultData is the embedded store's folder when neither KEEL_DATA nor
// storage.data says otherwise.
const DefaultData = "./.keel"

// MaxFileSize bounds the config file: it is read whole, and a larger one is
// certainly a mistake (a log or a dataset passed as --config).
const MaxFileSize = 1 << 20

// Provider types.
const (
	TypeAnthropic = "anthropic"
	TypeOpenAI    = "openai"
	TypeGemini    = "gemini"
	TypeOllama    = "ollama"
)

// Types returns the provider types in the order Keel prefers them when it
// picks a default model. (A function, so that no caller can change the list.)
func Types() []string {
	return []string{TypeAnthropic, TypeOpenAI, TypeGemini, TypeOllama}
}

// Config is the parsed configuration. The zero value (no file) is valid.
// A Config is not modified after Load returns it.
type Config struct {
	// File is the path the configuration was read from, "" when none.
	File string `yaml:"-"`

	// Providers maps a provider name (the part before the slash in a
	// `provider/model` name) to where and how to reach it.
	Providers map[string]Provider `yaml:"providers"`
	// Models maps an alias to a model. The alias "default" is the model
	// used when none is named.
	Models  map[string]Model `yaml:"models"`
	Server  Server           `yaml:"server"`
	Limits  Limits           `yaml:"limits"`
	Storage Storage          `yaml:"storage"`
	Guard   Guard            `yaml:"guard"`
	Logging Logging          `yaml:"logging"`
	Routing Routing          `yaml:"routing"`
	RAG     RAG              `yaml:"rag"`
}

// RAG configures retrieval: how collections are embedded.
type RAG struct {
	// Embedder is the embedding model of collections, an alias or
	// provider/model (openai, gemini and ollama providers, or
	// voyage/MODEL with VOYAGE_API_KEY). Without one, collections are
	// searched lexically (BM25) only; with one, ingest stores vectors and
	// search and ask default to hybrid retrieval.
	Embedder string `yaml:"embedder"`
	// Dimensions shortens the vectors of models that allow it (OpenAI
	// text-embedding-3, Gemini, Voyage); 0 means the model's own size.
	Dimensions int `yaml:"dimensions"`
}

// Provider says where a provider's API is and how to authenticate.
type Provider struct {
	// Type is the API the provider speaks: anthropic, openai, gemini or
	// ollama. It defaults to the provider's name when that is a type.
	Type string `yaml:"type"`
	// BaseURL overrides the API's address (a proxy, a gateway, an
	// OpenAI-compatible server). For ollama it is OLLAMA_HOST's form:
	// host:port or a URL.
	BaseURL string `yaml:"base_url"`
	// APIKey is the key itself. Prefer APIKeyEnv, which keeps the key out
	// of the file.
	APIKey Secret `yaml:"api_key"`
	// APIKeyEnv names the environment variable that holds the key.
	APIKeyEnv string `yaml:"api_key_env"`
}

// Model is what an alias stands for.
type Model struct {
	// Provider is a provider name: declared under providers, or one of
	// the built-in ones configured from the environment.
	Provider string `yaml:"provider"`
	// Model is the provider's model id.
	Model string `yaml:"model"`
	// Fallbacks are the aliases (or `provider/model` names) to try, in
	// order, when this model fails with a retryable error.
	Fallbacks []string `yaml:"fallbacks"`
	// Price overrides the price table for this model; nil keeps it.
	Price *Price `yaml:"price"`
	// Rate limits this model's calls on the client side, so that a busy
	// application queues instead of collecting 429s; nil means no limit.
	Rate *Rate `yaml:"rate"`
}

// Rate is a model's per-minute ceilings; a field left out is no limit.
type Rate struct {
	RPM       int `yaml:"rpm"`
	InputTPM  int `yaml:"input_tpm"`
	OutputTPM int `yaml:"output_tpm"`
}

// Name returns the `provider/model` name the alias stands for.
func (m Model) Name() string { return m.Provider + "/" + m.Model }

// Price is a price in US dollars per million tokens, one field for each
// token class of llm.Usage. A field left out is zero: that class is free.
type Price struct {
	Input        float64 `yaml:"input"`
	Output       float64 `yaml:"output"`
	CacheRead    float64 `yaml:"cache_read"`
	CacheWrite   float64 `yaml:"cache_write"`
	CacheWrite1h float64 `yaml:"cache_write_1h"`
}

// Server configures `keel serve`.
type Server struct {
	// Addr is the address to listen on, host:port; the --addr flag wins.
	Addr string `yaml:"addr"`
	// ShutdownTimeout bounds the graceful shutdown: how long open requests
	// and streams may take to finish once the server is asked to stop
	// before they are cut; 0 means the server's default (30s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ReadHeaderTimeout bounds reading a request's headers, so a client
	// that sends them a byte at a time cannot hold a connection
	// (slowloris); 0 means 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyTimeout bounds reading a request's body; 0 means 60s. It does
	// not bound the response: a stream may last as long as the model
	// talks.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// IdleTimeout closes a keep-alive connection idle this long; 0 means
	// 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds a request's headers; 0 means 64 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxConcurrentPerKey bounds the requests (streams included) one API
	// key may have in flight at once; 0 means no bound.
	MaxConcurrentPerKey int `yaml:"max_concurrent_per_key"`
	// CacheTTL turns the response cache on for requests that may be
	// answered from it (temperature 0 or tagged), keeping each response
	// this long; 0 leaves the cache off.
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// Limits bounds what one request may cost or carry. Zero means the
// component's own default.
type Limits struct {
	// MaxRequestBytes bounds an HTTP request body.
	MaxRequestBytes int64 `yaml:"max_request_bytes"`
	// MaxOutputTokens caps a request's output tokens when it sets none.
	MaxOutputTokens int `yaml:"max_output_tokens"`
	// RequestTimeout bounds one model call, retries included.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxAttempts is how many requests one call sends to a model at most,
	// the first included; 0 means the retry middleware's default (4), 1
	// turns retrying off.
	MaxAttempts int `yaml:"max_attempts"`
	// DailyBudgetUSD refuses calls, before they are sent, once the day's
	// spending (UTC) would pass it; 0 means no budget. It is kept in memory
	// by one process, and shared by the replicas of `keel serve` when
	// KEEL_REDIS_URL is set.
	DailyBudgetUSD float64 `yaml:"daily_budget_usd"`
	// RunBudgetUSD bounds what one command (keel run, ask, chat, eval)
	// may spend; 0 means no bound.
	RunBudgetUSD float64 `yaml:"run_budget_usd"`
}

// Guard configures the check of untrusted text (user input, retrieved
// documents, tool output) for injection patterns.
type Guard struct {
	// Mode is flag (the default: log and count), refuse (fail the call
	// with an invalid_request error) or off.
	Mode string `yaml:"mode"`
	// MaxInputBytes flags (or refuses) a call whose untrusted text is
	// longer; 0 means no bound.
	MaxInputBytes int `yaml:"max_input_bytes"`
}

// Logging configures the record every model call leaves.
type Logging struct {
	// File receives one JSON record per call (the CLI writes none
	// otherwise; the server logs to stderr). Relative to the config file.
	File string `yaml:"file"`
	// Content adds the last user message and the answer to each record,
	// redacted and cut; off by default.
	Content bool `yaml:"content"`
	// Capture receives each call's whole request and response as a JSON
	// line that llmtest can replay; relative to the config file.
	Capture string `yaml:"capture"`
}

// Routing chooses a model by a request's task label (`keel run --task`,
// the "task" tag) and by its estimated size.
type Routing struct {
	// Tiers maps a tier (cheap, balanced, best, or your own) to an alias
	// or provider/model.
	Tiers map[string]string `yaml:"tiers"`
	// Tasks maps a task label to a tier; left out, Keel's defaults
	// (classify, extract, summarize → cheap; reason, code_review →
	// balanced; research → best).
	Tasks map[string]string `yaml:"tasks"`
	// LongInputTokens, when positive, sends requests estimated above it to
	// LongModel whatever their task.
	LongInputTokens int    `yaml:"long_input_tokens"`
	LongModel       string `yaml:"long_model"`
}

// Storage says where state is kept. Each field may be set by its
// environment variable, which wins over the file.
type Storage struct {
	// Data is the embedded store's folder (KEEL_DATA, default ./.keel).
	// A relative path in the file is relative to the file's folder.
	Data string `yaml:"data"`
	// DatabaseURL, a postgres:// URL, switches relational state to
	// PostgreSQL (KEEL_DATABASE_URL).
	DatabaseURL Secret `yaml:"database_url"`
	// RedisURL switches the cache and rate limits to Redis (KEEL_REDIS_URL).
	RedisURL Secret `yaml:"redis_url"`
	// WeaviateURL keeps collections in Weaviate instead of the embedded
	// store (KEEL_WEAVIATE_URL), e.g. http://127.0.0.1:8080.
	WeaviateURL Secret `yaml:"weaviate_url"`
}

// Alias returns the model an alias stands for.
func (c *Config) Alias(name string) (Model, bool) {
	if c == nil {
		return Model{}, false
	}
	m, ok := c.Models[name]
	return m, ok
}

// String renders the configuration as YAML with every secret redacted.
func (c *Config) String() string {
	if c == nil {
		return "<nil>"
	}
	b, err := yaml.MarshalWithOptions(c, yaml.OmitEmpty())
	if err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	return string(b)
}

// Path chooses the config file: flagPath (--config) when set, else
// KEEL_CONFIG, else ./keel.yaml when it exists, else "" (no file).
func Path(flagPath string, getenv func(string) string) (string, error) {
	if flagPath != "" {
		return flagPath, nil
	}
	if p := getenv(EnvConfig); p != "" {
		return p, nil
	}
	switch _, err := os.Stat(DefaultFile); {
	case err == nil:
		return DefaultFile, nil
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	default:
		return "", fmt.Errorf("config: %w", err)
	}
}

// Load reads the file chosen by Path (if any) and applies the storage
// environment variables. A file named by --config or KEEL_CONFIG must exist.
func Load(flagPath string, getenv func(string) string) (*Config, error) {
	path, err := Path(flagPath, getenv)
	if err != nil {
		return nil, err
	}
	c := &Config{}
	if path != "" {
		if c, err = ReadFile(path); err != nil {
			return nil, err
		}
	}
	c.applyEnv(getenv)
	return c, nil
}

// ReadFile reads and parses a config file. It does not look at the
// environment.
func ReadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	// Reading one byte past the limit tells a file at the limit from a larger one.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	for _, p := range []*string{&c.Storage.Data, &c.Logging.File, &c.Logging.Capture} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(filepath.Dir(path), *p)
		}
	}
	return c, nil
}

func (c *Config) applyEnv(getenv func(string) string) {
	if v := getenv(EnvData); v != "" {
		c.Storage.Data = v
	}
	if c.Storage.Data == "" {
		c.Storage.Data = DefaultData
	}
	if v := getenv(EnvDatabaseURL); v != "" {
		c.Storage.DatabaseURL = Secret(v)
	}
	if v := getenv(EnvRedisURL); v != "" {
		c.Storage.RedisURL = Secret(v)
	}
	if v := getenv(EnvWeaviateURL); v != "" {
		c.Storage.WeaviateURL = Secret(v)
	}
}

// IsType reports whether t is a provider type.
func IsType(t string) bool { return slices.Contains(Types(), t) }

// typeList is the provider types for error messages.
func typeList() string { return strings.Join(Types(), ", ") }
