// Package provider opens models by name. A Resolver turns a
// `provider/model` name ("anthropic/claude-sonnet-4-6") or an alias from
// keel.yaml ("fast") into an llm.Model backed by one of the adapters in the
// subpackages anthropic, openai and gemini.
//
// Providers come from two places. The environment configures the built-in
// ones: anthropic (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL), openai
// (OPENAI_API_KEY, OPENAI_BASE_URL), gemini (GEMINI_API_KEY) and ollama
// (OLLAMA_HOST). The config file's providers section overrides and extends
// them, for instance with any OpenAI-compatible server under a name of its
// own. The adapters never read the environment themselves: the Resolver is
// the one place that does, through the getenv function it is given.
//
//	cfg, err := config.Load("", os.Getenv)
//	...
//	r := provider.NewResolver(cfg, os.Getenv)
//	m, err := r.Open("anthropic/claude-sonnet-4-6")
package provider

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider/anthropic"
	"github.com/keelai/keel/provider/gemini"
	"github.com/keelai/keel/provider/openai"
)

// Errors a Resolver wraps in an *Error, for errors.Is.
var (
	// ErrUnknownModel: the name has no slash and is not an alias.
	ErrUnknownModel = errors.New("unknown model alias")
	// ErrUnknownProvider: the part before the slash names no provider.
	ErrUnknownProvider = errors.New("unknown provider")
	// ErrNoKey: the provider needs an API key and none is set.
	ErrNoKey = errors.New("no API key")
	// ErrNoProvider: Default found no provider at all.
	ErrNoProvider = errors.New("no model provider configured")
	// ErrNoDefault: providers exist, but none of the built-in ones and no
	// alias "default", so Keel cannot guess a model.
	ErrNoDefault = errors.New("no default model")
)

