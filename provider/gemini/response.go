package gemini

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
)

// decoder turns GenerateContentResponses into Keel events. Generate feeds
// it the one response and Stream every chunk, so both paths translate
// content, ids, usage and stop reasons identically.
//
// Every streamed chunk is a complete GenerateContentResponse holding the
// new parts only: text arrives in pieces that continue the open part;
// function calls arrive whole.
type decoder struct {
	provider string
	acc      llm.Accumulator

	next     int           // index of the next Keel part
	open     int           // index of the text or thinking part being extended, -1 if none
	openKind llm.EventKind // EventText or EventThinking
	openSig  bool          // the open thinking part already has a signature

	finish  genai.FinishReason
	hasCall bool
	usage   llm.Usage
}

func newDecoder(provider, model string) *decoder {
	d := &decoder{provider: provider, open: -1}
	d.acc.Model = model
	return d
}

// add translates one response and passes its events to emit; it stops
// early (returning false) when emit does. A blocked prompt is an error.
func (d *decoder) add(r *genai.GenerateContentResponse, emit func(llm.Event) bool) (bool, error) {
	if r == nil {
		return true, nil
	}
	if r.ResponseID != "" {
		d.acc.ID = r.ResponseID
	}
	if r.UsageMetadata != nil {
		d.usage = usageOf(r.UsageMetadata)
	}
	if len(r.Candidates) == 0 || r.Candidates[0] == nil {
		if pf := r.PromptFeedback; pf != nil && pf.BlockReason != "" && pf.BlockReason != genai.BlockedReasonUnspecified {
			msg := "prompt blocked: " + string(pf.BlockReason)
			if pf.BlockReasonMessage != "" {
				msg += ": " + pf.BlockReasonMessage
			}
			return false, &llm.Error{Kind: llm.KindContentFilter, Provider: d.provider, Message: llm.Redact(msg)}
		}
		return true, nil
	}
	cand := r.Candidates[0]
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			if p != nil && !d.part(p, emit) {
				return false, nil
			}
		}
	}
	if cand.FinishReason != "" && cand.FinishReason != genai.FinishReasonUnspecified {
		d.finish = cand.FinishReason
	}
	return true, nil
}

func (d *decoder) emit(ev llm.Event, emit func(llm.Event) bool) bool {
	return emit(d.acc.Add(ev))
}

// part translates one Gemini part. Parts other than text, thoughts and
// function calls (inline images, executable code, ...) are not read.
func (d *decoder) part(p *genai.Part, emit func(llm.Event) bool) bool {
	sig := encodeSignature(p.ThoughtSignature)
	switch {
	case p.FunctionCall != nil:
		d.open = -1
		i := d.next
		d.next++
		d.hasCall = true
		args := []byte("{}")
		if len(p.FunctionCall.Args) > 0 {
			// genai has decoded the arguments into a map; encoding it back
			// cannot fail for values that came from JSON.
			if b, err := json.Marshal(p.FunctionCall.Args); err == nil {
				args = b
			}
		}
		id := p.FunctionCall.ID
		if id == "" {
			id = synthID(i, p.FunctionCall.Name, args)
		}
		start := &llm.ToolCall{ID: id, Name: p.FunctionCall.Name, Signature: sig}
		return d.emit(llm.Event{Kind: llm.EventToolCallStart, Index: i, ToolCall: start}, emit) &&
			d.emit(llm.Event{Kind: llm.EventToolCallDelta, Index: i, Text: string(args)}, emit) &&
			d.emit(llm.Event{Kind: llm.EventToolCallEnd, Index: i}, emit)
	case p.Thought:
		if d.open < 0 || d.openKind != llm.EventThinking || (sig != "" && d.openSig) {
			d.openPart(llm.EventThinking)
		}
		d.openSig = d.openSig || sig != ""
		return d.emit(llm.Event{Kind: llm.EventThinking, Index: d.open, Text: p.Text, Signature: sig}, emit)
	case p.Text != "" || sig != "":
		if p.Text != "" {
			if d.open < 0 || d.openKind != llm.EventText {
				d.openPart(llm.EventText)
			}
			if !d.emit(llm.Event{Kind: llm.EventText, Index: d.open, Text: p.Text}, emit) {
				return false
			}
		}
		if sig != "" {
			// llm.Text has no signature: a signature on a text part becomes
			// a thinking part with no text right after it, and goes back on
			// the text part when the conversation is sent again.
			d.open = -1
			i := d.next
			d.next++
			return d.emit(llm.Event{Kind: llm.EventThinking, Index: i, Signature: sig}, emit)
		}
	}
	return true
}

func (d *decoder) openPart(kind llm.EventKind) {
	d.open, d.openKind, d.openSig = d.next, kind, false
	d.next++
}

// finished reports whether a candidate carried a finish reason: the only
// sign that a Gemini stream is complete.
func (d *decoder) finished() bool { return d.finish != "" }

// response returns the accumulated response.
func (d *decoder) response() *llm.Response {
	d.acc.Usage = d.usage
	d.acc.StopReason = stopReason(d.finish, d.hasCall)
	return d.acc.Response()
}

// synthID makes up a stable id for a function call Gemini sent without one:
// the same call at the same position always gets the same id, so replays
// and caches agree, and tool results can name the call they answer.
func synthID(index int, name string, args []byte) string {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(args)
	return fmt.Sprintf("%s%d_%s", synthPrefix, index, hex.EncodeToString(h.Sum(nil)[:6]))
}

// usageOf normalises Gemini's usage. promptTokenCount includes the cached
// tokens (cachedContentTokenCount); Keel's InputTokens does not. Tokens of
// server-side tool prompts are input too. Output counts the answer and the
// thoughts, which Gemini reports apart.
func usageOf(u *genai.GenerateContentResponseUsageMetadata) llm.Usage {
	cached := int(u.CachedContentTokenCount)
	input := int(u.PromptTokenCount) - cached
	if input < 0 {
		input = 0
	}
	return llm.Usage{
		InputTokens:     input + int(u.ToolUsePromptTokenCount),
		CacheReadTokens: cached,
		OutputTokens:    int(u.CandidatesTokenCount) + int(u.ThoughtsTokenCount),
	}
}

// stopReason maps Gemini's finish reason. STOP ends the turn, or waits for
// tool results when the content has function calls.
func stopReason(r genai.FinishReason, hasCall bool) llm.StopReason {
	switch r {
	case genai.FinishReasonStop:
		if hasCall {
			return llm.StopToolUse
		}
		return llm.StopEndTurn
	case genai.FinishReasonMaxTokens:
		return llm.StopMaxTokens
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonBlocklist,
		genai.FinishReasonProhibitedContent, genai.FinishReasonSPII:
		return llm.StopRefusal
	}
	return llm.StopUnknown
}
