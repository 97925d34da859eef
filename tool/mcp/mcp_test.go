package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/tool"
	"github.com/keelai/keel/tool/mcp"
)

// serverEnv makes the test binary an MCP stdio server (see TestMain), so
// that the stdio client is tested against a real child process.
const serverEnv = "KEEL_MCP_TEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		if err := mcp.NewServer(registry(), nil).Run(context.Background(), &sdk.StdioTransport{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type addIn struct {
	A int `json:"a" jsonschema:"first addend"`
	B int `json:"b" jsonschema:"second addend"`
}

// registry is the Keel side of every round trip: a typed tool, one that
// fails, and one that returns an image.
func registry() *tool.Registry {
	add := tool.Must("add", "Add two integers", func(_ context.Context, in addIn) (int, error) { return in.A + in.B, nil })
	fail := tool.Must("fail", "Always fails", func(context.Context, struct{}) (string, error) {
		return "", errors.New("the disk is on fire")
	})
	pic := picture{}
	reg, err := tool.NewRegistry([]tool.Tool{add, fail, pic})
	if err != nil {
		panic(err)
	}
	return reg
}

type picture struct{}

func (picture) Spec() llm.Tool {
	return llm.Tool{Name: "picture", Description: "A picture", InputSchema: json.RawMessage(`{"type":"object"}`)}
}

func (picture) Call(context.Context, json.RawMessage) ([]llm.Part, error) {
	return []llm.Part{llm.Text{Text: "here:"}, llm.Image{MediaType: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}}}, nil
}

// roundTrip checks a session whose server is registry().
func roundTrip(t *testing.T, s *mcp.Session) {
	t.Helper()
	ctx := t.Context()
	reg, err := tool.NewRegistry(s.Tools())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"add", "fail", "picture"}, reg.Names()); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	// The schema reaches the model as the server described it.
	want, _ := tool.Must("add", "", func(_ context.Context, in addIn) (int, error) { return 0, nil }).Spec().InputSchema.MarshalJSON()
	addTool, _ := reg.Get("add")
	var gotSchema, wantSchema any
	json.Unmarshal(addTool.Spec().InputSchema, &gotSchema)
	json.Unmarshal(want, &wantSchema)
	if diff := cmp.Diff(wantSchema, gotSchema); diff != "" {
		t.Errorf("add schema (-want +got):\n%s", diff)
	}
	if got := addTool.Spec().Description; got != "Add two integers" {
		t.Errorf("add description = %q", got)
	}

	tests := []struct {
		name, tool, input string
		want              llm.ToolResult
	}{
		{"result", "add", `{"a":2,"b":40}`, llm.ToolResult{CallID: "c", Name: "add", Content: []llm.Part{llm.Text{Text: "42"}}}},
		{"tool error is isError", "fail", `{}`, llm.ToolResult{CallID: "c", Name: "fail", IsError: true, Content: []llm.Part{llm.Text{Text: "the disk is on fire"}}}},
		{"server-side validation is isError", "add", `{"a":"two"}`, llm.ToolResult{CallID: "c", Name: "add", IsError: true}},
		{"image", "picture", ``, llm.ToolResult{CallID: "c", Name: "picture", Content: []llm.Part{
			llm.Text{Text: "here:"}, llm.Image{MediaType: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reg.Run(ctx, llm.ToolCall{ID: "c", Name: tt.tool, Input: json.RawMessage(tt.input)})
			if tt.want.Content == nil {
				if !got.IsError || len(got.Content) == 0 {
					t.Fatalf("want an error result with a message, got %+v", got)
				}
				got.Content = nil
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInMemory(t *testing.T) {
	ct, st := sdk.NewInMemoryTransports()
	ss, err := mcp.NewServer(registry(), nil).Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	s, err := mcp.Connect(t.Context(), "memory", ct)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestStreamableHTTP(t *testing.T) {
	srv := mcp.NewServer(registry(), nil)
	hs := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	defer hs.Close()
	s, err := mcp.ConnectURL(t.Context(), hs.URL, hs.Client())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestCommand(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	cmd.Stderr = os.Stderr
	s, err := mcp.ConnectCommand(t.Context(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// Close owns the process: it has exited when Close returns.
	if cmd.ProcessState == nil {
		t.Error("the server process is still running after Close")
	}
}

func TestCommandFails(t *testing.T) {
	tests := []struct {
		name string
		cmd  *exec.Cmd
	}{
		{"no such program", exec.Command("keel-no-such-mcp-server")},
		{"exits at once", exec.Command(os.Args[0], "-test.run=^$")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mcp.ConnectCommand(t.Context(), tt.cmd)
			if err == nil {
				s.Close()
				t.Fatal("ConnectCommand succeeded")
			}
			if tt.cmd.Process != nil && tt.cmd.ProcessState == nil {
				t.Error("the failed server's process was left running")
			}
		})
	}
}
