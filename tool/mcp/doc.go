// Package mcp connects Keel's tools to the Model Context Protocol, on the
// official Go SDK (github.com/modelcontextprotocol/go-sdk).
//
// As a client, it mounts the tools of an MCP server as tool.Tool values: the
// server's input schema is passed to the model unchanged, and each call goes
// to the server, its result mapped to a tool result (isError included). A
// Session owns its connection and, for a stdio server, its process; Close
// ends both.
//
//	s, err := mcp.ConnectCommand(ctx, exec.Command("python3", "server.py"))
//	if err != nil { ... }
//	defer s.Close()
//	tools, _ := tool.NewRegistry(s.Tools())
//	agent := &tool.Agent{Model: model, Tools: tools}
//
// As a server, NewServer serves a tool.Registry to MCP clients.
package mcp
