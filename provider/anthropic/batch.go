package anthropic

import (
	"context"
	"encoding/json"
	"fmt"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"
	"github.com/anthropics/anthropic-sdk-go/v2/shared"

	"github.com/keelai/keel/internal/lenientjson"
	"github.com/keelai/keel/llm"
)

// This file is what package batch needs to drive the Message Batches API
// with the adapter's own translation, so that a batched request is exactly
// what Generate would send and a batched answer reads exactly as Generate's.

// Batches returns the SDK's Message Batches service configured as every
// call of the model's provider is: its key, base URL and HTTP client, no
// environment, no SDK retries.
func (m *Model) Batches() (*sdk.MessageBatchService, error) {
	if m.p.err != nil {
		return nil, m.p.err
	}
	return &m.p.client.Messages.Batches, nil
}

// BatchRequest translates req as Generate does into one request of a
// Message Batch. version is the anthropic-version the whole batch must be
// created with: "" for the SDK's own, or the older version that still
// accepts temperature, top_p and top_k when req sets them.
func (m *Model) BatchRequest(customID string, req *llm.Request) (r sdk.MessageBatchNewParamsRequest, version string, err error) {
	if m.p.err != nil {
		return r, "", m.p.err
	}
	params, _, err := m.params(req)
	if err != nil {
		return r, "", err
	}
	body, err := json.Marshal(params)
	if err != nil {
		return r, "", m.invalid("request: %v", err)
	}
	if req.Temperature != nil || req.TopP != nil || req.TopK > 0 {
		// Generate sets these through per-call JSON options, which a batch
		// request cannot carry: add them to the body instead.
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return r, "", m.invalid("request: %v", err)
		}
		if req.Temperature != nil {
			obj["temperature"], _ = json.Marshal(*req.Temperature)
		}
		if req.TopP != nil {
			obj["top_p"], _ = json.Marshal(*req.TopP)
		}
		if req.TopK > 0 {
			obj["top_k"], _ = json.Marshal(req.TopK)
		}
		if body, err = json.Marshal(obj); err != nil {
			return r, "", m.invalid("request: %v", err)
		}
		version = samplingAPIVersion
	}
	r.CustomID = customID
	r.Params = param.Override[sdk.MessageBatchNewParamsRequestParams](json.RawMessage(body))
	return r, version, nil
}

// BatchResponse translates the message of a succeeded batch result. The
// SDK decoded the results file; the message is read again from the JSON it
// kept, with the types Generate uses.
func (m *Model) BatchResponse(msg *sdk.Message) *llm.Response {
	raw := []byte(msg.RawJSON())
	if len(raw) == 0 { // a message built in Go rather than decoded
		raw, _ = json.Marshal(msg)
	}
	var w wireMessage
	// The SDK parsed (or made) this JSON already, and wireMessage reads
	// every field leniently: it cannot fail here.
	_ = lenientjson.Unmarshal(raw, &w)
	return m.response(&w)
}

// BatchError translates the error of an errored batch result, refined by
// its type as an HTTP error body would be.
func (m *Model) BatchError(e shared.ErrorObjectUnion) *llm.Error {
	msg := e.Message
	if msg == "" {
		msg = "request failed"
	}
	if e.Type != "" {
		msg = e.Type + ": " + msg
	}
	le := &llm.Error{Kind: llm.KindServer, Provider: m.p.name, Message: msg}
	if k, ok := kindForType(e.Type); ok {
		le.Kind = k
	}
	if le.Kind == llm.KindInvalidRequest && llm.IsContextLengthMessage(msg) {
		le.Kind = llm.KindContextLength
	}
	return le
}

// BatchCallError translates a failed call of the Batches service, as
// Generate's errors are translated; it never holds the API key.
func (m *Model) BatchCallError(ctx context.Context, err error) *llm.Error {
	if err == nil {
		return nil
	}
	e := m.p.wrapErr(ctx, err)
	if e.Message == "" {
		e.Message = fmt.Sprint(err)
	}
	return e
}
