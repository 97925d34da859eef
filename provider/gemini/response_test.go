package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
)

func text(s string) *genai.Part { return &genai.Part{Text: s} }

func chunk(finish genai.FinishReason, parts ...*genai.Part) *genai.GenerateContentResponse {
	return &genai.GenerateContentResponse{
		ResponseID: "r1",
		Candidates: []*genai.Candidate{{Content: &genai.Content{Role: "model", Parts: parts}, FinishReason: finish}},
	}
}

// decode feeds chunks through a decoder, as Stream does, and returns the
// response and the events.
func decode(t *testing.T, chunks ...*genai.GenerateContentResponse) (*llm.Response, []llm.Event) {
	t.Helper()
	d := newDecoder("gemini", "gemini/m")
	var evs []llm.Event
	for _, c := range chunks {
		if _, err := d.add(c, func(ev llm.Event) bool { evs = append(evs, ev); return true }); err != nil {
			t.Fatal(err)
		}
	}
	return d.response(), evs
}

func TestDecodeContent(t *testing.T) {
	callID := synthID(2, "weather", []byte(`{"city":"Oslo"}`))
	tests := []struct {
		name   string
		chunks []*genai.GenerateContentResponse
		want   []llm.Part
		stop   llm.StopReason
	}{
		{
			name:   "text pieces join into one part",
			chunks: []*genai.GenerateContentResponse{chunk("", text("Hel")), chunk("", text("lo")), chunk(genai.FinishReasonStop, text("!"))},
			want:   []llm.Part{llm.Text{Text: "Hello!"}},
			stop:   llm.StopEndTurn,
		},
		{
			name: "thoughts then text then a whole call without id",
			chunks: []*genai.GenerateContentResponse{
				chunk("", &genai.Part{Text: "let me ", Thought: true}),
				chunk("", &genai.Part{Text: "see", Thought: true, ThoughtSignature: []byte("s1")}),
				chunk("", text("Checking.")),
				chunk(genai.FinishReasonStop, &genai.Part{FunctionCall: &genai.FunctionCall{Name: "weather", Args: map[string]any{"city": "Oslo"}}, ThoughtSignature: []byte("s2")}),
			},
			want: []llm.Part{
				llm.Thinking{Text: "let me see", Signature: "czE="},
				llm.Text{Text: "Checking."},
				llm.ToolCall{ID: callID, Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`), Signature: "czI="},
			},
			stop: llm.StopToolUse,
		},
		{
			name: "ids from the API are kept; calls without args get {}",
			chunks: []*genai.GenerateContentResponse{chunk(genai.FinishReasonStop,
				&genai.Part{FunctionCall: &genai.FunctionCall{ID: "fc-9", Name: "now"}})},
			want: []llm.Part{llm.ToolCall{ID: "fc-9", Name: "now", Input: json.RawMessage(`{}`)}},
			stop: llm.StopToolUse,
		},
		{
			name: "a signature on text becomes an empty thinking part after it",
			chunks: []*genai.GenerateContentResponse{
				chunk("", text("The answer")),
				chunk(genai.FinishReasonStop, &genai.Part{Text: "", ThoughtSignature: []byte("s3")}),
			},
			want: []llm.Part{llm.Text{Text: "The answer"}, llm.Thinking{Signature: "czM="}},
			stop: llm.StopEndTurn,
		},
		{
			name: "a second signed thought opens a new part",
			chunks: []*genai.GenerateContentResponse{chunk(genai.FinishReasonStop,
				&genai.Part{Text: "a", Thought: true, ThoughtSignature: []byte("1")},
				&genai.Part{Text: "b", Thought: true, ThoughtSignature: []byte("2")})},
			want: []llm.Part{llm.Thinking{Text: "a", Signature: "MQ=="}, llm.Thinking{Text: "b", Signature: "Mg=="}},
			stop: llm.StopEndTurn,
		},
		{
			name:   "parts the adapter does not read are skipped",
			chunks: []*genai.GenerateContentResponse{chunk(genai.FinishReasonMaxTokens, &genai.Part{InlineData: &genai.Blob{MIMEType: "image/png", Data: []byte{1}}}, text("x"))},
			want:   []llm.Part{llm.Text{Text: "x"}},
			stop:   llm.StopMaxTokens,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := decode(t, tt.chunks...)
			if diff := cmp.Diff(tt.want, got.Content); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			if got.StopReason != tt.stop {
				t.Errorf("stop = %s, want %s", got.StopReason, tt.stop)
			}
			if got.ID != "r1" || got.Model != "gemini/m" {
				t.Errorf("id, model = %q, %q", got.ID, got.Model)
			}
		})
	}
}

// TestDecodeWholeEqualsChunked checks that one whole response and the same
// content in chunks translate alike, ids included: Generate and Stream must
// agree.
func TestDecodeWholeEqualsChunked(t *testing.T) {
	call := &genai.Part{FunctionCall: &genai.FunctionCall{Name: "f", Args: map[string]any{"b": 2.0, "a": "x"}}}
	whole, _ := decode(t, chunk(genai.FinishReasonStop, text("ab"), text("c"), call))
	chunked, evs := decode(t, chunk("", text("ab")), chunk("", text("c")), chunk(genai.FinishReasonStop, call))
	if diff := cmp.Diff(whole, chunked); diff != "" {
		t.Errorf("whole vs chunked (-whole +chunked):\n%s", diff)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind.String())
	}
	want := []string{"text", "text", "tool_call_start", "tool_call_delta", "tool_call_end"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("event kinds (-want +got):\n%s", diff)
	}
}

func TestSynthIDStable(t *testing.T) {
	a := synthID(0, "f", []byte(`{"x":1}`))
	if a != synthID(0, "f", []byte(`{"x":1}`)) {
		t.Error("same call, different ids")
	}
	for _, other := range []string{synthID(1, "f", []byte(`{"x":1}`)), synthID(0, "g", []byte(`{"x":1}`)), synthID(0, "f", []byte(`{"x":2}`))} {
		if other == a {
			t.Errorf("different calls share id %s", a)
		}
	}
	if !strings.HasPrefix(a, synthPrefix) || upstreamID(a) != "" {
		t.Errorf("made-up id %q would be sent upstream", a)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		in   genai.GenerateContentResponseUsageMetadata
		want llm.Usage
	}{
		{"plain", genai.GenerateContentResponseUsageMetadata{PromptTokenCount: 100, CandidatesTokenCount: 20}, llm.Usage{InputTokens: 100, OutputTokens: 20}},
		{"cached part of the prompt", genai.GenerateContentResponseUsageMetadata{PromptTokenCount: 1000, CachedContentTokenCount: 800, CandidatesTokenCount: 5},
			llm.Usage{InputTokens: 200, CacheReadTokens: 800, OutputTokens: 5}},
		{"thoughts are output", genai.GenerateContentResponseUsageMetadata{PromptTokenCount: 10, CandidatesTokenCount: 5, ThoughtsTokenCount: 50},
			llm.Usage{InputTokens: 10, OutputTokens: 55}},
		{"tool-use prompt is input", genai.GenerateContentResponseUsageMetadata{PromptTokenCount: 10, ToolUsePromptTokenCount: 7},
			llm.Usage{InputTokens: 17}},
		{"inconsistent counts do not go negative", genai.GenerateContentResponseUsageMetadata{PromptTokenCount: 5, CachedContentTokenCount: 8},
			llm.Usage{CacheReadTokens: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := usageOf(&tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if cached := int(tt.in.CachedContentTokenCount); cached <= int(tt.in.PromptTokenCount) &&
				got.PromptTokens() != int(tt.in.PromptTokenCount+tt.in.ToolUsePromptTokenCount) {
				t.Errorf("PromptTokens() = %d, want Gemini's prompt count %d", got.PromptTokens(), tt.in.PromptTokenCount)
			}
		})
	}
}

func TestStopReason(t *testing.T) {
	tests := []struct {
		in      genai.FinishReason
		hasCall bool
		want    llm.StopReason
	}{
		{genai.FinishReasonStop, false, llm.StopEndTurn},
		{genai.FinishReasonStop, true, llm.StopToolUse},
		{genai.FinishReasonMaxTokens, false, llm.StopMaxTokens},
		{genai.FinishReasonMaxTokens, true, llm.StopMaxTokens},
		{genai.FinishReasonSafety, false, llm.StopRefusal},
		{genai.FinishReasonRecitation, false, llm.StopRefusal},
		{genai.FinishReasonBlocklist, false, llm.StopRefusal},
		{genai.FinishReasonProhibitedContent, false, llm.StopRefusal},
		{genai.FinishReasonSPII, false, llm.StopRefusal},
		{genai.FinishReasonMalformedFunctionCall, false, llm.StopUnknown},
		{genai.FinishReasonOther, false, llm.StopUnknown},
		{"SOMETHING_NEW", false, llm.StopUnknown},
		{"", false, llm.StopUnknown},
	}
	for _, tt := range tests {
		if got := stopReason(tt.in, tt.hasCall); got != tt.want {
			t.Errorf("stopReason(%q, %v) = %s, want %s", tt.in, tt.hasCall, got, tt.want)
		}
	}
}

func TestDecodeBlockedPrompt(t *testing.T) {
	d := newDecoder("gemini", "gemini/m")
	_, err := d.add(&genai.GenerateContentResponse{PromptFeedback: &genai.GenerateContentResponsePromptFeedback{BlockReason: genai.BlockedReasonSafety}},
		func(llm.Event) bool { return true })
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindContentFilter || !strings.Contains(e.Message, "SAFETY") {
		t.Fatalf("err = %v, want a content_filter error naming SAFETY", err)
	}
}

func TestDecodeStopsWhenTheConsumerDoes(t *testing.T) {
	d := newDecoder("gemini", "gemini/m")
	n := 0
	more, err := d.add(chunk("", text("a"), &genai.Part{FunctionCall: &genai.FunctionCall{Name: "f"}}, text("b")),
		func(llm.Event) bool { n++; return n < 2 })
	if err != nil || more {
		t.Fatalf("add = %v, %v; want false, nil", more, err)
	}
	if n != 2 {
		t.Errorf("emitted %d events after the consumer stopped at 2", n)
	}
}
