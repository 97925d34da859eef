package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/server"
	"github.com/keelai/keel/store/sqlite"
)

// A server in front of an OpenAI-compatible upstream (here the wire
// emulator), answering an OpenAI-format request for the alias "fast".
func ExampleNew() {
	upstream := openaitest.Start()
	defer upstream.Close()
	upstream.Enqueue(llmtest.WireReply{Response: &llm.Response{
		Content: []llm.Part{llm.Text{Text: "Hello from upstream."}}, StopReason: llm.StopEndTurn,
	}})

	cfg := &config.Config{
		Providers: map[string]config.Provider{"local": {Type: config.TypeOpenAI, BaseURL: upstream.URL, APIKey: "sk-local-example"}},
		Models:    map[string]config.Model{"fast": {Provider: "local", Model: "llama3.2"}},
	}
	dir, _ := os.MkdirTemp("", "keel-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := sqlite.OpenState(ctx, filepath.Join(dir, "keel.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	srv, err := server.New(ctx, server.Options{Config: cfg, State: st})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	// httptest serves on loopback, and no key exists: the caller is the
	// local owner.
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"fast","messages":[{"role":"user","content":"Hi"}]}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct {
		Model   string
		Choices []struct{ Message struct{ Content string } }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	fmt.Println(resp.StatusCode, out.Model, out.Choices[0].Message.Content)
	// Output: 200 local/llama3.2 Hello from upstream.
}
