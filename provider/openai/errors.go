package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/keelai/keel/llm"
)

// wrapErr turns any failure of a call into an *llm.Error. res is the HTTP
// response when there was one.
func (p *Provider) wrapErr(ctx context.Context, err error, res *http.Response) *llm.Error {
	if e, ok := errors.AsType[*llm.Error](err); ok {
		return e
	}
	// The context first: a canceled call surfaces as many different errors
	// (a closed body, a failed dial, context.Canceled itself).
	if cerr := ctx.Err(); cerr != nil {
		return &llm.Error{Kind: llm.KindOf(cerr), Provider: p.name, Message: cerr.Error(), Err: cerr}
	}
	if apiErr, ok := errors.AsType[*openai.Error](err); ok {
		msg := apiErr.Message
		if msg == "" {
			msg = bodyMessage(apiErr.Response, apiErr.StatusCode)
		}
		var h http.Header
		if apiErr.Response != nil {
			h = apiErr.Response.Header
		}
		return p.apiError(apiErr.StatusCode, h, apiErr.Type, apiErr.Code, msg, err)
	}
	if se, ok := errors.AsType[*ssestream.StreamError](err); ok {
		return p.streamError(se, res)
	}
	if res != nil && res.StatusCode >= 400 {
		// An error body the SDK could not decode (an HTML page from a
		// proxy, a compatible server's own shape).
		return p.apiError(res.StatusCode, res.Header, "", "", bodyMessage(res, res.StatusCode), err)
	}
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		return p.malformed(err, res)
	}
	kind := llm.KindOf(err)
	if kind == "" {
		// Left: transport failures that are not net.Errors (an unexpected
		// EOF, a reset mid-body).
		kind = llm.KindNetwork
	}
	return &llm.Error{Kind: kind, Provider: p.name, Message: llm.Redact(err.Error()), Err: err}
}

func (p *Provider) malformed(err error, res *http.Response) *llm.Error {
	e := &llm.Error{Kind: llm.KindServer, Provider: p.name, Message: "malformed response: " + llm.Redact(err.Error()), Err: err}
	if res != nil {
		e.RequestID = res.Header.Get("x-request-id")
	}
	return e
}

// apiError builds the error for an OpenAI error body: the kind from the
// status, refined by the body's type and code.
func (p *Provider) apiError(status int, h http.Header, typ, code, msg string, cause error) *llm.Error {
	if msg == "" {
		msg = http.StatusText(status)
	}
	e := llm.HTTPError(p.name, status, h, msg, cause)
	if status == 0 {
		e.Kind = llm.KindServer
		if typ == "invalid_request_error" {
			e.Kind = llm.KindInvalidRequest
		}
		if llm.IsContextLengthMessage(msg) {
			e.Kind = llm.KindContextLength
		}
	}
	refine(e, typ, code)
	return e
}

// refine sets the kind the error's type and code say more precisely than
// the status.
func refine(e *llm.Error, typ, code string) {
	is := func(names ...string) bool {
		for _, n := range names {
			if code == n || typ == n {
				return true
			}
		}
		return false
	}
	switch {
	case is("context_length_exceeded", "string_above_max_length"):
		e.Kind = llm.KindContextLength
	case is("insufficient_quota", "billing_hard_limit_reached"):
		// Out of credit: a 429 like a rate limit, but waiting does not
		// help, so it is not retryable (fallbacks still apply).
		e.Kind = llm.KindRateLimited
		e.ShouldRetry = new(false)
	case is("rate_limit_exceeded", "rate_limit_error", "requests", "tokens"):
		e.Kind = llm.KindRateLimited
	case is("content_filter", "content_policy_violation"):
		e.Kind = llm.KindContentFilter
	case is("invalid_api_key", "authentication_error"):
		e.Kind = llm.KindAuth
	case is("model_not_found"):
		e.Kind = llm.KindNotFound
	case strings.Contains(code, "overloaded") || strings.Contains(typ, "overloaded"):
		e.Kind = llm.KindOverloaded
	}
}

// streamError maps an error event received mid-stream:
// data: {"error":{"message":...,"type":...,"code":...}}.
func (p *Provider) streamError(se *ssestream.StreamError, res *http.Response) *llm.Error {
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal(se.Event.Data, &body)
	var h http.Header
	if res != nil {
		h = res.Header
	}
	return p.errorObject(body.Error, h, se)
}

// errorObject maps the "error" member of a body that has no HTTP error
// status to go with it (a stream's error event, a 200 carrying an error).
func (p *Provider) errorObject(raw json.RawMessage, h http.Header, cause error) *llm.Error {
	var detail struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(raw, &detail) != nil {
		// {"error": "text"}, as some compatible servers send.
		_ = json.Unmarshal(raw, &detail.Message)
	}
	if detail.Message == "" {
		detail.Message = "error event in stream"
	}
	var code string
	status := 0
	if json.Unmarshal(detail.Code, &code) != nil {
		// llama.cpp puts an HTTP status in code.
		if n, err := strconv.Atoi(string(detail.Code)); err == nil && n >= 400 && n <= 599 {
			status = n
		}
	}
	e := p.apiError(0, h, detail.Type, code, detail.Message, cause)
	if status != 0 {
		e.Kind = llm.KindForStatus(status)
		refine(e, detail.Type, code)
	}
	return e
}

// bodyMessage reads an error body the SDK kept for us, for a message:
// {"error":"..."}, {"detail":"..."}, {"message":"..."}, or the text itself.
func bodyMessage(res *http.Response, status int) string {
	if res == nil || res.Body == nil {
		return http.StatusText(status)
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
	var shapes struct {
		Error   json.RawMessage `json:"error"`
		Detail  json.RawMessage `json:"detail"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(b, &shapes) == nil {
		for _, raw := range []json.RawMessage{shapes.Error, shapes.Detail} {
			var s string
			if json.Unmarshal(raw, &s) == nil && s != "" {
				return s
			}
			var obj struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
				return obj.Message
			}
		}
		if shapes.Message != "" {
			return shapes.Message
		}
	}
	if s := strings.TrimSpace(string(b)); s != "" && !strings.HasPrefix(s, "<") {
		return s
	}
	return http.StatusText(status)
}
