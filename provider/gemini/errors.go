package gemini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
)

func invalidRequest(provider, msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindInvalidRequest, Provider: provider, Message: llm.Redact(msg)}
}

// mapError turns whatever genai returned into an *llm.Error. c holds the
// status and headers of the HTTP response, when there was one; streamed
// reports whether the call was a stream that had started, where a broken
// connection means the answer is incomplete.
func mapError(ctx context.Context, provider string, err error, c *capture, streamed bool) *llm.Error {
	if e, ok := errors.AsType[*llm.Error](err); ok {
		return e
	}
	// The caller's context decides first: genai reports a canceled request
	// as a transport error.
	if cerr := ctx.Err(); cerr != nil {
		kind := llm.KindCanceled
		if errors.Is(cerr, context.DeadlineExceeded) {
			kind = llm.KindTimeout
		}
		return &llm.Error{Kind: kind, Provider: provider, Message: cerr.Error(), Err: err}
	}
	if apiErr, ok := asAPIError(err); ok {
		var status int
		var header http.Header
		if c != nil {
			status, header = c.get()
		}
		if status < 400 {
			// An error event inside a 200 stream: the body's code is all
			// there is, and the stream's headers say nothing about it.
			status, header = apiErr.Code, nil
		}
		return apiError(provider, status, header, apiErr, err)
	}
	kind := llm.KindOf(err)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		kind = llm.KindNetwork
	case kind == llm.KindCanceled:
		// A cancellation that is not the caller's came from the network.
		kind = llm.KindNetwork
	case kind == "":
		// Whatever is left is a body genai could not decode: a malformed
		// response or stream event.
		return &llm.Error{Kind: llm.KindServer, Provider: provider, Message: llm.Redact("malformed response: " + err.Error()), Err: err}
	}
	e := &llm.Error{Kind: kind, Provider: provider, Message: llm.Redact(err.Error()), Err: err}
	if streamed && kind == llm.KindNetwork {
		e.Message = llm.Redact(llm.ErrIncomplete.Error() + ": " + err.Error())
		e.Err = fmt.Errorf("%w: %w", llm.ErrIncomplete, err)
	}
	return e
}

func asAPIError(err error) (genai.APIError, bool) {
	if e, ok := errors.AsType[genai.APIError](err); ok {
		return e, true
	}
	if e, ok := errors.AsType[*genai.APIError](err); ok && e != nil {
		return *e, true
	}
	return genai.APIError{}, false
}

// apiError builds the error for a Google API error body,
// {"error":{"code","message","status","details"}}: the kind from the HTTP
// status, refined by the canonical status name and the details.
func apiError(provider string, status int, header http.Header, apiErr genai.APIError, cause error) *llm.Error {
	msg := apiErr.Message
	if msg == "" {
		msg = apiErr.Status
	}
	if status == 0 {
		status = statusForCode(apiErr.Status)
	}
	e := llm.HTTPError(provider, status, header, msg, cause)
	if status == 0 {
		// A stream error event with neither code nor status.
		e.Kind = llm.KindServer
	}
	switch apiErr.Status {
	case "UNAUTHENTICATED":
		e.Kind = llm.KindAuth
	case "PERMISSION_DENIED":
		e.Kind = llm.KindPermission
		// A request with no key at all is refused as an unregistered caller.
		if strings.Contains(msg, "unregistered callers") || strings.Contains(msg, "API key") {
			e.Kind = llm.KindAuth
		}
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		e.Kind = llm.KindInvalidRequest
		if llm.IsContextLengthMessage(msg) {
			e.Kind = llm.KindContextLength
		}
	case "NOT_FOUND":
		e.Kind = llm.KindNotFound
	case "RESOURCE_EXHAUSTED":
		e.Kind = llm.KindRateLimited
	case "UNAVAILABLE":
		e.Kind = llm.KindOverloaded
	case "DEADLINE_EXCEEDED":
		e.Kind = llm.KindTimeout
	case "INTERNAL", "UNKNOWN", "DATA_LOSS", "ABORTED":
		e.Kind = llm.KindServer
	}
	for _, d := range apiErr.Details {
		switch d["@type"] {
		case "type.googleapis.com/google.rpc.ErrorInfo":
			if r, _ := d["reason"].(string); r == "API_KEY_INVALID" || r == "API_KEY_SERVICE_BLOCKED" {
				e.Kind = llm.KindAuth
			}
		case "type.googleapis.com/google.rpc.RetryInfo":
			if e.RetryAfter == 0 {
				if s, ok := d["retryDelay"].(string); ok {
					e.RetryAfter = parseRetryDelay(s)
				}
			}
		}
	}
	if e.RequestID == "" && header != nil {
		e.RequestID = header.Get("x-goog-request-id")
	}
	return e
}

// statusForCode gives the HTTP status of a canonical status name, for error
// events that carry only the name.
func statusForCode(code string) int {
	switch code {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return http.StatusBadRequest
	case "UNAUTHENTICATED":
		return http.StatusUnauthorized
	case "PERMISSION_DENIED":
		return http.StatusForbidden
	case "NOT_FOUND":
		return http.StatusNotFound
	case "ABORTED", "ALREADY_EXISTS":
		return http.StatusConflict
	case "RESOURCE_EXHAUSTED":
		return http.StatusTooManyRequests
	case "CANCELLED":
		return 499
	case "UNIMPLEMENTED":
		return http.StatusNotImplemented
	case "UNAVAILABLE":
		return http.StatusServiceUnavailable
	case "DEADLINE_EXCEEDED":
		return http.StatusGatewayTimeout
	case "INTERNAL", "UNKNOWN", "DATA_LOSS":
		return http.StatusInternalServerError
	}
	return 0
}

// parseRetryDelay reads a google.rpc.RetryInfo retryDelay, a protobuf
// Duration in its JSON form ("37s", "1.5s"). It returns 0 for anything else.
func parseRetryDelay(s string) time.Duration {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, "s") || strings.ContainsAny(s, "hmuµn") {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0
	}
	return d
}
