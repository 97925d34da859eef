package gemini

import (
	"context"
	"encoding/json"
	"iter"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
)

// Model is one Gemini model. It implements llm.Model and llm.TokenCounter,
// and is safe for concurrent use.
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

// Generate sends the request to generateContent and waits for the answer.
func (m *Model) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	start := time.Now()
	if m.p.clientErr != nil {
		return nil, m.p.clientErr
	}
	contents, cfg, err := translate(m.p.name, req)
	if err != nil {
		return nil, err
	}
	ctx, c := withCapture(ctx)
	r, err := m.p.client.Models.GenerateContent(ctx, m.model, contents, cfg)
	if err != nil {
		return nil, mapError(ctx, m.p.name, err, c, false)
	}
	d := newDecoder(m.p.name, m.name)
	if _, err := d.add(r, func(llm.Event) bool { return true }); err != nil {
		return nil, err
	}
	resp := d.response()
	resp.Latency = time.Since(start)
	return resp, nil
}

// Stream sends the request to streamGenerateContent (server-sent events)
// and yields Keel events as chunks arrive, then usage and done. A stream
// that ends without a finish reason is a network error (llm.ErrIncomplete).
func (m *Model) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		start := time.Now()
		if m.p.clientErr != nil {
			yield(llm.Event{}, m.p.clientErr)
			return
		}
		contents, cfg, err := translate(m.p.name, req)
		if err != nil {
			yield(llm.Event{}, err)
			return
		}
		// Leaving the loop for any reason cancels the request; genai also
		// closes the body when its iterator is abandoned.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ctx, c := withCapture(ctx)
		d := newDecoder(m.p.name, m.name)
		emit := func(ev llm.Event) bool { return yield(ev, nil) }
		for chunk, err := range m.p.client.Models.GenerateContentStream(ctx, m.model, contents, cfg) {
			if err != nil {
				yield(llm.Event{}, mapError(ctx, m.p.name, err, c, true))
				return
			}
			more, err := d.add(chunk, emit)
			if err != nil {
				yield(llm.Event{}, err)
				return
			}
			if !more {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(llm.Event{}, mapError(ctx, m.p.name, err, c, true))
			return
		}
		if !d.finished() {
			yield(llm.Event{}, &llm.Error{
				Kind:     llm.KindNetwork,
				Provider: m.p.name,
				Message:  "stream ended without a finish reason",
				Err:      llm.ErrIncomplete,
			})
			return
		}
		resp := d.response()
		resp.Latency = time.Since(start)
		u := resp.Usage
		if !yield(llm.Event{Kind: llm.EventUsage, Usage: &u}, nil) {
			return
		}
		yield(llm.Event{Kind: llm.EventDone, Response: resp}, nil)
	}
}

// CountTokens counts the request's input tokens with countTokens, system
// instruction and tool declarations included. It implements
// llm.TokenCounter.
func (m *Model) CountTokens(ctx context.Context, req *llm.Request) (int, error) {
	if m.p.clientErr != nil {
		return 0, m.p.clientErr
	}
	contents, cfg, err := translate(m.p.name, req)
	if err != nil {
		return 0, err
	}
	var opts *genai.CountTokensConfig
	if cfg.SystemInstruction != nil || len(cfg.Tools) > 0 {
		// genai's CountTokensConfig takes only contents on the Developer
		// API; the API itself counts a whole generateContentRequest, so
		// the body is rewritten to that form.
		extra, err := countExtras(m.model, cfg)
		if err != nil {
			return 0, invalidRequest(m.p.name, err.Error())
		}
		opts = &genai.CountTokensConfig{HTTPOptions: &genai.HTTPOptions{
			ExtrasRequestProvider: func(body map[string]any) map[string]any {
				gcr := map[string]any{"contents": body["contents"]}
				for k, v := range extra {
					gcr[k] = v
				}
				return map[string]any{"generateContentRequest": gcr}
			},
		}}
	}
	ctx, c := withCapture(ctx)
	r, err := m.p.client.Models.CountTokens(ctx, m.model, contents, opts)
	if err != nil {
		return 0, mapError(ctx, m.p.name, err, c, false)
	}
	return int(r.TotalTokens), nil
}

// countExtras returns the generateContentRequest fields besides contents,
// in wire form: genai's types marshal to the API's JSON.
func countExtras(model string, cfg *genai.GenerateContentConfig) (map[string]any, error) {
	if !strings.HasPrefix(model, "models/") && !strings.HasPrefix(model, "tunedModels/") {
		model = "models/" + model
	}
	fields := map[string]any{"model": model}
	if cfg.SystemInstruction != nil {
		fields["systemInstruction"] = cfg.SystemInstruction
	}
	if len(cfg.Tools) > 0 {
		fields["tools"] = cfg.Tools
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}
