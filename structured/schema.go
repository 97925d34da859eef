package structured

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	gschema "github.com/google/jsonschema-go/jsonschema"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is a JSON Schema ready to send to a model and to validate what comes
// back. It is immutable and safe for concurrent use.
type Schema struct {
	raw      json.RawMessage
	compiled *jsonschema.Schema
}

// schemaURL names the schema inside the validator; it appears in no message
// that Keel shows (see ValidationError).
const schemaURL = "keel:///schema.json"

// SchemaFor derives the JSON Schema of T with github.com/google/jsonschema-go:
// struct fields become properties named as encoding/json names them; fields
// tagged omitempty or omitzero are optional and every other field is
// required; a `jsonschema:"..."` tag is the property's description. Keel adds
// one tag of its own, `enum:"a,b,c"`, which restricts a string field (or the
// strings of a slice) to the listed values, because jsonschema-go reads no
// enums from tags.
func SchemaFor[T any]() (*Schema, error) {
	return SchemaForType(reflect.TypeFor[T]())
}

// SchemaForType is SchemaFor for a reflect.Type.
func SchemaForType(t reflect.Type) (*Schema, error) {
	s, err := gschema.ForType(t, nil)
	if err != nil {
		return nil, fmt.Errorf("structured: schema for %v: %w", t, err)
	}
	if err := applyEnums(t, s); err != nil {
		return nil, fmt.Errorf("structured: schema for %v: %w", t, err)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("structured: schema for %v: %w", t, err)
	}
	return NewSchema(raw)
}

// NewSchema compiles a JSON Schema given as JSON (draft 2020-12 unless the
// schema names another draft in $schema).
func NewSchema(raw json.RawMessage) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("structured: schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("structured: schema: %w", err)
	}
	compiled, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("structured: invalid schema: %w", err)
	}
	return &Schema{raw: bytes.Clone(raw), compiled: compiled}, nil
}

// JSON returns the schema as JSON. The caller may keep and change the slice.
func (s *Schema) JSON() json.RawMessage { return bytes.Clone(s.raw) }

// IsObject reports whether the schema's top-level type is "object". Native
// structured-output modes (OpenAI's strict json_schema in particular) accept
// only objects at the top.
func (s *Schema) IsObject() bool {
	var top struct {
		Type any `json:"type"`
	}
	return json.Unmarshal(s.raw, &top) == nil && top.Type == "object"
}

// Validate checks that data is one JSON value conforming to the schema. It
// returns a *ValidationError listing every problem found.
func (s *Schema) Validate(data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &ValidationError{Problems: []string{"not valid JSON: " + err.Error()}}
	}
	err = s.compiled.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &ValidationError{Problems: []string{err.Error()}}
	}
	return &ValidationError{Problems: problems(ve)}
}

// ValidationError says why a JSON value does not conform to a schema. Each
// problem names the location in the value (a JSON pointer) and what is wrong
// there, in words a model can act on.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "schema validation failed: " + strings.Join(e.Problems, "; ")
}

// problems flattens the validator's tree into one line per leaf. The tree's
// own rendering starts with a line naming the internal schema URL, which
// means nothing to a model or a user.
func problems(ve *jsonschema.ValidationError) []string {
	var out []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			line := e.Error()
			if i := strings.LastIndex(line, "\n- "); i >= 0 {
				line = line[i+3:]
			}
			out = append(out, strings.TrimSpace(line))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(out) == 0 {
		out = []string{ve.Error()}
	}
	return out
}

// applyEnums copies `enum:"..."` tags of t's fields into s, recursing
// through pointers, slices, arrays, maps and nested structs.
func applyEnums(t reflect.Type, s *gschema.Schema) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return applyEnums(t.Elem(), s.Items)
	case reflect.Map:
		return applyEnums(t.Elem(), s.AdditionalProperties)
	case reflect.Struct:
	default:
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			// Embedded structs are flattened into the parent's properties.
			if err := applyEnums(f.Type, s); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		prop := s.Properties[name]
		if prop == nil {
			continue
		}
		if tag, ok := f.Tag.Lookup("enum"); ok {
			target := prop
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if (ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array) && prop.Items != nil {
				target, ft = prop.Items, ft.Elem()
			}
			if ft.Kind() != reflect.String {
				return fmt.Errorf("field %s: enum tag on a %v, want a string", f.Name, f.Type)
			}
			var vals []any
			for v := range strings.SplitSeq(tag, ",") {
				if v = strings.TrimSpace(v); v != "" {
					vals = append(vals, v)
				}
			}
			if len(vals) == 0 {
				return fmt.Errorf("field %s: empty enum tag", f.Name)
			}
			target.Enum = vals
		}
		if err := applyEnums(f.Type, prop); err != nil {
			return err
		}
	}
	return nil
}

// StrictCompatible reports whether the schema meets OpenAI's strict mode
// rules that Keel's derived schemas can break: every object lists all its
// properties as required and forbids additional ones (so no maps). A Go field tagged
// omitempty is optional, so a type with one is not strict-compatible; such
// a schema is sent non-strict (and still validated by Keel).
func (s *Schema) StrictCompatible() bool {
	var doc any
	if json.Unmarshal(s.raw, &doc) != nil {
		return false
	}
	return strictOK(doc)
}

func strictOK(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if v["type"] == "object" && v["additionalProperties"] != false {
			return false // a map: strict mode wants closed objects only
		}
		if props, ok := v["properties"].(map[string]any); ok {
			if v["additionalProperties"] != false {
				return false
			}
			req, _ := v["required"].([]any)
			if len(req) != len(props) {
				return false
			}
		}
		for _, c := range v {
			if !strictOK(c) {
				return false
			}
		}
	case []any:
		for _, c := range v {
			if !strictOK(c) {
				return false
			}
		}
	}
	return true
}
