package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/store/state"
)

func TestConversationsAreScopedToTheirOwner(t *testing.T) {
	e := newEnv(t)
	e.model.Enqueue(llmtest.Text("Hi Alice."), llmtest.Text("Hi Bob."))
	var alice, bob conversationEvent
	e.chat("key_alice", map[string]any{"message": "I am Alice"})[0].decode(t, &alice)
	e.chat("key_bob", map[string]any{"message": "I am Bob"})[0].decode(t, &bob)

	var list struct{ Conversations []struct{ ID, Title string } }
	e.getJSON("GET", "/api/conversations", "key_alice", 200, &list)
	if len(list.Conversations) != 1 || list.Conversations[0].ID != alice.ID || list.Conversations[0].Title != "I am Alice" {
		t.Errorf("alice sees %+v", list.Conversations)
	}
	// Someone else's conversation is not found, whatever the verb.
	e.getJSON("GET", "/api/conversations/"+alice.ID, "key_bob", 404, nil)
	e.getJSON("DELETE", "/api/conversations/"+alice.ID, "key_bob", 404, nil)
	e.getJSON("GET", "/api/conversations/"+alice.ID, "", 404, nil) // the local owner is an owner too
	resp := e.do("POST", "/api/chat", "key_bob", strings.NewReader(`{"message":"hi","conversation_id":"`+alice.ID+`"}`), "application/json")
	if resp.StatusCode != 404 {
		t.Errorf("bob continuing alice's conversation: %s", resp.Status)
	}

	e.getJSON("DELETE", "/api/conversations/"+alice.ID, "key_alice", 204, nil)
	e.getJSON("GET", "/api/conversations/"+alice.ID, "key_alice", 404, nil)
	e.getJSON("GET", "/api/conversations", "key_alice", 200, &list)
	if len(list.Conversations) != 0 {
		t.Errorf("after delete alice sees %+v", list.Conversations)
	}
	e.getJSON("GET", "/api/conversations/"+bob.ID, "key_bob", 200, nil)
}

func TestConversationsListLimit(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		e.model.Enqueue(llmtest.Text("ok"))
		e.chat("", map[string]any{"message": "hello"})
	}
	var list struct{ Conversations []state.Conversation }
	e.getJSON("GET", "/api/conversations?limit=2", "", 200, &list)
	if len(list.Conversations) != 2 {
		t.Errorf("limit=2 gave %d", len(list.Conversations))
	}
	e.getJSON("GET", "/api/conversations?limit=0", "", 400, nil)
	e.getJSON("GET", "/api/conversations?limit=x", "", 400, nil)
}

func TestModels(t *testing.T) {
	e := newEnv(t)
	var got struct {
		Models []struct {
			ID, Provider, Target string
			Default              bool
		}
	}
	e.getJSON("GET", "/api/models", "", 200, &got)
	if len(got.Models) != 1 || got.Models[0].ID != fakeName || !got.Models[0].Default || got.Models[0].Provider != "fake" {
		t.Errorf("models %+v", got.Models)
	}
}

