package openaiwire_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/server/openaiwire"
)

// models is a backend.Models over a fixed set of models.
type models struct {
	mu sync.Mutex
	m  map[string]llm.Model
}

func newModels(ms map[string]llm.Model) *models { return &models{m: ms} }

func (s *models) Open(_ context.Context, name string) (llm.Model, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.m[name]
	if !ok {
		return nil, errors.Join(backend.ErrUnknownModel, errors.New(name))
	}
	return m, nil
}

func (s *models) List(context.Context) []backend.ModelInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []backend.ModelInfo
	for id, m := range s.m {
		p, _, _ := llm.SplitName(m.Name())
		out = append(out, backend.ModelInfo{ID: id, Provider: p, Target: m.Name(), Created: time.Unix(1700000000, 0)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// embedder is a backend.Embeddings returning fixed vectors.
type embedder struct {
	dims   int
	got    []string
	models map[string]bool
}

func (e *embedder) Embed(_ context.Context, model string, inputs []string) ([][]float32, int, error) {
	if !e.models[model] {
		return nil, 0, backend.ErrUnknownModel
	}
	e.got = append(e.got, inputs...)
	out := make([][]float32, len(inputs))
	for i := range inputs {
		v := make([]float32, e.dims)
		for j := range v {
			v[j] = float32(i+1) + float32(j)/8
		}
		out[i] = v
	}
	return out, 3 * len(inputs), nil
}

// serve starts the handler in front of ms and returns an openai-go client
// pointed at it, with the SDK's retries off so every failure is seen.
func serve(t testing.TB, ms map[string]llm.Model, emb backend.Embeddings, o openaiwire.Options) openai.Client {
	t.Helper()
	srv := httptest.NewServer(openaiwire.New(newModels(ms), emb, o))
	t.Cleanup(srv.Close)
	return openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1/"),
		option.WithAPIKey("sk-test-key"),
		option.WithMaxRetries(0),
	)
}

// apiError returns err as the SDK's *openai.Error, failing the test if it
// is not one.
func apiError(t *testing.T, err error) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *openai.Error", err, err)
	}
	return apiErr
}

// withBody replaces the SDK's body with raw JSON, for wire fields the SDK
// has no parameter for.
func withBody(raw string) option.RequestOption {
	return option.WithRequestBody("application/json", []byte(raw))
}
