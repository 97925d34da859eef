package geminitest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keelai/keel/llm"
)

// rendered is a scripted response in wire form: its parts, finish reason,
// usage, and whether it is a blocked prompt.
type rendered struct {
	parts   []wirePart
	finish  string
	usage   wireUsage
	blocked bool
}

// render turns a scripted response into wire parts. Signatures are taken
// as they travel in Keel (base64, as on the wire); parts a response cannot
// hold (images, documents, tool results) and redacted thinking are left out.
func render(resp *llm.Response) (*rendered, error) {
	r := &rendered{finish: finishReason(resp.StopReason)}
	thoughtWords := 0
	for i, p := range resp.Content {
		switch p := p.(type) {
		case llm.Text:
			r.parts = append(r.parts, wirePart{Text: new(p.Text)})
		case llm.Thinking:
			sig, err := signature(p.Signature)
			if err != nil {
				return nil, fmt.Errorf("scripted response part %d: %w", i, err)
			}
			switch {
			case p.Text != "":
				r.parts = append(r.parts, wirePart{Text: new(p.Text), Thought: true, ThoughtSignature: sig})
				thoughtWords += len(strings.Fields(p.Text))
			case sig == nil:
			case len(r.parts) > 0 && r.parts[len(r.parts)-1].ThoughtSignature == nil:
				// Keel's form of a signature the API put on the part before.
				r.parts[len(r.parts)-1].ThoughtSignature = sig
			default:
				r.parts = append(r.parts, wirePart{Text: new(""), ThoughtSignature: sig})
			}
		case llm.ToolCall:
			sig, err := signature(p.Signature)
			if err != nil {
				return nil, fmt.Errorf("scripted response part %d: %w", i, err)
			}
			args := map[string]any{}
			if strings.TrimSpace(string(p.Input)) != "" {
				if err := json.Unmarshal(p.Input, &args); err != nil {
					return nil, fmt.Errorf("scripted response part %d: tool input is not a JSON object: %w", i, err)
				}
			}
			r.parts = append(r.parts, wirePart{
				FunctionCall:     &wireFunctionCall{ID: p.ID, Name: p.Name, Args: args},
				ThoughtSignature: sig,
			})
		}
	}
	u := resp.Usage
	// Gemini has no cache writes: such tokens are ordinary prompt tokens.
	prompt := u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens + u.CacheWrite1hTokens
	thoughts := min(thoughtWords, u.OutputTokens)
	r.usage = wireUsage{
		PromptTokenCount:        prompt,
		CachedContentTokenCount: u.CacheReadTokens,
		CandidatesTokenCount:    u.OutputTokens - thoughts,
		ThoughtsTokenCount:      thoughts,
		TotalTokenCount:         prompt + u.OutputTokens,
		PromptTokensDetails:     []wireModalityCount{{Modality: "TEXT", TokenCount: prompt}},
	}
	r.blocked = resp.StopReason == llm.StopRefusal && len(resp.Content) == 0
	return r, nil
}

// signature decodes a Keel signature for the wire, where it is base64.
func signature(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("signature %q is not base64, as Gemini's thought signatures are", s)
	}
	return b, nil
}

func finishReason(s llm.StopReason) string {
	switch s {
	case llm.StopMaxTokens:
		return "MAX_TOKENS"
	case llm.StopRefusal:
		return "SAFETY"
	case llm.StopUnknown, llm.StopPauseTurn:
		return "OTHER"
	}
	// end_turn, tool_use and stop_sequence are all STOP to Gemini.
	return "STOP"
}

// whole returns the non-streamed response.
func (r *rendered) whole(id, model string) wireResponse {
	u := r.usage
	if r.blocked {
		return wireResponse{
			PromptFeedback: &wirePromptFeedback{BlockReason: "SAFETY"},
			UsageMetadata:  &wireUsage{PromptTokenCount: u.PromptTokenCount, TotalTokenCount: u.PromptTokenCount, PromptTokensDetails: u.PromptTokensDetails},
			ModelVersion:   model, ResponseID: id,
		}
	}
	return wireResponse{
		Candidates:    []wireCandidate{{Content: wireOutContent{Parts: r.parts, Role: "model"}, FinishReason: r.finish}},
		UsageMetadata: &u,
		ModelVersion:  model, ResponseID: id,
	}
}

