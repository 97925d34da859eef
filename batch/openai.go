package batch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"

	"github.com/openai/openai-go/v3"

	"github.com/keelai/keel/llm"
	kopenai "github.com/keelai/keel/provider/openai"
)

// openaiBackend drives OpenAI's Batch API through openai-go: the requests
// go up as a JSONL file (purpose "batch"), the answers come back as an
// output file and an error file.
type openaiBackend struct {
	open func(string) (llm.Model, error)
}

const chatEndpoint = "/v1/chat/completions"

// inputLine is one line of the Batch API's input file.
type openaiLine struct {
	CustomID string          `json:"custom_id"`
	Method   string          `json:"method"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
}

// outputLine is one line of an output or error file.
type openaiOutputLine struct {
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		RequestID  string          `json:"request_id"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	Error json.RawMessage `json:"error"`
}

func (b openaiBackend) model(name string) (*kopenai.Model, error) {
	m, err := b.open(name)
	if err != nil {
		return nil, err
	}
	om, ok := m.(*kopenai.Model)
	if !ok {
		return nil, fmt.Errorf("%s is not an OpenAI model", name)
	}
	return om, nil
}

func (b openaiBackend) submit(ctx context.Context, items []prepared) (id, fileID, hash string, err error) {
	om := items[0].model.(*kopenai.Model)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, p := range items {
		body, err := p.model.(*kopenai.Model).BatchBody(p.Request)
		if err != nil {
			return "", "", "", fmt.Errorf("item %s: %w", p.CustomID, err)
		}
		if err := enc.Encode(openaiLine{CustomID: p.CustomID, Method: http.MethodPost, URL: chatEndpoint, Body: body}); err != nil {
			return "", "", "", err
		}
	}
	sum := sha256.Sum256(buf.Bytes())
	files, batches, err := om.BatchServices()
	if err != nil {
		return "", "", "", err
	}
	f, err := files.New(ctx, openai.FileNewParams{
		File:    openai.File(bytes.NewReader(buf.Bytes()), "keel-batch.jsonl", "application/jsonl"),
		Purpose: openai.FilePurposeBatch,
	})
	if err != nil {
		return "", "", "", om.BatchCallError(ctx, err)
	}
	bt, err := batches.New(ctx, openai.BatchNewParams{
		InputFileID:      f.ID,
		Endpoint:         openai.BatchNewParamsEndpointV1ChatCompletions,
		CompletionWindow: openai.BatchNewParamsCompletionWindow24h,
	})
	if err != nil {
		return "", "", "", om.BatchCallError(ctx, err)
	}
	return bt.ID, f.ID, hex.EncodeToString(sum[:]), nil
}

func (b openaiBackend) get(ctx context.Context, job *Job) (*kopenai.Model, openai.FileService, *openai.Batch, error) {
	om, err := b.model(job.Model)
	if err != nil {
		return nil, openai.FileService{}, nil, err
	}
	files, batches, err := om.BatchServices()
	if err != nil {
		return nil, files, nil, err
	}
	bt, err := batches.Get(ctx, job.ID)
	if err != nil {
		return nil, files, nil, om.BatchCallError(ctx, err)
	}
	return om, files, bt, nil
}

func (b openaiBackend) status(ctx context.Context, job *Job) (Status, error) {
	_, _, bt, err := b.get(ctx, job)
	if err != nil {
		return Status{}, err
	}
	return openaiStatus(bt), nil
}

func openaiStatus(bt *openai.Batch) Status {
	rc := bt.RequestCounts
	st := Status{
		ProviderStatus: string(bt.Status),
		Counts:         Counts{Total: int(rc.Total), Succeeded: int(rc.Completed), Errored: int(rc.Failed)},
	}
	switch bt.Status {
	case openai.BatchStatusCompleted, openai.BatchStatusExpired, openai.BatchStatusCancelled:
		st.State = Ended
	case openai.BatchStatusFailed:
		st.State = Failed
		for _, e := range bt.Errors.Data {
			msg := e.Code + ": " + e.Message
			if e.Line > 0 {
				msg = fmt.Sprintf("input line %d: %s", e.Line, msg)
			}
			st.Errors = append(st.Errors, msg)
		}
	case openai.BatchStatusCancelling:
		st.State = Canceling
	default:
		st.State = InProgress
	}
	if st.State != Ended {
		st.Counts.Processing = max(st.Counts.Total-st.Counts.Succeeded-st.Counts.Errored, 0)
	}
	return st
}

