package window

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"

	"github.com/keelai/keel/llm"
)

// Calibration of the offline estimate for tokenizers Keel cannot run:
// the estimate counts with o200k_base and scales. The factors are
// conservative assumptions (Claude's tokenizer is commonly reported to
// give a fifth to a quarter more tokens than OpenAI's on English and
// code; Gemini's is close to o200k_base), not measured against the
// providers here. Estimates err high on purpose: a budget fitted with them
// stays under the real limit.
var estimateScale = map[string]float64{
	"anthropic": 1.25,
	"gemini":    1.05,
}

// Estimator is the offline estimate for a provider whose tokenizer is
// not public: o200k_base counts, scaled by a calibration factor.
type Estimator struct {
	Scale    float64
	Encoding *Encoding
	// Cache, when set, keeps the unscaled counts of messages already
	// seen; it may be shared with other counters, whatever their scale.
	Cache *MessageCache
}

// CountTokens implements Counter.
func (e Estimator) CountTokens(_ context.Context, req *llm.Request) (int, error) {
	var n int
	if e.Cache == nil {
		n = countRequest(e.Encoding.Count, req)
	} else {
		fixed, per := e.Cache.split(e.Encoding.name, e.Encoding.Count, req)
		n = fixed + sum(per)
	}
	return e.scale(n), nil
}

func (e Estimator) split(req *llm.Request) (int, []int, func(int) int) {
	fixed, per := e.Cache.split(e.Encoding.name, e.Encoding.Count, req)
	return fixed, per, e.scale
}

func (e Estimator) scale(n int) int { return int(float64(n)*e.Scale + 0.999) }

// CounterFor returns the best counter for model m: the exact OpenAI
// encoding for OpenAI models (and OpenAI-compatible servers, for which it
// is a close estimate); for models that count with their provider
// (llm.TokenCounter: Anthropic, Gemini) that count, cached, with the
// calibrated estimate when the provider cannot be reached. The offline
// counters it returns hold a MessageCache of their own, so a caller that
// counts the same conversations again should keep the counter rather than
// call CounterFor each time.
func CounterFor(m llm.Model) (Counter, error) {
	provider, model, _ := llm.SplitName(m.Name())
	enc, err := GetEncoding(EncodingFor(model))
	if err != nil {
		return nil, err
	}
	scale, estimated := estimateScale[provider]
	if !estimated {
		scale = 1
	}
	cache := NewMessageCache(messageCacheSize)
	est := Estimator{Scale: scale, Encoding: enc, Cache: cache}
	if tc, ok := m.(llm.TokenCounter); ok {
		return NewCached(tc, est, 4096), nil
	}
	if estimated {
		return est, nil
	}
	return OpenAICounter{Encoding: enc, Cache: cache}, nil
}

// Cached remembers the counts of an exact counter (a provider's counting
// endpoint costs a round trip) and falls back to an estimate when it
// fails. It is safe for concurrent use.
type Cached struct {
	exact    llm.TokenCounter
	fallback Counter
	max      int

	mu     sync.Mutex
	counts map[[32]byte]int
}

// NewCached returns a Cached counter keeping at most max counts.
func NewCached(exact llm.TokenCounter, fallback Counter, max int) *Cached {
	return &Cached{exact: exact, fallback: fallback, max: max, counts: map[[32]byte]int{}}
}

// CountTokens implements Counter.
func (c *Cached) CountTokens(ctx context.Context, req *llm.Request) (int, error) {
	key, err := requestKey(req)
	if err == nil {
		c.mu.Lock()
		n, ok := c.counts[key]
		c.mu.Unlock()
		if ok {
			return n, nil
		}
	}
	n, cerr := c.exact.CountTokens(ctx, req)
	if cerr != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		// Unreachable or refusing: the estimate keeps the call going.
		return c.fallback.CountTokens(ctx, req)
	}
	if err == nil {
		c.mu.Lock()
		if len(c.counts) >= c.max {
			// Dropping everything is crude but bounded, and counts are cheap
			// to get again; a conversation re-counts only its newest form.
			clear(c.counts)
		}
		c.counts[key] = n
		c.mu.Unlock()
	}
	return n, nil
}

// requestKey hashes what a count depends on: everything but tags and
// sampling settings.
func requestKey(req *llm.Request) ([32]byte, error) {
	b, err := json.Marshal(struct {
		System   []llm.Text
		Messages []llm.Message
		Tools    []llm.Tool
		Output   *llm.OutputSchema
	}{req.System, req.Messages, req.Tools, req.Output})
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}
