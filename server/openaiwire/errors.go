package openaiwire

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
)

// requestError is a refusal of the gateway's own, with the fields of
// OpenAI's error body that an *llm.Error does not carry.
type requestError struct {
	status int
	msg    string
	param  string
	code   string
	typ    string
}

func (e *requestError) Error() string { return e.msg }

// errorBody is OpenAI's error shape. Param and code are null when unknown,
// as OpenAI sends them.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// describe returns the status, body and retry delay OpenAI would send for
// err.
func describe(err error) (int, errorDetail, time.Duration) {
	var re *requestError
	if errors.As(err, &re) {
		typ := re.typ
		if typ == "" {
			typ = typeForStatus(re.status)
		}
		return re.status, errorDetail{Message: re.msg, Type: typ, Param: nullable(re.param), Code: nullable(re.code)}, 0
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return describe(tooLarge(mbe.Limit))
	}
	var le *llm.Error
	if !errors.As(err, &le) {
		kind := llm.KindOf(err)
		if kind == "" {
			kind = llm.KindServer
		}
		le = &llm.Error{Kind: kind, Message: err.Error()}
	}
	status, code := backend.Status(le.Kind), codeForKind(le.Kind)
	if le.Status != 0 && le.Kind != llm.KindOverloaded && le.Kind != llm.KindCanceled {
		// OpenAI clients know no 529; every other upstream status says
		// more than the kind does.
		status = le.Status
	}
	msg := le.Message
	if msg == "" {
		msg = string(le.Kind)
		if le.Err != nil {
			msg = le.Err.Error()
		}
	}
	return status, errorDetail{
		Message: llm.Redact(msg),
		Type:    typeForStatus(status),
		Code:    nullable(code),
	}, le.RetryAfter
}

// codeForKind is OpenAI's error code for a kind, or "". The status is
// backend.Status's: OpenAI answers each kind with the common one.
func codeForKind(k llm.ErrorKind) string {
	switch k {
	case llm.KindContextLength:
		return "context_length_exceeded"
	case llm.KindContentFilter:
		return "content_filter"
	case llm.KindAuth:
		return "invalid_api_key"
	case llm.KindRateLimited:
		return "rate_limit_exceeded"
	case llm.KindBudgetExceeded:
		// OpenAI answers a spent quota with 429 insufficient_quota, which
		// clients retry in vain; the same code with backend.Status's 402
		// is not retried.
		return "insufficient_quota"
	case llm.KindTimeout:
		return "timeout"
	}
	return ""
}

// typeForStatus is the error type OpenAI sends with a status. A 401 is an
// invalid_request_error with the code invalid_api_key, as OpenAI answers
// a wrong or missing key.
func typeForStatus(status int) string {
	switch {
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusPaymentRequired:
		return "insufficient_quota"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

// WriteError writes err as OpenAI's error body, {"error":{"message",
// "type","param","code"}}, with the status of its kind (an *llm.Error's
// Status when set; overloaded is always 503, OpenAI's own) and
// retry-after and retry-after-ms when it carries a delay. The server uses
// it for its own refusals (401, 429, 413) on the /v1 routes of this format.
// Messages pass through llm.Redact: nothing shaped like a key is echoed.
func WriteError(w http.ResponseWriter, err error) {
	status, detail, retry := describe(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if retry > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(retry.Milliseconds(), 10))
	}
	body, _ := json.Marshal(errorBody{Error: detail})
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// modelNotFound is OpenAI's answer to an unknown model.
func modelNotFound(name string) error {
	return &requestError{
		status: http.StatusNotFound,
		msg:    "The model `" + llm.Redact(name) + "` does not exist or you do not have access to it.",
		code:   "model_not_found",
		typ:    "invalid_request_error",
	}
}

// isCanceled reports whether err is the client going away, which needs no
// answer.
func isCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || llm.KindOf(err) == llm.KindCanceled)
}
