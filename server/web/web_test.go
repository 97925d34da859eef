package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/internal/testenv"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/chunk"
	"github.com/keelai/keel/rag/load"
	"github.com/keelai/keel/server/api"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/server/web"
	"github.com/keelai/keel/store/sqlite"
)

func get(t *testing.T, h http.Handler, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestPageHeaders(t *testing.T) {
	h := web.Handler()
	resp := get(t, h, "/")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("page Cache-Control %q", cc)
	}
	if bytes.Contains(body, []byte("<script>")) || bytes.Contains(body, []byte(" style=")) || bytes.Contains(body, []byte("{{")) {
		t.Errorf("page has inline script, inline style or an unreplaced asset name")
	}

	// Each asset is named by its hash in the page, and that URL is cached
	// for good; the same asset without the hash is revalidated.
	for _, name := range []string{"app.js", "markdown.js", "style.css"} {
		i := bytes.Index(body, []byte("/assets/"+name+"?v="))
		if i < 0 {
			t.Fatalf("page does not reference %s by hash", name)
		}
		url := string(body[i : i+len("/assets/"+name+"?v=")+16])
		a := get(t, h, url)
		if a.StatusCode != 200 || a.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: %d, Cache-Control %q", url, a.StatusCode, a.Header.Get("Cache-Control"))
		}
		if a.Header.Get("X-Content-Type-Options") != "nosniff" || a.Header.Get("Content-Type") == "" {
			t.Errorf("GET %s: headers %v", url, a.Header)
		}
		stale := get(t, h, "/assets/"+name+"?v=0000")
		if stale.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s with a stale hash: Cache-Control %q", name, stale.Header.Get("Cache-Control"))
		}
		if nm := get(t, h, url, "If-None-Match", a.Header.Get("ETag")); nm.StatusCode != 304 {
			t.Errorf("GET %s with its ETag: %d, want 304", url, nm.StatusCode)
		}
	}
	if r := get(t, h, "/assets/nothing.js"); r.StatusCode != 404 {
		t.Errorf("unknown asset: %d", r.StatusCode)
	}
	if r := get(t, h, "/elsewhere"); r.StatusCode != 404 {
		t.Errorf("unknown page: %d", r.StatusCode)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != 405 {
		t.Errorf("POST /: %d", rec.Code)
	}
}

const fakeName = "fake/model"

// gatedModel streams an answer in pieces and stops halfway until release
// is closed, so the browser test can see a partial answer on screen
// without timing anything.
type gatedModel struct {
	pieces  []string
	halfway int
	release chan struct{}
}

func (m *gatedModel) Name() string { return fakeName }

func (m *gatedModel) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	return llm.Collect(m.Stream(ctx, req))
}

func (m *gatedModel) Stream(ctx context.Context, _ *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		for i, p := range m.pieces {
			if i == m.halfway {
				select {
				case <-m.release:
				case <-ctx.Done():
					yield(llm.Event{}, &llm.Error{Kind: llm.KindCanceled, Err: ctx.Err()})
					return
				}
			}
			if !yield(llm.Event{Kind: llm.EventText, Text: p}, nil) {
				return
			}
		}
		resp := &llm.Response{
			Model: fakeName, Content: []llm.Part{llm.Text{Text: strings.Join(m.pieces, "")}},
			StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 1200, OutputTokens: 40},
		}
		if yield(llm.Event{Kind: llm.EventUsage, Usage: &resp.Usage}, nil) {
			yield(llm.Event{Kind: llm.EventDone, Response: resp}, nil)
		}
	}
}

type models struct{ m llm.Model }

func (f models) Open(_ context.Context, name string) (llm.Model, error) {
	if name != fakeName {
		return nil, fmt.Errorf("%w: %q", backend.ErrUnknownModel, name)
	}
	return f.m, nil
}

func (f models) List(context.Context) []backend.ModelInfo {
	return []backend.ModelInfo{{ID: fakeName, Provider: "fake", Target: fakeName, Default: true}}
}

