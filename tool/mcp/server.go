package mcp

import (
	"context"
	"fmt"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/tool"
)

// NewServer returns an MCP server offering the tools of reg, each run
// through reg.Run: its timeout, panic recovery and output limit apply, and a
// failure is a result with isError set, as the specification asks (not a
// protocol error), so the client's model sees it. Serve it with the go-sdk,
// for instance server.Run(ctx, &sdk.StdioTransport{}).
func NewServer(reg *tool.Registry, impl *sdk.Implementation) *sdk.Server {
	if impl == nil {
		impl = implementation()
	}
	s := sdk.NewServer(impl, nil)
	for _, spec := range reg.Specs() {
		s.AddTool(&sdk.Tool{Name: spec.Name, Description: spec.Description, InputSchema: spec.InputSchema},
			func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
				res := reg.Run(ctx, llm.ToolCall{Name: spec.Name, Input: req.Params.Arguments})
				return Result(res), nil
			})
	}
	return s
}

// Result maps a Keel tool result to an MCP one: text and images as
// themselves, documents as a line saying what was there.
func Result(r llm.ToolResult) *sdk.CallToolResult {
	out := &sdk.CallToolResult{IsError: r.IsError, Content: []sdk.Content{}}
	for _, p := range r.Content {
		switch p := p.(type) {
		case llm.Text:
			out.Content = append(out.Content, &sdk.TextContent{Text: p.Text})
		case llm.Image:
			if p.Data != nil {
				out.Content = append(out.Content, &sdk.ImageContent{MIMEType: p.MediaType, Data: p.Data})
			} else {
				out.Content = append(out.Content, &sdk.ResourceLink{URI: p.URL, Name: "image", MIMEType: p.MediaType})
			}
		case llm.Document:
			out.Content = append(out.Content, &sdk.TextContent{Text: fmt.Sprintf("[document %q, %s, not shown]", p.Title, p.MediaType)})
		}
	}
	return out
}
