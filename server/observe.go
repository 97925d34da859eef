package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/state"
)

// observer is the outermost layer: request ids, one access-log record
// and the HTTP metrics per request, and panics turned into 500s.
type observer struct {
	log      *slog.Logger
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	streams  prometheus.Gauge
	dropped  prometheus.Counter
}

func newObserver(reg prometheus.Registerer, log *slog.Logger) (*observer, error) {
	o := &observer{
		log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_http_requests_total", Help: "HTTP requests by method, route and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keel_http_request_duration_seconds", Help: "HTTP request duration by method and route, streams to their last byte.",
			Buckets: []float64{.001, .005, .025, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"method", "route"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keel_http_streams_in_flight", Help: "Server-sent event streams open now.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keel_usage_records_dropped_total", Help: "Usage ledger records dropped because the state store stayed unavailable and the backlog was full.",
		}),
	}
	for _, c := range []prometheus.Collector{o.requests, o.duration, o.streams, o.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// reqInfo is what inner layers learn about a request for its log record:
// the caller (guard) and the model (Models.Open).
type reqInfo struct {
	mu     sync.Mutex
	caller backend.Caller
	model  string
}

func (i *reqInfo) setCaller(c backend.Caller) {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.caller = c
	i.mu.Unlock()
}

func (i *reqInfo) setModel(m string) {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.model = m
	i.mu.Unlock()
}

type reqInfoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	return i
}

// requestIDHeader is echoed on every response; a client's own id is kept
// when it is reasonable, so that its logs and ours meet.
const requestIDHeader = "X-Request-Id"

func requestID(r *http.Request) string {
	id := r.Header.Get(requestIDHeader)
	if id != "" && len(id) <= 128 && !strings.ContainsFunc(id, func(c rune) bool { return c <= ' ' || c > '~' }) {
		return id
	}
	return state.NewID()
}

func (o *observer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		w.Header().Set(requestIDHeader, id)
		info := &reqInfo{}
		rec := &recorder{ResponseWriter: w, obs: o}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
		defer func() {
			p := recover()
			if p != nil && p != http.ErrAbortHandler {
				o.log.ErrorContext(r.Context(), "panic serving request", "request_id", id, "path", r.URL.Path,
					"panic", llm.Redact(fmt.Sprint(p)), "stack", string(debug.Stack()))
				if !rec.wroteHeader {
					writeAPIError(rec, &llm.Error{Kind: llm.KindServer, Status: http.StatusInternalServerError, Message: "internal server error"})
				}
			}
			if rec.stream {
				o.streams.Dec()
			}
			route := r.Pattern
			if route == "" {
				route = "other"
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			o.requests.WithLabelValues(r.Method, route, strconv.Itoa(status)).Inc()
			o.duration.WithLabelValues(r.Method, route).Observe(d.Seconds())
			info.mu.Lock()
			caller, model := info.caller, info.model
			info.mu.Unlock()
			// The key's id and name only: never its secret, never a header.
			o.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
				slog.Int("status", status), slog.Int64("bytes", rec.bytes), slog.Duration("duration", d),
				slog.String("key_id", caller.KeyID), slog.String("key_name", caller.Name),
				slog.String("model", model), slog.Bool("stream", rec.stream), slog.String("request_id", id))
			if p == http.ErrAbortHandler {
				panic(p)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder remembers a response's status and size, and whether it is a
// stream, for the log and metrics. It passes Flush through (SSE) and
// unwraps for http.ResponseController.
type recorder struct {
	http.ResponseWriter
	obs         *observer
	status      int
	bytes       int64
	wroteHeader bool
	stream      bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.wroteHeader = true
		w.status = code
		if strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
			w.stream = true
			w.obs.streams.Inc()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
