package window

import (
	"context"
	"fmt"
	"sort"

	"github.com/keelai/keel/llm"
)

// Fit returns req with its oldest turns dropped so that c counts it at
// most budget tokens. It keeps the system prompt, the first pin messages
// (extended to the end of their turn, so a tool call is never parted from
// its result), and the newest turns. The kept conversation starts with a
// user turn that is not a tool result, so it is valid for every provider.
// dropped is the number of messages removed; req itself is returned,
// unchanged, when it fits. When even the newest user turn does not fit,
// the error is an *llm.Error of kind KindContextLength.
func Fit(ctx context.Context, c Counter, req *llm.Request, budget, pin int) (fitted *llm.Request, dropped int, err error) {
	if s, ok := c.(splitter); ok {
		return fitSplit(s, req, budget, pin)
	}
	n, err := c.CountTokens(ctx, req)
	if err != nil {
		return nil, 0, fmt.Errorf("window: counting tokens: %w", err)
	}
	if n <= budget {
		return req, 0, nil
	}
	pinEnd, starts := boundaries(req.Messages, pin)
	if len(starts) == 0 {
		return nil, 0, tooLarge(n, budget, "no user turn can be dropped")
	}
	window := func(start int) *llm.Request {
		w := req.Clone()
		w.Messages = append(w.Messages[:pinEnd:pinEnd], req.Messages[start:]...)
		return w
	}
	// Counts shrink as the start moves later, so the earliest start that
	// fits is found by binary search: log₂(turns) counts, which matters
	// when counting is a round trip to the provider.
	var countErr error
	i := sort.Search(len(starts), func(i int) bool {
		if countErr != nil {
			return true
		}
		n, err := c.CountTokens(ctx, window(starts[i]))
		if err != nil {
			countErr = err
			return true
		}
		return n <= budget
	})
	if countErr != nil {
		return nil, 0, fmt.Errorf("window: counting tokens: %w", countErr)
	}
	if i == len(starts) {
		last, _ := c.CountTokens(ctx, window(starts[len(starts)-1]))
		return nil, 0, tooLarge(last, budget, "the newest user turn alone is too large")
	}
	return window(starts[i]), starts[i] - pinEnd, nil
}

// splitter is implemented by the offline counters, whose count of a
// request is a fixed part (system prompt, tools, schema, framing) plus one
// count per message, scaled by total. Fit then encodes each message once
// instead of re-encoding a window of a long conversation at every step of
// its search: a 100k-token history is tokenised once, not log₂(turns)
// times, on every call of a chat.
type splitter interface {
	split(req *llm.Request) (fixed int, perMessage []int, total func(int) int)
}

// fitSplit is Fit for a splitter: the same windows, from sums.
func fitSplit(s splitter, req *llm.Request, budget, pin int) (*llm.Request, int, error) {
	fixed, per, total := s.split(req)
	// suffix[i] is the count of messages i and after.
	suffix := make([]int, len(per)+1)
	for i := len(per) - 1; i >= 0; i-- {
		suffix[i] = suffix[i+1] + per[i]
	}
	if n := total(fixed + suffix[0]); n <= budget {
		return req, 0, nil
	}
	pinEnd, starts := boundaries(req.Messages, pin)
	if len(starts) == 0 {
		return nil, 0, tooLarge(total(fixed+suffix[0]), budget, "no user turn can be dropped")
	}
	pinned := suffix[0] - suffix[pinEnd]
	count := func(start int) int { return total(fixed + pinned + suffix[start]) }
	i := sort.Search(len(starts), func(i int) bool { return count(starts[i]) <= budget })
	if i == len(starts) {
		return nil, 0, tooLarge(count(starts[len(starts)-1]), budget, "the newest user turn alone is too large")
	}
	w := req.Clone()
	w.Messages = append(w.Messages[:pinEnd:pinEnd], req.Messages[starts[i]:]...)
	return w, starts[i] - pinEnd, nil
}

func tooLarge(n, budget int, why string) error {
	return &llm.Error{Kind: llm.KindContextLength, Provider: "keel",
		Message: fmt.Sprintf("%s: %d tokens, budget %d", why, n, budget)}
}

// boundaries returns where the pinned prefix ends (pin, moved forward to
// the next turn boundary) and the indexes after it where a window may
// start: user messages that carry no tool result, the last one always
// included.
func boundaries(msgs []llm.Message, pin int) (pinEnd int, starts []int) {
	pinEnd = min(max(pin, 0), len(msgs))
	if pinEnd > 0 {
		for pinEnd < len(msgs) && !turnStart(msgs[pinEnd]) {
			pinEnd++
		}
	}
	for i := pinEnd + 1; i < len(msgs); i++ {
		if turnStart(msgs[i]) {
			starts = append(starts, i)
		}
	}
	return pinEnd, starts
}

// turnStart says whether a window may begin at m: a user message that
// answers no tool call.
func turnStart(m llm.Message) bool {
	if m.Role != llm.RoleUser {
		return false
	}
	for _, p := range m.Parts {
		if _, ok := p.(llm.ToolResult); ok {
			return false
		}
	}
	return true
}
