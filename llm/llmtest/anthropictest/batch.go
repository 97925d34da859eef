package anthropictest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/keelai/keel/llm/llmtest"
)

// Message Batches: POST /v1/messages/batches, GET /v1/messages/batches/{id},
// GET /v1/messages/batches/{id}/results (JSONL) and POST
// /v1/messages/batches/{id}/cancel.
//
// A batch starts in_progress and moves on only when the test says so:
// ProcessBatches answers pending requests, ExpireBatches ends batches with
// what is left expired, and EndBatchesAfter makes every batch end by itself
// on its nth retrieval. Each request of a batch, when processed, takes the
// next scripted reply as a Messages call would (an error Fault makes it an
// errored result of that error's type), and is recorded in Requests as a
// POST /v1/messages. Results come back in the reverse order of the requests,
// as the real API does not keep the order either: clients must match them
// by custom_id.

type batchState struct {
	id        string
	created   time.Time
	ended     time.Time
	canceling time.Time
	header    http.Header
	items     []*batchItem
	polls     int
}

type batchItem struct {
	customID string
	params   json.RawMessage
	result   json.RawMessage // nil while processing
	outcome  string          // succeeded, errored, canceled, expired
}

type wireBatch struct {
	ID                string     `json:"id"`
	Type              string     `json:"type"`
	ProcessingStatus  string     `json:"processing_status"`
	RequestCounts     wireCounts `json:"request_counts"`
	CreatedAt         string     `json:"created_at"`
	ExpiresAt         string     `json:"expires_at"`
	EndedAt           *string    `json:"ended_at"`
	ArchivedAt        *string    `json:"archived_at"`
	CancelInitiatedAt *string    `json:"cancel_initiated_at"`
	ResultsURL        *string    `json:"results_url"`
}

type wireCounts struct {
	Processing int `json:"processing"`
	Succeeded  int `json:"succeeded"`
	Errored    int `json:"errored"`
	Canceled   int `json:"canceled"`
	Expired    int `json:"expired"`
}

// batchLimit is the API's limit on requests per batch.
const batchLimit = 100_000

// EndBatchesAfter makes every batch end by itself, all its pending requests
// processed, when it is retrieved for the nth time (counting from 1). 0, the
// default, leaves batches in progress until ProcessBatches or ExpireBatches.
func (s *Server) EndBatchesAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batchPolls = n
}

// ProcessBatches processes up to n pending requests of every batch in
// progress (n < 0: all of them), in request order; a batch with none left
// ends.
func (s *Server) ProcessBatches(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.batchOrder {
		s.process(s.batches[id], n)
	}
}

// ExpireBatches ends every batch in progress; its unprocessed requests
// expire.
func (s *Server) ExpireBatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.batchOrder {
		b := s.batches[id]
		if !b.ended.IsZero() {
			continue
		}
		for _, it := range b.items {
			if it.result == nil {
				it.finish("expired", nil)
			}
		}
		b.ended = time.Now().UTC()
	}
}

func (it *batchItem) finish(outcome string, extra map[string]any) {
	it.outcome = outcome
	res := map[string]any{"type": outcome}
	for k, v := range extra {
		res[k] = v
	}
	it.result, _ = json.Marshal(res)
}

// process answers up to n pending items of b; s.mu is held.
func (s *Server) process(b *batchState, n int) {
	if !b.ended.IsZero() {
		return
	}
	for _, it := range b.items {
		if n == 0 {
			break
		}
		if it.result != nil {
			continue
		}
		n--
		s.answer(b, it)
	}
	for _, it := range b.items {
		if it.result == nil {
			return
		}
	}
	b.ended = time.Now().UTC()
}

// answer runs one item as a Messages call; s.mu is held.
func (s *Server) answer(b *batchState, it *batchItem) {
	r := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(it.params))
	r.Header = b.header.Clone()
	req, status, errType, msg := validate(r, it.params)
	if status != 0 {
		s.requests = append(s.requests, llmtest.Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: it.params})
		it.finish("errored", map[string]any{"error": errorEnvelope{Type: "error", Error: errorDetail{Type: errType, Message: msg}}})
		return
	}
	rec, reply, scripted := s.script.Record(r)
	s.requests = append(s.requests, rec)
	if f := reply.Fault; f.Status != 0 {
		env := errorEnvelope{}
		if json.Unmarshal([]byte(f.Body), &env) != nil || env.Error.Type == "" {
			t, m := errorType(f.Status)
			env = errorEnvelope{Type: "error", Error: errorDetail{Type: t, Message: m}}
		}
		it.finish("errored", map[string]any{"error": env})
		return
	}
	resp := reply.Response
	if !scripted || resp == nil {
		resp = echo(req, it.params)
	}
	id := resp.ID
	if id == "" {
		id = fmt.Sprintf("msg_emu_%06d", s.seq.Add(1))
	}
	m, err := s.render(resp, id, req.Model, it.params)
	if err != nil {
		it.finish("errored", map[string]any{"error": errorEnvelope{Type: "error", Error: errorDetail{Type: "api_error", Message: "emulator: " + err.Error()}}})
		return
	}
	it.finish("succeeded", map[string]any{"message": m})
}

