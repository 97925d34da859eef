// Package openaiwire serves the OpenAI API's wire format in front of any
// llm.Model: POST /v1/chat/completions (streamed or not), GET /v1/models
// and POST /v1/embeddings, so that an OpenAI client reaches every model
// Keel can with only its base URL changed.
//
// Requests are decoded strictly, as OpenAI decodes them: an argument
// OpenAI does not know is a 400 naming it, a value of the wrong type a 400
// naming its path, and arguments OpenAI knows but Keel cannot honour (n>1,
// logprobs, audio) are refused rather than silently dropped. The model is
// the name the client sends, opened through backend.Models, so aliases,
// `provider/model` names and the server's middleware all apply.
package openaiwire

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keelai/keel/server/backend"
)

// Options configures the handler.
type Options struct {
	// MaxRequestBytes bounds a request body; 0 means 16 MiB.
	MaxRequestBytes int64
}

const defaultMaxRequestBytes = 16 << 20

type handler struct {
	models backend.Models
	emb    backend.Embeddings
	max    int64
	bufs   sync.Pool // *bytes.Buffer for request bodies
}

// New returns the handler of /v1/chat/completions, /v1/models (and
// /v1/models/{id}) and /v1/embeddings. emb may be nil: embeddings then
// answer 404. Other paths answer OpenAI's 404.
func New(models backend.Models, emb backend.Embeddings, o Options) http.Handler {
	h := &handler{models: models, emb: emb, max: o.MaxRequestBytes}
	if h.max <= 0 {
		h.max = defaultMaxRequestBytes
	}
	h.bufs.New = func() any { return new(bytes.Buffer) }
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch path {
	case "/v1/chat/completions":
		if allow(w, r, http.MethodPost) {
			h.chat(w, r)
		}
		return
	case "/v1/models":
		if allow(w, r, http.MethodGet) {
			h.listModels(w, r)
		}
		return
	case "/v1/embeddings":
		if h.emb == nil {
			notFound(w, r)
			return
		}
		if allow(w, r, http.MethodPost) {
			h.embeddings(w, r)
		}
		return
	}
	if id, ok := strings.CutPrefix(path, "/v1/models/"); ok && id != "" {
		if allow(w, r, http.MethodGet) {
			h.getModel(w, r, id)
		}
		return
	}
	notFound(w, r)
}

func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	WriteError(w, &requestError{status: http.StatusMethodNotAllowed,
		msg: "Method " + r.Method + " is not allowed for " + r.URL.Path + "; use " + method + "."})
	return false
}

func notFound(w http.ResponseWriter, r *http.Request) {
	WriteError(w, &requestError{status: http.StatusNotFound, typ: "invalid_request_error",
		msg: "Invalid URL (" + r.Method + " " + r.URL.Path + ")"})
}

// readBody reads the request body into a pooled buffer, bounded by the
// handler's limit. The caller returns the buffer with h.release once
// nothing refers to its bytes (encoding/json copies what it decodes).
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, error) {
	if r.ContentLength > h.max {
		return nil, tooLarge(h.max)
	}
	buf := h.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.max))
	if err != nil {
		h.release(buf)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(h.max)
		}
		return nil, &requestError{status: http.StatusBadRequest, msg: "Could not read the request body: " + err.Error()}
	}
	return buf, nil
}

func (h *handler) release(buf *bytes.Buffer) {
	// A buffer grown by one huge request would stay pinned by the pool.
	if buf.Cap() <= 1<<20 {
		h.bufs.Put(buf)
	}
}

func tooLarge(max int64) error {
	return &requestError{status: http.StatusRequestEntityTooLarge, code: "request_too_large",
		msg: "Request body too large: the limit is " + formatBytes(max) + "."}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// newID returns an id in OpenAI's style: prefix and random base32 text.
func newID(prefix string) string {
	return prefix + rand.Text()
}

// unixNow is a var-free clock read kept in one place so tests that compare
// bodies can ignore "created".
func unixNow() int64 { return time.Now().Unix() }
