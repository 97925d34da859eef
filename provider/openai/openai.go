package openai

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/keelai/keel/llm"
)

// DefaultBaseURL is OpenAI's public endpoint, used when Options.BaseURL is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// Options configures a provider. Zero values mean defaults.
type Options struct {
	// Name is the provider name used in model names: "openai" when empty.
	// The config file can name an OpenAI-compatible provider ("groq",
	// "ollama", ...) that uses this adapter.
	Name string
	// APIKey is sent as a bearer token. Empty sends no Authorization header
	// at all, which is what local servers (Ollama, vLLM, llama.cpp, LM
	// Studio) expect; OpenAI itself then answers 401 (llm.KindAuth).
	APIKey string
	// BaseURL is the API root, e.g. "http://127.0.0.1:11434/v1"; empty
	// means DefaultBaseURL.
	BaseURL string
	// HTTPClient sends the requests; nil means a client of its own over
	// http.DefaultTransport.
	HTTPClient *http.Client
}

// Provider is an OpenAI Chat Completions endpoint (OpenAI's own or a
// compatible server). It is immutable and safe for concurrent use.
type Provider struct {
	name string
	// official is true for OpenAI's own API, whose newer parameters
	// (max_completion_tokens, prompt cache breakpoints) compatible servers
	// do not all know.
	official bool
	// err is a configuration error every call returns.
	err  error
	chat openai.ChatCompletionService
	// opts configure every SDK service of the provider (batch.go uses
	// them for the Files and Batches services).
	opts []option.RequestOption
}

// New returns a provider. It never reads the environment: the SDK's own
// OPENAI_API_KEY / OPENAI_BASE_URL / OPENAI_ORG_ID lookups are bypassed
// (Keel's resolver owns the environment), and the SDK's retries are off
// (Keel's retry middleware owns retries).
func New(opts Options) *Provider {
	base := cmp.Or(opts.BaseURL, DefaultBaseURL)
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	ro := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithHTTPClient(client),
		option.WithMaxRetries(0),
	}
	if opts.APIKey != "" {
		ro = append(ro, option.WithAPIKey(opts.APIKey))
	}
	name := cmp.Or(opts.Name, "openai")
	return &Provider{
		name:     name,
		official: isOfficial(base),
		err:      checkBaseURL(name, base),
		// NewChatCompletionService, unlike openai.NewClient, applies only
		// the options given: nothing comes from the environment.
		chat: openai.NewChatCompletionService(ro...),
		opts: ro,
	}
}

// checkBaseURL reports a base URL that cannot work, so that every call
// fails with a clear error naming it instead of a transport error.
func checkBaseURL(provider, base string) error {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return &llm.Error{Kind: llm.KindInvalidRequest, Provider: provider, Message: fmt.Sprintf("base URL: %v", err)}
	case u.Scheme != "http" && u.Scheme != "https":
		return &llm.Error{Kind: llm.KindInvalidRequest, Provider: provider, Message: fmt.Sprintf("base URL %q: want an http or https URL", base)}
	case u.Host == "":
		return &llm.Error{Kind: llm.KindInvalidRequest, Provider: provider, Message: fmt.Sprintf("base URL %q has no host", base)}
	}
	return nil
}

// isOfficial reports whether base is OpenAI's own API.
func isOfficial(base string) bool {
	u, err := url.Parse(base)
	return err == nil && strings.EqualFold(u.Hostname(), "api.openai.com")
}

// Name returns the provider's name.
func (p *Provider) Name() string { return p.name }

// Model returns the model called model on this provider.
func (p *Provider) Model(model string) *Model {
	return &Model{p: p, model: model, name: p.name + "/" + model}
}

// Model is one model of a Provider. It implements llm.Model and is safe for
// concurrent use.
type Model struct {
	p     *Provider
	model string
	name  string
}

var _ llm.Model = (*Model)(nil)

// Name returns the model's `provider/model` name.
func (m *Model) Name() string { return m.name }

// Generate sends the request to the non-streaming endpoint.
func (m *Model) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	params, err := m.p.params(m.model, req)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var raw *http.Response
	var body []byte
	// The body comes back raw, to be decoded by response (wire.go).
	_, err = m.p.chat.New(ctx, params, option.WithResponseInto(&raw), option.WithResponseBodyInto(&body))
	if err != nil {
		return nil, m.p.wrapErr(ctx, err, raw)
	}
	resp, err := m.p.response(body)
	if err != nil {
		if e, ok := errors.AsType[*llm.Error](err); ok && raw != nil {
			e.RequestID = cmp.Or(e.RequestID, raw.Header.Get("x-request-id"))
		}
		return nil, err
	}
	resp.Model = m.name
	resp.Latency = time.Since(start)
	return resp, nil
}

// Stream sends the request to the streaming endpoint and yields its events.
func (m *Model) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		params, err := m.p.params(m.model, req)
		if err != nil {
			yield(llm.Event{}, err)
			return
		}
		m.stream(ctx, params, yield)
	}
}
