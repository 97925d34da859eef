package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/structured"
)

// Tool is something a model can call. Implementations must be safe for
// concurrent use: the agent loop runs one turn's calls at once.
type Tool interface {
	// Spec describes the tool to the model.
	Spec() llm.Tool
	// Call runs the tool on the model's JSON arguments and returns the
	// result's content (Text and Image parts). An error is shown to the
	// model as a failed result; it is not fatal to the loop.
	Call(ctx context.Context, input json.RawMessage) ([]llm.Part, error)
}

// InputError reports tool arguments that are not valid JSON or do not
// conform to the tool's input schema. Its message is written for the model.
type InputError struct {
	Tool     string
	Problems []string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("invalid input for tool %s: %v", e.Tool, e.Problems)
}

// namePattern is the intersection of what Anthropic, OpenAI and Gemini
// accept as a function name.
var namePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$`)

// typed is a Tool made from a Go function.
type typed[In, Out any] struct {
	spec   llm.Tool
	schema *structured.Schema
	fn     func(context.Context, In) (Out, error)
}

// New builds a Tool from a Go function. The input schema comes from In (see
// structured.SchemaFor: json names, omitempty/omitzero for optional fields,
// `jsonschema:"..."` descriptions, `enum:"a,b"` enums); In must be a struct.
// The model's arguments are validated against that schema before fn runs, so
// fn never sees a missing required field or a wrong type. Out is sent back as
// text when it is a string, as JSON otherwise.
func New[In, Out any](name, description string, fn func(ctx context.Context, in In) (Out, error)) (Tool, error) {
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("tool: name %q: want 1-64 letters, digits, _ . - not starting with a digit", name)
	}
	if fn == nil {
		return nil, fmt.Errorf("tool %s: nil function", name)
	}
	schema, err := structured.SchemaFor[In]()
	if err != nil {
		return nil, fmt.Errorf("tool %s: %w", name, err)
	}
	if !schema.IsObject() {
		return nil, fmt.Errorf("tool %s: input type must be a struct (models pass arguments as a JSON object)", name)
	}
	return &typed[In, Out]{
		spec:   llm.Tool{Name: name, Description: description, InputSchema: schema.JSON()},
		schema: schema,
		fn:     fn,
	}, nil
}

// Must is New that panics on error, for tools defined at program start.
func Must[In, Out any](name, description string, fn func(ctx context.Context, in In) (Out, error)) Tool {
	t, err := New(name, description, fn)
	if err != nil {
		panic(err)
	}
	return t
}

func (t *typed[In, Out]) Spec() llm.Tool {
	s := t.spec
	s.InputSchema = t.schema.JSON()
	return s
}

func (t *typed[In, Out]) Call(ctx context.Context, input json.RawMessage) ([]llm.Part, error) {
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	if err := t.schema.Validate(input); err != nil {
		ie := &InputError{Tool: t.spec.Name, Problems: []string{err.Error()}}
		if ve, ok := errors.AsType[*structured.ValidationError](err); ok {
			ie.Problems = ve.Problems
		}
		return nil, ie
	}
	var in In
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, &InputError{Tool: t.spec.Name, Problems: []string{err.Error()}}
	}
	out, err := t.fn(ctx, in)
	if err != nil {
		return nil, err
	}
	if s, ok := any(out).(string); ok {
		return []llm.Part{llm.Text{Text: s}}, nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("tool %s: encode output: %w", t.spec.Name, err)
	}
	return []llm.Part{llm.Text{Text: string(b)}}, nil
}
