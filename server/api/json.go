package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/state"
)

// errorBody is the contract's error shape: {"error":{"type","message"}}.
type errorBody struct {
	Error apiError `json:"error"`
}

type apiError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// An encoding error here means the client went away: nothing to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, errorBody{Error: apiError{Type: typ, Message: llm.Redact(msg)}})
}

// fail answers err with the status its kind calls for. Errors the API
// does not classify are logged and reported without their text, which may
// hold details of the server's internals.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		writeError(w, re.status, re.typ, re.msg)
	case errors.Is(err, state.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, backend.ErrUnknownModel):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	default:
		kind := llm.KindOf(err)
		if kind == "" {
			h.log.ErrorContext(r.Context(), "api request failed", "path", r.URL.Path, "err", llm.Redact(err.Error()))
			writeError(w, http.StatusInternalServerError, "server", "internal error")
			return
		}
		writeError(w, statusForKind(kind), string(kind), err.Error())
	}
}

// statusForKind is backend.Status but for the kinds the table answers
// with 500 (KindServer and kinds it does not know): the API answers them
// with 502, since the failure is an upstream's, not this server's.
func statusForKind(k llm.ErrorKind) int {
	if s := backend.Status(k); s != http.StatusInternalServerError {
		return s
	}
	return http.StatusBadGateway
}

// requestError is a client mistake with the status and type to answer it.
type requestError struct {
	status int
	typ    string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, typ: "invalid_request", msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &requestError{status: http.StatusNotFound, typ: "not_found", msg: fmt.Sprintf(format, args...)}
}

// decodeJSON decodes exactly one JSON object from r into v, refusing
// unknown fields, wrong types and trailing data, with a message that names
// the field or the byte offset. limit bounds the body.
func decodeJSON(r io.Reader, limit int64, v any) error {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if lr.N <= 0 {
		return &requestError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request",
			msg: fmt.Sprintf("request body too large: the limit is %d bytes", limit)}
	}
	if err != nil {
		return badRequest("invalid JSON body: %s", describeJSONError(err))
	}
	if dec.More() {
		return badRequest("invalid JSON body: data after the JSON object")
	}
	// dec.More is false both at EOF and before a stray closing bracket.
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("invalid JSON body: data after the JSON object")
	}
	return nil
}

func describeJSONError(err error) string {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s (at byte %d)", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("the body must be a JSON object, not %s", typ.Value)
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends in the middle of a value"
	}
	// encoding/json reports unknown fields only as text: `json: unknown
	// field "x"`.
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + msg
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "float64", "float32":
		return "a number"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return goKind
}
