package batch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDecodeLine(t *testing.T) {
	it, err := DecodeLine([]byte(`{"custom_id":"q-1","model":"openai/gpt-4.1-mini","system":"Be brief.","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Bye"}],"max_tokens":64,"temperature":0.2}`))
	if err != nil {
		t.Fatal(err)
	}
	r := it.Request
	if it.CustomID != "q-1" || it.Model != "openai/gpt-4.1-mini" || len(r.Messages) != 3 || r.System[0].Text != "Be brief." ||
		r.MaxTokens != 64 || *r.Temperature != 0.2 || r.Messages[1].Text() != "Hello" {
		t.Fatalf("item = %+v, request = %+v", it, r)
	}
	it, err = DecodeLine([]byte(`{"custom_id":"p","prompt":"What is 2+2?"}`))
	if err != nil || it.Request.Messages[0].Text() != "What is 2+2?" || it.Request.Temperature != nil || it.Model != "" {
		t.Fatalf("prompt line = %+v, %v", it, err)
	}
}

func TestDecodeLineErrors(t *testing.T) {
	for _, c := range []struct{ line, field, msg string }{
		{`{"prompt":"x"}`, "custom_id", "required"},
		{`{"custom_id":"a b","prompt":"x"}`, "custom_id", "letters"},
		{`{"custom_id":"` + strings.Repeat("x", 65) + `","prompt":"x"}`, "custom_id", "64"},
		{`{"custom_id":"a"}`, "messages", "required"},
		{`{"custom_id":"a","prompt":"x","messages":[]}`, "prompt", "not both"},
		{`{"custom_id":"a","prompt":"  "}`, "prompt", "empty"},
		{`{"custom_id":"a","messages":[]}`, "messages", "empty"},
		{`{"custom_id":"a","messages":[{"role":"system","content":"x"}]}`, "messages[0].role", "user or assistant"},
		{`{"custom_id":"a","messages":[{"role":"assistant","content":"x"}]}`, "messages[0].role", "first"},
		{`{"custom_id":"a","messages":[{"role":"user","content":""}]}`, "messages[0].content", "empty"},
		{`{"custom_id":"a","prompt":"x","max_tokens":0}`, "max_tokens", "positive"},
		{`{"custom_id":"a","prompt":"x","max_tokens":"10"}`, "max_tokens", "want a int"},
		{`{"custom_id":"a","prompt":"x","temperature":3}`, "temperature", "0 to 2"},
		{`{"custom_id":"a","prompt":"x","temprature":1}`, "temprature", "unknown field"},
		{`{"custom_id":"a","prompt":"x"} {}`, "", "after the JSON"},
		{`{"custom_id":"a","prompt":"x"} x`, "", "after the JSON"},
		{`["custom_id"]`, "", "not a JSON object"},
		{`{"custom_id":`, "", "not a JSON object"},
	} {
		_, err := DecodeLine([]byte(c.line))
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want an InputError", c.line, err)
			continue
		}
		if ie.Field != c.field || !strings.Contains(ie.Msg, c.msg) {
			t.Errorf("%s: field %q msg %q, want field %q and %q", c.line, ie.Field, ie.Msg, c.field, c.msg)
		}
	}
}

func TestReadItems(t *testing.T) {
	good := "{\"custom_id\":\"a\",\"prompt\":\"x\"}\n\n  {\"custom_id\":\"b\",\"prompt\":\"y\"}  \n"
	its, err := ReadItems(strings.NewReader(good), "in.jsonl")
	if err != nil || len(its) != 2 || its[1].CustomID != "b" {
		t.Fatalf("ReadItems = %+v, %v", its, err)
	}
	for _, c := range []struct{ in, want string }{
		{good + `{"custom_id":"a","prompt":"z"}`, `in.jsonl:4: custom_id: "a" is already used on line 1`},
		{good + `{"custom_id":"c","promt":"z"}`, `in.jsonl:4: promt: unknown field`},
		{"\n\n", "in.jsonl: no requests in the file"},
		{strings.Repeat("x", MaxLineBytes+1), "in.jsonl:1: line longer than"},
	} {
		its, err := ReadItems(strings.NewReader(c.in), "in.jsonl")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || its != nil {
			t.Errorf("err = %v, want prefix %q", err, c.want)
		}
	}
}

