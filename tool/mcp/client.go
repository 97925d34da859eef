package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/tool"
)

// implementation names Keel to the servers it connects to, and to clients
// when NewServer is given none.
func implementation() *sdk.Implementation { return &sdk.Implementation{Name: "keel", Version: "v1"} }

// Session is a connection to one MCP server, with the server's tools mounted
// as Keel tools. It is safe for concurrent use; Close ends it.
type Session struct {
	name  string
	cs    *sdk.ClientSession
	tools []tool.Tool
}

// Connect opens a session over any go-sdk transport and lists the server's
// tools. name identifies the server in errors. On failure, nothing is left
// open.
func Connect(ctx context.Context, name string, t sdk.Transport) (*Session, error) {
	c := sdk.NewClient(implementation(), nil)
	cs, err := c.Connect(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("mcp: connecting to %s: %w", name, err)
	}
	s := &Session{name: name, cs: cs}
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			cs.Close()
			return nil, fmt.Errorf("mcp: listing the tools of %s: %w", name, err)
		}
		schema, err := json.Marshal(t.InputSchema)
		if err != nil || t.InputSchema == nil {
			cs.Close()
			return nil, fmt.Errorf("mcp: %s: tool %q has no usable input schema", name, t.Name)
		}
		s.tools = append(s.tools, &remote{
			session: s,
			spec:    llm.Tool{Name: t.Name, Description: t.Description, InputSchema: schema},
		})
	}
	return s, nil
}

// ConnectCommand starts cmd as a stdio MCP server (JSON-RPC on its standard
// input and output) and opens a session with it. The process belongs to the
// session: Close closes its standard input, waits for it to exit, and
// terminates it if it does not. cmd must not have been started and must not
// have Stdin or Stdout set; its Stderr is left as the caller set it (nil
// discards the server's logs). Use exec.Command, not exec.CommandContext:
// the process should outlive ctx, which bounds only the handshake.
func ConnectCommand(ctx context.Context, cmd *exec.Cmd) (*Session, error) {
	s, err := Connect(ctx, strings.Join(cmd.Args, " "), &sdk.CommandTransport{Command: cmd})
	if err != nil && cmd.Process != nil && cmd.ProcessState == nil {
		// The handshake failed after the process started and before the SDK
		// took charge of closing it: stop it here so that none is leaked.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return s, err
}

// ConnectURL opens a session with an MCP server over the streamable HTTP
// transport at url. client may be nil for http.DefaultClient.
func ConnectURL(ctx context.Context, url string, client *http.Client) (*Session, error) {
	return Connect(ctx, url, &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: client})
}

// Tools returns the server's tools, listed when the session opened.
func (s *Session) Tools() []tool.Tool { return append([]tool.Tool(nil), s.tools...) }

// Close ends the session and, for a stdio server, its process.
func (s *Session) Close() error {
	if err := s.cs.Close(); err != nil && !errors.Is(err, sdk.ErrConnectionClosed) {
		return fmt.Errorf("mcp: closing %s: %w", s.name, err)
	}
	return nil
}

// ToolError is a result the server marked isError: the tool ran and failed.
// Its message is the result's text, which the agent loop shows the model.
type ToolError struct {
	Tool    string
	Message string
}

func (e *ToolError) Error() string { return e.Message }

// remote is a tool served by an MCP server.
type remote struct {
	session *Session
	spec    llm.Tool
}

func (r *remote) Spec() llm.Tool {
	s := r.spec
	s.InputSchema = append(json.RawMessage(nil), r.spec.InputSchema...)
	return s
}

func (r *remote) Call(ctx context.Context, input json.RawMessage) ([]llm.Part, error) {
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	res, err := r.session.cs.CallTool(ctx, &sdk.CallToolParams{Name: r.spec.Name, Arguments: input})
	if err != nil {
		return nil, fmt.Errorf("mcp: %s: calling %s: %w", r.session.name, r.spec.Name, err)
	}
	parts := Parts(res)
	if res.IsError {
		msg := llm.Message{Parts: parts}.Text()
		if msg == "" {
			msg = fmt.Sprintf("tool %s failed without a message", r.spec.Name)
		}
		return nil, &ToolError{Tool: r.spec.Name, Message: msg}
	}
	return parts, nil
}

// Parts maps an MCP tool result's content to Keel parts: text and images as
// themselves, embedded text resources as text, and what a model cannot take
// in a tool result (audio, binary resources, links) as a line of text saying
// what was there. A result with only structured content gives its JSON.
func Parts(res *sdk.CallToolResult) []llm.Part {
	var parts []llm.Part
	for _, c := range res.Content {
		switch c := c.(type) {
		case *sdk.TextContent:
			parts = append(parts, llm.Text{Text: c.Text})
		case *sdk.ImageContent:
			parts = append(parts, llm.Image{MediaType: c.MIMEType, Data: c.Data})
		case *sdk.AudioContent:
			parts = append(parts, llm.Text{Text: fmt.Sprintf("[audio, %s, %d bytes, not shown]", c.MIMEType, len(c.Data))})
		case *sdk.ResourceLink:
			parts = append(parts, llm.Text{Text: fmt.Sprintf("[resource %s: %s]", c.Name, c.URI)})
		case *sdk.EmbeddedResource:
			switch {
			case c.Resource == nil:
			case c.Resource.Blob == nil:
				parts = append(parts, llm.Text{Text: c.Resource.Text})
			default:
				parts = append(parts, llm.Text{Text: fmt.Sprintf("[resource %s, %s, %d bytes, not shown]", c.Resource.URI, c.Resource.MIMEType, len(c.Resource.Blob))})
			}
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			parts = append(parts, llm.Text{Text: string(b)})
		}
	}
	return parts
}
