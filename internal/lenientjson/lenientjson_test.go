package lenientjson

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
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

func TestDecodeAnswer(t *testing.T) {
	var v struct {
		S String `json:"s"`
	}
	if err := DecodeAnswer("p", []byte(`{"s":"ok"}`), &v); err != nil || v.S != "ok" {
		t.Fatalf("%v, %q", err, v.S)
	}
	err := DecodeAnswer("p", []byte(`{"s":"cu`), &v)
	if e, ok := errors.AsType[*llm.Error](err); !ok || e.Kind != llm.KindNetwork || e.Provider != "p" || !errors.Is(err, llm.ErrIncomplete) {
		t.Errorf("cut short: %v", err)
	}
	err = DecodeAnswer("p", []byte(`<html>`), &v)
	if e, ok := errors.AsType[*llm.Error](err); !ok || e.Kind != llm.KindServer || !strings.HasPrefix(e.Message, "malformed response") {
		t.Errorf("not JSON: %v", err)
	}
}
