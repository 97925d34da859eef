package geminitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

const genPath = "/v1beta/models/gemini-2.5-flash:generateContent"

// post sends body to path with a key and returns the status and body.
func post(t *testing.T, s *Server, path, body string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-goog-api-key", "test-key")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func jsonEqual(t *testing.T, want, got string) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want: %v", err)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got %q: %v", got, err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

const hello = `{"contents":[{"role":"user","parts":[{"text":"Hello there"}]}]}`

func TestEcho(t *testing.T) {
	s := NewServer(t)
	status, h, body := post(t, s, genPath, hello, nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q", status, h.Get("Content-Type"))
	}
	jsonEqual(t, `{
		"candidates": [{"content": {"parts": [{"text": "Hello there"}], "role": "model"}, "finishReason": "STOP", "index": 0}],
		"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 3, "totalTokenCount": 6,
			"promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}]},
		"modelVersion": "gemini-2.5-flash",
		"responseId": "emu-000001"
	}`, body)
}

func TestStreamFormat(t *testing.T) {
	s := NewServer(t)
	s.Enqueue(llmtest.WireReply{Response: &llm.Response{ID: "r-1", Content: []llm.Part{
		llm.Thinking{Text: "Hmm ok", Signature: "c2ln"},
		llm.Text{Text: "Hi you"},
		llm.ToolCall{Name: "f", Input: json.RawMessage(`{"a":1}`)},
	}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 5, CacheReadTokens: 4, OutputTokens: 9}}})
	status, h, body := post(t, s, "/v1beta/models/m:streamGenerateContent?alt=sse", hello, nil)
	if status != 200 || h.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", status, h.Get("Content-Type"))
	}
	events := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
	want := []string{
		`{"candidates":[{"content":{"parts":[{"text":"Hmm ","thought":true}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":1,"totalTokenCount":11,"cachedContentTokenCount":4,"thoughtsTokenCount":1,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}]},"modelVersion":"m","responseId":"r-1"}`,
		`{"candidates":[{"content":{"parts":[{"text":"ok","thought":true,"thoughtSignature":"c2ln"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"totalTokenCount":13,"cachedContentTokenCount":4,"thoughtsTokenCount":2,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}]},"modelVersion":"m","responseId":"r-1"}`,
		`{"candidates":[{"content":{"parts":[{"text":"Hi "}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":3,"totalTokenCount":14,"cachedContentTokenCount":4,"thoughtsTokenCount":2,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}]},"modelVersion":"m","responseId":"r-1"}`,
		`{"candidates":[{"content":{"parts":[{"text":"you"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":4,"totalTokenCount":15,"cachedContentTokenCount":4,"thoughtsTokenCount":2,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}]},"modelVersion":"m","responseId":"r-1"}`,
		`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":1}}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":7,"totalTokenCount":18,"cachedContentTokenCount":4,"thoughtsTokenCount":2,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}]},"modelVersion":"m","responseId":"r-1"}`,
	}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d:\n%s", len(events), len(want), body)
	}
	for i, ev := range events {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("event %d is not one data line: %q", i, ev)
		}
		jsonEqual(t, want[i], data)
	}
}

func TestStreamWithoutSSE(t *testing.T) {
	s := NewServer(t)
	status, _, body := post(t, s, "/v1beta/models/m:streamGenerateContent", hello, nil)
	var chunks []map[string]any
	if status != 200 || json.Unmarshal([]byte(body), &chunks) != nil || len(chunks) != 2 {
		t.Errorf("status %d, body %s; want a JSON array of 2 chunks", status, body)
	}
}

