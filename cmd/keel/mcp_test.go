package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
)

// pythonServer is the stdio MCP server of testdata, written from the MCP
// specification without Keel's code.
const pythonServer = "python3 testdata/mcp_server.py"

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("KEEL-SKIP-SERVICE: python3 is not installed; the MCP round trip against testdata/mcp_server.py needs it")
	}
}

// emulator is a provider's wire emulator as keel run sees it.
type emulator struct {
	name, model string
	start       func(t *testing.T) (env map[string]string, enqueue func(...llmtest.WireReply), requests func() []llmtest.Recorded)
}

var emulators = []emulator{
	{"anthropic", "anthropic/claude-test", func(t *testing.T) (map[string]string, func(...llmtest.WireReply), func() []llmtest.Recorded) {
		srv := anthropictest.NewServer(t)
		return map[string]string{"ANTHROPIC_BASE_URL": srv.URL, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}, srv.Enqueue, srv.Requests
	}},
	{"openai", "openai/gpt-test", func(t *testing.T) (map[string]string, func(...llmtest.WireReply), func() []llmtest.Recorded) {
		srv := openaitest.NewServer(t)
		return openaiEnv(srv), srv.Enqueue, srv.Requests
	}},
}

func toolTurn(calls ...llm.ToolCall) *llm.Response {
	parts := []llm.Part{llm.Text{Text: "Let me check."}}
	for _, c := range calls {
		parts = append(parts, c)
	}
	return &llm.Response{Content: parts, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 20, OutputTokens: 9}}
}

func TestRunMCPRoundTrip(t *testing.T) {
	needPython(t)
	for _, e := range emulators {
		t.Run(e.name, func(t *testing.T) {
			env, enqueue, requests := e.start(t)
			enqueue(
				llmtest.WireReply{Response: toolTurn(
					llm.ToolCall{ID: "call_1", Name: "reverse", Input: json.RawMessage(`{"text":"keel"}`)},
					llm.ToolCall{ID: "call_2", Name: "fail", Input: json.RawMessage(`{}`)},
				)},
				llmtest.WireReply{Response: textResponse("Reversed, keel is leek.")},
			)
			r := keel(t, env, "", "run", "--model", e.model, "--mcp", pythonServer, "Reverse keel")
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if want := "Let me check.\nReversed, keel is leek.\n"; r.stdout != want {
				t.Errorf("stdout = %q, want %q", r.stdout, want)
			}
			// One line per call; calls run concurrently, so in either order.
			got := lines(r.stderr)
			slices.Sort(got)
			want := []string{
				`keel: tool fail {} → error: the tool failed on purpose`,
				`keel: tool reverse {"text":"keel"} → leek`,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stderr lines (-want +got):\n%s\nstderr %q", diff, r.stderr)
			}
			reqs := requests()
			if len(reqs) != 2 {
				t.Fatalf("%d model requests, want 2", len(reqs))
			}
			// The server's schema reaches the model unchanged.
			if first := string(reqs[0].Body); !strings.Contains(first, `"the text to reverse"`) || !strings.Contains(first, `"reverse"`) {
				t.Errorf("first request lacks the server's tool schema: %s", first)
			}
			second := string(reqs[1].Body)
			for _, s := range []string{"leek", "the tool failed on purpose"} {
				if !strings.Contains(second, s) {
					t.Errorf("second request lacks the tool result %q: %s", s, second)
				}
			}
			if e.name == "anthropic" && !strings.Contains(second, `"is_error":true`) {
				t.Errorf("the failed call is not marked is_error: %s", second)
			}
		})
	}
}

func TestRunMCPJSON(t *testing.T) {
	needPython(t)
	env, enqueue, _ := emulators[1].start(t)
	enqueue(
		llmtest.WireReply{Response: toolTurn(llm.ToolCall{ID: "call_1", Name: "reverse", Input: json.RawMessage(`{"text":"ab"}`)})},
		llmtest.WireReply{Response: textResponse("ba")},
	)
	r := keel(t, env, "", "run", "--json", "--model", "openai/gpt-test", "--mcp", pythonServer, "Reverse ab")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var out jsonResponse
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	// Usage sums both steps.
	if out.Text != "ba" || out.StopReason != llm.StopEndTurn || out.Usage.InputTokens != 27 || out.Usage.OutputTokens != 14 {
		t.Errorf("got %+v", out)
	}
}

func TestRunMCPFailures(t *testing.T) {
	needPython(t)
	tests := []struct {
		name    string
		args    []string
		replies []llmtest.WireReply
		code    int
		want    string
	}{
		{"empty command", []string{"--mcp", " "}, nil, 2, "flag -mcp: empty value"},
		{"unbalanced quote", []string{"--mcp", `python3 "testdata`}, nil, 2, "want a command and its arguments"},
		{"no such program", []string{"--mcp", "nonexistent_mcp_server --flag"}, nil, 1, "nonexistent_mcp_server"},
		{"not an MCP server", []string{"--mcp", "python3 -c pass"}, nil, 1, `--mcp "python3 -c pass"`},
		{"negative steps", []string{"--max-steps", "-1"}, nil, 2, "--max-steps"},
		{"step limit", []string{"--mcp", pythonServer, "--max-steps", "1"}, []llmtest.WireReply{
			{Response: toolTurn(llm.ToolCall{ID: "call_1", Name: "reverse", Input: json.RawMessage(`{"text":"x"}`)})},
		}, 1, "step_limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, enqueue, _ := emulators[0].start(t)
			enqueue(tt.replies...)
			args := append([]string{"run", "--model", "anthropic/claude-test"}, tt.args...)
			r := keel(t, env, "", append(args, "hello")...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			l := lines(r.stderr)
			if last := l[len(l)-1]; !strings.HasPrefix(last, "keel: ") || !strings.Contains(last, tt.want) {
				t.Errorf("last stderr line %q, want a keel: line naming %q", last, tt.want)
			}
		})
	}
}

