package mcp_test

import (
	"context"
	"fmt"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/tool"
	"github.com/keelai/keel/tool/mcp"
)

// A Keel tool served over MCP and mounted back as a Keel tool. In a program
// the two ends are separate processes: mcp.ConnectCommand or mcp.ConnectURL
// on one side, NewServer(...).Run(ctx, &sdk.StdioTransport{}) on the other.
func Example() {
	ctx := context.Background()
	greet := tool.Must("greet", "Greet someone", func(_ context.Context, in struct {
		Name string `json:"name"`
	}) (string, error) {
		return "Hello, " + in.Name + "!", nil
	})
	served, _ := tool.NewRegistry([]tool.Tool{greet})

	clientEnd, serverEnd := sdk.NewInMemoryTransports()
	ss, err := mcp.NewServer(served, nil).Connect(ctx, serverEnd, nil)
	if err != nil {
		panic(err)
	}
	defer ss.Close()

	s, err := mcp.Connect(ctx, "example", clientEnd)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	tools, _ := tool.NewRegistry(s.Tools()) // give these to a tool.Agent
	fmt.Println(tools.Names())
	res := tools.Run(ctx, llm.ToolCall{ID: "1", Name: "greet", Input: []byte(`{"name":"Ada"}`)})
	fmt.Println(llm.Message{Parts: res.Content}.Text(), res.IsError)
	// Output:
	// [greet]
	// Hello, Ada! false
}