// FuzzDecodeLine: any bytes give an item or an InputError, never a panic,
// and an item is always a valid request.
func FuzzDecodeLine(f *testing.F) {
	for _, s := range []string{
		`{"custom_id":"a","prompt":"x"}`,
		`{"custom_id":"q-1","model":"openai/gpt-4.1-mini","system":"s","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}],"max_tokens":64,"temperature":0.2}`,
		`{"custom_id":"a","prompt":"x","temperature":1e999}`,
		`{"custom_id":"a","messages":null}`,
		`{"custom_id":null,"prompt":"x"}`,
		`{"custom_id":"a","prompt":"x","max_tokens":1.5}`,
		`{}`, `null`, `[]`, `"`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := DecodeLine(data)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Error() == "" {
				t.Fatalf("err %v is not an InputError", err)
			}
			return
		}
		if !ValidCustomID(it.CustomID) || it.Request == nil || len(it.Request.Messages) == 0 {
			t.Fatalf("accepted a bad item: %+v", it)
		}
		if it.Request.MaxTokens < 0 || (it.Request.Temperature != nil && (*it.Request.Temperature < 0 || *it.Request.Temperature > 2)) {
			t.Fatalf("accepted bad limits: %+v", it.Request)
		}
		if !utf8.ValidString(it.Request.Messages[0].Text()) {
			t.Fatalf("invalid UTF-8 reached a request")
		}
	})
}

func TestStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "batches")
	s := NewStore(dir)
	if jobs, ok, err := s.List(); err != nil || !ok || len(jobs) != 0 {
		t.Fatalf("List of a missing folder = %v, %v, %v", jobs, ok, err)
	}
	old := &Job{ID: "msgbatch_1", API: APIAnthropic, Model: "anthropic/claude-haiku-4-5", Items: []JobItem{{CustomID: "a"}}, SubmittedAt: time.Unix(100, 0).UTC()}
	recent := &Job{ID: "batch_2", API: APIOpenAI, Model: "openai/gpt-4.1-mini", Items: []JobItem{{CustomID: "a"}, {CustomID: "b", Model: "openai/gpt-4.1"}}, SubmittedAt: time.Unix(200, 0).UTC()}
	for _, j := range []*Job{old, recent} {
		if err := s.Save(j); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{"), 0o644)
	jobs, ok, err := s.List()
	if err != nil || ok || len(jobs) != 2 || jobs[0].ID != "batch_2" {
		t.Fatalf("List = %+v, ok %v, %v (want newest first, broken record reported)", jobs, ok, err)
	}
	if got := jobs[0].ModelOf(1); got != "openai/gpt-4.1" {
		t.Fatalf("ModelOf = %q", got)
	}
	if got := jobs[0].ModelOf(0); got != "openai/gpt-4.1-mini" {
		t.Fatalf("ModelOf = %q", got)
	}
	for _, id := range []string{"../etc/passwd", "a/b", "", ".hidden", "-x"} {
		if _, err := s.Load(id); err == nil || errors.Is(err, ErrNoJob) {
			t.Errorf("Load(%q): err = %v, want a refused id", id, err)
		}
	}
	if _, err := s.Load("msgbatch_nope"); !errors.Is(err, ErrNoJob) {
		t.Fatalf("Load of a missing job: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestPollDelay(t *testing.T) {
	base, cap := time.Second, 10*time.Second
	mid := func() float64 { return 0.5 }
	for attempt, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		if got := pollDelay(attempt, base, cap, mid); got != want*time.Second {
			t.Errorf("attempt %d: %v, want %v", attempt, got, want*time.Second)
		}
	}
	if got := pollDelay(100, base, cap, mid); got != cap {
		t.Errorf("attempt 100: %v (overflow?)", got)
	}
	lo := pollDelay(0, base, cap, func() float64 { return 0 })
	hi := pollDelay(0, base, cap, func() float64 { return 0.999999 })
	if lo != 800*time.Millisecond || hi <= 1199*time.Millisecond || hi >= 1200*time.Millisecond {
		t.Errorf("jitter range [%v, %v], want [0.8s, 1.2s)", lo, hi)
	}
}
