package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
)

// statusError is an HTTP error answer read by the hand-written clients.
type statusError struct {
	status int
	header http.Header
	msg    string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.msg) }

// readStatusError reads an error response's message: the body's
// "detail", "error.message" or "error" field, or the body itself.
func readStatusError(res *http.Response) *statusError {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var shape struct {
		Detail json.RawMessage `json:"detail"`
		Error  json.RawMessage `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &shape) == nil {
		for _, raw := range []json.RawMessage{shape.Detail, shape.Error} {
			var s string
			var obj struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(raw, &s) == nil && s != "" {
				msg = s
				break
			}
			if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
				msg = obj.Message
				break
			}
		}
	}
	if msg == "" {
		msg = http.StatusText(res.StatusCode)
	}
	return &statusError{status: res.StatusCode, header: res.Header, msg: msg}
}

// wrapErr turns a failed request into an *llm.Error. header holds the
// response headers when the SDK does not expose them (genai).
func wrapErr(ctx context.Context, provider string, err error, header http.Header) error {
	if e, ok := errors.AsType[*llm.Error](err); ok {
		return e
	}
	// The caller's context decides first: SDKs report a canceled request
	// as transport errors of many shapes.
	if cerr := ctx.Err(); cerr != nil {
		return &llm.Error{Kind: llm.KindOf(cerr), Provider: provider, Message: cerr.Error(), Err: cerr}
	}
	if e, ok := errors.AsType[*openai.Error](err); ok {
		var h http.Header
		if e.Response != nil {
			h = e.Response.Header
		}
		msg := e.Message
		if msg == "" {
			msg = http.StatusText(e.StatusCode)
		}
		return llm.HTTPError(provider, e.StatusCode, h, msg, err)
	}
	if e, ok := errors.AsType[genai.APIError](err); ok {
		return llm.HTTPError(provider, e.Code, header, e.Message, err)
	}
	if e, ok := errors.AsType[*statusError](err); ok {
		return llm.HTTPError(provider, e.status, e.header, e.msg, err)
	}
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		return &llm.Error{Kind: llm.KindServer, Provider: provider, Message: "malformed response: " + llm.Redact(err.Error()), Err: err}
	}
	kind := llm.KindOf(err)
	if kind == "" {
		kind = llm.KindNetwork
	}
	return &llm.Error{Kind: kind, Provider: provider, Message: llm.Redact(err.Error()), Err: err}
}
