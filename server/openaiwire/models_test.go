package openaiwire_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/server/openaiwire"
)

func TestModelsList(t *testing.T) {
	client := serve(t, map[string]llm.Model{
		"fast":                      llmtest.NewModel("anthropic/claude-haiku-4-5"),
		"anthropic/claude-opus-4-1": llmtest.NewModel("anthropic/claude-opus-4-1"),
	}, nil, openaiwire.Options{})
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range page.Data {
		if m.Object != "model" || m.OwnedBy != "anthropic" || m.Created != 1700000000 {
			t.Errorf("model = %s", m.RawJSON())
		}
		got = append(got, m.ID)
	}
	if diff := cmp.Diff([]string{"anthropic/claude-opus-4-1", "fast"}, got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}

	// A model id with a slash is one path segment to the client.
	m, err := client.Models.Get(context.Background(), "anthropic/claude-opus-4-1")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "anthropic/claude-opus-4-1" {
		t.Errorf("get = %s", m.RawJSON())
	}
}

func TestEmbeddings(t *testing.T) {
	emb := &embedder{dims: 4, models: map[string]bool{"embed-small": true}}
	client := serve(t, nil, emb, openaiwire.Options{})
	ctx := context.Background()

	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		t.Run(string(format), func(t *testing.T) {
			resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model:          "embed-small",
				Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first", "second"}},
				EncodingFormat: format,
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Object != "list" || resp.Model != "embed-small" || len(resp.Data) != 2 {
				t.Fatalf("response = %s", resp.RawJSON())
			}
			want := []float64{2, 2.125, 2.25, 2.375}
			if d := resp.Data[1]; d.Index != 1 || d.Object != "embedding" || !cmp.Equal(d.Embedding, want) {
				t.Errorf("data[1] = %v, want %v", d.Embedding, want)
			}
			if resp.Usage.PromptTokens != 6 || resp.Usage.TotalTokens != 6 {
				t.Errorf("usage = %s", resp.Usage.RawJSON())
			}
		})
	}

	t.Run("single string", func(t *testing.T) {
		resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "embed-small",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("only")},
		})
		if err != nil || len(resp.Data) != 1 {
			t.Fatalf("resp %v, err %v", resp, err)
		}
	})

	for _, tc := range []struct {
		name   string
		params openai.EmbeddingNewParams
		opts   []option.RequestOption
		status int
		param  string
	}{
		{"token arrays", openai.EmbeddingNewParams{Model: "embed-small", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{{1, 2}}}}, nil, 400, "input"},
		{"unknown model", openai.EmbeddingNewParams{Model: "nope", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}}, nil, 404, ""},
		{"dimensions", openai.EmbeddingNewParams{Model: "embed-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}, Dimensions: openai.Int(2)}, nil, 400, "dimensions"},
		{"unknown field", openai.EmbeddingNewParams{Model: "embed-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}}, []option.RequestOption{option.WithJSONSet("truncate", true)}, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.Embeddings.New(ctx, tc.params, tc.opts...)
			e := apiError(t, err)
			if e.StatusCode != tc.status || e.Param != tc.param {
				t.Errorf("error = %d param %q: %s", e.StatusCode, e.Param, e.Message)
			}
		})
	}

	t.Run("matching dimensions", func(t *testing.T) {
		_, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "embed-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}, Dimensions: openai.Int(4)})
		if err != nil {
			t.Fatal(err)
		}
	})
}