func TestBlockedPrompt(t *testing.T) {
	s := NewServer(t)
	s.Enqueue(llmtest.WireReply{Response: &llm.Response{StopReason: llm.StopRefusal, Usage: llm.Usage{InputTokens: 4}}})
	_, _, body := post(t, s, genPath, hello, nil)
	jsonEqual(t, `{"promptFeedback": {"blockReason": "SAFETY"},
		"usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}]},
		"modelVersion": "gemini-2.5-flash", "responseId": "emu-000001"}`, body)
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name, path, body string
		header           http.Header
		status           int
		message          string
	}{
		{name: "no key", path: genPath, body: hello, header: http.Header{"X-Goog-Api-Key": {""}}, status: 403,
			message: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."},
		{name: "unknown method", path: "/v1beta/models/m:embedText", body: hello, status: 404, message: "Method not found: POST /v1beta/models/m:embedText"},
		{name: "unknown version", path: "/v2/models/m:generateContent", body: hello, status: 404, message: "Method not found: POST /v2/models/m:generateContent"},
		{name: "not JSON", path: genPath, body: `{`, status: 400, message: "Invalid JSON payload received. unexpected EOF"},
		{name: "unknown field", path: genPath, body: `{"contents":[{"parts":[{"text":"x"}]}],"temperature":1}`, status: 400,
			message: `Invalid JSON payload received. Unknown name "temperature": Cannot find field.`},
		{name: "trailing data", path: genPath, body: hello + `{}`, status: 400, message: "Invalid JSON payload received. Unexpected token after the JSON value."},
		{name: "no contents", path: genPath, body: `{}`, status: 400, message: "* GenerateContentRequest.contents: contents is not specified"},
		{name: "bad role", path: genPath, body: `{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, status: 400, message: "Please use a valid role: user, model."},
		{name: "empty parts", path: genPath, body: `{"contents":[{"role":"user","parts":[]}]}`, status: 400,
			message: "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty."},
		{name: "empty part", path: genPath, body: `{"contents":[{"role":"user","parts":[{}]}]}`, status: 400,
			message: "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' must have one initialized field"},
		{name: "two kinds of data", path: genPath, body: `{"contents":[{"role":"user","parts":[{"text":"x","fileData":{"fileUri":"u"}}]}]}`, status: 400,
			message: "* GenerateContentRequest.contents[0].parts[0].data: oneof field 'data' is already set. Cannot set more than one data field"},
		{name: "nameless function response", path: genPath, body: `{"contents":[{"role":"user","parts":[{"functionResponse":{"response":{}}}]}]}`, status: 400,
			message: "* GenerateContentRequest.contents[0].parts[0].function_response.name: Name cannot be empty."},
		{name: "undeclared allowed function", path: genPath,
			body:   `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}}`,
			status: 400, message: `* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: function "g" is not declared.`},
		{name: "schema without JSON mode", path: genPath, body: `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseJsonSchema":{}}}`, status: 400,
			message: "* GenerateContentRequest.generation_config.response_mime_type: a response schema needs response_mime_type application/json."},
		{name: "count both forms", path: "/v1beta/models/m:countTokens",
			body: `{"contents":[{"parts":[{"text":"x"}]}],"generateContentRequest":{"model":"models/m","contents":[{"parts":[{"text":"x"}]}]}}`, status: 400,
			message: "* CountTokensRequest: contents and generate_content_request are mutually exclusive."},
		{name: "count with a bare model", path: "/v1beta/models/m:countTokens",
			body: `{"generateContentRequest":{"model":"m","contents":[{"parts":[{"text":"x"}]}]}}`, status: 400,
			message: "* CountTokensRequest.generate_content_request.model: model must be of the form models/{model}."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			s.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "scripted"}}}})
			status, _, body := post(t, s, tt.path, tt.body, tt.header)
			if status != tt.status {
				t.Errorf("status = %d, want %d (%s)", status, tt.status, body)
			}
			var env wireErrorEnvelope
			if err := json.Unmarshal([]byte(body), &env); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			want := wireError{Code: tt.status, Message: tt.message, Status: canonical(tt.status)}
			if diff := cmp.Diff(want, env.Error); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			// A rejected request is recorded but leaves the script alone.
			if n := len(s.Requests()); n != 1 {
				t.Errorf("%d requests recorded, want 1", n)
			}
			if _, _, body := post(t, s, genPath, hello, nil); !strings.Contains(body, "scripted") {
				t.Errorf("the next good request did not get the scripted reply: %s", body)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault llmtest.Fault
		want  string
	}{
		{"400", llmtest.Fault{Status: 400}, `{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}`},
		{"429", llmtest.Fault{Status: 429}, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`},
		{"500", llmtest.Fault{Status: 500}, `{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}`},
		{"503", llmtest.Fault{Status: 503}, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`},
		{"504", llmtest.Fault{Status: 504}, `{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}`},
		{"custom body", llmtest.Fault{Status: 429, Body: ErrorBody(429, "RESOURCE_EXHAUSTED", "Quota.", map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "9s"})},
			`{"error":{"code":429,"message":"Quota.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"9s"}]}}`},
	}
	for _, tt := range tests {
		for _, path := range []string{genPath, "/v1beta/models/m:streamGenerateContent?alt=sse"} {
			t.Run(tt.name+path, func(t *testing.T) {
				s := NewServer(t)
				tt.fault.Header = http.Header{"Retry-After": {"3"}}
				s.Enqueue(llmtest.WireReply{Fault: tt.fault})
				status, h, body := post(t, s, path, hello, nil)
				if status != tt.fault.Status || h.Get("Retry-After") != "3" {
					t.Errorf("status %d, retry-after %q", status, h.Get("Retry-After"))
				}
				jsonEqual(t, tt.want, body)
			})
		}
	}
}