// Error is a failure to resolve a model name. Err is one of the Err*
// values above; Hint says what to do about it, in one sentence.
type Error struct {
	// Name is the name being resolved, "" for Default.
	Name string
	// Provider is the provider involved, if any.
	Provider string
	Err      error
	Hint     string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Name != "" {
		fmt.Fprintf(&b, "model %q: ", e.Name)
	}
	if e.Provider != "" && !errors.Is(e.Err, ErrUnknownProvider) {
		fmt.Fprintf(&b, "provider %q: ", e.Provider)
	}
	b.WriteString(e.Err.Error())
	if errors.Is(e.Err, ErrUnknownProvider) && e.Provider != "" {
		fmt.Fprintf(&b, " %q", e.Provider)
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// SetupHintEnv and SetupHintFile say how to configure a provider: the two
// lines the CLI prints when there is none.
const (
	SetupHintEnv  = "set ANTHROPIC_API_KEY, OPENAI_API_KEY or GEMINI_API_KEY (ANTHROPIC_BASE_URL or OPENAI_BASE_URL for a compatible server), or OLLAMA_HOST=127.0.0.1:11434 for a local Ollama"
	SetupHintFile = "or declare providers and models in keel.yaml (--config FILE or KEEL_CONFIG); see docs/models-and-providers.md"
)

// DefaultModel returns the model Keel uses for a provider type when no
// model is named: claude-sonnet-4-6, gpt-4.1-mini, gemini-2.5-flash or
// llama3.2; "" for an unknown type.
func DefaultModel(typ string) string {
	switch typ {
	case config.TypeAnthropic:
		return "claude-sonnet-4-6"
	case config.TypeOpenAI:
		return "gpt-4.1-mini"
	case config.TypeGemini:
		return "gemini-2.5-flash"
	case config.TypeOllama:
		return "llama3.2"
	}
	return ""
}

// keyEnv returns the environment variable that holds a built-in provider's key.
func keyEnv(typ string) string {
	switch typ {
	case config.TypeAnthropic:
		return config.EnvAnthropicKey
	case config.TypeOpenAI:
		return config.EnvOpenAIKey
	case config.TypeGemini:
		return config.EnvGeminiKey
	}
	return ""
}

// spec is a resolved provider.
type spec struct {
	name, typ, baseURL string
	key                string
	// keySource says where the key came from (an environment variable or
	// the config file); keyHint says where it would come from.
	keySource, keyHint string
	needsKey           bool
	// declared is true when the file or the environment configured the
	// provider, false for the ollama that is always reachable on loopback.
	declared bool
}

func (s spec) usable() bool { return s.key != "" || !s.needsKey }

// Resolver opens models by name. Build it with NewResolver; it is
// immutable and safe for concurrent use.
type Resolver struct {
	cfg        *config.Config
	providers  map[string]spec
	httpClient *http.Client
}

// Option configures a Resolver.
type Option func(*Resolver)

// WithHTTPClient makes every model opened by the Resolver send its
// requests through c.
func WithHTTPClient(c *http.Client) Option {
	return func(r *Resolver) { r.httpClient = c }
}

// pooledTransport is the resolver's own HTTP transport when it is given
// none: http.DefaultTransport keeps 2 idle connections per host, so a
// server making 16 concurrent calls to one provider would open and close a
// TCP (and TLS) connection for 14 of them every time. Measured through
// keel serve at 16 concurrent requests (bench/gateway): +61% requests per
// second and −30% CPU per request with a pool sized for the concurrency.
func pooledTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return oneWrite{t}
}

// oneWrite sends a request whose body can be had again from memory in
// the same write as its headers. net/http does that only for bodies it
// recognises as in memory (a *bytes.Reader, possibly in io.NopCloser); the
// official SDKs wrap theirs in a type of their own (to close it once), so
// each call to a provider cost two write(2)s and two TCP segments. The
// body GetBody returns is the SDKs' bytes again, in a type net/http knows.
// Measured through keel serve (bench/gateway, 16 concurrent requests):
// the upstream request's second write was 4% of keel's CPU.
type oneWrite struct{ *http.Transport }

func (t oneWrite) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody && req.ContentLength > 0 {
		if body, err := req.GetBody(); err == nil {
			req.Body.Close() // unread: the transport owned it, and closes it
			r := *req        // a shallow copy, as net/http's client makes
			r.Body = body
			req = &r
		}
	}
	return t.Transport.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections the resolver's models
// keep to their providers (a server shutting down, a test counting its
// goroutines). Models opened from it keep working: they dial again.
func (r *Resolver) CloseIdleConnections() { r.httpClient.CloseIdleConnections() }

// NewResolver builds a Resolver from cfg (nil for none) and the
// environment as seen through getenv (os.Getenv, or a map lookup in
// tests).
func NewResolver(cfg *config.Config, getenv func(string) string, opts ...Option) *Resolver {
	if cfg == nil {
		cfg = &config.Config{}
	}
	r := &Resolver{cfg: cfg, providers: map[string]spec{}}
	for _, o := range opts {
		o(r)
	}
	if r.httpClient == nil {
		r.httpClient = &http.Client{Transport: pooledTransport()}
	}
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }

	// Built-in providers, from the environment.
	for _, typ := range []string{config.TypeAnthropic, config.TypeOpenAI, config.TypeGemini} {
		s := spec{name: typ, typ: typ, key: env(keyEnv(typ)), keyHint: keyEnv(typ), declared: true}
		switch typ {
		case config.TypeAnthropic:
			s.baseURL = env(config.EnvAnthropicBaseURL)
		case config.TypeOpenAI:
			s.baseURL = env(config.EnvOpenAIBaseURL)
		}
		s.needsKey = needsKey(typ, s.baseURL)
		if s.key != "" {
			s.keySource = keyEnv(typ)
		}
		// A compatible server at OPENAI_BASE_URL may need no key.
		if s.key != "" || (typ == config.TypeOpenAI && s.baseURL != "" && !s.needsKey) {
			r.providers[typ] = s
		}
	}
	host := env(config.EnvOllamaHost)
	r.providers[config.TypeOllama] = spec{
		name: config.TypeOllama, typ: config.TypeOllama,
		baseURL: openai.OllamaBaseURL(host), declared: host != "",
	}

	// Declared providers replace built-in ones of the same name, keeping
	// the environment's base URL and key where the file is silent.
	for name, p := range cfg.Providers {
		s := spec{name: name, typ: p.Type, baseURL: p.BaseURL, declared: true}
		inherit := name == p.Type
		if s.baseURL == "" && inherit {
			switch p.Type {
			case config.TypeAnthropic:
				s.baseURL = env(config.EnvAnthropicBaseURL)
			case config.TypeOpenAI:
				s.baseURL = env(config.EnvOpenAIBaseURL)
			case config.TypeOllama:
				s.baseURL = host
			}
		}
		if p.Type == config.TypeOllama {
			s.baseURL = openai.OllamaBaseURL(s.baseURL)
		}
		switch {
		case p.APIKey != "":
			s.key, s.keySource = p.APIKey.Reveal(), "api_key in "+cfg.File
		case p.APIKeyEnv != "":
			s.key, s.keySource, s.keyHint = env(p.APIKeyEnv), p.APIKeyEnv, p.APIKeyEnv
		case inherit && keyEnv(p.Type) != "":
			s.key, s.keyHint = env(keyEnv(p.Type)), keyEnv(p.Type)
			s.keySource = keyEnv(p.Type)
		default:
			s.keyHint = fmt.Sprintf("api_key_env for providers.%s in %s", name, cmpOr(cfg.File, config.DefaultFile))
		}
		if s.key == "" {
			s.keySource = ""
		}
		// Naming a key variable says a key is expected, whatever the server.
		s.needsKey = needsKey(p.Type, s.baseURL) || p.APIKeyEnv != ""
		r.providers[name] = s
	}
	return r
}

