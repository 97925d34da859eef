package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
)

// setDefaults fills what the file may leave out: a provider named after a
// type is of that type.
func (c *Config) setDefaults() {
	for name, p := range c.Providers {
		if p.Type == "" && IsType(name) {
			p.Type = name
			c.Providers[name] = p
		}
	}
}

// validate checks the whole configuration and returns every problem.
// Values that may be secret (keys, URLs with passwords) are never quoted.
func (c *Config) validate() []problem {
	var probs []problem
	add := func(field, format string, args ...any) {
		probs = append(probs, problem{field, fmt.Sprintf(format, args...)})
	}

	for _, name := range slices.Sorted(maps.Keys(c.Providers)) {
		p := c.Providers[name]
		at := "providers." + name
		if msg := checkName(name); msg != "" {
			add(at, "provider name %s", msg)
		}
		switch {
		case p.Type == "":
			add(at+".type", "missing; want one of %s", typeList())
		case !IsType(p.Type):
			add(at+".type", "unknown type %q; want one of %s", p.Type, typeList())
		}
		if p.APIKey != "" && p.APIKeyEnv != "" {
			add(at+".api_key_env", "set api_key or api_key_env, not both")
		}
		if p.APIKeyEnv != "" && !isEnvName(p.APIKeyEnv) {
			add(at+".api_key_env", "%q is not an environment variable name", p.APIKeyEnv)
		}
		if p.BaseURL != "" {
			if msg := checkBaseURL(p.Type, p.BaseURL); msg != "" {
				add(at+".base_url", "%s", msg)
			}
		}
	}

	for _, alias := range slices.Sorted(maps.Keys(c.Models)) {
		m := c.Models[alias]
		at := "models." + alias
		if msg := checkName(alias); msg != "" {
			add(at, "alias %s", msg)
		}
		switch {
		case m.Provider == "":
			add(at+".provider", "missing; name a provider declared under providers or one of %s", typeList())
		case !c.knownProvider(m.Provider):
			add(at+".provider", "unknown provider %q; declare it under providers or use one of %s", m.Provider, typeList())
		}
		if m.Model == "" {
			add(at+".model", "missing; want the provider's model id, e.g. claude-sonnet-4-6")
		}
		seen := map[string]bool{}
		for i, fb := range m.Fallbacks {
			fat := fmt.Sprintf("%s.fallbacks[%d]", at, i)
			switch {
			case fb == "":
				add(fat, "empty fallback")
			case fb == alias:
				add(fat, "alias %q falls back to itself", alias)
			case seen[fb]:
				add(fat, "%q is listed twice", fb)
			case strings.Contains(fb, "/"):
				prov, model, _ := strings.Cut(fb, "/")
				if prov == "" || model == "" {
					add(fat, "%q: want an alias or provider/model", fb)
				} else if !c.knownProvider(prov) {
					add(fat, "unknown provider %q in %q", prov, fb)
				}
			default:
				if _, ok := c.Models[fb]; !ok {
					add(fat, "unknown alias %q%s", fb, known(c.Models))
				}
			}
			seen[fb] = true
		}
		if r := m.Rate; r != nil && (r.RPM < 0 || r.InputTPM < 0 || r.OutputTPM < 0) {
			add(at+".rate", "limits must not be negative")
		}
		if pr := m.Price; pr != nil {
			for _, f := range []struct {
				name string
				v    float64
			}{{"input", pr.Input}, {"output", pr.Output}, {"cache_read", pr.CacheRead}, {"cache_write", pr.CacheWrite}, {"cache_write_1h", pr.CacheWrite1h}} {
				if f.v < 0 || f.v != f.v {
					add(at+".price."+f.name, "want a price of 0 or more (US dollars per million tokens)")
				}
			}
		}
	}
	if cyc := c.fallbackCycle(); cyc != nil {
		add("models."+cyc[0]+".fallbacks", "fallback cycle %s", strings.Join(cyc, " → "))
	}

	if a := c.Server.Addr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			add("server.addr", "want host:port, e.g. 127.0.0.1:8080 or :8080")
		}
	}
	for _, f := range []struct {
		name string
		neg  bool
	}{
		{"shutdown_timeout", c.Server.ShutdownTimeout < 0},
		{"read_header_timeout", c.Server.ReadHeaderTimeout < 0},
		{"body_timeout", c.Server.BodyTimeout < 0},
		{"idle_timeout", c.Server.IdleTimeout < 0},
		{"max_header_bytes", c.Server.MaxHeaderBytes < 0},
		{"max_concurrent_per_key", c.Server.MaxConcurrentPerKey < 0},
		{"cache_ttl", c.Server.CacheTTL < 0},
	} {
		if f.neg {
			add("server."+f.name, "must not be negative")
		}
	}
	if c.Limits.MaxRequestBytes < 0 {
		add("limits.max_request_bytes", "must not be negative")
	}
	if c.Limits.MaxOutputTokens < 0 {
		add("limits.max_output_tokens", "must not be negative")
	}
	if c.Limits.RequestTimeout < 0 {
		add("limits.request_timeout", "must not be negative")
	}
	if c.Limits.MaxAttempts < 0 {
		add("limits.max_attempts", "must not be negative")
	}
	for name, v := range map[string]float64{"daily_budget_usd": c.Limits.DailyBudgetUSD, "run_budget_usd": c.Limits.RunBudgetUSD} {
		if v < 0 || v != v {
			add("limits."+name, "want an amount of 0 or more (US dollars)")
		}
	}
	switch c.Guard.Mode {
	case "", "flag", "refuse", "off":
	default:
		add("guard.mode", "unknown mode %q; want flag, refuse or off", c.Guard.Mode)
	}
	if c.Guard.MaxInputBytes < 0 {
		add("guard.max_input_bytes", "must not be negative")
	}
	probs = append(probs, c.validateRouting()...)
	if e := c.RAG.Embedder; e != "" && !strings.HasPrefix(e, "voyage/") {
		if msg := c.checkModelRef(e); msg != "" {
			add("rag.embedder", "%s", msg)
		}
	}
	if c.RAG.Dimensions < 0 {
		add("rag.dimensions", "must not be negative")
	}
	if u := c.Storage.DatabaseURL.Reveal(); u != "" && !hasScheme(u, "postgres", "postgresql") {
		add("storage.database_url", "want a postgres:// URL")
	}
	if u := c.Storage.RedisURL.Reveal(); u != "" && !hasScheme(u, "redis", "rediss", "unix") {
		add("storage.redis_url", "want a redis://, rediss:// or unix:// URL")
	}
	if u := c.Storage.WeaviateURL.Reveal(); u != "" && !hasScheme(u, "http", "https") {
		add("storage.weaviate_url", "want an http:// or https:// URL")
	}
	return probs
}

