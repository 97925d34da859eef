package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/google/shlex"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/tool"
	"github.com/keelai/keel/tool/mcp"
)

// mcpConnectTimeout bounds the handshake with one MCP server, so that a
// server that never answers is reported instead of hanging keel.
const mcpConnectTimeout = 30 * time.Second

// mcpServerEnv is what a stdio MCP server inherits from keel's
// environment. Provider keys stay out of programs keel starts, as the MCP
// reference SDKs do; `env NAME=value COMMAND` passes more.
func mcpServerEnv() []string {
	return []string{"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "TMPDIR"}
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }

func (l *listFlag) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty value")
	}
	*l = append(*l, s)
	return nil
}

// agentFlags are keel run's tool flags: with any of them, run gives the
// model the MCP servers' tools and runs the agent loop.
type agentFlags struct {
	commands, urls listFlag
	maxSteps       *int
}

func addAgentFlags(f *flags) *agentFlags {
	af := &agentFlags{}
	f.Var(&af.commands, "mcp", "give the model the tools of the stdio MCP server started by `\"COMMAND ARGS\"` (repeatable)")
	f.Var(&af.urls, "mcp-url", "give the model the tools of the streamable HTTP MCP server at `URL` (repeatable)")
	af.maxSteps = f.Int("max-steps", 0, "with tools, stop after `N` model calls (default 10)")
	return af
}

func (af *agentFlags) enabled() bool {
	return len(af.commands) > 0 || len(af.urls) > 0 || *af.maxSteps != 0
}

