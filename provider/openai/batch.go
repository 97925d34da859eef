package openai

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/openai/openai-go/v3"

	"github.com/keelai/keel/llm"
)

// This file is what package batch needs to drive the Batch API with the
// adapter's own translation, so that a batched request is exactly what
// Generate would send and a batched answer reads exactly as Generate's.

// BatchServices returns the SDK's Files and Batches services configured as
// every call of the model's provider is: its key, base URL and HTTP client,
// no environment, no SDK retries.
func (m *Model) BatchServices() (openai.FileService, openai.BatchService, error) {
	if m.p.err != nil {
		return openai.FileService{}, openai.BatchService{}, m.p.err
	}
	return openai.NewFileService(m.p.opts...), openai.NewBatchService(m.p.opts...), nil
}

// BatchBody translates req as Generate does into the body of one
// /v1/chat/completions line of a Batch API input file.
func (m *Model) BatchBody(req *llm.Request) (json.RawMessage, error) {
	params, err := m.p.params(m.model, req)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(params)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Provider: m.p.name, Message: "request: " + err.Error()}
	}
	return b, nil
}

// BatchResponse translates the body of a succeeded line of a batch's
// output file (a chat completion).
func (m *Model) BatchResponse(body []byte) (*llm.Response, error) {
	resp, err := m.p.response(body)
	if err != nil {
		return nil, err
	}
	resp.Model = m.name
	return resp, nil
}

// BatchError translates a failed line of a batch: the HTTP status and
// error body the request got, or, with status 0, a bare error object
// ({"code","message"}) such as batch_expired.
func (m *Model) BatchError(status int, body []byte) *llm.Error {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 && string(env.Error) != "null" {
		body = env.Error
	}
	var detail struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	}
	_ = json.Unmarshal(body, &detail)
	if status == 0 {
		return m.p.errorObject(body, nil, nil)
	}
	return m.p.apiError(status, http.Header{}, detail.Type, detail.Code, detail.Message, nil)
}

// BatchCallError translates a failed call of the Files or Batches service,
// as Generate's errors are translated; it never holds the API key.
func (m *Model) BatchCallError(ctx context.Context, err error) *llm.Error {
	if err == nil {
		return nil
	}
	return m.p.wrapErr(ctx, err, nil)
}
