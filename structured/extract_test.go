package structured

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bare", ` {"a":1} `, `{"a":1}`},
		{"fenced json", "```json\n{\"a\":1}\n```", `{"a":1}`},
		{"fence with chatter", "Here you go:\n```\n[1,2]\n```\nbye", `[1,2]`},
		{"second fence is the JSON", "```go\nx := 1\n```\n```json\n{\"b\":2}\n```", `{"b":2}`},
		{"chatter around object", `The answer is {"s":"a } in a string"} as asked.`, `{"s":"a } in a string"}`},
		{"braces before the JSON", `use {curly} then {"ok":true}`, `{"ok":true}`},
		{"no JSON", "  I cannot help  ", "I cannot help"},
		{"unclosed", `{"a":`, `{"a":`},
		{"scalar", `"just a string"`, `"just a string"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Extract(tt.in); got != tt.want {
				t.Errorf("Extract(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzExtract checks that Extract never panics, returns either valid JSON
// or the trimmed input, and returns a substring of its input.
func FuzzExtract(f *testing.F) {
	for _, s := range []string{`{"a":1}`, "```json\n[1]\n```", `x {"a":"}"} y`, `{{{`, "```", `"\"`, "[]]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Extract(s)
		if !strings.Contains(s, got) {
			t.Fatalf("Extract(%q) = %q, not part of the input", s, got)
		}
		if !json.Valid([]byte(got)) && got != strings.TrimSpace(s) {
			t.Fatalf("Extract(%q) = %q: neither valid JSON nor the trimmed input", s, got)
		}
	})
}

func TestSchemaFor(t *testing.T) {
	type inner struct {
		Mode string `json:"mode" enum:"a, b"`
	}
	type in struct {
		inner
		Req   string           `json:"req" jsonschema:"needed"`
		Opt   int              `json:"opt,omitempty"`
		Tags  []string         `json:"tags" enum:"x,y"`
		Sub   *inner           `json:"sub,omitzero"`
		Attrs map[string]inner `json:"attrs,omitempty"`
	}
	s, err := SchemaFor[in]()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{`{"mode":"a","req":"r","tags":["x"]}`, true},
		{`{"mode":"b","req":"r","tags":[],"sub":{"mode":"a"},"attrs":{"k":{"mode":"b"}}}`, true},
		{`{"mode":"c","req":"r","tags":[]}`, false},
		{`{"mode":"a","tags":[]}`, false},
		{`{"mode":"a","req":"r","tags":["z"]}`, false},
		{`{"mode":"a","req":"r","tags":[],"sub":{"mode":"z"}}`, false},
		{`{"mode":"a","req":"r","tags":[],"attrs":{"k":{"mode":"z"}}}`, false},
		{`{"mode":"a","req":"r","tags":[],"extra":1}`, false},
	} {
		if err := s.Validate([]byte(tc.doc)); (err == nil) != tc.ok {
			t.Errorf("Validate(%s) = %v, want ok=%v", tc.doc, err, tc.ok)
		}
	}
	if !strings.Contains(string(s.JSON()), `"description":"needed"`) {
		t.Errorf("schema %s lacks the description", s.JSON())
	}

	type bad struct {
		N int `json:"n" enum:"1,2"`
	}
	if _, err := SchemaFor[bad](); err == nil || !strings.Contains(err.Error(), "field N") {
		t.Errorf("enum on an int: err = %v, want one naming field N", err)
	}
}

func TestStrictCompatible(t *testing.T) {
	type all struct {
		A string `json:"a"`
		B *int   `json:"b"`
		C []struct {
			D string `json:"d"`
		} `json:"c"`
	}
	type nestedOptional struct {
		C []struct {
			D string `json:"d,omitempty"`
		} `json:"c"`
	}
	for _, tc := range []struct {
		name string
		s    func() (*Schema, error)
		want bool
	}{
		{"all required", SchemaFor[all], true},
		{"nested optional", SchemaFor[nestedOptional], false},
		{"map", SchemaFor[map[string]int], false},
	} {
		s, err := tc.s()
		if err != nil {
			t.Fatal(err)
		}
		if got := s.StrictCompatible(); got != tc.want {
			t.Errorf("%s: StrictCompatible = %v, want %v (%s)", tc.name, got, tc.want, s.JSON())
		}
	}
}
