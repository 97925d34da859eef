package weaviate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/rag"
)

func TestClassName(t *testing.T) {
	s := &Store{prefix: "Keel"}
	for in, want := range map[string]string{
		"docs":         "KeelChunk_docs",
		"Docs":         "KeelChunk__44ocs",
		"my-docs 2024": "KeelChunk_my_2Ddocs_202024",
		"a_b":          "KeelChunk_a_5Fb",
	} {
		if got := s.chunkClass(in); got != want {
			t.Errorf("chunkClass(%q) = %q, want %q", in, got, want)
		}
	}
	if s.chunkClass("a_b") == s.chunkClass("a-b") || s.chunkClass("A") == s.chunkClass("a") {
		t.Error("distinct names share a class")
	}
}

func TestObjectIDDeterministic(t *testing.T) {
	a, b := objectID("chunk", "docs", "x#0"), objectID("chunk", "docs", "x#0")
	if a != b || a == objectID("chunk", "docs", "x#1") || a == objectID("chunk", "docsx", "#0") {
		t.Errorf("ids %s %s not deterministic and distinct", a, b)
	}
}

func TestValidate(t *testing.T) {
	good := document("a", "A", nil, "one", "two")
	for _, tc := range []struct {
		name string
		b    rag.Batch
		want string
	}{
		{"ok", batch(good), ""},
		{"no vectors is fine", rag.Batch{Put: []rag.Indexed{{Document: rag.Document{ID: "x"}, Chunks: good.Chunks}}}, ""},
		{"empty id", batch(rag.Indexed{}), "empty id"},
		{"twice", batch(good, good), `"a" appears twice`},
		{"short vectors", func() rag.Batch {
			b := batch(document("a", "A", nil, "one", "two"))
			b.Put[0].Vectors = b.Put[0].Vectors[:1]
			return b
		}(), "1 vectors for 2 chunks"},
		{"wrong size", func() rag.Batch { b := batch(good); b.Dimensions = 3; return b }(), "vector of 32 dimensions, batch says 3"},
	} {
		err := validate(tc.b)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestScore(t *testing.T) {
	var r chunkRow
	json.Unmarshal([]byte(`{"_additional":{"score":"1.25","distance":0.2}}`), &r)
	got := []float64{score(r, rag.Lexical), score(r, rag.Vector), score(r, rag.Hybrid)}
	if d := cmp.Diff([]float64{1.25, 0.8, 1.25}, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); d != "" {
		t.Error(d)
	}
	if got := metaPairs(map[string]string{"b": "2", "a": "x=y", "a=x": "y"}); !cmp.Equal(got, []string{"a%3Dx=y", "a=x=y", "b=2"}) {
		t.Errorf("metaPairs = %v", got)
	}
}
