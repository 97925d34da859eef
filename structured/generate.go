package structured

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keelai/keel/llm"
)

// Mode says how the schema reaches the model.
type Mode int

// Modes.
const (
	// Native sets llm.Request.Output, which adapters map to the provider's
	// structured-output mode (OpenAI strict json_schema, Anthropic
	// output_config, Gemini's response schema).
	Native Mode = iota
	// Prompt puts the schema in the system prompt and asks for bare JSON, for
	// OpenAI-compatible servers that have no structured-output mode. Keel
	// validates the answer either way.
	Prompt
)

// Option configures Generate.
type Option func(*config)

type config struct {
	mode    Mode
	repairs int
	name    string
	stream  bool
}

// WithMode chooses Native (the default) or Prompt.
func WithMode(m Mode) Option { return func(c *config) { c.mode = m } }

// WithRepairs sets how many times an invalid answer is sent back with its
// problems for another try (default 2; 0 disables repair).
func WithRepairs(n int) Option { return func(c *config) { c.repairs = max(n, 0) } }

// WithStream makes each attempt a streaming call (collected before
// validation), for servers or middleware that only stream, or to keep a
// long generation's connection busy.
func WithStream() Option { return func(c *config) { c.stream = true } }

// WithName names the schema for providers that want a name (default "output").
func WithName(name string) Option { return func(c *config) { c.name = name } }

// Error is returned when the model's output could not be turned into a valid
// value: it holds the last raw output and what was wrong with it.
type Error struct {
	// Raw is the model's last answer, exactly as received.
	Raw string
	// Problems lists what was wrong with Raw (from validation or decoding).
	Problems []string
	// Attempts is how many model calls were made.
	Attempts int
	// StopReason is the last response's stop reason; StopMaxTokens or
	// StopRefusal explain many failures.
	StopReason llm.StopReason
}

func (e *Error) Error() string {
	return fmt.Sprintf("structured: no valid output after %d attempt(s) (stop reason %s): %s",
		e.Attempts, e.StopReason, strings.Join(e.Problems, "; "))
}

// wrapKey is the property a non-object T is wrapped in, since native modes
// want an object at the top.
const wrapKey = "value"

// Generate asks m for a value of type T and returns it decoded and validated
// against T's schema (see SchemaFor). An answer that fails validation is sent
// back with its problems, up to the repair limit; after that Generate returns
// an *Error holding the raw output. A failed model call returns its error
// (an *llm.Error). Generate never returns a zero value with a nil error
// unless the model's valid answer decodes to one. req is not modified.
func Generate[T any](ctx context.Context, m llm.Model, req *llm.Request, opts ...Option) (T, error) {
	var zero T
	cfg := config{repairs: 2, name: "output"}
	for _, o := range opts {
		o(&cfg)
	}
	schema, err := SchemaFor[T]()
	if err != nil {
		return zero, err
	}
	wrapped := !schema.IsObject()
	if wrapped {
		schema, err = wrapSchema(schema)
		if err != nil {
			return zero, err
		}
	}

	r := req.Clone()
	switch cfg.mode {
	case Native:
		// Strict only when the provider can honour it: OpenAI rejects a strict
		// schema with optional properties outright.
		r.Output = &llm.OutputSchema{Name: cfg.name, Schema: schema.JSON(), Strict: schema.StrictCompatible()}
	case Prompt:
		r.Output = nil
		r.System = append(r.System, llm.Text{Text: promptInstructions(schema)})
	default:
		return zero, fmt.Errorf("structured: unknown mode %d", cfg.mode)
	}

	var last *Error
	for attempt := 1; attempt <= cfg.repairs+1; attempt++ {
		var resp *llm.Response
		if cfg.stream {
			resp, err = llm.Collect(m.Stream(ctx, r))
		} else {
			resp, err = m.Generate(ctx, r)
		}
		if err != nil {
			return zero, fmt.Errorf("structured: attempt %d: %w", attempt, err)
		}
		raw := resp.Text()
		v, problems := decode[T](schema, raw, wrapped)
		if problems == nil {
			return v, nil
		}
		if resp.StopReason == llm.StopMaxTokens {
			problems = append(problems, "the answer was cut off by the output token limit")
		}
		last = &Error{Raw: raw, Problems: problems, Attempts: attempt, StopReason: resp.StopReason}
		if resp.StopReason == llm.StopRefusal {
			break // asking again to fix a refusal does not help
		}
		r.Messages = append(r.Messages, resp.Message(), llm.UserText(repairPrompt(problems)))
	}
	return zero, last
}

// decode extracts, validates and decodes raw; problems is nil on success.
func decode[T any](schema *Schema, raw string, wrapped bool) (T, []string) {
	var v T
	data := Extract(raw)
	if err := schema.Validate([]byte(data)); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return v, ve.Problems
		}
		return v, []string{err.Error()}
	}
	var err error
	if wrapped {
		var w map[string]json.RawMessage
		if err = json.Unmarshal([]byte(data), &w); err == nil {
			err = json.Unmarshal(w[wrapKey], &v)
		}
	} else {
		err = json.Unmarshal([]byte(data), &v)
	}
	if err != nil {
		return v, []string{"does not decode: " + err.Error()}
	}
	return v, nil
}

func wrapSchema(inner *Schema) (*Schema, error) {
	raw, err := json.Marshal(map[string]any{
		"type":                 "object",
		"properties":           map[string]json.RawMessage{wrapKey: inner.raw},
		"required":             []string{wrapKey},
		"additionalProperties": false,
	})
	if err != nil {
		return nil, err
	}
	return NewSchema(raw)
}

func promptInstructions(s *Schema) string {
	return "Answer with a single JSON value that conforms to this JSON Schema, and nothing else: " +
		"no explanation, no code fence.\n\nJSON Schema:\n" + string(s.raw)
}

func repairPrompt(problems []string) string {
	return "Your answer is not valid against the required JSON Schema:\n- " +
		strings.Join(problems, "\n- ") +
		"\nReply with the corrected JSON value only."
}
