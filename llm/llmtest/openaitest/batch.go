package openaitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// The Batch API and the Files endpoints it needs: POST /v1/files
// (multipart), GET /v1/files/{id} and /v1/files/{id}/content, POST
// /v1/batches, GET /v1/batches/{id} and POST /v1/batches/{id}/cancel.
//
// A batch whose input file is valid starts in_progress and moves on only
// when the test says so: ProcessBatches answers pending requests,
// ExpireBatches ends batches with what is left expired, and
// EndBatchesAfter makes every batch complete by itself on its nth
// retrieval. Each request, when processed, takes the next scripted reply as
// a chat completion would (an error Fault makes it a failed request with
// that status and body), and is recorded in Requests as a POST
// /v1/chat/completions. Output and error files list their lines in the
// reverse order of the input, as the real API does not keep the order
// either: clients must match them by custom_id. An input file with a bad
// line makes the batch fail with an error naming the line, as OpenAI does.

// maxUpload is the largest file the emulator accepts (OpenAI's batch input
// limit is 200 MB; tests never come near).
const maxUpload = 256 << 20

type storedFile struct {
	id, name, purpose string
	data              []byte
	created           int64
}

type batchJob struct {
	id, inputFileID, endpoint, window string
	status                            string
	created, ended                    int64
	cancelling                        int64
	outputFileID, errorFileID         string
	errors                            []map[string]any
	items                             []*batchLine
	polls                             int
}

type batchLine struct {
	customID string
	body     json.RawMessage
	done     bool
	// line is the output line, error whether it goes to the error file.
	line  json.RawMessage
	error bool
}

// EndBatchesAfter makes every batch complete by itself, all its pending
// requests processed, when it is retrieved for the nth time (counting from
// 1). 0, the default, leaves batches in progress until ProcessBatches or
// ExpireBatches.
func (s *Server) EndBatchesAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batchPolls = n
}

// ProcessBatches processes up to n pending requests of every batch in
// progress (n < 0: all of them), in input order; a batch with none left
// completes.
func (s *Server) ProcessBatches(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.batchOrder {
		s.process(s.batches[id], n)
	}
}

// ExpireBatches ends every batch in progress as expired: requests already
// processed are in its output file, the rest in its error file with code
// batch_expired.
func (s *Server) ExpireBatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.batchOrder {
		if b := s.batches[id]; b.status == "in_progress" {
			s.end(b, "expired", "batch_expired", "This request could not be executed before the completion window expired.")
		}
	}
}

func (s *Server) process(b *batchJob, n int) {
	if b.status != "in_progress" {
		return
	}
	for _, it := range b.items {
		if n == 0 {
			break
		}
		if !it.done {
			n--
			s.answer(b, it)
		}
	}
	for _, it := range b.items {
		if !it.done {
			return
		}
	}
	s.end(b, "completed", "", "")
}

// answer runs one line as a chat completion; s.mu is held.
func (s *Server) answer(b *batchJob, it *batchLine) {
	it.done = true
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(it.body))
	_, reply, scripted := s.script.Record(r)
	reqID := fmt.Sprintf("req_emu%06d", s.next())
	out := map[string]any{"id": fmt.Sprintf("batch_req_emu%06d", s.next()), "custom_id": it.customID, "error": nil}
	fail := func(status int, body string) {
		out["response"] = map[string]any{"status_code": status, "request_id": reqID, "body": json.RawMessage(body)}
		it.line, _ = json.Marshal(out)
		it.error = true
	}
	var req chatRequest
	switch {
	case json.Unmarshal(it.body, &req) != nil:
		fail(http.StatusBadRequest, ErrorBody("We could not parse the JSON body of your request.", "invalid_request_error", ""))
		return
	case len(req.Messages) == 0:
		fail(http.StatusBadRequest, errorBodyParam("[] is too short - 'messages'", "invalid_request_error", "empty_array", "messages"))
		return
	case reply.Fault.Status != 0:
		body := reply.Fault.Body
		if body == "" {
			body = defaultErrorBody(reply.Fault.Status)
		}
		fail(reply.Fault.Status, body)
		return
	}
	resp := reply.Response
	if !scripted || resp == nil {
		resp = echo(&req)
	}
	rn := renderer{s: s, compat: s.compat, model: req.Model, resp: resp}
	out["response"] = map[string]any{"status_code": 200, "request_id": reqID, "body": rn.completion()}
	it.line, _ = json.Marshal(out)
}

