package openaiwire

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/keelai/keel/server/backend"
)

type embedRequest struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	User           string          `json:"user"`
}

type embedResponse struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// embeddingItem holds the vector as []float32 (encoded as JSON numbers) or
// as a base64 string of little-endian float32s, as OpenAI sends it.
type embeddingItem struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// decodeEmbedRequest decodes and validates a POST /v1/embeddings body.
func decodeEmbedRequest(body []byte) (*embedRequest, []string, error) {
	var er embedRequest
	if err := strictUnmarshal(body, &er, ""); err != nil {
		return nil, nil, err
	}
	if er.Model == "" {
		return nil, nil, missing("model")
	}
	switch er.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, nil, invalidParam("encoding_format", fmt.Sprintf("Invalid value for 'encoding_format': %q. Supported values are: 'float' and 'base64'.", er.EncodingFormat))
	}
	if er.Dimensions != nil && *er.Dimensions < 1 {
		return nil, nil, invalidParam("dimensions", fmt.Sprintf("Invalid 'dimensions': expected a value >= 1, but got %d instead.", *er.Dimensions))
	}
	var inputs []string
	switch firstByte(er.Input) {
	case 0, 'n':
		return nil, nil, missing("input")
	case '"':
		var s string
		if err := json.Unmarshal(er.Input, &s); err != nil {
			return nil, nil, typeError("input", "a string or an array of strings", er.Input)
		}
		inputs = []string{s}
	case '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(er.Input, &raws); err != nil {
			return nil, nil, typeError("input", "a string or an array of strings", er.Input)
		}
		inputs = make([]string, len(raws))
		for i, raw := range raws {
			if c := firstByte(raw); c != '"' {
				if c == '[' || (c >= '0' && c <= '9') || c == '-' {
					return nil, nil, invalidParam("input", "Token arrays are not supported by this server; send the input as strings.")
				}
				return nil, nil, typeError(fmt.Sprintf("input[%d]", i), "a string", raw)
			}
			if err := json.Unmarshal(raw, &inputs[i]); err != nil {
				return nil, nil, typeError(fmt.Sprintf("input[%d]", i), "a string", raw)
			}
		}
	default:
		return nil, nil, typeError("input", "a string or an array of strings", er.Input)
	}
	if len(inputs) == 0 {
		return nil, nil, invalidParam("input", "Invalid 'input': the array must not be empty.")
	}
	for i, s := range inputs {
		if s == "" {
			return nil, nil, invalidParam(fmt.Sprintf("input[%d]", i), fmt.Sprintf("Invalid 'input[%d]': the string must not be empty.", i))
		}
	}
	return &er, inputs, nil
}

func (h *handler) embeddings(w http.ResponseWriter, r *http.Request) {
	buf, err := h.readBody(w, r)
	if err != nil {
		WriteError(w, err)
		return
	}
	er, inputs, err := decodeEmbedRequest(buf.Bytes())
	h.release(buf)
	if err != nil {
		WriteError(w, err)
		return
	}
	ctx := r.Context()
	vectors, tokens, err := h.emb.Embed(ctx, er.Model, inputs)
	if err != nil {
		if errors.Is(err, backend.ErrUnknownModel) {
			err = modelNotFound(er.Model)
		}
		if !isCanceled(ctx, err) {
			WriteError(w, err)
		}
		return
	}
	if len(vectors) != len(inputs) {
		WriteError(w, fmt.Errorf("embedding model returned %d vectors for %d inputs", len(vectors), len(inputs)))
		return
	}
	if d := er.Dimensions; d != nil && len(vectors) > 0 && len(vectors[0]) != *d {
		// Shortening a vector is only sound for models trained for it, and
		// the backend does not say which are: refuse rather than guess.
		WriteError(w, invalidParam("dimensions", fmt.Sprintf("Invalid 'dimensions': model %s returns %d-dimensional vectors and cannot return %d.", er.Model, len(vectors[0]), *d)))
		return
	}
	resp := embedResponse{Object: "list", Model: er.Model, Data: make([]embeddingItem, len(vectors))}
	for i, v := range vectors {
		item := embeddingItem{Object: "embedding", Index: i, Embedding: v}
		if er.EncodingFormat == "base64" {
			item.Embedding = encodeBase64Floats(v)
		}
		resp.Data[i] = item
	}
	resp.Usage.PromptTokens, resp.Usage.TotalTokens = tokens, tokens
	writeJSON(w, &resp)
}

func encodeBase64Floats(v []float32) string {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(raw)
}
