package openaitest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

func batchClient(s *Server) openai.Client {
	return openai.NewClient(option.WithBaseURL(s.URL), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
}

func submit(t *testing.T, c openai.Client, input string) *openai.Batch {
	t.Helper()
	ctx := context.Background()
	f, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(input), "in.jsonl", "application/jsonl"), Purpose: openai.FilePurposeBatch})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: f.ID, Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBatchValidation: a bad input line fails the batch, naming the line,
// as OpenAI does at validation.
func TestBatchValidation(t *testing.T) {
	s := NewServer(t)
	c := batchClient(s)
	b := submit(t, c, `{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi"}]}}
{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi"}]}}
not json
`)
	if b.Status != openai.BatchStatusFailed || len(b.Errors.Data) != 2 {
		t.Fatalf("batch = %s", b.RawJSON())
	}
	if e := b.Errors.Data[0]; e.Line != 2 || e.Code != "duplicate_custom_id" {
		t.Fatalf("first error = %+v", e)
	}
	if e := b.Errors.Data[1]; e.Line != 3 || e.Code != "invalid_json_line" {
		t.Fatalf("second error = %+v", e)
	}
}

// TestBatchLifecycle: in_progress until processed, then completed with an
// output file (successes) and an error file (a scripted failure), lines in
// reverse order.
func TestBatchLifecycle(t *testing.T) {
	s := NewServer(t)
	c := batchClient(s)
	ctx := context.Background()
	s.Enqueue(
		llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "one"}}, Usage: llm.Usage{InputTokens: 5, OutputTokens: 1}}},
		llmtest.WireReply{Fault: llmtest.Fault{Status: 429}},
	)
	line := func(id string) string {
		return `{"custom_id":"` + id + `","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"q ` + id + `"}]}}` + "\n"
	}
	b := submit(t, c, line("a")+line("b")+line("c"))
	if b.Status != openai.BatchStatusInProgress || b.RequestCounts.Total != 3 {
		t.Fatalf("new batch = %s", b.RawJSON())
	}
	s.ProcessBatches(-1)
	b, err := c.Batches.Get(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != openai.BatchStatusCompleted || b.RequestCounts.Completed != 2 || b.RequestCounts.Failed != 1 || b.OutputFileID == "" || b.ErrorFileID == "" {
		t.Fatalf("completed batch = %s", b.RawJSON())
	}
	read := func(id string) string {
		res, err := c.Files.Content(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return string(data)
	}
	out := read(b.OutputFileID)
	if i, j := strings.Index(out, `"custom_id":"c"`), strings.Index(out, `"custom_id":"a"`); i < 0 || j < 0 || i > j || !strings.Contains(out, `"content":"one"`) {
		t.Fatalf("output file:\n%s", out)
	}
	if errs := read(b.ErrorFileID); !strings.Contains(errs, `"custom_id":"b"`) || !strings.Contains(errs, `"status_code":429`) {
		t.Fatalf("error file:\n%s", errs)
	}
	// Each request ran as a chat completion, recorded as one.
	var chats int
	for _, r := range s.Requests() {
		if r.Path == "/v1/chat/completions" && bytes.Contains(r.Body, []byte(`"q `)) {
			chats++
		}
	}
	if chats != 3 {
		t.Fatalf("%d chat completions recorded, want 3", chats)
	}
}