func (b openaiBackend) results(ctx context.Context, job *Job) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		om, files, bt, err := b.get(ctx, job)
		if err != nil {
			yield(Result{}, err)
			return
		}
		st := openaiStatus(bt)
		if st.State == Failed {
			yield(Result{}, fmt.Errorf("%s failed validation: %v", job.ID, st.Errors))
			return
		}
		if st.State != Ended {
			yield(Result{}, fmt.Errorf("%s is %s: %w", job.ID, bt.Status, ErrNotEnded))
			return
		}
		for _, fileID := range []string{bt.OutputFileID, bt.ErrorFileID} {
			if fileID == "" {
				continue
			}
			for r, err := range b.file(ctx, om, files, fileID, job) {
				if !yield(r, err) || err != nil {
					return
				}
			}
		}
	}
}

// file reads one output or error file.
func (b openaiBackend) file(ctx context.Context, om *kopenai.Model, files openai.FileService, fileID string, job *Job) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		res, err := files.Content(ctx, fileID)
		if err != nil {
			yield(Result{}, om.BatchCallError(ctx, err))
			return
		}
		defer res.Body.Close()
		sc := bufio.NewScanner(io.LimitReader(res.Body, 1<<36))
		sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
		line := 0
		for sc.Scan() {
			line++
			text := bytes.TrimSpace(sc.Bytes())
			if len(text) == 0 {
				continue
			}
			var ol openaiOutputLine
			if err := json.Unmarshal(text, &ol); err != nil || ol.CustomID == "" {
				yield(Result{}, &llm.Error{Kind: llm.KindServer, Provider: job.Provider, Message: fmt.Sprintf("batch file %s line %d: not a result line", fileID, line)})
				return
			}
			if !yield(openaiResult(om, job, ol), nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(Result{}, om.BatchCallError(ctx, err))
		}
	}
}

// openaiResult maps one line; an OpenAI batch runs one model, om.
func openaiResult(om *kopenai.Model, job *Job, ol openaiOutputLine) Result {
	r := Result{CustomID: ol.CustomID}
	if ol.Response != nil && ol.Response.StatusCode == http.StatusOK {
		resp, err := om.BatchResponse(ol.Response.Body)
		if err != nil {
			r.Outcome, r.Err = Errored, asLLMError(err, job.Provider)
			return r
		}
		r.Outcome, r.Response = Succeeded, resp
		return r
	}
	if ol.Response != nil {
		r.Outcome = Errored
		r.Err = om.BatchError(ol.Response.StatusCode, ol.Response.Body)
		r.Err.RequestID = ol.Response.RequestID
		return r
	}
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(ol.Error, &e)
	switch e.Code {
	case "batch_expired":
		r.Outcome = Expired
		r.Err = &llm.Error{Kind: llm.KindTimeout, Provider: job.Provider, Message: "the batch expired before this request ran"}
	case "batch_cancelled":
		r.Outcome = Canceled
		r.Err = &llm.Error{Kind: llm.KindCanceled, Provider: job.Provider, Message: "the batch was canceled before this request ran"}
	default:
		r.Outcome = Errored
		r.Err = om.BatchError(0, ol.Error)
	}
	return r
}

// asLLMError returns the *llm.Error in err's chain (middleware may wrap
// it), or one of kind KindOf(err), KindServer when that says nothing.
func asLLMError(err error, provider string) *llm.Error {
	if le, ok := errors.AsType[*llm.Error](err); ok {
		return le
	}
	kind := llm.KindOf(err)
	if kind == "" {
		kind = llm.KindServer
	}
	return &llm.Error{Kind: kind, Provider: provider, Message: llm.Redact(err.Error()), Err: err}
}

func (b openaiBackend) cancel(ctx context.Context, job *Job) error {
	om, err := b.model(job.Model)
	if err != nil {
		return err
	}
	_, batches, err := om.BatchServices()
	if err != nil {
		return err
	}
	if _, err := batches.Cancel(ctx, job.ID); err != nil {
		return om.BatchCallError(ctx, err)
	}
	return nil
}