// knownProvider reports whether name is declared in the file or is one of
// the built-in providers configured from the environment.
func (c *Config) knownProvider(name string) bool {
	_, ok := c.Providers[name]
	return ok || IsType(name)
}

// fallbackCycle returns a cycle among alias fallbacks (first alias
// repeated at the end), or nil. Aliases are visited in sorted order so the
// error is the same on every run.
func (c *Config) fallbackCycle() []string {
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(a string) []string
	visit = func(a string) []string {
		switch state[a] {
		case onPath:
			i := slices.Index(path, a)
			return append(slices.Clone(path[i:]), a)
		case done:
			return nil
		}
		state[a] = onPath
		path = append(path, a)
		for _, fb := range c.Models[a].Fallbacks {
			if _, ok := c.Models[fb]; ok && fb != a {
				if cyc := visit(fb); cyc != nil {
					return cyc
				}
			}
		}
		path = path[:len(path)-1]
		state[a] = done
		return nil
	}
	for _, a := range slices.Sorted(maps.Keys(c.Models)) {
		if cyc := visit(a); cyc != nil {
			return cyc
		}
	}
	return nil
}

// checkName returns why a provider name or alias is unusable, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case strings.Contains(name, "/"):
		return fmt.Sprintf("%q must not contain '/': names with a slash are read as provider/model", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Sprintf("%q must not contain spaces or control characters", name)
	}
	return ""
}

func isEnvName(s string) bool {
	for i, r := range s {
		ok := r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9'
		if !ok {
			return false
		}
	}
	return s != ""
}

// checkBaseURL returns why u is not a usable base URL for a provider of
// type typ, or "". Ollama accepts OLLAMA_HOST's bare host:port too.
func checkBaseURL(typ, u string) string {
	if typ == TypeOllama && !strings.Contains(u, "://") {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "want an absolute http:// or https:// URL"
	}
	return ""
}

func hasScheme(u string, schemes ...string) bool {
	s, _, ok := strings.Cut(u, "://")
	return ok && slices.Contains(schemes, strings.ToLower(s))
}

func known[V any](m map[string]V) string {
	if len(m) == 0 {
		return ""
	}
	return "; known: " + strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// validateRouting checks that every tier names a usable model and every
// task a declared tier.
func (c *Config) validateRouting() []problem {
	var probs []problem
	r := c.Routing
	for _, tier := range slices.Sorted(maps.Keys(r.Tiers)) {
		if msg := c.checkModelRef(r.Tiers[tier]); msg != "" {
			probs = append(probs, problem{"routing.tiers." + tier, msg})
		}
	}
	for _, task := range slices.Sorted(maps.Keys(r.Tasks)) {
		if _, ok := r.Tiers[r.Tasks[task]]; !ok {
			probs = append(probs, problem{"routing.tasks." + task, fmt.Sprintf("unknown tier %q; declare it under routing.tiers", r.Tasks[task])})
		}
	}
	if r.LongInputTokens < 0 {
		probs = append(probs, problem{"routing.long_input_tokens", "must not be negative"})
	}
	if (r.LongInputTokens > 0) != (r.LongModel != "") {
		probs = append(probs, problem{"routing.long_model", "set long_input_tokens and long_model together"})
	} else if r.LongModel != "" {
		if msg := c.checkModelRef(r.LongModel); msg != "" {
			probs = append(probs, problem{"routing.long_model", msg})
		}
	}
	return probs
}

// checkModelRef returns why ref is neither an alias nor a provider/model
// of a known provider, or "".
func (c *Config) checkModelRef(ref string) string {
	if prov, model, ok := strings.Cut(ref, "/"); ok {
		switch {
		case prov == "" || model == "":
			return fmt.Sprintf("%q: want an alias or provider/model", ref)
		case !c.knownProvider(prov):
			return fmt.Sprintf("unknown provider %q in %q", prov, ref)
		}
		return ""
	}
	if _, ok := c.Models[ref]; !ok {
		return fmt.Sprintf("unknown alias %q%s", ref, known(c.Models))
	}
	return ""
}
