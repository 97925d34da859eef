package batch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider/anthropic"
)

// anthropicBackend drives Anthropic's Message Batches through
// anthropic-sdk-go, translating with the adapter's own code.
type anthropicBackend struct {
	open func(string) (llm.Model, error)
}

// model opens name as an Anthropic model.
func (b anthropicBackend) model(name string) (*anthropic.Model, error) {
	m, err := b.open(name)
	if err != nil {
		return nil, err
	}
	am, ok := m.(*anthropic.Model)
	if !ok {
		return nil, fmt.Errorf("%s is not an Anthropic model", name)
	}
	return am, nil
}

func (b anthropicBackend) submit(ctx context.Context, items []prepared) (id, fileID, hash string, err error) {
	var params sdk.MessageBatchNewParams
	version := ""
	for _, p := range items {
		am := p.model.(*anthropic.Model)
		r, v, err := am.BatchRequest(p.CustomID, p.Request)
		if err != nil {
			return "", "", "", fmt.Errorf("item %s: %w", p.CustomID, err)
		}
		// One version for the whole batch: the older one, if any item
		// needs it, takes every request Keel sends.
		version = max(version, v)
		params.Requests = append(params.Requests, r)
	}
	body, err := json.Marshal(params)
	if err != nil {
		return "", "", "", err
	}
	sum := sha256.Sum256(body)
	svc, err := items[0].model.(*anthropic.Model).Batches()
	if err != nil {
		return "", "", "", err
	}
	var opts []option.RequestOption
	if version != "" {
		opts = append(opts, option.WithHeader("anthropic-version", version))
	}
	mb, err := svc.New(ctx, params, opts...)
	if err != nil {
		return "", "", "", items[0].model.(*anthropic.Model).BatchCallError(ctx, err)
	}
	return mb.ID, "", hex.EncodeToString(sum[:]), nil
}

func (b anthropicBackend) service(job *Job) (*anthropic.Model, *sdk.MessageBatchService, error) {
	am, err := b.model(job.Model)
	if err != nil {
		return nil, nil, err
	}
	svc, err := am.Batches()
	return am, svc, err
}

func (b anthropicBackend) status(ctx context.Context, job *Job) (Status, error) {
	am, svc, err := b.service(job)
	if err != nil {
		return Status{}, err
	}
	mb, err := svc.Get(ctx, job.ID, sdk.MessageBatchGetParams{})
	if err != nil {
		return Status{}, am.BatchCallError(ctx, err)
	}
	return anthropicStatus(mb), nil
}

func anthropicStatus(mb *sdk.MessageBatch) Status {
	rc := mb.RequestCounts
	st := Status{
		ProviderStatus: string(mb.ProcessingStatus),
		Counts: Counts{
			Processing: int(rc.Processing), Succeeded: int(rc.Succeeded), Errored: int(rc.Errored),
			Expired: int(rc.Expired), Canceled: int(rc.Canceled),
		},
	}
	st.Counts.Total = st.Counts.Processing + st.Counts.Succeeded + st.Counts.Errored + st.Counts.Expired + st.Counts.Canceled
	switch mb.ProcessingStatus {
	case sdk.MessageBatchProcessingStatusEnded:
		st.State = Ended
	case sdk.MessageBatchProcessingStatusCanceling:
		st.State = Canceling
	default:
		st.State = InProgress
	}
	return st
}

func (b anthropicBackend) results(ctx context.Context, job *Job) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		am, svc, err := b.service(job)
		if err != nil {
			yield(Result{}, err)
			return
		}
		// The results endpoint answers only once the batch has ended; ask
		// first so that a running batch is ErrNotEnded, not an API error.
		mb, err := svc.Get(ctx, job.ID, sdk.MessageBatchGetParams{})
		if err != nil {
			yield(Result{}, am.BatchCallError(ctx, err))
			return
		}
		if mb.ProcessingStatus != sdk.MessageBatchProcessingStatusEnded {
			yield(Result{}, fmt.Errorf("%s is %s: %w", job.ID, mb.ProcessingStatus, ErrNotEnded))
			return
		}
		models := map[string]*anthropic.Model{job.Model: am}
		modelOf := map[string]string{}
		for i, it := range job.Items {
			modelOf[it.CustomID] = job.ModelOf(i)
		}
		stream := svc.ResultsStreaming(ctx, job.ID, sdk.MessageBatchResultsParams{})
		defer stream.Close()
		for stream.Next() {
			line := stream.Current()
			r := Result{CustomID: line.CustomID}
			name, known := modelOf[line.CustomID]
			if !known {
				continue // not one of ours: the record is the list of what was sent
			}
			im, ok := models[name]
			if !ok {
				if im, err = b.model(name); err != nil {
					yield(Result{}, err)
					return
				}
				models[name] = im
			}
			switch line.Result.Type {
			case "succeeded":
				r.Outcome = Succeeded
				r.Response = im.BatchResponse(&line.Result.Message)
			case "errored":
				r.Outcome = Errored
				r.Err = im.BatchError(line.Result.Error.Error)
			case "expired":
				r.Outcome = Expired
				r.Err = &llm.Error{Kind: llm.KindTimeout, Provider: job.Provider, Message: "the batch expired before this request ran"}
			case "canceled":
				r.Outcome = Canceled
				r.Err = &llm.Error{Kind: llm.KindCanceled, Provider: job.Provider, Message: "the batch was canceled before this request ran"}
			default:
				r.Outcome = Errored
				r.Err = &llm.Error{Kind: llm.KindServer, Provider: job.Provider, Message: fmt.Sprintf("unknown result type %q", line.Result.Type)}
			}
			if !yield(r, nil) {
				return
			}
		}
		if err := stream.Err(); err != nil {
			yield(Result{}, am.BatchCallError(ctx, err))
		}
	}
}

func (b anthropicBackend) cancel(ctx context.Context, job *Job) error {
	am, svc, err := b.service(job)
	if err != nil {
		return err
	}
	if _, err := svc.Cancel(ctx, job.ID, sdk.MessageBatchCancelParams{}); err != nil {
		return am.BatchCallError(ctx, err)
	}
	return nil
}
