package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/keelai/keel/llm"
)

// maxBodyInMessage bounds how much of an error body that is not the API's
// JSON (a proxy's HTML page, say) goes into an error message.
const maxBodyInMessage = 512

// wrapErr turns any failure of a call into an *llm.Error.
func (p *Provider) wrapErr(ctx context.Context, err error) *llm.Error {
	if e, ok := errors.AsType[*llm.Error](err); ok {
		return e
	}
	// The caller's context decides first: a read cut by a cancellation is a
	// cancellation, not a network failure.
	if cerr := ctx.Err(); cerr != nil {
		return p.contextError(ctx, cerr)
	}
	if e, ok := errors.AsType[*sdk.Error](err); ok {
		return p.apiError(e)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &llm.Error{Kind: llm.KindTimeout, Provider: p.name, Message: "request timed out", Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &llm.Error{Kind: llm.KindCanceled, Provider: p.name, Message: "request canceled", Err: err}
	}
	if isJSONError(err) {
		return &llm.Error{Kind: llm.KindServer, Provider: p.name, Message: "malformed response: " + llm.Redact(err.Error()), Err: err}
	}
	kind := llm.KindOf(err)
	if kind == "" || kind == llm.KindCanceled {
		kind = llm.KindNetwork
	}
	return &llm.Error{Kind: kind, Provider: p.name, Message: llm.Redact(err.Error()), Err: err}
}

// streamErr explains a stream that ended before message_stop: with the
// stream's error when it has one, and as llm.ErrIncomplete in any case
// other than an API error or a cancellation.
func (p *Provider) streamErr(ctx context.Context, err error) *llm.Error {
	if cerr := ctx.Err(); cerr != nil {
		return p.contextError(ctx, cerr)
	}
	if err == nil {
		return &llm.Error{Kind: llm.KindNetwork, Provider: p.name, Message: llm.ErrIncomplete.Error(), Err: llm.ErrIncomplete}
	}
	if _, ok := errors.AsType[*sdk.Error](err); ok {
		return p.wrapErr(ctx, err)
	}
	if isJSONError(err) {
		return &llm.Error{Kind: llm.KindServer, Provider: p.name, Message: "malformed stream event: " + llm.Redact(err.Error()), Err: err}
	}
	e := p.wrapErr(ctx, err)
	if e.Kind == llm.KindNetwork {
		e.Message = llm.ErrIncomplete.Error() + ": " + e.Message
		e.Err = errors.Join(llm.ErrIncomplete, err)
	}
	return e
}

func (p *Provider) contextError(ctx context.Context, err error) *llm.Error {
	kind := llm.KindCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		kind = llm.KindTimeout
	}
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = errors.Join(err, cause)
	}
	return &llm.Error{Kind: kind, Provider: p.name, Message: llm.Redact(err.Error()), Err: err}
}

// isJSONError reports a body or event that is not the JSON expected, as
// encoding/json (the SDK's stream) or lenientjson (Keel's types) found it.
func isJSONError(err error) bool {
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*jsontext.SyntacticError](err); ok {
		return true
	}
	_, ok := errors.AsType[*jsonv2.SemanticError](err)
	return ok
}

// apiError translates an error the API sent: an HTTP error status, or an
// SSE error event in a stream that began with 200 (Status is then 0, as no
// HTTP status describes the failure).
//
// The SDK's error is not kept as the cause: it holds the request, and so
// the API key in its headers.
func (p *Provider) apiError(e *sdk.Error) *llm.Error {
	var header http.Header
	if e.Response != nil {
		header = e.Response.Header
	}
	status := e.StatusCode
	if status < 400 {
		status = 0
	}
	errType := string(e.Type())
	msg := e.Message
	if msg == "" {
		msg = strings.TrimSpace(e.RawJSON())
		if len(msg) > maxBodyInMessage {
			msg = msg[:maxBodyInMessage] + "…"
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if errType != "" {
		msg = errType + ": " + msg
	}
	le := llm.HTTPError(p.name, status, header, msg, nil)
	if k, ok := kindForType(errType); ok {
		le.Kind = k
	}
	switch {
	case le.Kind == llm.KindInvalidRequest && llm.IsContextLengthMessage(msg):
		le.Kind = llm.KindContextLength
	case strings.Contains(strings.ToLower(msg), "content filtering"):
		// "Output blocked by content filtering policy".
		le.Kind = llm.KindContentFilter
	}
	return le
}

// kindForType maps the API's error types, which say more than the status
// (and are all an SSE error event has).
func kindForType(t string) (llm.ErrorKind, bool) {
	switch t {
	case "invalid_request_error", "request_too_large":
		return llm.KindInvalidRequest, true
	case "authentication_error":
		return llm.KindAuth, true
	case "permission_error", "billing_error":
		return llm.KindPermission, true
	case "not_found_error":
		return llm.KindNotFound, true
	case "rate_limit_error":
		return llm.KindRateLimited, true
	case "api_error":
		return llm.KindServer, true
	case "overloaded_error":
		return llm.KindOverloaded, true
	case "timeout_error":
		return llm.KindTimeout, true
	}
	return "", false
}