// end finishes b with status; requests not yet processed get an error
// line with code. s.mu is held.
func (s *Server) end(b *batchJob, status, code, message string) {
	var output, errs bytes.Buffer
	for i := len(b.items) - 1; i >= 0; i-- {
		it := b.items[i]
		if !it.done {
			it.done, it.error = true, true
			it.line, _ = json.Marshal(map[string]any{
				"id": fmt.Sprintf("batch_req_emu%06d", s.next()), "custom_id": it.customID, "response": nil,
				"error": map[string]string{"code": code, "message": message},
			})
		}
		dst := &output
		if it.error {
			dst = &errs
		}
		dst.Write(it.line)
		dst.WriteByte('\n')
	}
	now := time.Now().Unix()
	if output.Len() > 0 {
		b.outputFileID = s.store("batch_output.jsonl", "batch_output", output.Bytes(), now)
	}
	if errs.Len() > 0 {
		b.errorFileID = s.store("batch_errors.jsonl", "batch_output", errs.Bytes(), now)
	}
	b.status, b.ended = status, now
}

func (s *Server) store(name, purpose string, data []byte, now int64) string {
	if s.files == nil {
		s.files = map[string]*storedFile{}
	}
	id := fmt.Sprintf("file-emu%06d", s.next())
	s.files[id] = &storedFile{id: id, name: name, purpose: purpose, data: data, created: now}
	return id
}

// serveBatch answers the Files and Batches endpoints; it reports false for
// any other path.
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request) bool {
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	if path != "/files" && path != "/batches" && !strings.HasPrefix(path, "/files/") && !strings.HasPrefix(path, "/batches/") {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("x-request-id", fmt.Sprintf("req_emu%06d", s.next()))
	if !s.compat.NoAuth {
		if body := checkAuth(r, s.apiKey); body != "" {
			writeError(w, http.StatusUnauthorized, body)
			return true
		}
	}
	notFound := func(what string) {
		writeError(w, http.StatusNotFound, ErrorBody("No such "+what, "invalid_request_error", ""))
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case path == "/files" && r.Method == http.MethodPost:
		s.upload(w, r)
	case parts[0] == "files" && len(parts) >= 2 && r.Method == http.MethodGet:
		f, ok := s.files[parts[1]]
		switch {
		case !ok:
			notFound("File: " + parts[1])
		case len(parts) == 2:
			writeJSON(w, http.StatusOK, fileObject(f))
		case len(parts) == 3 && parts[2] == "content":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(f.data)
		default:
			notFound("endpoint")
		}
	case path == "/batches" && r.Method == http.MethodPost:
		s.createBatch(w, r)
	case parts[0] == "batches" && len(parts) >= 2:
		b, ok := s.batches[parts[1]]
		switch {
		case !ok:
			notFound("batch: " + parts[1])
		case len(parts) == 2 && r.Method == http.MethodGet:
			b.polls++
			if s.batchPolls > 0 && b.polls >= s.batchPolls {
				s.process(b, -1)
			}
			writeJSON(w, http.StatusOK, batchObject(b))
		case len(parts) == 3 && parts[2] == "cancel" && r.Method == http.MethodPost:
			if b.status == "in_progress" {
				b.cancelling = time.Now().Unix()
				s.end(b, "cancelled", "batch_cancelled", "This request was cancelled before it was executed.")
				// Answered as "cancelling"; the next retrieval finds it cancelled.
				o := batchObject(b)
				o["status"] = "cancelling"
				writeJSON(w, http.StatusOK, o)
				return true
			}
			writeJSON(w, http.StatusOK, batchObject(b))
		default:
			notFound("endpoint")
		}
	default:
		writeError(w, http.StatusNotFound, ErrorBody(fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", ""))
	}
	return true
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(maxUpload); err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody("Invalid multipart form: "+err.Error(), "invalid_request_error", ""))
		return
	}
	purpose := r.FormValue("purpose")
	if purpose == "" {
		writeError(w, http.StatusBadRequest, errorBodyParam("Missing required parameter: 'purpose'.", "invalid_request_error", "", "purpose"))
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		writeError(w, http.StatusBadRequest, errorBodyParam("Missing required parameter: 'file'.", "invalid_request_error", "", "file"))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody("could not read the file", "invalid_request_error", ""))
		return
	}
	id := s.store(hdr.Filename, purpose, data, time.Now().Unix())
	writeJSON(w, http.StatusOK, fileObject(s.files[id]))
}

