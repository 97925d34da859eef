package openaiwire_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/server/openaiwire"
)

func userParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
	}
}

func TestErrorUnknownArgument(t *testing.T) {
	fake := llmtest.NewModel("fake/model")
	client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
	_, err := client.Chat.Completions.New(context.Background(), userParams("m"), option.WithJSONSet("foo", 1))
	e := apiError(t, err)
	if e.StatusCode != 400 || e.Type != "invalid_request_error" || e.Message != "Unrecognized request argument supplied: foo" {
		t.Errorf("error = %d %q %q", e.StatusCode, e.Type, e.Message)
	}
	if len(fake.Requests()) != 0 {
		t.Error("a refused request reached the model")
	}
}

func TestErrorWrongType(t *testing.T) {
	client := serve(t, map[string]llm.Model{"m": llmtest.NewModel("")}, nil, openaiwire.Options{})
	_, err := client.Chat.Completions.New(context.Background(), userParams("m"), option.WithJSONSet("max_tokens", "many"))
	e := apiError(t, err)
	if e.StatusCode != 400 || e.Param != "max_tokens" || !strings.Contains(e.Message, "expected an integer, but got a string") {
		t.Errorf("error = %d param %q %q", e.StatusCode, e.Param, e.Message)
	}
}

func TestErrorUnknownModel(t *testing.T) {
	client := serve(t, map[string]llm.Model{"m": llmtest.NewModel("")}, nil, openaiwire.Options{})
	_, err := client.Chat.Completions.New(context.Background(), userParams("gpt-99"))
	e := apiError(t, err)
	if e.StatusCode != 404 || e.Code != "model_not_found" || !strings.Contains(e.Message, "gpt-99") {
		t.Errorf("error = %d %q %q", e.StatusCode, e.Code, e.Message)
	}
}

func TestErrorTooLarge(t *testing.T) {
	client := serve(t, map[string]llm.Model{"m": llmtest.NewModel("")}, nil, openaiwire.Options{MaxRequestBytes: 1024})
	params := userParams("m")
	params.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("a", 2048))}
	_, err := client.Chat.Completions.New(context.Background(), params)
	if e := apiError(t, err); e.StatusCode != 413 || e.Code != "request_too_large" {
		t.Errorf("error = %d %q %q", e.StatusCode, e.Code, e.Message)
	}
}

// TestErrorTooLargeChunked covers a body with no Content-Length.
func TestErrorTooLargeChunked(t *testing.T) {
	h := openaiwire.New(newModels(map[string]llm.Model{"m": llmtest.NewModel("")}), nil, openaiwire.Options{MaxRequestBytes: 100})
	body := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("a", 200) + `"}]}`
	req := httptest.NewRequest("POST", "/v1/chat/completions", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Errorf("status %d, body %s", rec.Code, rec.Body)
	}
}

func TestErrorUpstreamBeforeFirstByte(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "generate"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			fake := llmtest.NewModel("fake/model", llmtest.Reply{Err: &llm.Error{
				Kind: llm.KindRateLimited, Status: 429, Message: "slow down", RetryAfter: 2500 * time.Millisecond,
			}})
			client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
			var err error
			if stream {
				_, _, err = collectStream(client.Chat.Completions.NewStreaming(context.Background(), userParams("m")))
			} else {
				_, err = client.Chat.Completions.New(context.Background(), userParams("m"))
			}
			e := apiError(t, err)
			if e.StatusCode != 429 || e.Type != "rate_limit_error" || e.Message != "slow down" {
				t.Errorf("error = %d %q %q", e.StatusCode, e.Type, e.Message)
			}
			if got := e.Response.Header.Get("Retry-After"); got != "3" {
				t.Errorf("retry-after = %q, want 3 (seconds, rounded up)", got)
			}
			if got := e.Response.Header.Get("Retry-After-Ms"); got != "2500" {
				t.Errorf("retry-after-ms = %q", got)
			}
		})
	}
}

func TestErrorMidStream(t *testing.T) {
	fake := llmtest.NewModel("fake/model", llmtest.Reply{
		Events: []llm.Event{{Kind: llm.EventText, Text: "Once upon"}},
		Err:    &llm.Error{Kind: llm.KindOverloaded, Status: 529, Message: "Overloaded"},
	})
	client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
	acc, _, err := collectStream(client.Chat.Completions.NewStreaming(context.Background(), userParams("m")))
	var se *ssestream.StreamError
	if !errors.As(err, &se) {
		t.Fatalf("stream error = %v (%T), want *ssestream.StreamError", err, err)
	}
	if !strings.Contains(se.Message, "Overloaded") {
		t.Errorf("message = %q", se.Message)
	}
	if len(acc.Choices) > 0 && acc.Choices[0].FinishReason != "" {
		t.Errorf("a broken stream finished with %q", acc.Choices[0].FinishReason)
	}
}

// A stream that ends with neither its final event nor an error is cut,
// and must not reach the client as a complete answer.
func TestErrorStreamEndsEarly(t *testing.T) {
	cut := llm.Funcs{
		NameFunc: func() string { return "fake/cut" },
		StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
			return func(yield func(llm.Event, error) bool) {
				yield(llm.Event{Kind: llm.EventText, Text: "partial"}, nil)
			}
		},
	}
	client := serve(t, map[string]llm.Model{"m": cut}, nil, openaiwire.Options{})
	_, _, err := collectStream(client.Chat.Completions.NewStreaming(context.Background(), userParams("m")))
	if err == nil {
		t.Fatal("a cut stream reached the client as a success")
	}
}