func TestStreamErrorEvent(t *testing.T) {
	s := NewServer(t)
	resp := &llm.Response{Content: []llm.Part{llm.Text{Text: "a b c"}}}
	s.Enqueue(StreamError(resp, 1, 503, "Overloaded."), StreamError(resp, 1, 503, "Overloaded."))
	_, _, body := post(t, s, "/v1beta/models/m:streamGenerateContent?alt=sse", hello, nil)
	events := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
	if len(events) != 2 || !strings.Contains(events[0], `"text":"a "`) ||
		events[1] != `data: {"error":{"code":503,"message":"Overloaded.","status":"UNAVAILABLE"}}` {
		t.Errorf("events = %q", events)
	}
	// Not streamed, it is a plain error.
	if status, _, body := post(t, s, genPath, hello, nil); status != 503 || !strings.Contains(body, "Overloaded.") {
		t.Errorf("status %d, body %s", status, body)
	}
}

func TestDropWhole(t *testing.T) {
	s := NewServer(t)
	s.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Drop: true}})
	resp, err := http.Post(s.URL+genPath+"?key=k", "application/json", strings.NewReader(hello))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading a dropped answer: err = %v, want unexpected EOF", err)
	}
}

func TestScriptErrors(t *testing.T) {
	s := NewServer(t)
	s.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.ToolCall{Name: "f", Signature: "not base64!"}}}})
	status, _, body := post(t, s, genPath, hello, nil)
	if status != 500 || !strings.Contains(body, "geminitest: scripted response part 0: signature") {
		t.Errorf("status %d, body %s", status, body)
	}
}

func TestCountTokens(t *testing.T) {
	s := NewServer(t)
	tests := []struct {
		body string
		want int
	}{
		{`{"contents":[{"role":"user","parts":[{"text":"hello world!"}]}]}`, 3},
		{`{"contents":[{"role":"user","parts":[{"text":"a"},{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}]}`, 1 + 258},
		{`{"generateContentRequest":{"model":"models/m","contents":[{"parts":[{"text":"abcd"}]}],"systemInstruction":{"parts":[{"text":"abcdefgh"}]}}}`, 1 + 2},
	}
	for _, tt := range tests {
		_, _, body := post(t, s, "/v1beta/models/m:countTokens", tt.body, nil)
		var got wireCountResponse
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.TotalTokens != tt.want {
			t.Errorf("count of %s = %s, want %d", tt.body, body, tt.want)
		}
	}
}

