package openai_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider/openai"
)

func TestOllamaBaseURL(t *testing.T) {
	tests := []struct{ host, want string }{
		{"", "http://127.0.0.1:11434/v1"},
		{"  ", "http://127.0.0.1:11434/v1"},
		{"127.0.0.1:11434", "http://127.0.0.1:11434/v1"},
		{"0.0.0.0", "http://127.0.0.1:11434/v1"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/v1"},
		{"[::]:11434", "http://127.0.0.1:11434/v1"},
		{"gpu-box", "http://gpu-box:11434/v1"},
		{"gpu-box:8080", "http://gpu-box:8080/v1"},
		{"http://host:11434", "http://host:11434/v1"},
		{"http://host:11434/", "http://host:11434/v1"},
		{"http://host", "http://host:80/v1"},
		{"https://ollama.example.com", "https://ollama.example.com:443/v1"},
		{"https://example.com/ollama/", "https://example.com:443/ollama/v1"},
		{"http://host:11434/v1", "http://host:11434/v1"},
		{"[::1]:11434", "http://[::1]:11434/v1"},
		{"::1", "http://[::1]:11434/v1"},
		{`"localhost:11434"`, "http://localhost:11434/v1"},
		{"host:notaport", "http://host:11434/v1"},
		{"host:99999", "http://host:11434/v1"},
		{"http://u:pw@host:8080", "http://u:pw@host:8080/v1"},
		{"https://u:p@ss@host", "https://u:p@ss@host:443/v1"},
	}
	for _, tt := range tests {
		if got := openai.OllamaBaseURL(tt.host); got != tt.want {
			t.Errorf("OllamaBaseURL(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func ExampleOllamaBaseURL() {
	fmt.Println(openai.OllamaBaseURL(""))
	fmt.Println(openai.OllamaBaseURL("0.0.0.0:11434"))
	fmt.Println(openai.OllamaBaseURL("https://ollama.example.com"))
	// Output:
	// http://127.0.0.1:11434/v1
	// http://127.0.0.1:11434/v1
	// https://ollama.example.com:443/v1
}

func ExampleModel_Stream() {
	// The emulator stands in for api.openai.com; unscripted, it echoes.
	srv := openaitest.Start()
	defer srv.Close()

	m := openai.New(openai.Options{APIKey: "sk-example", BaseURL: srv.URL}).Model("gpt-4.1-mini")
	req := &llm.Request{Messages: []llm.Message{llm.UserText("Why is the sky blue?")}}
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch ev.Kind {
		case llm.EventText:
			fmt.Print(ev.Text)
		case llm.EventDone:
			fmt.Printf("\n%s, %s\n", ev.Response.Model, ev.Response.StopReason)
		}
	}
	// Output:
	// Why is the sky blue?
	// openai/gpt-4.1-mini, end_turn
}

func BenchmarkGenerate(b *testing.B) {
	srv := openaitest.NewServer(b)
	m := openai.New(openai.Options{APIKey: testKey, BaseURL: srv.URL}).Model("gpt-4.1-mini")
	reply := llmtest.WireReply{Response: &llm.Response{
		Content:    []llm.Part{llm.Text{Text: "The sky is blue because of Rayleigh scattering of sunlight."}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 12},
	}}
	req := &llm.Request{Messages: []llm.Message{llm.UserText("Why is the sky blue?")}}
	b.ReportAllocs()
	for b.Loop() {
		srv.Enqueue(reply)
		if _, err := m.Generate(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStream(b *testing.B) {
	srv := openaitest.NewServer(b)
	m := openai.New(openai.Options{APIKey: testKey, BaseURL: srv.URL}).Model("gpt-4.1-mini")
	reply := llmtest.WireReply{Response: &llm.Response{
		Content:    []llm.Part{llm.Text{Text: "The sky is blue because of Rayleigh scattering of sunlight."}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 12},
	}}
	req := &llm.Request{Messages: []llm.Message{llm.UserText("Why is the sky blue?")}}
	b.ReportAllocs()
	for b.Loop() {
		srv.Enqueue(reply)
		if _, err := llm.Collect(m.Stream(b.Context(), req)); err != nil {
			b.Fatal(err)
		}
	}
}