func fileObject(f *storedFile) map[string]any {
	return map[string]any{
		"id": f.id, "object": "file", "bytes": len(f.data), "created_at": f.created,
		"filename": f.name, "purpose": f.purpose, "status": "processed",
	}
}

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		InputFileID      string `json:"input_file_id"`
		Endpoint         string `json:"endpoint"`
		CompletionWindow string `json:"completion_window"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, ErrorBody("We could not parse the JSON body of your request.", "invalid_request_error", ""))
		return
	}
	f, ok := s.files[in.InputFileID]
	switch {
	case in.Endpoint != "/v1/chat/completions" && in.Endpoint != "/v1/embeddings" && in.Endpoint != "/v1/responses":
		writeError(w, http.StatusBadRequest, errorBodyParam(fmt.Sprintf("Invalid value: '%s'. Supported values are: '/v1/chat/completions', '/v1/embeddings' and '/v1/responses'.", in.Endpoint), "invalid_request_error", "invalid_value", "endpoint"))
		return
	case in.CompletionWindow != "24h":
		writeError(w, http.StatusBadRequest, errorBodyParam(fmt.Sprintf("Invalid value: '%s'. Supported values are: '24h'.", in.CompletionWindow), "invalid_request_error", "invalid_value", "completion_window"))
		return
	case !ok:
		writeError(w, http.StatusNotFound, ErrorBody("No such File object: "+in.InputFileID, "invalid_request_error", ""))
		return
	case f.purpose != "batch":
		writeError(w, http.StatusBadRequest, ErrorBody("The input file must have purpose 'batch'.", "invalid_request_error", ""))
		return
	}
	b := &batchJob{
		id: fmt.Sprintf("batch_emu%06d", s.next()), inputFileID: in.InputFileID, endpoint: in.Endpoint,
		window: in.CompletionWindow, status: "in_progress", created: time.Now().Unix(),
	}
	b.errors = validateInput(f.data, in.Endpoint, b)
	if len(b.errors) > 0 {
		b.status, b.items, b.ended = "failed", nil, b.created
	}
	if s.batches == nil {
		s.batches = map[string]*batchJob{}
	}
	s.batches[b.id] = b
	s.batchOrder = append(s.batchOrder, b.id)
	writeJSON(w, http.StatusOK, batchObject(b))
}

// validateInput reads the input file's lines into b, returning the errors
// that make OpenAI fail a batch at validation.
func validateInput(data []byte, endpoint string, b *batchJob) []map[string]any {
	var errs []map[string]any
	bad := func(line int, code, msg string) {
		errs = append(errs, map[string]any{"code": code, "line": line, "message": msg, "param": nil})
	}
	seen, model := map[string]bool{}, ""
	for i, raw := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		line := i + 1
		var l struct {
			CustomID string          `json:"custom_id"`
			Method   string          `json:"method"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if json.Unmarshal(raw, &l) != nil {
			bad(line, "invalid_json_line", "This line is not parseable as valid JSON.")
			continue
		}
		var body struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(l.Body, &body)
		switch {
		case l.CustomID == "":
			bad(line, "missing_required_parameter", "Missing required parameter: 'custom_id'.")
		case seen[l.CustomID]:
			bad(line, "duplicate_custom_id", fmt.Sprintf("The custom_id '%s' is not unique.", l.CustomID))
		case l.Method != http.MethodPost:
			bad(line, "invalid_method", "Only POST is supported.")
		case l.URL != endpoint:
			bad(line, "mismatched_url", fmt.Sprintf("The url '%s' does not match the batch's endpoint '%s'.", l.URL, endpoint))
		case body.Model == "":
			bad(line, "missing_required_parameter", "Missing required parameter: 'body.model'.")
		case model != "" && body.Model != model:
			bad(line, "mismatched_model", "All requests in a batch must use the same model.")
		}
		seen[l.CustomID] = true
		if model == "" {
			model = body.Model
		}
		b.items = append(b.items, &batchLine{customID: l.CustomID, body: l.Body})
	}
	return errs
}

func batchObject(b *batchJob) map[string]any {
	nullable := func(v int64) any {
		if v == 0 {
			return nil
		}
		return v
	}
	str := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	completed, failed := 0, 0
	for _, it := range b.items {
		if it.done && it.line != nil {
			if it.error {
				failed++
			} else {
				completed++
			}
		}
	}
	o := map[string]any{
		"id": b.id, "object": "batch", "endpoint": b.endpoint, "input_file_id": b.inputFileID,
		"completion_window": b.window, "status": b.status, "created_at": b.created,
		"in_progress_at": b.created, "expires_at": b.created + 24*3600,
		"output_file_id": str(b.outputFileID), "error_file_id": str(b.errorFileID),
		"cancelling_at": nullable(b.cancelling), "errors": nil, "metadata": nil,
		"request_counts": map[string]int{"total": len(b.items), "completed": completed, "failed": failed},
	}
	switch b.status {
	case "completed":
		o["completed_at"] = b.ended
	case "expired":
		o["expired_at"] = b.ended
	case "cancelled":
		o["cancelled_at"] = b.ended
	case "failed":
		o["failed_at"] = b.ended
		o["in_progress_at"] = nil
		o["errors"] = map[string]any{"object": "list", "data": b.errors}
	}
	return o
}