// lockedWriter serialises writes to stderr, which the servers' processes
// (through os/exec's copying goroutines) and the tool lines share.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// mountMCP connects to every server of af and returns their tools; the
// stdio servers' standard error goes to stderr. close ends every session
// (and stops the servers' processes); it is set even on error.
func (a *app) mountMCP(ctx context.Context, af *agentFlags, stderr io.Writer) (reg *tool.Registry, close func(), err error) {
	var sessions []*mcp.Session
	close = func() {
		for _, s := range sessions {
			if err := s.Close(); err != nil {
				fmt.Fprintf(stderr, "keel: %s\n", oneLine(a.redact(err.Error())))
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, mcpConnectTimeout)
	defer cancel()
	var tools []tool.Tool
	for _, line := range af.commands {
		argv, err := shlex.Split(line)
		if err != nil || len(argv) == 0 {
			return nil, close, usagef("run", "--mcp %q: want a command and its arguments", line)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = nil
		for _, k := range mcpServerEnv() {
			if v := a.getenv(k); v != "" {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
		}
		if cmd.Env == nil {
			cmd.Env = []string{} // nil would mean all of keel's environment
		}
		cmd.Stderr = stderr
		s, err := mcp.ConnectCommand(ctx, cmd)
		if err != nil {
			return nil, close, fmt.Errorf("run: --mcp %q: %w", line, err)
		}
		sessions = append(sessions, s)
		tools = append(tools, s.Tools()...)
	}
	for _, u := range af.urls {
		s, err := mcp.ConnectURL(ctx, u, nil)
		if err != nil {
			return nil, close, fmt.Errorf("run: --mcp-url %q: %w", u, err)
		}
		sessions = append(sessions, s)
		tools = append(tools, s.Tools()...)
	}
	reg, err = tool.NewRegistry(tools)
	if err != nil {
		return nil, close, fmt.Errorf("run: the MCP servers' tools: %w", err)
	}
	return reg, close, nil
}

// runAgent runs the agent loop with the tools of af's MCP servers. The
// answer's text streams to stdout; each finished tool call is one line on
// stderr ("keel: tool NAME ARGS → RESULT"), so that stdout holds only the
// answer. With asJSON, it prints the final response as keel run --json does,
// with the usage of every step.
func (a *app) runAgent(ctx context.Context, m llm.Model, req *llm.Request, af *agentFlags, asJSON bool) error {
	if *af.maxSteps < 0 {
		return usagef("run", "--max-steps must be at least 1")
	}
	stderr := &lockedWriter{w: a.stderr}
	reg, closeAll, err := a.mountMCP(ctx, af, stderr)
	defer closeAll()
	if err != nil {
		return err
	}
	ag := &tool.Agent{Model: m, Tools: reg, MaxSteps: *af.maxSteps}
	if asJSON {
		res, err := ag.Run(ctx, req)
		if err != nil {
			return err
		}
		return a.printAgentJSON(m, res)
	}
	var last byte = '\n'
	endLine := func() {
		if last != '\n' {
			fmt.Fprintln(a.stdout)
			last = '\n'
		}
	}
	defer endLine()
	for ev, err := range ag.Stream(ctx, req) {
		if err != nil {
			return err
		}
		switch ev.Kind {
		case tool.EventText:
			if ev.Text == "" {
				continue
			}
			if _, err := io.WriteString(a.stdout, ev.Text); err != nil {
				return fmt.Errorf("writing the answer: %w", err)
			}
			last = ev.Text[len(ev.Text)-1]
		case tool.EventToolEnd:
			endLine()
			fmt.Fprintln(stderr, a.toolLine(ev.Call, ev.ToolResult))
		case tool.EventDone:
			if n := len(ev.Result.Steps); n > 0 {
				a.stopNote(ev.Result.Steps[n-1].Response)
			}
		}
	}
	return nil
}

// toolLine describes one finished call in one line.
func (a *app) toolLine(c *llm.ToolCall, r *llm.ToolResult) string {
	args := string(c.Input)
	if args == "" {
		args = "{}"
	}
	out := llm.Message{Parts: r.Content}.Text()
	if r.IsError {
		out = "error: " + out
	}
	return fmt.Sprintf("keel: tool %s %s → %s", c.Name, snippet(oneLine(a.redact(args)), 120), snippet(oneLine(a.redact(out)), 120))
}

func (a *app) printAgentJSON(m llm.Model, res *tool.Result) error {
	resp := res.Steps[len(res.Steps)-1].Response
	content, err := llm.MarshalParts(resp.Content)
	if err != nil {
		return fmt.Errorf("run: encoding the response: %w", err)
	}
	out := jsonResponse{
		ID: resp.ID, Model: resp.Model, Text: resp.Text(), Content: content,
		StopReason: resp.StopReason, Usage: res.Usage, LatencyMS: resp.Latency.Milliseconds(),
	}
	for _, st := range res.Steps {
		out.Attempts += st.Response.Attempts
		out.CostUSD += st.Response.Cost
	}
	if out.Model == "" {
		out.Model = m.Name()
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func cmdMCP(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("mcp", "[--collection NAME [--k N] [--mode lexical|vector|hybrid]]", `
Serve Keel's tools to an MCP client (Claude Desktop, an IDE, another agent)
over standard input and output, until the client closes the connection.

The tools: collections, which lists the collections of the embedded store;
and, with --collection, search, which searches that collection and returns
the best passages as JSON (id, title, source, score, text).

A client's configuration starts it as: keel mcp --collection docs`)
	coll := f.String("collection", "", "offer search over the collection `NAME`")
	k := f.Int("k", 5, "the default number of `hits` a search returns")
	mode := f.String("mode", "", "the retrieval `mode`: lexical, vector or hybrid (default: hybrid with rag.embedder in keel.yaml, else lexical)")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("mcp", "takes no arguments, got %q", pos)
	}
	if *k < 1 {
		return usagef("mcp", "--k must be at least 1")
	}
	var m rag.Mode
	if *mode != "" {
		if m, err = rag.ParseMode(*mode); err != nil {
			return usagef("mcp", "%v", err)
		}
	}
	st, err := a.ragStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	r, closeEmb, err := a.retriever(ctx, st, "", "")
	if err != nil {
		return err
	}
	defer closeEmb.Close()
	tools := []tool.Tool{collectionsTool(st)}
	if *coll != "" {
		tools = append(tools, searchTool(r, *coll, *k, m))
	}
	reg, err := tool.NewRegistry(tools)
	if err != nil {
		return err
	}
	srv := mcp.NewServer(reg, &sdk.Implementation{Name: "keel", Version: versionString()})
	err = srv.Run(ctx, &sdk.IOTransport{Reader: io.NopCloser(a.stdin), Writer: nopWriteCloser{a.stdout}})
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, sdk.ErrConnectionClosed) {
		return nil
	}
	return fmt.Errorf("mcp: %w", err)
}

// nopWriteCloser leaves closing stdout to the process.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

type collectionInfo struct {
	Name      string `json:"name"`
	Documents int    `json:"documents"`
	Chunks    int    `json:"chunks"`
}

func collectionsTool(st rag.Store) tool.Tool {
	return tool.Must("collections", "List the document collections of the Keel store, with their sizes",
		func(ctx context.Context, _ struct{}) ([]collectionInfo, error) {
			cs, err := st.Collections(ctx)
			if err != nil {
				return nil, err
			}
			out := make([]collectionInfo, 0, len(cs))
			for _, c := range cs {
				out = append(out, collectionInfo{Name: c.Name, Documents: c.Documents, Chunks: c.Chunks})
			}
			return out, nil
		})
}

type searchIn struct {
	Query string `json:"query" jsonschema:"what to look for, in words"`
	K     int    `json:"k,omitempty" jsonschema:"how many passages to return (default set by the server)"`
}

type searchOut struct {
	ID     string  `json:"id"`
	Title  string  `json:"title,omitempty"`
	Source string  `json:"source"`
	Score  float64 `json:"score"`
	Text   string  `json:"text"`
}

func searchTool(r *rag.Retriever, coll string, k int, m rag.Mode) tool.Tool {
	desc := fmt.Sprintf("Search the document collection %q and return its best passages, best first", coll)
	return tool.Must("search", desc, func(ctx context.Context, in searchIn) ([]searchOut, error) {
		if strings.TrimSpace(in.Query) == "" {
			return nil, errors.New("the query is empty")
		}
		n := k
		if in.K > 0 {
			n = min(in.K, 50)
		}
		hits, err := r.Retrieve(ctx, coll, rag.Query{Text: in.Query, K: n, Mode: m, PerDocument: true})
		if err != nil {
			return nil, err
		}
		out := make([]searchOut, 0, len(hits))
		for _, h := range hits {
			out = append(out, searchOut{ID: h.DocID, Title: h.Title, Source: h.Label(), Score: h.Score, Text: h.Text})
		}
		return out, nil
	})
}
