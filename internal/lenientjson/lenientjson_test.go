package lenientjson

import (
	"testing"
)

func TestShapes(t *testing.T) {
	type doc struct {
		S String `json:"s"`
		N Int    `json:"n"`
	}
	tests := []struct {
		in   string
		want doc
	}{
		{`{"s":"hi","n":3}`, doc{"hi", 3}},
		{`{"s":null,"n":null}`, doc{}},
		{`{"s":7,"n":"7"}`, doc{}},
		{`{"s":{"a":1},"n":[1]}`, doc{}},
		{`{"s":[{"type":"text","text":"A"},{"type":"image"},{"text":"B"}],"n":12.9}`, doc{"AB", 12}},
		{`{"s":"a","s":"b","n":1}`, doc{"b", 1}},       // repeated names: the last wins
		{"{\"s\":\"\xff\",\"n\":0}", doc{"\uFFFD", 0}}, // invalid UTF-8 is mangled, not refused
		{`{"other":{"deep":[1,2,{"x":null}]},"n":2}`, doc{N: 2}},
	}
	for _, tt := range tests {
		var got doc
		if err := Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestMalformedIsAnError(t *testing.T) {
	for _, in := range []string{``, `{`, `{"s":"x"`, `{"s":[{"text":1}`, `nope`, `{"n":1}}`} {
		var v struct {
			S String `json:"s"`
			N Int    `json:"n"`
		}
		if err := Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