func TestCollections(t *testing.T) {
	e := newEnv(t)
	status, body := e.upload("notes",
		file{"a.txt", "Apples are red or green.\n"},
		file{"b.md", "---\ntitle: Bananas\n---\n# Bananas\n\nBananas are yellow.\n"},
		file{"c.jsonl", `{"id":"c1","title":"Cherries","text":"Cherries are dark red."}` + "\n" + `{"id":"c2","text":"Dates are brown."}` + "\n"},
	)
	if status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	var stats map[string]int
	json.Unmarshal([]byte(body), &stats)
	if stats["added"] != 4 || stats["chunks"] < 4 {
		t.Errorf("upload stats %v", stats)
	}
	// The same upload again changes nothing.
	_, body = e.upload("notes", file{"a.txt", "Apples are red or green.\n"})
	json.Unmarshal([]byte(body), &stats)
	if stats["unchanged"] != 1 || stats["added"] != 0 {
		t.Errorf("re-upload stats %v", stats)
	}

	type coll struct {
		Name              string
		Documents, Chunks int
	}
	var list struct{ Collections []coll }
	e.getJSON("GET", "/api/collections", "", 200, &list)
	if len(list.Collections) != 1 || list.Collections[0].Name != "notes" || list.Collections[0].Documents != 4 {
		t.Errorf("collections %+v", list.Collections)
	}

	var hits struct{ Hits []citation }
	e.getJSON("GET", "/api/collections/notes/search?q=yellow+bananas&k=2&mode=lexical", "", 200, &hits)
	if len(hits.Hits) == 0 || hits.Hits[0].DocID != "b.md" || hits.Hits[0].Title != "Bananas" || !strings.Contains(hits.Hits[0].Snippet, "yellow") {
		t.Errorf("search hits %+v", hits.Hits)
	}
	e.getJSON("GET", "/api/collections/notes/search?q=x&mode=vector", "", 400, nil) // no embedder
	e.getJSON("GET", "/api/collections/notes/search?q=x&mode=psychic", "", 400, nil)
	e.getJSON("GET", "/api/collections/notes/search", "", 400, nil)
	e.getJSON("GET", "/api/collections/absent/search?q=x", "", 404, nil)

	e.getJSON("DELETE", "/api/collections/notes/documents/b.md", "", 204, nil)
	e.getJSON("DELETE", "/api/collections/notes/documents/b.md", "", 404, nil)
	e.getJSON("DELETE", "/api/collections/absent/documents/b.md", "", 404, nil)
	e.getJSON("GET", "/api/collections", "", 200, &list)
	if list.Collections[0].Documents != 3 {
		t.Errorf("after deleting a document: %+v", list.Collections)
	}

	e.getJSON("DELETE", "/api/collections/notes", "", 204, nil)
	e.getJSON("DELETE", "/api/collections/notes", "", 404, nil)
	e.getJSON("GET", "/api/collections", "", 200, &list)
	if len(list.Collections) != 0 {
		t.Errorf("after dropping: %+v", list.Collections)
	}
}

func TestUploadBadFileChangesNothing(t *testing.T) {
	e := newEnv(t)
	if status, body := e.upload("notes", file{"a.txt", "Apples.\n"}); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	for _, tc := range []struct {
		name  string
		files []file
		want  string
	}{
		{"bad JSONL line", []file{
			{"good.txt", "A good file.\n"},
			{"records.jsonl", `{"id":"1","text":"fine"}` + "\n" + `{"id":"2","text":` + "\n"},
		}, "records.jsonl:2:"},
		{"binary", []file{{"blob.txt", "\x00\x01\x02\xff\xfe"}}, "blob.txt"},
		{"empty", []file{{"empty.md", ""}}, "empty.md"},
		{"twice", []file{{"x.txt", "x"}, {"x.txt", "y"}}, `"x.txt" is uploaded twice`},
		{"no files", nil, "no documents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.upload("notes", tc.files...)
			var eb errorBody
			json.Unmarshal([]byte(body), &eb)
			if status != 400 || eb.Error.Type != "invalid_request" || !strings.Contains(eb.Error.Message, tc.want) {
				t.Errorf("got %d %s, want 400 naming %q", status, body, tc.want)
			}
		})
	}
	docs, err := e.rag.Documents(t.Context(), "notes")
	if err != nil || len(docs) != 1 || docs[0].ID != "a.txt" {
		t.Errorf("collection changed by failed uploads: %+v (err %v)", docs, err)
	}

	// A bad collection name, a wrong content type, a too-large body.
	if status, _ := e.upload("no/slash", file{"a.txt", "x"}); status != 404 && status != 400 {
		t.Errorf("slash in name: %d", status)
	}
	if status, body := e.upload("sp ace", file{"a.txt", "x"}); status != 400 {
		t.Errorf("space in name: %d %s", status, body)
	}
	resp := e.do("POST", "/api/collections/notes/documents", "", strings.NewReader("{}"), "application/json")
	if resp.StatusCode != 400 {
		t.Errorf("JSON upload: %s", resp.Status)
	}
}

func TestUploadTooLarge(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.MaxUploadBytes = 1024 })
	status, body := e.upload("notes", file{"big.txt", strings.Repeat("word ", 1000)})
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("got %d %s", status, body)
	}
}

func TestCollectionsOffWithoutRAG(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.RAG = nil })
	e.getJSON("GET", "/api/collections", "", 404, nil)
	resp := e.do("POST", "/api/chat", "", strings.NewReader(`{"message":"hi","collection":"x"}`), "application/json")
	if resp.StatusCode != 400 {
		t.Errorf("chat with a collection and no RAG store: %s", resp.Status)
	}
}