// server serves the page and the API as `keel serve` does, with the
// model wrapped in the middleware stack (so answers carry a cost) and a
// collection holding one document. requireKey, when set, is the bearer
// token /api demands.
func server(t *testing.T, m llm.Model, requireKey string) *httptest.Server {
	t.Helper()
	db := filepath.Join(t.TempDir(), "keel.db")
	st, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ss, err := sqlite.OpenState(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	docs, err := load.JSONL("guide.jsonl", []byte(`{"id":"streaming","title":"Streaming","text":"Keel streams answers as server-sent events, one delta at a time, and a client that disconnects cancels the model call."}`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := rag.Ingester{Store: st, Chunker: chunk.New(chunk.Options{})}
	if _, err := in.Ingest(t.Context(), "guide", docs, rag.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	prices, err := cost.NewTable(map[string]cost.Price{fakeName: {Input: 3, Output: 15}})
	if err != nil {
		t.Fatal(err)
	}
	wrapped := middleware.Stack(middleware.StackOptions{Prices: prices, NoBreaker: true, NoGuard: true})(m)
	apiH := api.New(api.Deps{Models: models{wrapped}, State: ss, RAG: st, DefaultModel: fakeName})
	mux := http.NewServeMux()
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requireKey != "" && r.Header.Get("Authorization") != "Bearer "+requireKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"type":"auth","message":"an API key is required"}}`)
			return
		}
		apiH.ServeHTTP(w, r)
	}))
	mux.Handle("/", web.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// browser starts headless Chromium once for a test and its subtests (a
// start takes seconds on a busy machine) and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	chrome := testenv.Service(t, testenv.Chrome)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // we run as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("user-data-dir", t.TempDir()),
		chromedp.Flag("window-size", "1100,800"),
	)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chrome, err)
	}
	return bctx
}

// tab opens a new tab in the browser for one subtest; exceptions and
// console errors of its page fail the subtest.
func tab(t *testing.T, bctx context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			// The browser logs every 4xx fetch as a network error; the
			// page handles those (401 shows the key form).
			if m.IsException() || m.Type == "error" && m.Source != "network" {
				t.Errorf("page console: %s", m)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ctx
}

// TestInChromium drives the page in headless Chromium against the real
// API, one subtest per tab of one browser.
func TestInChromium(t *testing.T) {
	bctx := browser(t)
	t.Run("chat", func(t *testing.T) { testChat(t, tab(t, bctx)) })
	t.Run("markdown is safe", func(t *testing.T) { testMarkdownIsSafe(t, tab(t, bctx)) })
	t.Run("API key prompt", func(t *testing.T) { testAPIKeyPrompt(t, tab(t, bctx)) })
}

func testChat(t *testing.T, ctx context.Context) {
	model := &gatedModel{
		pieces:  []string{"Keel **streams** ", "answers ", "as server-sent events [1]. ", "Closing the tab stops the model [1]."},
		halfway: 2,
		release: make(chan struct{}),
	}
	srv := server(t, model, "")

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("load the page", chromedp.Do(ctx,
		chromedp.Navigate(srv.URL),
		chromedp.WaitVisible(`body[data-ready="true"]`),
		chromedp.WaitReady(`#collection option[value="guide"]`),
		chromedp.SetValue("#collection", "guide"),
		chromedp.SendKeys("#input", "How does Keel stream answers?"),
		chromedp.Click("#send"),
	))

	// The first half of the answer is on screen while the model is still
	// answering: the page streams.
	partial, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const b = document.querySelector(".msg.assistant.streaming .body");
		return b && b.textContent.includes("streams answers") && b.textContent;
	})()`))
	must("see a partial answer", err)
	if strings.Contains(partial, "server-sent") {
		t.Fatalf("the answer was complete before the model was released: %q", partial)
	}
	close(model.release)

	must("see the whole answer", chromedp.Do(ctx,
		chromedp.WaitVisible(`.msg.assistant:not(.streaming) .meta`),
	))
	final, err := chromedp.Run(ctx, chromedp.Text(`.msg.assistant .body`))
	must("read the answer", err)
	if !strings.Contains(final, "Keel streams answers as server-sent events") || !strings.Contains(final, "Closing the tab") {
		t.Errorf("final answer %q", final)
	}
	bold, err := chromedp.Run(ctx, chromedp.Text(`.msg.assistant .body strong`))
	must("read the Markdown", err)
	if bold != "streams" {
		t.Errorf("**streams** rendered as %q", bold)
	}

	meta, err := chromedp.Run(ctx, chromedp.Text(`.msg.assistant .meta`))
	must("read tokens and cost", err)
	// 1200 input tokens at $3/M and 40 output at $15/M: $0.0042.
	if !strings.Contains(meta, "1200 in · 40 out tokens") || !strings.Contains(meta, "$0.0042") {
		t.Errorf("tokens and cost shown as %q", meta)
	}

	// The citation marker opens a preview of the passage.
	must("open the citation preview", chromedp.Do(ctx,
		chromedp.Click(`.msg.assistant .body .cite`),
		chromedp.WaitVisible(`#preview`),
	))
	preview, err := chromedp.Run(ctx, chromedp.Text(`#preview`))
	must("read the preview", err)
	if !strings.Contains(preview, "Streaming") || !strings.Contains(preview, "a client that disconnects cancels the model call") {
		t.Errorf("citation preview %q", preview)
	}

	// The conversation is in the list, titled by the question.
	title, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const b = document.querySelector("#conversations button.conversation[aria-current=true]");
		return b && b.textContent;
	})()`))
	must("see the conversation in the list", err)
	if title != "How does Keel stream answers?" {
		t.Errorf("conversation listed as %q", title)
	}

	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	must("take a screenshot", err)
	if len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot is not a PNG (%d bytes)", len(png))
	}
	shot := filepath.Join(t.TempDir(), "chat.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// Reopening the conversation from the list shows the stored turns.
	must("reopen the conversation", chromedp.Do(ctx,
		chromedp.Click(`#new-chat`),
		chromedp.WaitVisible(`#empty`),
		chromedp.Click(`#conversations button.conversation`),
		chromedp.WaitVisible(`.msg.assistant .meta`),
	))
	again, err := chromedp.Run(ctx, chromedp.Text(`.msg.assistant .body`))
	must("read the stored answer", err)
	if !strings.Contains(again, "server-sent events") {
		t.Errorf("stored answer %q", again)
	}

	// From the keyboard: Shift+Enter is a new line, Enter sends, and the
	// turn continues the same conversation.
	must("send a follow-up with the keyboard", chromedp.Do(ctx,
		chromedp.SendKeys("#input", "Thanks."),
		chromedp.Focus("#input"),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.SendKeys("#input", "One more thing"),
	))
	typed, err := chromedp.Run(ctx, chromedp.Value("#input"))
	must("read the composer", err)
	if typed != "Thanks.\nOne more thing" {
		t.Errorf("after Shift+Enter the composer holds %q", typed)
	}
	must("press Enter", chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)))
	n, err := chromedp.Run(ctx, chromedp.Poll[int](`(() => {
		const done = document.querySelectorAll(".msg.assistant:not(.streaming) .meta");
		return done.length === 2 && document.querySelectorAll("#conversations li").length;
	})()`))
	must("see the follow-up answered", err)
	if n != 1 {
		t.Errorf("the follow-up made %d conversations, want 1", n)
	}
}

