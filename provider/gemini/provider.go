package gemini

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"google.golang.org/genai"
)

// DefaultBaseURL is the Gemini Developer API's public endpoint.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/"

// defaultAPIVersion is the API version genai uses for the Developer API;
// it is set explicitly so that nothing depends on the SDK's default.
const defaultAPIVersion = "v1beta"

// placeholderKey stands in for a missing API key. genai refuses to build a
// client without a key and, given none, reads GOOGLE_API_KEY / GEMINI_API_KEY
// on its own; Keel's resolver owns the environment, so the adapter always
// passes a key and its transport strips this one before the request leaves.
const placeholderKey = "keel-no-api-key"

// Options configures a provider. Zero values mean defaults.
type Options struct {
	// Name is the provider name used in model names; "gemini" when empty.
	Name string
	// APIKey is the Gemini API key. When empty, requests go out without a
	// key (the API answers 403) instead of silently using the environment.
	APIKey string
	// BaseURL is the API endpoint; "" means DefaultBaseURL. A trailing API
	// version ("/v1beta", "/v1", "/v1alpha") is accepted and used as the
	// version.
	BaseURL string
	// HTTPClient is the client requests go through; nil means a default
	// client. It is not modified: the adapter wraps a copy.
	HTTPClient *http.Client
}

// Provider is a configured Gemini Developer API endpoint. It is safe for
// concurrent use and immutable once built.
type Provider struct {
	name string
	// client is nil when clientErr is set.
	client *genai.Client
	// clientErr is an *llm.Error returned by every call when the SDK
	// refused the configuration.
	clientErr error
}

// New returns a provider for opts. It never reads the environment.
func New(opts Options) *Provider {
	p := &Provider{name: opts.Name}
	if p.name == "" {
		p.name = "gemini"
	}
	base, version := SplitBaseURL(opts.BaseURL)
	key := opts.APIKey
	if key == "" {
		key = placeholderKey
	}
	hc := &http.Client{}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		hc = &c
	}
	hc.Transport = &transport{base: hc.Transport, stripKey: opts.APIKey == ""}
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:     key,
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: hc,
		HTTPOptions: genai.HTTPOptions{
			BaseURL:    base,
			APIVersion: version,
			// RetryOptions stays nil: genai then sends each request once.
		},
	})
	if err != nil {
		// genai's configuration errors print the whole ClientConfig, API
		// key included, so the cause is deliberately not kept.
		p.clientErr = invalidRequest(p.name, "cannot configure the genai client (check base URL and options)")
		return p
	}
	p.client = client
	return p
}

// Name returns the provider name used in model names.
func (p *Provider) Name() string { return p.name }

// Model returns the model named model (e.g. "gemini-2.5-flash") of this
// provider. Its Name is the provider name, a slash, and model.
func (p *Provider) Model(model string) *Model {
	return &Model{p: p, model: model, name: p.name + "/" + model}
}

// SplitBaseURL returns the base URL without a trailing API version, and
// the version (defaultAPIVersion when none). genai appends the version
// itself, so a base URL that already ends with one would double it.
func SplitBaseURL(raw string) (base, version string) {
	if raw == "" {
		return DefaultBaseURL, defaultAPIVersion
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw, defaultAPIVersion
	}
	path := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndex(path, "/")
	if last := path[i+1:]; last == "v1" || last == "v1beta" || last == "v1alpha" {
		u.Path = path[:i] + "/"
		return u.String(), last
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), defaultAPIVersion
}

// transport removes the placeholder key and records, for the request in
// flight, the response status and headers that genai.APIError does not
// expose (retry-after, request ids).
type transport struct {
	base     http.RoundTripper
	stripKey bool
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.stripKey {
		req = req.Clone(req.Context())
		req.Header.Del("x-goog-api-key")
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if c, ok := req.Context().Value(captureKey{}).(*capture); ok && resp != nil {
		c.set(resp.StatusCode, resp.Header)
	}
	return resp, err
}

// capture holds the status and headers of one call's HTTP response. It is
// created per call and carried in the request context, so the transport
// keeps no state of its own.
type capture struct {
	mu     sync.Mutex
	status int
	header http.Header
}

type captureKey struct{}

func withCapture(ctx context.Context) (context.Context, *capture) {
	c := &capture{}
	return context.WithValue(ctx, captureKey{}, c), c
}

func (c *capture) set(status int, h http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status, c.header = status, h
}

func (c *capture) get() (int, http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.header
}
