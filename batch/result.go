package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
)

// Outcome is how one item of a batch ended.
type Outcome string

const (
	Succeeded Outcome = "succeeded"
	// Errored: the provider (or the local model) answered the item with an
	// error; Result.Err has its kind.
	Errored Outcome = "errored"
	// Expired: the batch's window closed before the item ran.
	Expired Outcome = "expired"
	// Canceled: the batch was canceled before the item ran.
	Canceled Outcome = "canceled"
)

// Result is one item's outcome.
type Result struct {
	CustomID string
	// Model is the `provider/model` name the item ran on.
	Model   string
	Outcome Outcome
	// Response is the answer, for Succeeded only.
	Response *llm.Response
	// Err says why the item did not succeed: the provider's error for
	// Errored (Kind tells a bad request from an overloaded server),
	// KindTimeout for Expired, KindCanceled for Canceled.
	Err *llm.Error
	// Cost is what the item cost, at batch prices for a provider batch;
	// Priced is false when the price table does not know the model.
	Cost   cost.USD
	Priced bool
}

// Record is one line of a results file (`keel batch results`, and the
// local runner's output, from which it resumes).
type Record struct {
	CustomID   string       `json:"custom_id"`
	Status     Outcome      `json:"status"`
	Model      string       `json:"model,omitempty"`
	Text       string       `json:"text,omitempty"`
	StopReason string       `json:"stop_reason,omitempty"`
	Usage      *llm.Usage   `json:"usage,omitempty"`
	CostUSD    float64      `json:"cost_usd"`
	Error      *RecordError `json:"error,omitempty"`
}

// RecordError is a Record's error.
type RecordError struct {
	Kind    llm.ErrorKind `json:"kind"`
	Status  int           `json:"status,omitempty"`
	Message string        `json:"message"`
}

// Record returns r as a results-file line. Tool calls and thinking are
// not in it: the text is.
func (r Result) Record() Record {
	rec := Record{CustomID: r.CustomID, Status: r.Outcome, Model: r.Model, CostUSD: r.Cost.Float()}
	if r.Response != nil {
		rec.Text = r.Response.Text()
		rec.StopReason = string(r.Response.StopReason)
		u := r.Response.Usage
		rec.Usage = &u
	}
	if r.Err != nil {
		rec.Error = &RecordError{Kind: r.Err.Kind, Status: r.Err.Status, Message: r.Err.Message}
	}
	return rec
}

// Result returns the Result a record stands for (its response holds the
// text alone).
func (rec Record) Result() Result {
	r := Result{CustomID: rec.CustomID, Model: rec.Model, Outcome: rec.Status, Cost: cost.Dollars(rec.CostUSD), Priced: true}
	if rec.Status == Succeeded {
		r.Response = &llm.Response{Model: rec.Model, StopReason: llm.StopReason(rec.StopReason)}
		if rec.Text != "" {
			r.Response.Content = []llm.Part{llm.Text{Text: rec.Text}}
		}
		if rec.Usage != nil {
			r.Response.Usage = *rec.Usage
		}
	}
	if rec.Error != nil {
		r.Err = &llm.Error{Kind: rec.Error.Kind, Status: rec.Error.Status, Message: rec.Error.Message}
	}
	return r
}

// WriteRecords writes results as JSONL.
func WriteRecords(w io.Writer, results []Result) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range results {
		if err := enc.Encode(r.Record()); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// readRecords reads a results file into the last record of each custom id.
// A last line cut short by a crash is left out, and its byte offset is
// returned as good, so that an appender can truncate it away; a bad line
// before the last is an error naming it.
func readRecords(path string) (recs map[string]Record, good int64, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Record{}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	recs = map[string]Record{}
	line := 0
	for len(data[good:]) > 0 {
		rest := data[good:]
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			// No newline: the write of this line never finished.
			return recs, good, nil
		}
		line++
		text := bytes.TrimSpace(rest[:end])
		if len(text) > 0 {
			var rec Record
			if err := json.Unmarshal(text, &rec); err != nil || rec.CustomID == "" {
				return nil, 0, fmt.Errorf("%s:%d: not a batch result line", path, line)
			}
			recs[rec.CustomID] = rec
		}
		good += int64(end + 1)
	}
	return recs, good, nil
}