func testMarkdownIsSafe(t *testing.T, ctx context.Context) {
	srv := server(t, &gatedModel{release: make(chan struct{})}, "")
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.WaitVisible(`body[data-ready="true"]`)); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Imgs    int      `json:"imgs"`
		Scripts int      `json:"scripts"`
		Links   int      `json:"links"`
		Hrefs   []string `json:"hrefs"`
		Text    string   `json:"text"`
		Code    string   `json:"code"`
		Heading int      `json:"heading"`
		Items   int      `json:"items"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[result](`(() => {
		const d = document.createElement("div");
		d.append(KeelMarkdown.render([
			"# Title <b>x</b>",
			"<img src=x onerror=alert(1)> <script>alert(2)</script>",
			"[bad](javascript:alert(3)) [ok](https://example.com/a?b=1) [data](data:text/html,hi)",
			"- one",
			"- two *em*",
			"",
			"`+"```"+`html",
			"<i>code</i>",
			"`+"```"+`",
		].join("\n")));
		return {
			imgs: d.querySelectorAll("img").length,
			scripts: d.querySelectorAll("script").length,
			links: d.querySelectorAll("a").length,
			hrefs: [...d.querySelectorAll("a")].map(a => a.href),
			text: d.textContent,
			code: d.querySelector("pre code").textContent,
			heading: d.querySelectorAll("h3").length,
			items: d.querySelectorAll("ul li").length,
		};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Imgs != 0 || got.Scripts != 0 {
		t.Errorf("markup in the text became elements: %+v", got)
	}
	if got.Links != 1 || got.Hrefs[0] != "https://example.com/a?b=1" {
		t.Errorf("links %v: only http(s) may become links", got.Hrefs)
	}
	if !strings.Contains(got.Text, "<img src=x onerror=alert(1)>") || !strings.Contains(got.Text, "[bad](javascript:alert(3))") {
		t.Errorf("markup not shown as text: %q", got.Text)
	}
	if got.Code != "<i>code</i>" || got.Heading != 1 || got.Items != 2 {
		t.Errorf("structure %+v", got)
	}
}

func testAPIKeyPrompt(t *testing.T, ctx context.Context) {
	srv := server(t, &gatedModel{release: make(chan struct{})}, "keel_secret")
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL),
		chromedp.WaitVisible(`#key-form`),
		chromedp.SendKeys(`#api-key`, "keel_secret"),
		chromedp.Click(`#key-form button[type="submit"]`),
		chromedp.WaitVisible(`body[data-ready="true"]`),
		chromedp.WaitNotVisible(`#key-form`),
	)
	if err != nil {
		t.Fatal(err)
	}
	model, err := chromedp.Run(ctx, chromedp.Value(`#model`))
	if err != nil || model != fakeName {
		t.Errorf("model picker %q (%v) after entering the key", model, err)
	}
	saved, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("keel.apiKey")`))
	if err != nil || saved != "keel_secret" {
		t.Errorf("saved key %q (%v)", saved, err)
	}
}