func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, body []byte, requestID string) {
	s.record(r, body)
	if r.Header.Get("x-api-key") == "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required", requestID)
		return
	}
	if r.Header.Get("anthropic-version") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required", requestID)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/v1/messages/batches")
	if rest == "" && r.Method == http.MethodPost {
		s.createBatch(w, r, body, requestID)
		return
	}
	id, action, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.batches[id]
	if !ok || strings.HasPrefix(rest, "//") {
		writeError(w, http.StatusNotFound, "not_found_error", "Message Batch "+id+" not found", requestID)
		return
	}
	switch {
	case action == "" && r.Method == http.MethodGet:
		b.polls++
		if s.batchPolls > 0 && b.polls >= s.batchPolls {
			s.process(b, -1)
		}
		writeBatch(w, b)
	case action == "cancel" && r.Method == http.MethodPost:
		if b.ended.IsZero() {
			now := time.Now().UTC()
			b.canceling = now
			for _, it := range b.items {
				if it.result == nil {
					it.finish("canceled", nil)
				}
			}
			// Answered as "canceling"; the next retrieval finds it ended.
			writeBatchStatus(w, b, "canceling")
			b.ended = now
			return
		}
		writeBatch(w, b)
	case action == "results" && r.Method == http.MethodGet:
		if b.ended.IsZero() {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "Message Batch "+id+" has not yet ended: its results are not available", requestID)
			return
		}
		w.Header().Set("Content-Type", "application/x-jsonl")
		for i := len(b.items) - 1; i >= 0; i-- {
			it := b.items[i]
			line, _ := json.Marshal(struct {
				CustomID string          `json:"custom_id"`
				Result   json.RawMessage `json:"result"`
			}{it.customID, it.result})
			w.Write(append(line, '\n'))
		}
	default:
		writeError(w, http.StatusNotFound, "not_found_error", "Not found", requestID)
	}
}

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request, body []byte, requestID string) {
	var in struct {
		Requests []struct {
			CustomID string          `json:"custom_id"`
			Params   json.RawMessage `json:"params"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "The request body is not valid JSON: "+err.Error(), requestID)
		return
	}
	if len(in.Requests) == 0 || len(in.Requests) > batchLimit {
		writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("requests: want between 1 and %d requests", batchLimit), requestID)
		return
	}
	seen := map[string]bool{}
	b := &batchState{created: time.Now().UTC(), header: r.Header.Clone()}
	for i, rq := range in.Requests {
		switch {
		case rq.CustomID == "" || len(rq.CustomID) > 64:
			writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("requests.%d.custom_id: String should have between 1 and 64 characters", i), requestID)
			return
		case seen[rq.CustomID]:
			writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("requests.%d.custom_id: %q is not unique within the batch", i, rq.CustomID), requestID)
			return
		case len(rq.Params) == 0 || rq.Params[0] != '{':
			writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("requests.%d.params: Field required", i), requestID)
			return
		}
		seen[rq.CustomID] = true
		b.items = append(b.items, &batchItem{customID: rq.CustomID, params: rq.Params})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batches == nil {
		s.batches = map[string]*batchState{}
	}
	b.id = fmt.Sprintf("msgbatch_emu%06d", s.seq.Add(1))
	s.batches[b.id] = b
	s.batchOrder = append(s.batchOrder, b.id)
	writeBatch(w, b)
}

func writeBatch(w http.ResponseWriter, b *batchState) {
	status := "in_progress"
	if !b.ended.IsZero() {
		status = "ended"
	}
	writeBatchStatus(w, b, status)
}

func writeBatchStatus(w http.ResponseWriter, b *batchState, status string) {
	ts := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		s := t.Format(time.RFC3339Nano)
		return &s
	}
	wb := wireBatch{
		ID:                b.id,
		Type:              "message_batch",
		ProcessingStatus:  status,
		CreatedAt:         b.created.Format(time.RFC3339Nano),
		ExpiresAt:         b.created.Add(24 * time.Hour).Format(time.RFC3339Nano),
		CancelInitiatedAt: ts(b.canceling),
	}
	if status == "ended" {
		wb.EndedAt = ts(b.ended)
		u := "/v1/messages/batches/" + b.id + "/results"
		wb.ResultsURL = &u
	}
	for _, it := range b.items {
		switch {
		case it.result == nil:
			wb.RequestCounts.Processing++
		case it.outcome == "succeeded":
			wb.RequestCounts.Succeeded++
		case it.outcome == "errored":
			wb.RequestCounts.Errored++
		case it.outcome == "canceled":
			wb.RequestCounts.Canceled++
		case it.outcome == "expired":
			wb.RequestCounts.Expired++
		}
	}
	if status != "ended" {
		// The API tallies outcomes only once the whole batch has ended.
		wb.RequestCounts = wireCounts{Processing: len(b.items)}
	}
	out, _ := json.Marshal(wb)
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}