// chunks returns the streamed responses, in the API's order: text and
// thoughts in word-sized pieces (a signature rides on the last piece of its
// part), function calls whole, and the finish reason with the final usage
// on the last chunk. Every chunk carries the usage so far, as the API's do.
func (r *rendered) chunks(id, model string) []wireResponse {
	if r.blocked {
		return []wireResponse{r.whole(id, model)}
	}
	var pieces []wirePart
	for _, p := range r.parts {
		if p.Text == nil || *p.Text == "" {
			pieces = append(pieces, p)
			continue
		}
		words := strings.SplitAfter(*p.Text, " ")
		for k, w := range words {
			piece := wirePart{Text: new(w), Thought: p.Thought}
			if k == len(words)-1 {
				piece.ThoughtSignature = p.ThoughtSignature
			}
			pieces = append(pieces, piece)
		}
	}
	if len(pieces) == 0 {
		pieces = []wirePart{{Text: new("")}}
	}
	out := make([]wireResponse, len(pieces))
	final := r.usage
	for k, piece := range pieces {
		u := final
		if k < len(pieces)-1 {
			// The running count: candidates and thoughts grow, the prompt
			// is whole from the first chunk.
			u.CandidatesTokenCount = min(k+1, final.CandidatesTokenCount)
			u.ThoughtsTokenCount = min(k+1, final.ThoughtsTokenCount)
			u.TotalTokenCount = u.PromptTokenCount + u.CandidatesTokenCount + u.ThoughtsTokenCount
		}
		c := wireCandidate{Content: wireOutContent{Parts: []wirePart{piece}, Role: "model"}}
		if k == len(pieces)-1 {
			c.FinishReason = r.finish
		}
		out[k] = wireResponse{Candidates: []wireCandidate{c}, UsageMetadata: &u, ModelVersion: model, ResponseID: id}
	}
	return out
}

// Token counts are deterministic stand-ins for the real tokenizer: a text
// counts one token per 4 bytes (rounded up), a media part 258 (Gemini's
// count for an image of up to 384×384 pixels).
const mediaTokens = 258

func textTokens(s string) int { return (len(s) + 3) / 4 }

func jsonTokens(v any) int {
	if v == nil {
		return 0
	}
	b, _ := json.Marshal(v)
	return textTokens(string(b))
}

func contentTokens(cs []wireContent) int {
	n := 0
	for _, c := range cs {
		for _, p := range c.Parts {
			if p.Text != nil {
				n += textTokens(*p.Text)
			}
			if p.InlineData != nil || p.FileData != nil {
				n += mediaTokens
			}
			if fc := p.FunctionCall; fc != nil {
				n += textTokens(fc.Name) + jsonTokens(fc.Args)
			}
			if fr := p.FunctionResponse; fr != nil {
				n += textTokens(fr.Name) + jsonTokens(fr.Response) + mediaTokens*len(fr.Parts)
			}
		}
	}
	return n
}

// requestTokens counts a request's input: contents, system instruction and
// function declarations.
func requestTokens(req *wireRequest) int {
	n := contentTokens(req.Contents)
	if req.SystemInstruction != nil {
		n += contentTokens([]wireContent{*req.SystemInstruction})
	}
	for _, t := range req.Tools {
		for _, d := range t.FunctionDeclarations {
			n += jsonTokens(d)
		}
	}
	return n
}

// echo is the answer when the script is empty: the text of the last user
// turn, with deterministic usage.
func echo(req *wireRequest) *llm.Response {
	var last string
	for _, c := range req.Contents {
		if c.Role == "model" {
			continue
		}
		var b strings.Builder
		for _, p := range c.Parts {
			if p.Text != nil && !p.Thought {
				b.WriteString(*p.Text)
			}
		}
		last = b.String()
	}
	return &llm.Response{
		Content:    []llm.Part{llm.Text{Text: last}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: requestTokens(req), OutputTokens: textTokens(last)},
	}
}
