package anthropic

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"

	"github.com/keelai/keel/internal/lenientjson"
	"github.com/keelai/keel/llm"
)

// Options configures a provider. Zero values mean defaults.
type Options struct {
	// Name is the provider name used in model names; "anthropic" when empty.
	Name string
	// APIKey is sent as the credential. Empty sends none (the API answers
	// 401): the adapter never falls back to ANTHROPIC_API_KEY.
	APIKey string
	// BaseURL is the API's base URL; "" means https://api.anthropic.com.
	BaseURL string
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// nonStreamingTimeout bounds one non-streaming call when ctx has no earlier
// deadline. The SDK refuses a non-streaming call whose max_tokens suggests
// more than ten minutes of generation unless a timeout is given, and Keel's
// default max_tokens (the model's output limit) is far above that; the
// caller's context stays the real bound.
const nonStreamingTimeout = time.Hour

// Provider is a configured connection to the Anthropic API. It is safe for
// concurrent use and immutable once built.
type Provider struct {
	name   string
	client sdk.Client
	// err is a configuration error (an unparsable BaseURL), returned by
	// every call so that New can keep its signature.
	err error
}

// New returns a provider configured by opts alone.
func New(opts Options) *Provider {
	p := &Provider{name: opts.Name}
	if p.name == "" {
		p.name = "anthropic"
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	ro := []option.RequestOption{
		// Keel's resolver owns the environment: no ANTHROPIC_* variable, profile
		// file or custom header may change what this provider sends.
		option.WithoutEnvironmentDefaults(),
		// Keel's retry middleware owns retries, so each attempt is visible.
		option.WithMaxRetries(0),
		option.WithHTTPClient(hc),
		// Keel's tracing middleware makes the GenAI spans; the SDK's would
		// duplicate them (and read ANTHROPIC_OPEN_TELEMETRY* variables).
		option.WithoutOpenTelemetry(),
	}
	if opts.APIKey != "" {
		ro = append(ro, option.WithAPIKey(opts.APIKey))
	}
	if opts.BaseURL != "" {
		if u, err := url.Parse(opts.BaseURL); err != nil || u.Scheme == "" || u.Host == "" {
			p.err = &llm.Error{Kind: llm.KindInvalidRequest, Provider: p.name,
				Message: fmt.Sprintf("base URL %q: want an absolute URL such as https://api.anthropic.com", llm.Redact(opts.BaseURL))}
		}
		ro = append(ro, option.WithBaseURL(opts.BaseURL))
	}
	p.client = sdk.NewClient(ro...)
	return p
}

// Model returns the model named model (an Anthropic model id such as
// "claude-sonnet-4-6") on this provider.
func (p *Provider) Model(model string) *Model {
	return &Model{p: p, model: model, name: p.name + "/" + model}
}

// Model is one Anthropic model. It implements llm.Model and
// llm.TokenCounter, and is safe for concurrent use.
type Model struct {
	p     *Provider
	model string
	name  string
}

var (
	_ llm.Model        = (*Model)(nil)
	_ llm.TokenCounter = (*Model)(nil)
)

// Name returns the model's `provider/model` name.
func (m *Model) Name() string { return m.name }

// Generate sends the request to the non-streaming Messages endpoint.
func (m *Model) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	start := time.Now()
	if m.p.err != nil {
		return nil, m.p.err
	}
	params, opts, err := m.params(req)
	if err != nil {
		return nil, err
	}
	// The body comes back raw, to be decoded with Keel's types (wire.go).
	var body []byte
	opts = append(opts, option.WithRequestTimeout(nonStreamingTimeout), option.WithResponseBodyInto(&body))
	if _, err := m.p.client.Messages.New(ctx, params, opts...); err != nil {
		return nil, m.p.wrapErr(ctx, err)
	}
	var msg wireMessage
	if err := lenientjson.DecodeAnswer(m.p.name, body, &msg); err != nil {
		return nil, err
	}
	resp := m.response(&msg)
	resp.Latency = time.Since(start)
	return resp, nil
}

// Stream sends the request to the streaming Messages endpoint and yields
// its events. A stream that ends before message_stop is a KindNetwork
// error wrapping llm.ErrIncomplete, never a short answer.
func (m *Model) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		start := time.Now()
		if m.p.err != nil {
			yield(llm.Event{}, m.p.err)
			return
		}
		params, opts, err := m.params(req)
		if err != nil {
			yield(llm.Event{}, err)
			return
		}
		// What Messages.NewStreaming does, with the events decoded into
		// Keel's types (wire.go) by the SDK's own stream: its framing, its
		// pings and its error events are kept.
		var raw *http.Response
		err = m.p.client.Post(ctx, "v1/messages", params, &raw, append(opts, option.WithJSONSet("stream", true))...)
		stream := ssestream.NewStream[wireEvent](ssestream.NewDecoder(raw), err)
		defer stream.Close()

		st := streamState{provider: m.p.name}
		st.acc.Model = m.name
		for stream.Next() {
			if err := ctx.Err(); err != nil {
				// Events already buffered must not outrun a cancellation.
				yield(llm.Event{}, m.p.wrapErr(ctx, err))
				return
			}
			ev := stream.Current()
			ok, err := st.handle(&ev, yield)
			if err != nil {
				yield(llm.Event{}, err)
				return
			}
			if !ok {
				return
			}
			if st.stopped {
				break
			}
		}
		if !st.stopped {
			yield(llm.Event{}, m.p.streamErr(ctx, stream.Err()))
			return
		}
		usage := st.usage.normalise()
		st.acc.Usage = usage
		if st.acc.StopReason == "" {
			st.acc.StopReason = llm.StopUnknown
		}
		if !yield(st.acc.Add(llm.Event{Kind: llm.EventUsage, Usage: &usage}), nil) {
			return
		}
		resp := st.acc.Response()
		resp.Latency = time.Since(start)
		yield(llm.Event{Kind: llm.EventDone, Response: resp}, nil)
	}
}

// CountTokens returns the number of input tokens the request would use,
// from the API's count_tokens endpoint.
func (m *Model) CountTokens(ctx context.Context, req *llm.Request) (int, error) {
	if m.p.err != nil {
		return 0, m.p.err
	}
	params, _, err := m.params(req)
	if err != nil {
		return 0, err
	}
	cp := sdk.MessageCountTokensParams{
		Messages:     params.Messages,
		Model:        params.Model,
		Thinking:     params.Thinking,
		ToolChoice:   params.ToolChoice,
		OutputConfig: params.OutputConfig,
	}
	if len(params.System) > 0 {
		cp.System.OfTextBlockArray = params.System
	}
	for _, t := range params.Tools {
		cp.Tools = append(cp.Tools, sdk.MessageCountTokensToolUnionParam{OfTool: t.OfTool})
	}
	res, err := m.p.client.Messages.CountTokens(ctx, cp)
	if err != nil {
		return 0, m.p.wrapErr(ctx, err)
	}
	return int(res.InputTokens), nil
}
