// Package structured turns a model's answer into a value of a Go type.
//
// The type is the single source of truth: its JSON Schema (SchemaFor) is
// sent to the model through the provider's native structured-output mode, or
// through the system prompt for servers without one, and the answer is
// validated against the same schema before it is decoded. An invalid answer
// is sent back with its problems for a bounded number of repairs; after that
// Generate returns an *Error holding the raw output, never a silent zero
// value.
//
//	type Verdict struct {
//		Label  string  `json:"label" enum:"spam,ham"`
//		Reason string  `json:"reason" jsonschema:"one sentence"`
//	}
//	v, err := structured.Generate[Verdict](ctx, model, &llm.Request{
//		Messages: []llm.Message{llm.UserText("Classify: WIN A FREE CRUISE")},
//	})
package structured
