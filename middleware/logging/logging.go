// Package logging writes one log/slog record per model call: provider,
// model, prompt name@version, tokens by class, cost, latency, time to first
// token, attempts, fallbacks, cache hit, stop reason, error kind and
// request id. Content is logged only when asked, and always through
// llm.Redact; an optional JSONL capture of whole requests and responses can
// be replayed into the fake model (LoadCapture).
//
//	m = logging.New(slog.Default(), logging.Options{})(m)
package logging

import (
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Options configures New.
type Options struct {
	// Message is the record's message; "" means "llm call".
	Message string
	// Content adds the last user message and the response text to each
	// record (redacted, and cut to ContentLimit bytes, default 2000).
	Content      bool
	ContentLimit int
	// Capture, when set, receives one JSON line per call with the whole
	// request and response (or error), redacted; LoadCapture reads it back.
	// Writes are serialised; the writer need not be safe for concurrent use.
	Capture io.Writer
	// Clock measures latency and time to first token; nil means the real
	// clock.
	Clock clockwork.Clock
}

// New returns the logging middleware. Successful calls are logged at Info,
// failed ones at Error (canceled ones at Info).
func New(logger *slog.Logger, opts Options) llm.Middleware {
	if opts.Message == "" {
		opts.Message = "llm call"
	}
	if opts.ContentLimit <= 0 {
		opts.ContentLimit = 2000
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	l := &logged{log: logger, o: opts}
	if opts.Capture != nil {
		l.capture = &capturer{w: opts.Capture}
	}
	return func(next llm.Model) llm.Model {
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				ctx, info := callinfo.Ensure(ctx)
				start := l.o.Clock.Now()
				resp, err := next.Generate(ctx, req)
				var u llm.Usage
				if resp != nil {
					u = resp.Usage
				}
				l.record(ctx, call{model: next.Name(), req: req, resp: resp, err: err, usage: u, start: start, info: info})
				return resp, err
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					ctx, info := callinfo.Ensure(ctx)
					c := call{model: next.Name(), req: req, stream: true, start: l.o.Clock.Now(), info: info}
					defer func() {
						if c.resp == nil && c.err == nil {
							c.err = errAbandoned
						}
						l.record(ctx, c)
					}()
					for ev, err := range next.Stream(ctx, req) {
						switch {
						case err != nil:
							c.err = err
						case ev.Kind == llm.EventUsage && ev.Usage != nil:
							c.usage = *ev.Usage
						case ev.Kind == llm.EventDone && ev.Response != nil:
							c.resp, c.usage = ev.Response, ev.Response.Usage
						case c.ttft == 0 && (ev.Kind == llm.EventText || ev.Kind == llm.EventThinking || ev.Kind == llm.EventToolCallStart):
							c.ttft = l.o.Clock.Since(c.start)
						}
						if !yield(ev, err) || err != nil {
							return
						}
					}
				}
			},
		}
	}
}

// errAbandoned marks a stream the consumer stopped reading before its end.
var errAbandoned = errors.New("stream abandoned by the caller")

type logged struct {
	log     *slog.Logger
	o       Options
	capture *capturer
}

type call struct {
	model  string
	req    *llm.Request
	resp   *llm.Response
	err    error
	usage  llm.Usage
	stream bool
	start  time.Time
	ttft   time.Duration
	info   *callinfo.Info
}

func (l *logged) record(ctx context.Context, c call) {
	latency := l.o.Clock.Since(c.start)
	if l.capture != nil {
		l.capture.write(c, latency)
	}
	level := slog.LevelInfo
	if c.err != nil && c.err != errAbandoned && llm.KindOf(c.err) != llm.KindCanceled {
		level = slog.LevelError
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	rec := c.info.Record()
	served := rec.Model
	if c.resp != nil && c.resp.Model != "" {
		served = c.resp.Model
	}
	if served == "" {
		served = c.model
	}
	provider, _, _ := llm.SplitName(served)
	attrs := make([]slog.Attr, 0, 24)
	attrs = append(attrs,
		slog.String("provider", provider),
		slog.String("model", served),
	)
	if served != c.model {
		attrs = append(attrs, slog.String("requested_model", c.model))
	}
	if p := c.req.Tags[callinfo.TagPrompt]; p != "" {
		if v := c.req.Tags[callinfo.TagPromptVersion]; v != "" {
			p += "@" + v
		}
		attrs = append(attrs, slog.String("prompt", p))
	}
	for _, tag := range []string{callinfo.TagTask, callinfo.TagKey} {
		if v := c.req.Tags[tag]; v != "" {
			attrs = append(attrs, slog.String(tag, v))
		}
	}
	attrs = append(attrs,
		slog.Bool("stream", c.stream),
		slog.Int("input_tokens", c.usage.InputTokens),
		slog.Int("output_tokens", c.usage.OutputTokens),
		slog.Int("cache_read_tokens", c.usage.CacheReadTokens),
		slog.Int("cache_write_tokens", c.usage.CacheWriteTokens+c.usage.CacheWrite1hTokens),
		slog.Float64("cost_usd", float64(rec.CostNanoUSD)/1e9),
		slog.Duration("latency", latency),
		slog.Int("attempts", rec.Attempts),
		slog.Bool("cache_hit", rec.CacheHit),
	)
	if c.stream && c.ttft > 0 {
		attrs = append(attrs, slog.Duration("ttft", c.ttft))
	}
	if rec.Fallbacks > 0 {
		attrs = append(attrs, slog.Int("fallbacks", rec.Fallbacks))
	}
	if rec.RateLimitWait > 0 {
		attrs = append(attrs, slog.Duration("rate_limit_wait", rec.RateLimitWait))
	}
	if len(rec.Flags) > 0 {
		attrs = append(attrs, slog.Any("guard_flags", rec.Flags))
	}
	if c.resp != nil {
		attrs = append(attrs, slog.String("stop_reason", string(c.resp.StopReason)))
		if c.resp.ID != "" {
			attrs = append(attrs, slog.String("request_id", c.resp.ID))
		}
	}
	if c.err != nil {
		kind := string(llm.KindOf(c.err))
		if c.err == errAbandoned {
			kind = "abandoned"
		}
		attrs = append(attrs, slog.String("error_kind", kind), slog.String("error", llm.Redact(c.err.Error())))
		if e, ok := errors.AsType[*llm.Error](c.err); ok && e.RequestID != "" {
			attrs = append(attrs, slog.String("request_id", e.RequestID))
		}
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	if l.o.Content {
		attrs = append(attrs, slog.String("input", l.cut(lastUserText(c.req))))
		if c.resp != nil {
			attrs = append(attrs, slog.String("output", l.cut(c.resp.Text())))
		}
	}
	l.log.LogAttrs(ctx, level, l.o.Message, attrs...)
}

func (l *logged) cut(s string) string {
	s = llm.Redact(s)
	if len(s) > l.o.ContentLimit {
		n := l.o.ContentLimit
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

func lastUserText(req *llm.Request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == llm.RoleUser {
			return req.Messages[i].Text()
		}
	}
	return ""
}

type capturer struct {
	mu sync.Mutex
	w  io.Writer
}
