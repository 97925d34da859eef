package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/keelai/keel/llm"
)

// Item is one request of a batch.
type Item struct {
	// CustomID names the item in its results: 1 to 64 letters, digits,
	// '-' or '_' (the rule of both providers' batch APIs), unique in a
	// batch.
	CustomID string
	// Model is a `provider/model` name or an alias; "" means the batch's
	// default model.
	Model   string
	Request *llm.Request
}

// MaxLineBytes bounds one line of an input file.
const MaxLineBytes = 8 << 20

// InputError is a bad line of an input file. Nothing is submitted when a
// file has one.
type InputError struct {
	File string // "" when not read from a file
	Line int
	// Field is the JSON field at fault, "" for the line as a whole.
	Field string
	Msg   string
}

func (e *InputError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// inputLine is the input file's line format; docs/batch.md documents it.
type inputLine struct {
	CustomID    *string        `json:"custom_id"`
	Model       string         `json:"model"`
	System      string         `json:"system"`
	Messages    []inputMessage `json:"messages"`
	Prompt      *string        `json:"prompt"`
	MaxTokens   *int           `json:"max_tokens"`
	Temperature *float64       `json:"temperature"`
}

type inputMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ValidCustomID reports whether id is acceptable to both providers' batch
// APIs: 1 to 64 of [A-Za-z0-9_-].
func ValidCustomID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// DecodeLine decodes one line of an input file:
//
//	{"custom_id": "q1", "model": "anthropic/claude-haiku-4-5", "system": "...",
//	 "prompt": "..." | "messages": [{"role": "user", "content": "..."}],
//	 "max_tokens": 512, "temperature": 0.2}
//
// custom_id and one of prompt or messages are required; unknown fields are
// errors, so that a misspelt field is not silently dropped. The error is an
// *InputError naming the field (its Line is 0).
func DecodeLine(data []byte) (Item, error) {
	bad := func(field, format string, args ...any) (Item, error) {
		return Item{}, &InputError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var in inputLine
	if err := dec.Decode(&in); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return bad(ute.Field, "want a %s, got a JSON %s", ute.Type, ute.Value)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return bad(strings.Trim(f, `"`), "unknown field (want custom_id, model, system, prompt or messages, max_tokens, temperature)")
		}
		return bad("", "not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("", "unexpected text after the JSON object")
	}
	switch {
	case in.CustomID == nil:
		return bad("custom_id", "required")
	case !ValidCustomID(*in.CustomID):
		return bad("custom_id", "%q: want 1 to 64 letters, digits, '-' or '_'", *in.CustomID)
	case in.Prompt != nil && in.Messages != nil:
		return bad("prompt", "give prompt or messages, not both")
	case in.Prompt == nil && in.Messages == nil:
		return bad("messages", "required (or prompt)")
	case in.Prompt != nil && strings.TrimSpace(*in.Prompt) == "":
		return bad("prompt", "empty")
	case in.Messages != nil && len(in.Messages) == 0:
		return bad("messages", "empty")
	case in.MaxTokens != nil && *in.MaxTokens <= 0:
		return bad("max_tokens", "%d: want a positive number", *in.MaxTokens)
	case in.Temperature != nil && (math.IsNaN(*in.Temperature) || *in.Temperature < 0 || *in.Temperature > 2):
		return bad("temperature", "%v: want a number from 0 to 2", *in.Temperature)
	}
	req := &llm.Request{}
	if in.System != "" {
		req.System = []llm.Text{{Text: in.System}}
	}
	if in.Prompt != nil {
		req.Messages = []llm.Message{llm.UserText(*in.Prompt)}
	}
	for i, m := range in.Messages {
		field := fmt.Sprintf("messages[%d]", i)
		if strings.TrimSpace(m.Content) == "" {
			return bad(field+".content", "empty")
		}
		switch m.Role {
		case "user":
			req.Messages = append(req.Messages, llm.UserText(m.Content))
		case "assistant":
			if i == 0 {
				return bad(field+".role", "the first message must be the user's")
			}
			req.Messages = append(req.Messages, llm.AssistantText(m.Content))
		default:
			return bad(field+".role", "%q: want user or assistant", m.Role)
		}
	}
	if in.MaxTokens != nil {
		req.MaxTokens = *in.MaxTokens
	}
	req.Temperature = in.Temperature
	return Item{CustomID: *in.CustomID, Model: in.Model, Request: req}, nil
}

// ReadItems reads an input file (one JSON object a line; blank lines are
// skipped). The first bad line, or a custom_id used twice, is an
// *InputError naming name and the line; no items are returned with it.
func ReadItems(r io.Reader, name string) ([]Item, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	var items []Item
	seen := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		it, err := DecodeLine(text)
		if err != nil {
			ie := err.(*InputError)
			ie.File, ie.Line = name, line
			return nil, ie
		}
		if first, dup := seen[it.CustomID]; dup {
			return nil, &InputError{File: name, Line: line, Field: "custom_id", Msg: fmt.Sprintf("%q is already used on line %d", it.CustomID, first)}
		}
		seen[it.CustomID] = line
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &InputError{File: name, Line: line + 1, Msg: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(items) == 0 {
		return nil, &InputError{File: name, Msg: "no requests in the file"}
	}
	return items, nil
}
