package anthropictest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func call(t *testing.T, s *Server, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	req.Header.Set("x-api-key", "test")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("content-type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestBatchErrors: what the API refuses about batches, it refuses here.
func TestBatchErrors(t *testing.T) {
	s := NewServer(t)
	params := `{"model":"claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	if code, body := call(t, s, "POST", "/v1/messages/batches", `{"requests":[{"custom_id":"a","params":`+params+`},{"custom_id":"a","params":`+params+`}]}`); code != 400 || !strings.Contains(body, "requests.1.custom_id") {
		t.Fatalf("duplicate custom_id: %d %s", code, body)
	}
	if code, body := call(t, s, "POST", "/v1/messages/batches", `{"requests":[]}`); code != 400 || !strings.Contains(body, "invalid_request_error") {
		t.Fatalf("no requests: %d %s", code, body)
	}
	if code, _ := call(t, s, "GET", "/v1/messages/batches/msgbatch_nope", ""); code != 404 {
		t.Fatalf("unknown batch: %d", code)
	}
	code, body := call(t, s, "POST", "/v1/messages/batches", `{"requests":[{"custom_id":"a","params":`+params+`},{"custom_id":"b","params":{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"x"}]}}]}`)
	if code != 200 || !strings.Contains(body, `"processing_status":"in_progress"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	id := body[strings.Index(body, `"id":"`)+6:]
	id = id[:strings.IndexByte(id, '"')]
	if code, _ := call(t, s, "GET", "/v1/messages/batches/"+id+"/results", ""); code != 400 {
		t.Fatalf("results before the end: %d", code)
	}
	s.ProcessBatches(-1)
	code, body = call(t, s, "GET", "/v1/messages/batches/"+id+"/results", "")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	// Reverse order; b lacks max_tokens, so it errors as the Messages API would.
	if code != 200 || len(lines) != 2 || !strings.Contains(lines[0], `"custom_id":"b"`) || !strings.Contains(lines[0], "max_tokens: Field required") ||
		!strings.Contains(lines[1], `"type":"succeeded"`) {
		t.Fatalf("results: %d\n%s", code, body)
	}
}