// TestThroughSDK uses the official SDK directly, as a user of the emulator
// without Keel's adapter would.
func TestThroughSDK(t *testing.T) {
	s := NewServer(t)
	client, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey: "test-key", Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Enqueue(
		llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "Hi!"}}, StopReason: llm.StopEndTurn,
			Usage: llm.Usage{InputTokens: 2, CacheReadTokens: 3, OutputTokens: 1}}},
		llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "one two"}}, StopReason: llm.StopMaxTokens}},
	)
	resp, err := client.Models.GenerateContent(t.Context(), "gemini-2.5-flash", genai.Text("Hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	u := resp.UsageMetadata
	if resp.Text() != "Hi!" || resp.Candidates[0].FinishReason != genai.FinishReasonStop ||
		u.PromptTokenCount != 5 || u.CachedContentTokenCount != 3 || u.CandidatesTokenCount != 1 {
		t.Errorf("response = %q, %s, usage %+v", resp.Text(), resp.Candidates[0].FinishReason, u)
	}
	var text strings.Builder
	var finish genai.FinishReason
	for chunk, err := range client.Models.GenerateContentStream(t.Context(), "gemini-2.5-flash", genai.Text("Hello"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(chunk.Text())
		finish = chunk.Candidates[0].FinishReason
	}
	if text.String() != "one two" || finish != genai.FinishReasonMaxTokens {
		t.Errorf("stream = %q, %s", text.String(), finish)
	}
	n, err := client.Models.CountTokens(t.Context(), "gemini-2.5-flash", genai.Text("hello world!"), nil)
	if err != nil || n.TotalTokens != 3 {
		t.Errorf("CountTokens = %+v, %v", n, err)
	}
}

func TestRequestsRecorded(t *testing.T) {
	s := NewServer(t)
	post(t, s, genPath, hello, nil)
	post(t, s, "/v1beta/models/m:countTokens", hello, nil)
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Path != genPath || reqs[1].Path != "/v1beta/models/m:countTokens" ||
		string(reqs[0].Body) != hello || reqs[0].Header.Get("x-goog-api-key") != "test-key" {
		t.Errorf("recorded %+v", reqs)
	}
}

// FuzzServe sends arbitrary bodies to every endpoint of an emulator with an
// empty script: it must answer 200 or a Google error body, never panic.
func FuzzServe(f *testing.F) {
	for _, seed := range []string{
		hello,
		`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":[1,{"b":null}]}},"thoughtSignature":"c2ln"}]},{"parts":[{"functionResponse":{"name":"f","response":{"output":"x"},"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}]}]}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object"}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}}}`,
		`{"generateContentRequest":{"model":"models/m","contents":[{"parts":[{"text":"x"}]}]}}`,
		`{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"not base64"}}]}]}`,
		`[]`, `null`, `{"contents":null}`, "",
	} {
		f.Add(seed)
	}
	s := &Server{}
	paths := []string{genPath, "/v1beta/models/m:streamGenerateContent?alt=sse", "/v1beta/models/m:countTokens"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range paths {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("x-goog-api-key", "k")
			w := httptest.NewRecorder()
			s.serveHTTP(w, req)
			if w.Code == http.StatusOK {
				continue
			}
			var env wireErrorEnvelope
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Code != w.Code {
				t.Errorf("%s: status %d with body %q", path, w.Code, w.Body.String())
			}
		}
	})
}

// sseData returns the data lines of an SSE body.
func sseData(body string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewBufferString(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestEchoStreamUsesLastUserTurn(t *testing.T) {
	s := NewServer(t)
	body := `{"contents":[{"role":"user","parts":[{"text":"first"}]},{"role":"model","parts":[{"text":"reply"}]},{"role":"user","parts":[{"text":"second turn"}]}]}`
	_, _, out := post(t, s, "/v1beta/models/m:streamGenerateContent?alt=sse", body, nil)
	var text strings.Builder
	for _, d := range sseData(out) {
		var r wireResponse
		if err := json.Unmarshal([]byte(d), &r); err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Candidates[0].Content.Parts {
			text.WriteString(*p.Text)
		}
	}
	if text.String() != "second turn" {
		t.Errorf("echo = %q", text.String())
	}
}
