package embed

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/rag"
)

func TestVoyageReranker(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		// Scores in the wrong order, and passage 2 left out, to check the
		// client sorts and keeps what the API dropped.
		w.Write([]byte(`{"object":"list","data":[{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":0.8}],"model":"rerank-2.5"}`))
	})
	rr := NewVoyageReranker(Options{BaseURL: s.URL, APIKey: "pa-secret"})
	hits := []rag.Hit{{ChunkID: "a", Text: "first"}, {ChunkID: "b", Text: "second"}, {ChunkID: "c", Text: "third"}}
	got, err := rr.Rerank(context.Background(), "which?", hits)
	must(t, err)
	var ids []string
	for _, h := range got {
		ids = append(ids, h.ChunkID)
	}
	if strings.Join(ids, ",") != "b,a,c" || got[0].Score != 0.8 {
		t.Errorf("order %v (first score %v), want b,a,c with 0.8", ids, got[0].Score)
	}
	body := s.bodies[0]
	if body["query"] != "which?" || body["model"] != "rerank-2.5" || strings.Join(strs(body["documents"]), "|") != "first|second|third" {
		t.Errorf("request body %v", body)
	}
	if s.paths[0] != "/rerank" || s.heads[0].Get("Authorization") != "Bearer pa-secret" {
		t.Errorf("path %q, auth %q", s.paths[0], s.heads[0].Get("Authorization"))
	}
}

func TestVoyageRerankerErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		kind   llm.ErrorKind
	}{
		"rate limited": {429, `{"detail":"slow down"}`, llm.KindRateLimited},
		"bad index":    {200, `{"data":[{"index":5,"relevance_score":1}]}`, llm.KindServer},
		"not json":     {200, `<html>`, llm.KindServer},
	} {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			_, err := NewVoyageReranker(Options{BaseURL: s.URL, APIKey: "pa-secret"}).Rerank(context.Background(), "q", []rag.Hit{{Text: "x"}})
			if llm.KindOf(err) != tc.kind {
				t.Errorf("error %v, want kind %s", err, tc.kind)
			}
			if err != nil && strings.Contains(err.Error(), "pa-secret") {
				t.Error("the key leaked into the error")
			}
		})
	}
}
