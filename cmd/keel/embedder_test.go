package main

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// bagOfWords embeds a text as hashed word counts, normalised: texts that
// share words are close, which is all a retrieval test needs.
func bagOfWords(text string) []float32 {
	v := make([]float32, 64)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		h := fnv.New32a()
		h.Write([]byte(strings.Trim(w, ".,?!#")))
		v[h.Sum32()%64]++
	}
	var n float64
	for _, x := range v {
		n += float64(x * x)
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n) + 1e-9)
	}
	return v
}

// With rag.embedder in keel.yaml, ingest stores vectors (through the
// embedding cache: a second ingest of new text embeds only that text),
// and search can rank by them.
func TestConfiguredEmbedder(t *testing.T) {
	var texts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Input []string }
		json.NewDecoder(r.Body).Decode(&req)
		texts.Add(int64(len(req.Input)))
		var data []map[string]any
		for i, in := range req.Input {
			data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": bagOfWords(in)})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keel.yaml")
	os.WriteFile(cfg, []byte("providers:\n  emb:\n    type: openai\n    base_url: "+srv.URL+"\nrag:\n  embedder: emb/bow-64\n"), 0o600)
	docs := writeDocs(t, guide)
	env := map[string]string{"KEEL_DATA": t.TempDir()}

	if r := keel(t, env, "", "--config", cfg, "ingest", "--collection", "guide", "--exclude", "data/**", docs); r.code != 0 {
		t.Fatalf("ingest: %s", r.stderr)
	}
	embedded := texts.Load()
	if embedded == 0 {
		t.Fatal("ingest embedded nothing")
	}
	r := keel(t, env, "", "--config", cfg, "search", "--collection", "guide", "--mode", "vector", "--json", "--k", "1", "cancel the upstream request context")
	var hit searchHit
	if err := json.Unmarshal([]byte(r.stdout), &hit); err != nil || hit.ID != "streaming.md" {
		t.Fatalf("vector search: %q %q (%v)", r.stdout, r.stderr, err)
	}
	// Default mode with an embedder is hybrid; it works too.
	if r := keel(t, env, "", "--config", cfg, "search", "--collection", "guide", "--json", "retry overloaded"); !strings.Contains(r.stdout, "retries.md") {
		t.Errorf("hybrid search: %q %q", r.stdout, r.stderr)
	}
	// The same documents in another collection: every vector comes from
	// the embedding cache in the data folder.
	before := texts.Load()
	if r := keel(t, env, "", "--config", cfg, "ingest", "--collection", "copy", "--exclude", "data/**", docs); r.code != 0 {
		t.Fatalf("second ingest: %s", r.stderr)
	}
	if got := texts.Load() - before; got != 0 {
		t.Errorf("the second ingest embedded %d texts; want all from the cache", got)
	}
}