// TestRunMCPServerEnv checks that a stdio server gets none of keel's
// provider keys.
func TestRunMCPServerEnv(t *testing.T) {
	needPython(t)
	env, enqueue, requests := emulators[0].start(t)
	env["PATH"] = "/usr/bin:/bin"
	enqueue(
		llmtest.WireReply{Response: toolTurn(llm.ToolCall{ID: "c", Name: "reverse", Input: json.RawMessage(`{"text":"x"}`)})},
		llmtest.WireReply{Response: textResponse("done")},
	)
	// The server prints its environment's names to stderr before serving.
	server := `python3 -c "import os,sys,runpy; sys.stderr.write('env: ' + ' '.join(sorted(os.environ)) + '\n'); sys.argv=['s']; runpy.run_path('testdata/mcp_server.py', run_name='__main__')"`
	r := keel(t, env, "", "run", "--model", "anthropic/claude-test", "--mcp", server, "hi")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "ANTHROPIC") || !strings.Contains(r.stderr, "env: ") {
		t.Errorf("the server's environment: %q", r.stderr)
	}
	if len(requests()) != 2 {
		t.Errorf("%d requests, want 2", len(requests()))
	}
}

// TestMCPServe runs keel mcp and talks to it with the go-sdk's own client.
func TestMCPServe(t *testing.T) {
	docs := writeDocs(t, guide)
	env := map[string]string{"KEEL_DATA": t.TempDir()}
	if r := keel(t, env, "", "ingest", "--collection", "guide", docs); r.code != 0 {
		t.Fatalf("ingest: exit %d, stderr %q", r.code, r.stderr)
	}

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(context.Background(), []string{"mcp", "--collection", "guide"}, inR, outW, &errOut, func(k string) string { return env[k] })
		outW.Close()
		done <- code
	}()

	c := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "v0"}, nil)
	cs, err := c.Connect(t.Context(), &sdk.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
	}
	if diff := cmp.Diff([]string{"collections", "search"}, names); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}

	call := func(name string, args any) *sdk.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res
	}
	text := func(res *sdk.CallToolResult) string {
		var b strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(*sdk.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}

	res := call("search", map[string]any{"query": "stream a response", "k": 1})
	var hits []searchOut
	if err := json.Unmarshal([]byte(text(res)), &hits); err != nil || res.IsError {
		t.Fatalf("search result %q (isError %v): %v", text(res), res.IsError, err)
	}
	if len(hits) != 1 || !strings.Contains(hits[0].Source, "streaming.md") || !strings.Contains(hits[0].Text, "Call Stream") {
		t.Errorf("search hits = %+v", hits)
	}
	if res := call("search", map[string]any{"query": 3}); !res.IsError || !strings.Contains(text(res), "query") {
		t.Errorf("bad input: isError %v, %q", res.IsError, text(res))
	}
	var colls []collectionInfo
	if err := json.Unmarshal([]byte(text(call("collections", map[string]any{}))), &colls); err != nil {
		t.Fatal(err)
	}
	if len(colls) != 1 || colls[0].Name != "guide" || colls[0].Documents != 3 {
		t.Errorf("collections = %+v", colls)
	}

	if err := cs.Close(); err != nil {
		t.Errorf("client Close: %v", err)
	}
	if code := <-done; code != 0 {
		t.Errorf("keel mcp exited %d, stderr %q", code, errOut.String())
	}
}

func TestMCPServeUsage(t *testing.T) {
	for _, args := range [][]string{{"mcp", "extra"}, {"mcp", "--k", "0"}, {"mcp", "--mode", "fuzzy"}} {
		r := keel(t, map[string]string{"KEEL_DATA": t.TempDir()}, "", args...)
		oneErrorLine(t, r, 2)
	}
}

// TestRunMCPURL mounts a streamable HTTP MCP server built with the go-sdk.
func TestRunMCPURL(t *testing.T) {
	srv := sdk.NewServer(&sdk.Implementation{Name: "upper", Version: "v0"}, nil)
	type upperIn struct {
		Text string `json:"text"`
	}
	sdk.AddTool(srv, &sdk.Tool{Name: "upper", Description: "Upper-case text"},
		func(_ context.Context, _ *sdk.CallToolRequest, in upperIn) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: strings.ToUpper(in.Text)}}}, nil, nil
		})
	hs := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	defer hs.Close()

	env, enqueue, requests := emulators[1].start(t)
	enqueue(
		llmtest.WireReply{Response: toolTurn(llm.ToolCall{ID: "call_1", Name: "upper", Input: json.RawMessage(`{"text":"keel"}`)})},
		llmtest.WireReply{Response: textResponse("KEEL it is.")},
	)
	r := keel(t, env, "", "run", "--model", "openai/gpt-test", "--mcp-url", hs.URL, "Shout keel")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if want := `keel: tool upper {"text":"keel"} → KEEL` + "\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if reqs := requests(); len(reqs) != 2 || !strings.Contains(string(reqs[1].Body), "KEEL") {
		t.Errorf("the tool result did not reach the model: %d requests", len(reqs))
	}
}
