package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/rag"
)

func writeDocs(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var guide = map[string]string{
	"streaming.md":   "# Streaming\n\nCall Stream to stream a response. Range over the iterator to print each text delta as it arrives.\n\n## Cancelling\n\nCancel the context to stop the upstream request.\n",
	"retries.md":     "# Retries\n\nThe retry middleware backs off when a provider is overloaded.\n",
	"data/faq.jsonl": `{"id": "faq-1", "title": "Keys", "text": "API keys never appear in logs."}` + "\n",
}

func TestAskOffline(t *testing.T) {
	docs := writeDocs(t, guide)
	env := map[string]string{"KEEL_DATA": t.TempDir()}
	r := keel(t, env, "", "ask", "--docs", docs, "How do I stream a response?")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{rag.OfflineLabel, "- Call Stream to stream a response. [1]", "Sources:\n[1] ", "streaming.md › Streaming"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "3 added") {
		t.Errorf("first use did not report indexing: %q", r.stderr)
	}
	// Unchanged: reused silently. Changed: re-indexed.
	if r := keel(t, env, "", "ask", "--docs", docs, "retry"); r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "backs off") {
		t.Errorf("second ask: exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}
	if err := os.WriteFile(filepath.Join(docs, "retries.md"), []byte("# Retries\n\nRetries use full jitter.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := keel(t, env, "", "ask", "--docs", docs, "jitter"); !strings.Contains(r.stderr, "1 updated") || !strings.Contains(r.stdout, "full jitter") {
		t.Errorf("after a change: stderr %q stdout %q", r.stderr, r.stdout)
	}
}

func TestAskWithModel(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.RequireAPIKey(openaiKey)
	srv.Enqueue(llmtest.WireReply{Response: textResponse("Call Stream and range over it [1]. Keys are secret [9].")})
	docs := writeDocs(t, guide)
	env := openaiEnv(srv)
	env["KEEL_DATA"] = t.TempDir()
	r := keel(t, env, "", "ask", "--docs", docs, "How do I stream a response?")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "Call Stream and range over it [1]. Keys are secret [9].\n\nSources:\n[1] ") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "Warning: the answer cites [9], which match no source") || strings.Contains(r.stdout, "\n[9]") {
		t.Errorf("invented citation not flagged, or shown as a source:\n%s", r.stdout)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	body := requestBody(t, reqs[0])
	msgs, _ := body["messages"].([]any)
	var system, user string
	for _, m := range msgs {
		m := m.(map[string]any)
		text, _ := m["content"].(string)
		if parts, ok := m["content"].([]any); ok {
			for _, p := range parts {
				text += p.(map[string]any)["text"].(string)
			}
		}
		switch m["role"] {
		case "system", "developer":
			system += text
		case "user":
			user += text
		}
	}
	if !strings.Contains(system, "only the sources") || strings.Contains(system, "Call Stream") {
		t.Errorf("system prompt %q: want the grounding rules and no document text", system)
	}
	if !strings.Contains(user, `<source id="1"`) || !strings.Contains(user, "<question>\nHow do I stream a response?\n</question>") {
		t.Errorf("user turn lacks the sources or the question:\n%s", user)
	}
}

func TestIngestAndSearch(t *testing.T) {
	docs := writeDocs(t, guide)
	env := map[string]string{"KEEL_DATA": t.TempDir()}
	r := keel(t, env, "", "ingest", "--collection", "guide", "--exclude", "data/**", docs)
	if r.code != 0 || r.stdout != "collection guide: 2 added, 0 updated, 0 unchanged, 0 removed (2 chunks written)\n" {
		t.Fatalf("ingest: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = keel(t, env, "", "ingest", "--collection", "guide", "--sync", docs)
	if r.stdout != "collection guide: 1 added, 0 updated, 2 unchanged, 0 removed (1 chunks written)\n" {
		t.Errorf("re-ingest: %q %q", r.stdout, r.stderr)
	}
	r = keel(t, env, "", "search", "--collection", "guide", "--json", "--k", "2", "stream the response")
	var got []searchHit
	for _, l := range lines(r.stdout) {
		var h searchHit
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, h)
	}
	if len(got) != 1 || got[0].ID != "streaming.md" || got[0].Title != "Streaming" || !strings.HasPrefix(got[0].Snippet, "# Streaming Call Stream") || got[0].Score <= 0 {
		t.Errorf("search --json: %+v", got)
	}
	qfile := filepath.Join(t.TempDir(), "q.jsonl")
	os.WriteFile(qfile, []byte(`{"_id": 31715818, "text": "retry overloaded"}`+"\n"+`{"_id": "k", "text": "API keys"}`+"\n"), 0o644)
	r = keel(t, env, "", "search", "--collection", "guide", "--queries", qfile)
	var batch []string
	for _, l := range lines(r.stdout) {
		var h searchHit
		json.Unmarshal([]byte(l), &h)
		batch = append(batch, h.QueryID+" "+h.ID)
	}
	if diff := cmp.Diff([]string{"31715818 retries.md", "k faq-1"}, batch); diff != "" {
		t.Errorf("batch (-want +got):\n%s\n%s", diff, r.stderr)
	}
	for _, args := range [][]string{
		{"search", "x"},
		{"search", "--collection", "guide"},
		{"search", "--collection", "guide", "--mode", "fuzzy", "x"},
		{"ingest", "--collection", "guide"},
		{"ask", "--collection", "a", "--docs", "b", "q"},
	} {
		oneErrorLine(t, keel(t, env, "", args...), 2)
	}
	if msg := oneErrorLine(t, keel(t, env, "", "search", "--collection", "guide", "--mode", "vector", "x"), 1); !strings.Contains(msg, "embedder") {
		t.Errorf("vector search without an embedder: %s", msg)
	}
}

// TestIngestBadInput: each bad file fails the ingest with one line naming
// it, and the collection stays as it was.
func TestIngestBadInput(t *testing.T) {
	docs := writeDocs(t, guide)
	env := map[string]string{"KEEL_DATA": t.TempDir()}
	if r := keel(t, env, "", "ingest", "--collection", "c", docs); r.code != 0 {
		t.Fatal(r.stderr)
	}
	before := keel(t, env, "", "search", "--collection", "c", "--json", "stream retry keys").stdout
	bad := t.TempDir()
	big := filepath.Join(bad, "huge.txt")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(100 << 20) // a sparse 100 MB file: refused before it is read
	f.Close()
	files := map[string][]byte{
		"empty.md":   {},
		"binary.txt": {0x7f, 'E', 'L', 'F', 0, 0, 1},
		"bad.jsonl":  []byte(`{"id": "1", "text": "ok"}` + "\n" + `{"id": 2, "text": "cut`),
		"noid.jsonl": []byte(`{"text": "no id"}`),
		"scan.pdf":   []byte("%PDF-1.4\n%%EOF\n"),
	}
	want := map[string]string{
		"empty.md":   "empty.md: empty file",
		"binary.txt": "binary.txt: binary file",
		"bad.jsonl":  "bad.jsonl:2: invalid JSON",
		"noid.jsonl": `noid.jsonl:1: no "id" or "_id" field`,
		"scan.pdf":   "scan.pdf: malformed PDF",
		"huge.txt":   "huge.txt: file too large: 100.0 MiB",
	}
	for name, data := range files {
		os.WriteFile(filepath.Join(bad, name), data, 0o644)
	}
	for name, msg := range want {
		t.Run(name, func(t *testing.T) {
			r := keel(t, env, "", "ingest", "--collection", "c", "--sync", docs, filepath.Join(bad, name))
			if got := oneErrorLine(t, r, 1); !strings.Contains(got, msg) || !strings.Contains(got, "nothing was written") {
				t.Errorf("error %q, want it to contain %q", got, msg)
			}
			if after := keel(t, env, "", "search", "--collection", "c", "--json", "stream retry keys").stdout; after != before {
				t.Errorf("collection changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// --rerank and --rewrite put a model before and after retrieval: the
// rewritten query is what is searched, and the judge's order is printed.
func TestSearchRewriteAndRerank(t *testing.T) {
	docs := writeDocs(t, guide)
	srv := openaitest.NewServer(t)
	env := openaiEnv(srv)
	env["KEEL_DATA"] = t.TempDir()
	if r := keel(t, env, "", "ingest", "--collection", "guide", "--exclude", "data/**", docs); r.code != 0 {
		t.Fatalf("ingest: %q", r.stderr)
	}
	srv.Enqueue(llmtest.WireReply{Response: textResponse("stream response retry overloaded")})
	// The two candidates come in BM25 order; the judge prefers the second.
	srv.Enqueue(llmtest.WireReply{Response: textResponse(`{"scores":[{"index":0,"score":1},{"index":1,"score":9}]}`)})
	r := keel(t, env, "", "search", "--collection", "guide", "--json", "--rewrite", "openai/cheap", "--rerank", "openai/judge", "my question")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var ids []string
	for _, l := range lines(r.stdout) {
		var h searchHit
		json.Unmarshal([]byte(l), &h)
		ids = append(ids, h.ID)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model requests, want 2 (rewrite, rerank)", len(reqs))
	}
	judged := fmt.Sprint(requestBody(t, reqs[1])["messages"])
	first := strings.Index(judged, "Streaming")
	second := strings.Index(judged, "Retries")
	if first < 0 || second < 0 {
		t.Fatalf("the judge did not see both candidates: %s", judged)
	}
	want := []string{"retries.md", "streaming.md"}
	if first > second {
		want = []string{"streaming.md", "retries.md"}
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
