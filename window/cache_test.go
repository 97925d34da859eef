package window

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"image"
	"image/png"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

func pngOf(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// variedRequest builds a request using every kind of part: text,
// thinking, tool calls and their results (text and images), images (one
// of images, or by URL), and text and PDF documents.
func variedRequest(r *rand.Rand, images [][]byte) *llm.Request {
	text := func() string {
		words := []string{"hello", " world", "Keel", " 42", " naïve", " 👍", "\n", " tokens", " über", " 東京"}
		var b strings.Builder
		for range 1 + r.IntN(40) {
			b.WriteString(words[r.IntN(len(words))])
		}
		return b.String()
	}
	part := func() llm.Part {
		switch r.IntN(7) {
		case 0:
			return llm.Thinking{Text: text(), Signature: "sig"}
		case 1:
			return llm.Image{MediaType: "image/png", Data: images[r.IntN(len(images))]}
		case 2:
			return llm.Image{URL: "https://example.com/cat.png"}
		case 3:
			return llm.Document{MediaType: "text/plain", Data: []byte(text())}
		case 4:
			return llm.Document{MediaType: "application/pdf", Data: make([]byte, r.IntN(200_000)), Title: text()}
		default:
			return llm.Text{Text: text()}
		}
	}
	req := &llm.Request{System: []llm.Text{{Text: text()}}}
	if r.IntN(2) == 0 {
		req.Tools = []llm.Tool{{Name: "lookup", Description: text(), InputSchema: []byte(`{"type":"object"}`)}}
	}
	if r.IntN(4) == 0 {
		req.Output = &llm.OutputSchema{Schema: []byte(`{"type":"string"}`)}
	}
	for i := range 1 + r.IntN(10) {
		parts := []llm.Part{part()}
		if r.IntN(2) == 0 {
			parts = append(parts, part())
		}
		req.Messages = append(req.Messages, llm.User(parts...))
		id := fmt.Sprint(i)
		req.Messages = append(req.Messages,
			llm.Assistant(llm.Thinking{Text: text()}, llm.ToolCall{ID: id, Name: "lookup", Input: []byte(`{"q":"` + text() + `"}`)}),
			llm.User(llm.ToolResult{CallID: id, Content: []llm.Part{llm.Text{Text: text()}, part()}}),
			llm.AssistantText(text()))
	}
	return req
}

// Counts through a cache, cold and warm, equal counts without one, for
// both encodings sharing one cache and for the scaled estimate.
func TestMessageCacheMatchesCounting(t *testing.T) {
	cl, err := GetEncoding(CL100K)
	if err != nil {
		t.Fatal(err)
	}
	o2 := mustEnc(t)
	cache := NewMessageCache(1 << 16)
	counters := []struct{ plain, cached Counter }{
		{OpenAICounter{Encoding: cl}, OpenAICounter{Encoding: cl, Cache: cache}},
		{OpenAICounter{Encoding: o2}, OpenAICounter{Encoding: o2, Cache: cache}},
		{Estimator{Scale: 1.25, Encoding: o2}, Estimator{Scale: 1.25, Encoding: o2, Cache: cache}},
	}
	r := rand.New(rand.NewPCG(3, 5))
	ctx := context.Background()
	images := [][]byte{pngOf(t, 10, 10), pngOf(t, 600, 400), pngOf(t, 1500, 3000), []byte("not an image")}
	encodingsDiffer := false
	for i := range 40 {
		req := variedRequest(r, images)
		var plain []int
		for _, c := range counters {
			want, _ := c.plain.CountTokens(ctx, req)
			plain = append(plain, want)
			for _, pass := range []string{"cold", "warm"} {
				if got, _ := c.cached.CountTokens(ctx, req); got != want {
					t.Fatalf("request %d, %T %s: cached count %d, want %d", i, c.cached, pass, got, want)
				}
			}
			budget := 1 + r.IntN(want+20)
			wantFit, wantDropped, wantErr := Fit(ctx, c.plain, req, budget, 0)
			gotFit, gotDropped, gotErr := Fit(ctx, c.cached, req, budget, 0)
			if (gotErr == nil) != (wantErr == nil) || gotDropped != wantDropped {
				t.Fatalf("request %d, budget %d: cached Fit dropped %d, %v; want %d, %v", i, budget, gotDropped, gotErr, wantDropped, wantErr)
			}
			if wantErr == nil && len(gotFit.Messages) != len(wantFit.Messages) {
				t.Fatalf("request %d: cached Fit kept %d messages, want %d", i, len(gotFit.Messages), len(wantFit.Messages))
			}
		}
		encodingsDiffer = encodingsDiffer || plain[0] != plain[1]
	}
	if !encodingsDiffer {
		t.Fatal("cl100k and o200k counted every request alike: the test cannot tell shared counts apart")
	}
}

// countingWords counts words and how many strings it was asked to count.
type countingWords struct{ calls int }

func (w *countingWords) count(s string) int {
	w.calls++
	return len(strings.Fields(s))
}

// A message changed in place (same backing arrays, new content) is counted
// again; unchanged messages are not.
func TestMessageCacheSeesChanges(t *testing.T) {
	input := []byte(`{"q":"one"}`)
	doc := []byte("a text document")
	pdf := make([]byte, 10_000)
	msgs := []llm.Message{
		llm.UserText("first question here"),
		llm.Assistant(llm.Thinking{Text: "let me think"}, llm.ToolCall{ID: "1", Name: "lookup", Input: input}),
		llm.User(llm.ToolResult{CallID: "1", Content: []llm.Part{llm.Text{Text: "result text"}}}),
		llm.User(llm.Document{MediaType: "text/plain", Data: doc}, llm.Document{MediaType: "application/pdf", Data: pdf, Title: "report"}),
		llm.User(llm.Image{MediaType: "image/png", Data: pngOf(t, 100, 100)}),
	}
	req := &llm.Request{System: []llm.Text{{Text: "be brief"}}, Messages: msgs}
	changes := []struct {
		name   string
		change func()
	}{
		{"text", func() { msgs[0].Parts[0] = llm.Text{Text: "a longer first question here"} }},
		{"role", func() { msgs[0].Role = "a role of several words" }},
		{"thinking", func() { msgs[1].Parts[0] = llm.Thinking{Text: "let me think harder now"} }},
		{"tool input bytes", func() { copy(input, `{"q":"a b"}`) }},
		{"tool name", func() { tc := msgs[1].Parts[1].(llm.ToolCall); tc.Name = "look it up"; msgs[1].Parts[1] = tc }},
		{"tool result", func() {
			msgs[2].Parts[0].(llm.ToolResult).Content[0] = llm.Text{Text: "a much longer result text"}
		}},
		{"text document bytes", func() { copy(doc, "a b c d e f g h") }},
		{"pdf size", func() { d := msgs[3].Parts[1].(llm.Document); d.Data = make([]byte, 50_000); msgs[3].Parts[1] = d }},
		{"pdf title", func() { d := msgs[3].Parts[1].(llm.Document); d.Title = "the annual report"; msgs[3].Parts[1] = d }},
		{"image size", func() { msgs[4].Parts[0] = llm.Image{MediaType: "image/png", Data: pngOf(t, 2000, 1000)} }},
		{"system", func() { req.System[0].Text = "be brief and kind" }},
		{"tools", func() { req.Tools = []llm.Tool{{Name: "lookup", Description: "looks things up"}} }},
		{"output schema", func() { req.Output = &llm.OutputSchema{Schema: []byte(`{"type": "string"}`)} }},
	}
	w := &countingWords{}
	cache := NewMessageCache(100)
	fixed, per := cache.split("words", w.count, req)
	prev := fixed + sum(per)
	for _, c := range changes {
		c.change()
		want := countRequest(w.count, req)
		if want == prev {
			t.Fatalf("%s: the change leaves the count at %d, so it tests nothing", c.name, want)
		}
		fixed, per := cache.split("words", w.count, req)
		if got := fixed + sum(per); got != want {
			t.Errorf("%s: cached count %d, want %d", c.name, got, want)
		}
		prev = want
	}
	// Unchanged, the request is counted from the cache alone.
	w.calls = 0
	cache.split("words", w.count, req)
	if w.calls != 0 {
		t.Errorf("an unchanged request counted %d strings, want 0", w.calls)
	}
	// One new message: only its role and text are counted.
	req.Messages = append(req.Messages, llm.UserText("and one more"))
	cache.split("words", w.count, req)
	if w.calls != 2 {
		t.Errorf("one new message counted %d strings, want 2 (role and text)", w.calls)
	}
}

// The cache holds at most its size, and keeps what is in use.
func TestMessageCacheBound(t *testing.T) {
	w := &countingWords{}
	cache := NewMessageCache(10)
	hot := llm.UserText("asked every time")
	cache.split("words", w.count, &llm.Request{Messages: []llm.Message{hot}})
	for i := range 200 {
		w.calls = 0
		req := &llm.Request{Messages: []llm.Message{hot, llm.UserText(fmt.Sprintf("message %d", i))}}
		cache.split("words", w.count, req)
		if n := cache.size(); n > 10 {
			t.Fatalf("after %d requests the cache holds %d counts, want at most 10", i+1, n)
		}
		if w.calls != 2 {
			t.Fatalf("request %d counted %d strings, want 2 (the new message's role and text): the message every request uses was evicted", i, w.calls)
		}
	}
}

// Concurrent fits of overlapping conversations share one cache; run with
// -race. Every fit must agree with the uncached counter.
func TestMessageCacheConcurrentFits(t *testing.T) {
	enc := mustEnc(t)
	plain := OpenAICounter{Encoding: enc}
	cached := OpenAICounter{Encoding: enc, Cache: NewMessageCache(64)} // small: rotations race with look-ups
	r := rand.New(rand.NewPCG(9, 9))
	base := conversation(r)
	type job struct {
		req    *llm.Request
		budget int
	}
	var jobs []job
	for i := range 16 {
		req := &llm.Request{Messages: append(base[:len(base):len(base)], conversation(r)...)}
		full, _ := plain.CountTokens(context.Background(), req)
		jobs = append(jobs, job{req, full/2 + i})
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(jobs)*2)
	for range 2 {
		for _, j := range jobs {
			wg.Go(func() {
				<-start
				got, _, gotErr := Fit(context.Background(), cached, j.req, j.budget, 0)
				want, _, wantErr := Fit(context.Background(), plain, j.req, j.budget, 0)
				if (gotErr == nil) != (wantErr == nil) {
					errs <- fmt.Errorf("budget %d: cached error %v, uncached %v", j.budget, gotErr, wantErr)
					return
				}
				if gotErr == nil {
					if diff := cmp.Diff(want.Messages, got.Messages); diff != "" {
						errs <- fmt.Errorf("budget %d: cached window differs (-want +got):\n%s", j.budget, diff)
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// CounterFor's counters carry a cache, and count as the plain counter does.
func TestCounterForCaches(t *testing.T) {
	c, err := CounterFor(llmtest.NewEcho("openai/gpt-4o"))
	if err != nil {
		t.Fatal(err)
	}
	oc, ok := c.(OpenAICounter)
	if !ok || oc.Cache == nil {
		t.Fatalf("CounterFor(openai/gpt-4o) = %#v, want an OpenAICounter with a cache", c)
	}
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hello world")}}
	n, _ := c.CountTokens(context.Background(), req)
	if want, _ := (OpenAICounter{Encoding: oc.Encoding}).CountTokens(context.Background(), req); n != want {
		t.Errorf("count %d, want %d", n, want)
	}
	if oc.Cache.size() == 0 {
		t.Error("counting stored nothing in the cache")
	}
}

// BenchmarkMessageKey and BenchmarkMessageCount compare hashing a message
// for the cache with BPE-encoding it: the cache pays only if the first is
// much cheaper.
func BenchmarkMessageKey(b *testing.B) {
	m := benchMessage()
	var h maphash.Hash
	h.SetSeed(maphash.MakeSeed())
	for b.Loop() {
		messageKey(&h, O200K, m)
	}
}

func BenchmarkMessageCount(b *testing.B) {
	enc, err := GetEncoding(O200K)
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage()
	for b.Loop() {
		messageTokens(enc.Count, m)
	}
}

// benchMessage is one assistant answer of BenchmarkFitLongChat's chat.
func benchMessage() llm.Message {
	return llm.AssistantText(strings.Repeat("It drops the oldest turns first and keeps the system prompt. ", 20))
}
