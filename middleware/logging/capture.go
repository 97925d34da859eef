package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// CaptureLine is one line of a JSONL capture.
type CaptureLine struct {
	Time      time.Time        `json:"time"`
	Model     string           `json:"model"`
	Stream    bool             `json:"stream"`
	LatencyMS float64          `json:"latency_ms"`
	Request   CapturedRequest  `json:"request"`
	Response  *CapturedAnswer  `json:"response,omitempty"`
	Error     *CapturedFailure `json:"error,omitempty"`
}

// CapturedRequest is a request in Keel's JSON form.
type CapturedRequest struct {
	System        json.RawMessage     `json:"system,omitempty"`
	Messages      []llm.Message       `json:"messages"`
	Tools         []CapturedTool      `json:"tools,omitempty"`
	ToolChoice    *llm.ToolChoice     `json:"tool_choice,omitempty"`
	MaxTokens     int                 `json:"max_tokens,omitempty"`
	Temperature   *float64            `json:"temperature,omitempty"`
	TopP          *float64            `json:"top_p,omitempty"`
	StopSequences []string            `json:"stop_sequences,omitempty"`
	Output        *llm.OutputSchema   `json:"output,omitempty"`
	Thinking      *llm.ThinkingConfig `json:"thinking,omitempty"`
	Tags          map[string]string   `json:"tags,omitempty"`
}

// CapturedTool is a tool definition.
type CapturedTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
}

// CapturedAnswer is a response.
type CapturedAnswer struct {
	ID           string          `json:"id,omitempty"`
	Model        string          `json:"model"`
	Content      json.RawMessage `json:"content"`
	StopReason   llm.StopReason  `json:"stop_reason"`
	StopSequence string          `json:"stop_sequence,omitempty"`
	Usage        llm.Usage       `json:"usage"`
}

// CapturedFailure is a failed call's error.
type CapturedFailure struct {
	Kind      llm.ErrorKind `json:"kind"`
	Status    int           `json:"status,omitempty"`
	Message   string        `json:"message"`
	RequestID string        `json:"request_id,omitempty"`
}

func (c *capturer) write(cl call, latency time.Duration) {
	if cl.err == errAbandoned {
		return // no answer to replay
	}
	line := CaptureLine{
		Time: time.Now().UTC(), Model: cl.model, Stream: cl.stream,
		LatencyMS: float64(latency.Microseconds()) / 1000,
		Request:   captureRequest(cl.req),
	}
	if cl.resp != nil {
		content, err := llm.MarshalParts(cl.resp.Content)
		if err != nil {
			return
		}
		line.Response = &CapturedAnswer{
			ID: cl.resp.ID, Model: cl.resp.Model, Content: content, StopReason: cl.resp.StopReason,
			StopSequence: cl.resp.StopSequence, Usage: cl.resp.Usage,
		}
	}
	if cl.err != nil {
		f := &CapturedFailure{Kind: llm.KindOf(cl.err), Message: cl.err.Error()}
		if e, ok := errors.AsType[*llm.Error](cl.err); ok {
			f.Status, f.RequestID = e.Status, e.RequestID
		}
		line.Error = f
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	// Redacting the encoded line is safe: the replacement holds no quote or
	// backslash, so the JSON stays valid.
	b = append([]byte(llm.Redact(string(b))), '\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.Write(b)
}

func captureRequest(req *llm.Request) CapturedRequest {
	system := make([]llm.Part, len(req.System))
	for i, s := range req.System {
		system[i] = s
	}
	sys, _ := llm.MarshalParts(system)
	r := CapturedRequest{
		Messages: req.Messages, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP,
		StopSequences: req.StopSequences, Output: req.Output, Thinking: req.Thinking, Tags: req.Tags,
	}
	if len(req.System) > 0 {
		r.System = sys
	}
	if req.ToolChoice != (llm.ToolChoice{}) {
		tc := req.ToolChoice
		r.ToolChoice = &tc
	}
	for _, t := range req.Tools {
		r.Tools = append(r.Tools, CapturedTool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema})
	}
	return r
}

// LoadCapture reads a JSONL capture and returns its answers, in order, as
// replies for llmtest.NewModel, so that a recorded session replays without
// a network. A malformed line is an error naming its number.
func LoadCapture(r io.Reader) ([]llmtest.Reply, error) {
	var replies []llmtest.Reply
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var line CaptureLine
		if err := json.Unmarshal(b, &line); err != nil {
			return nil, fmt.Errorf("capture line %d: %w", n, err)
		}
		switch {
		case line.Response != nil:
			parts, err := llm.UnmarshalParts(line.Response.Content)
			if err != nil {
				return nil, fmt.Errorf("capture line %d: response content: %w", n, err)
			}
			replies = append(replies, llmtest.Reply{Response: &llm.Response{
				ID: line.Response.ID, Model: line.Response.Model, Content: parts,
				StopReason: line.Response.StopReason, StopSequence: line.Response.StopSequence, Usage: line.Response.Usage,
			}})
		case line.Error != nil:
			replies = append(replies, llmtest.Reply{Err: &llm.Error{
				Kind: line.Error.Kind, Status: line.Error.Status, Message: line.Error.Message, RequestID: line.Error.RequestID,
			}})
		default:
			return nil, fmt.Errorf("capture line %d: neither response nor error", n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	return replies, nil
}