// needsKey reports whether a provider of type typ at baseURL needs a key:
// the hosted APIs do; Ollama and self-hosted OpenAI-compatible servers
// usually do not.
func needsKey(typ, baseURL string) bool {
	switch typ {
	case config.TypeOllama:
		return false
	case config.TypeOpenAI:
		if baseURL == "" {
			return true
		}
		u, err := url.Parse(baseURL)
		return err != nil || strings.EqualFold(u.Hostname(), "api.openai.com")
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Open returns the model for name: an alias from the config file, or a
// `provider/model` name. It fails with an *Error wrapping ErrUnknownModel,
// ErrUnknownProvider or ErrNoKey. Open makes no network call.
//
// Open does not apply an alias's fallbacks: Alias returns them, for the
// fallback middleware to open and chain.
func (r *Resolver) Open(name string) (llm.Model, error) {
	ep, err := r.Endpoint(name)
	if err != nil {
		return nil, err
	}
	switch ep.Type {
	case config.TypeAnthropic:
		return anthropic.New(anthropic.Options{Name: ep.Provider, APIKey: ep.APIKey, BaseURL: ep.BaseURL, HTTPClient: r.httpClient}).Model(ep.Model), nil
	case config.TypeOpenAI, config.TypeOllama:
		return openai.New(openai.Options{Name: ep.Provider, APIKey: ep.APIKey, BaseURL: ep.BaseURL, HTTPClient: r.httpClient}).Model(ep.Model), nil
	case config.TypeGemini:
		return gemini.New(gemini.Options{Name: ep.Provider, APIKey: ep.APIKey, BaseURL: ep.BaseURL, HTTPClient: r.httpClient}).Model(ep.Model), nil
	}
	// config.Parse rejects unknown types, so only a hand-built Config gets here.
	return nil, &Error{Name: name, Provider: ep.Provider, Err: ErrUnknownProvider, Hint: fmt.Sprintf("type %q is not one of %s", ep.Type, strings.Join(config.Types(), ", "))}
}

// Endpoint says where a model is reached and how to authenticate: what
// Open uses, for clients of a provider's other APIs (embeddings, batches).
// Its APIKey is a secret: never print it.
type Endpoint struct {
	// Provider is the provider's name, Type the API it speaks.
	Provider, Type string
	// Model is the provider's model id.
	Model string
	// BaseURL is "" for the provider's public API; for ollama it is the
	// OpenAI-compatible root (http://host:port/v1).
	BaseURL string
	APIKey  string
	// HTTPClient is the resolver's client (WithHTTPClient), nil for the
	// default.
	HTTPClient *http.Client
}

// Endpoint resolves an alias or a `provider/model` name as Open does, with
// the same errors, without building a model.
func (r *Resolver) Endpoint(name string) (Endpoint, error) {
	prov, model := "", ""
	if !strings.Contains(name, "/") {
		m, ok := r.cfg.Alias(name)
		if !ok {
			hint := "use provider/model, e.g. anthropic/claude-sonnet-4-6"
			if len(r.cfg.Models) > 0 {
				hint += ", or one of the aliases " + strings.Join(slices.Sorted(maps.Keys(r.cfg.Models)), ", ")
			}
			return Endpoint{}, &Error{Name: name, Err: ErrUnknownModel, Hint: hint}
		}
		prov, model = m.Provider, m.Model
	} else {
		var err error
		if prov, model, err = llm.SplitName(name); err != nil {
			return Endpoint{}, &Error{Name: name, Err: ErrUnknownProvider, Hint: "want provider/model, e.g. anthropic/claude-sonnet-4-6"}
		}
	}
	s, ok := r.providers[prov]
	if !ok {
		if k := keyEnv(prov); k != "" {
			hint := "set " + k
			if prov == config.TypeOpenAI {
				hint += " (or OPENAI_BASE_URL for a compatible server)"
			}
			return Endpoint{}, &Error{Name: name, Provider: prov, Err: ErrNoKey, Hint: hint}
		}
		return Endpoint{}, &Error{Name: name, Provider: prov, Err: ErrUnknownProvider, Hint: "known providers: " + strings.Join(r.providerNames(), ", ")}
	}
	if !s.usable() {
		return Endpoint{}, &Error{Name: name, Provider: prov, Err: ErrNoKey, Hint: "set " + s.keyHint}
	}
	return Endpoint{Provider: s.name, Type: s.typ, Model: model, BaseURL: s.baseURL, APIKey: s.key, HTTPClient: r.httpClient}, nil
}

// providerNames lists the providers in preference order: the built-in
// ones first, then the others by name.
func (r *Resolver) providerNames() []string {
	var names []string
	for _, t := range config.Types() {
		if _, ok := r.providers[t]; ok {
			names = append(names, t)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(r.providers)) {
		if !config.IsType(n) {
			names = append(names, n)
		}
	}
	return names
}

// Alias returns what an alias of the config file stands for, fallbacks and
// price included.
func (r *Resolver) Alias(name string) (config.Model, bool) { return r.cfg.Alias(name) }

// Default returns the name of the model to use when none is given: the
// alias "default" when the config file has one, else the default model of
// the first configured provider among anthropic, openai, gemini and ollama
// (one with a key before one without). It fails with ErrNoProvider when
// nothing is configured, and ErrNoDefault when only providers Keel has no
// default model for are.
func (r *Resolver) Default() (string, error) {
	if _, ok := r.cfg.Alias("default"); ok {
		return "default", nil
	}
	var first string
	for _, t := range config.Types() {
		s, ok := r.providers[t]
		if !ok || !s.declared {
			continue
		}
		if s.typ != t {
			continue // a provider named "openai" of another type: no safe guess
		}
		name := t + "/" + DefaultModel(s.typ)
		if s.usable() {
			return name, nil
		}
		if first == "" {
			first = name
		}
	}
	if first != "" {
		return first, nil // Open will say which key is missing
	}
	for _, s := range r.providers {
		if s.declared {
			return "", &Error{Err: ErrNoDefault, Hint: "pass --model provider/model or add an alias named default under models in keel.yaml"}
		}
	}
	return "", &Error{Err: ErrNoProvider, Hint: SetupHintEnv}
}

// Entry is one line of Models: an alias, or a provider with its default
// model. It never holds a key, only whether one is set and where from.
type Entry struct {
	// Alias is the alias, "" for a provider line.
	Alias string `json:"alias,omitempty"`
	// Provider and Type name the provider and the API it speaks.
	Provider string `json:"provider"`
	Type     string `json:"type"`
	// Model is the alias's model, or the provider's default model ("" when
	// Keel has none for it).
	Model string `json:"model,omitempty"`
	// BaseURL is where requests go, "" for the provider's public API. Any
	// password in it is masked.
	BaseURL string `json:"base_url,omitempty"`
	// NeedsKey says whether the provider needs a key; HasKey whether one
	// is set, and KeySource where from (an environment variable name, or
	// api_key in the config file).
	NeedsKey  bool   `json:"needs_key"`
	HasKey    bool   `json:"has_key"`
	KeySource string `json:"key_source,omitempty"`
	// Fallbacks are the alias's fallbacks.
	Fallbacks []string `json:"fallbacks,omitempty"`
	// Default marks the entry Default picks.
	Default bool `json:"default,omitempty"`
}

// Name returns the name to pass to Open: the alias, or provider/model.
func (e Entry) Name() string {
	if e.Alias != "" {
		return e.Alias
	}
	if e.Model == "" {
		return e.Provider + "/…"
	}
	return e.Provider + "/" + e.Model
}

// Models lists the aliases (by name), then the configured providers (the
// built-in ones first), for `keel models`.
func (r *Resolver) Models() []Entry {
	def, _ := r.Default()
	var out []Entry
	for _, alias := range slices.Sorted(maps.Keys(r.cfg.Models)) {
		m := r.cfg.Models[alias]
		e := Entry{Alias: alias, Provider: m.Provider, Model: m.Model, Fallbacks: slices.Clone(m.Fallbacks), Default: alias == def}
		if s, ok := r.providers[m.Provider]; ok {
			r.fill(&e, s)
		} else {
			e.Type, e.NeedsKey = m.Provider, true
		}
		out = append(out, e)
	}
	for _, name := range r.providerNames() {
		s := r.providers[name]
		if !s.declared {
			continue
		}
		e := Entry{Provider: name}
		r.fill(&e, s)
		if s.typ == name {
			e.Model = DefaultModel(s.typ)
		}
		e.Default = e.Model != "" && e.Name() == def
		out = append(out, e)
	}
	return out
}

func (r *Resolver) fill(e *Entry, s spec) {
	e.Type = s.typ
	e.BaseURL = redactURL(s.baseURL)
	e.NeedsKey = s.needsKey
	e.HasKey = s.key != ""
	e.KeySource = s.keySource
}

// redactURL masks the password of a URL; an unparsable one loses
// everything before its last '@', where credentials would be.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.LastIndexByte(u, '@'); i >= 0 {
			return "xxxxx" + u[i:]
		}
		return llm.Redact(u)
	}
	return p.Redacted()
}

// minSecretLen is the shortest key Redact replaces verbatim: a shorter
// "key" (a placeholder such as "test" or "none") is not a secret, and
// replacing it everywhere would garble ordinary words.
const minSecretLen = 8

// Redact replaces, in s, every API key the Resolver knows and anything
// shaped like a key (llm.Redact) with "[REDACTED]". Use it on text that
// may echo a key back: upstream error messages, logs.
func (r *Resolver) Redact(s string) string {
	for _, p := range r.providers {
		if len(p.key) >= minSecretLen {
			s = strings.ReplaceAll(s, p.key, "[REDACTED]")
		}
	}
	return llm.Redact(s)
}

// Open resolves name with the configuration Keel finds on its own: the
// file chosen by config.Load (KEEL_CONFIG or ./keel.yaml) and the process
// environment. Programs that hold a config or want a hermetic environment
// build a Resolver instead.
func Open(name string) (llm.Model, error) {
	cfg, err := config.Load("", os.Getenv)
	if err != nil {
		return nil, err
	}
	return NewResolver(cfg, os.Getenv).Open(name)
}