func TestUsageIsScopedAndGrouped(t *testing.T) {
	e := newEnv(t)
	day1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	rec := func(at time.Time, key, model string, in int, usd float64) state.UsageRecord {
		return state.UsageRecord{Time: at, KeyID: key, Model: model, Usage: llm.Usage{InputTokens: in, OutputTokens: 1}, Cost: cost.Dollars(usd)}
	}
	e.state.RecordUsage(t.Context(),
		rec(day1, "k1", "a/x", 10, 0.01), rec(day1, "k1", "b/y", 20, 0.02),
		rec(day2, "k1", "a/x", 30, 0.03), rec(day2, "k2", "a/x", 40, 0.04),
	)
	type row struct {
		Day     string `json:"day"`
		KeyID   string `json:"key_id"`
		Model   string `json:"model"`
		Calls   int
		CostUSD float64 `json:"cost_usd"`
	}
	var got struct {
		Rows  []row
		Total row
	}
	e.getJSON("GET", "/api/usage?group=model", "k1", 200, &got)
	want := []row{{Model: "a/x", Calls: 2, CostUSD: 0.04}, {Model: "b/y", Calls: 1, CostUSD: 0.02}}
	if diff := cmp.Diff(want, got.Rows); diff != "" {
		t.Errorf("k1 by model (-want +got):\n%s", diff)
	}
	if got.Total.Calls != 3 || got.Total.CostUSD != 0.06 {
		t.Errorf("k1 total %+v", got.Total)
	}

	// The local owner sees every key.
	got.Rows = nil
	e.getJSON("GET", "/api/usage?group=key", "", 200, &got)
	want = []row{{KeyID: "k1", Calls: 3, CostUSD: 0.06}, {KeyID: "k2", Calls: 1, CostUSD: 0.04}}
	if diff := cmp.Diff(want, got.Rows); diff != "" {
		t.Errorf("all by key (-want +got):\n%s", diff)
	}
	// until is inclusive: the second day counts.
	got.Rows = nil
	e.getJSON("GET", "/api/usage?group=day&since=2026-03-02&until=2026-03-02", "", 200, &got)
	want = []row{{Day: "2026-03-02", Calls: 2, CostUSD: 0.07}}
	if diff := cmp.Diff(want, got.Rows); diff != "" {
		t.Errorf("one day (-want +got):\n%s", diff)
	}
	e.getJSON("GET", "/api/usage?group=week", "", 400, nil)
	e.getJSON("GET", "/api/usage?since=March", "", 400, nil)
	e.getJSON("GET", "/api/usage?since=2026-03-02&until=2026-03-01", "", 400, nil)
}

func TestUnknownRoutesAndMethodsAnswerJSON(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/nothing", 404, ""},
		{"GET", "/api/chat", 405, "POST"},
		{"PUT", "/api/conversations/abc", 405, "DELETE, GET, HEAD"},
		{"POST", "/api/models", 405, "GET, HEAD"},
	} {
		resp := e.do(tc.method, tc.path, "", nil, "")
		body, _ := io.ReadAll(resp.Body)
		var eb errorBody
		if err := json.Unmarshal(body, &eb); err != nil || resp.StatusCode != tc.status || eb.Error.Message == "" {
			t.Errorf("%s %s: %s %s", tc.method, tc.path, resp.Status, body)
		}
		if tc.allow != "" && resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, resp.Header.Get("Allow"), tc.allow)
		}
	}
}

func TestTitleOf(t *testing.T) {
	for in, want := range map[string]string{
		"  hello  world \n second line": "hello world",
		strings.Repeat("word ", 30):     strings.TrimSpace(strings.Repeat("word ", 16)) + "…",
		"ünïcödé":                       "ünïcödé",
	} {
		if got := titleOf(in); got != want {
			t.Errorf("titleOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzDecodeChat(f *testing.F) {
	for _, s := range []string{
		`{"message":"hi"}`,
		`{"message":"hi","conversation_id":"abc","model":"fake/model","collection":"c","k":3,"tools":["a","b"],"system":"s"}`,
		`{"message":"hi","extra":1}`,
		`{"message":null}`,
		`{"message":"\ud800"}`,
		`[]`, `""`, `{"message":"a"} x`, `{"k":-1,"message":"x"}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeChat(bytes.NewReader(b))
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.msg == "" || (re.status != 400 && re.status != 413) {
				t.Fatalf("decodeChat error is not a described 400/413: %#v", err)
			}
			return
		}
		if strings.TrimSpace(req.Message) == "" || req.K < 1 || req.K > maxK {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
	})
}