func TestErrorRedactsSecrets(t *testing.T) {
	const secret = "sk-proj-abcdefghijklmnop0123456789"
	fake := llmtest.NewModel("fake/model", llmtest.Reply{Err: &llm.Error{Kind: llm.KindAuth, Status: 401, Message: "Incorrect API key provided: " + secret}})
	h := openaiwire.New(newModels(map[string]llm.Model{"m": fake}), nil, openaiwire.Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}]}`)))
	if rec.Code != 401 {
		t.Errorf("status = %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), secret) || !strings.Contains(rec.Body.String(), "[REDACTED]") {
		t.Errorf("body = %s", rec.Body)
	}
}

func TestWriteErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		body   string
	}{
		{&llm.Error{Kind: llm.KindInvalidRequest, Message: "bad"}, 400, `{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}`},
		{&llm.Error{Kind: llm.KindAuth, Message: "no key"}, 401, `{"error":{"message":"no key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
		{&llm.Error{Kind: llm.KindPermission, Message: "no"}, 403, `{"error":{"message":"no","type":"permission_error","param":null,"code":null}}`},
		{&llm.Error{Kind: llm.KindNotFound, Message: "gone"}, 404, `{"error":{"message":"gone","type":"not_found_error","param":null,"code":null}}`},
		{&llm.Error{Kind: llm.KindContextLength, Status: 400, Message: "prompt is too long"}, 400, `{"error":{"message":"prompt is too long","type":"invalid_request_error","param":null,"code":"context_length_exceeded"}}`},
		{&llm.Error{Kind: llm.KindRateLimited, Message: "slow"}, 429, `{"error":{"message":"slow","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`},
		{&llm.Error{Kind: llm.KindBudgetExceeded, Message: "spent"}, 402, `{"error":{"message":"spent","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`},
		{&llm.Error{Kind: llm.KindOverloaded, Status: 529, Message: "Overloaded"}, 503, `{"error":{"message":"Overloaded","type":"server_error","param":null,"code":null}}`},
		{&llm.Error{Kind: llm.KindServer, Status: 502, Message: "bad gateway"}, 502, `{"error":{"message":"bad gateway","type":"server_error","param":null,"code":null}}`},
		{&llm.Error{Kind: llm.KindServer, Message: "boom"}, 500, `{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`},
		{&llm.Error{Kind: llm.KindTimeout, Message: "deadline"}, 504, `{"error":{"message":"deadline","type":"server_error","param":null,"code":"timeout"}}`},
		{context.DeadlineExceeded, 504, `{"error":{"message":"context deadline exceeded","type":"server_error","param":null,"code":"timeout"}}`},
		{&http.MaxBytesError{Limit: 2048}, 413, `{"error":{"message":"Request body too large: the limit is 2 KiB.","type":"invalid_request_error","param":null,"code":"request_too_large"}}`},
		{errors.New("plain"), 500, `{"error":{"message":"plain","type":"server_error","param":null,"code":null}}`},
	} {
		rec := httptest.NewRecorder()
		openaiwire.WriteError(rec, tc.err)
		if rec.Code != tc.status || strings.TrimSpace(rec.Body.String()) != tc.body {
			t.Errorf("WriteError(%v) = %d %s, want %d %s", tc.err, rec.Code, rec.Body, tc.status, tc.body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("content-type = %q", ct)
		}
	}
}

func TestRoutes(t *testing.T) {
	h := openaiwire.New(newModels(map[string]llm.Model{"m": llmtest.NewModel("")}), nil, openaiwire.Options{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/chat/completions", http.StatusMethodNotAllowed},
		{"POST", "/v1/models", http.StatusMethodNotAllowed},
		{"POST", "/v1/embeddings", http.StatusNotFound}, // no embeddings backend
		{"GET", "/v1/completions", http.StatusNotFound},
		{"GET", "/v1/models/m", http.StatusOK},
		{"GET", "/v1/models/nope", http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader("{}")))
		if rec.Code != tc.status || !strings.HasPrefix(rec.Body.String(), `{`) {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, rec.Code, rec.Body, tc.status)
		}
	}
}

// Closing the client's stream cancels the upstream call.
func TestStreamClientCancelStopsUpstream(t *testing.T) {
	canceled := make(chan struct{})
	blocking := llm.Funcs{
		NameFunc: func() string { return "fake/slow" },
		StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
			return func(yield func(llm.Event, error) bool) {
				if !yield(llm.Event{Kind: llm.EventText, Text: "first"}, nil) {
					close(canceled)
					return
				}
				<-ctx.Done()
				close(canceled)
				yield(llm.Event{}, ctx.Err())
			}
		},
	}
	client := serve(t, map[string]llm.Model{"m": blocking}, nil, openaiwire.Options{})
	stream := client.Chat.Completions.NewStreaming(context.Background(), userParams("m"))
	if !stream.Next() {
		t.Fatalf("no first chunk: %v", stream.Err())
	}
	stream.Close()
	<-canceled // the test hangs here if the upstream is never told
}
