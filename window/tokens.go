package window

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/gif"  // image sizes for image token counts
	_ "image/jpeg" // image sizes for image token counts
	_ "image/png"  // image sizes for image token counts
	"strings"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"

	"github.com/keelai/keel/llm"
)

// Counter counts the input tokens of a request for one model.
type Counter interface {
	CountTokens(ctx context.Context, req *llm.Request) (int, error)
}

// The OpenAI encodings Keel counts exactly.
const (
	CL100K = "cl100k_base" // gpt-4, gpt-3.5-turbo, text-embedding-3
	O200K  = "o200k_base"  // gpt-4o, gpt-4.1, gpt-5, o1, o3, o4
)

// Encoding is an exact BPE tokenizer for one OpenAI encoding. Its ranks
// are compiled into the program (tiktoken-go-loader), so counting never
// downloads anything.
type Encoding struct {
	name string
	tk   *tiktoken.Tiktoken
}

// The patterns and special tokens of each encoding, as tiktoken defines
// them. Keel builds encodings itself instead of calling
// tiktoken.GetEncoding because that reads a package-level loader which
// downloads the ranks from the internet by default; setting it
// (tiktoken.SetBpeLoader) would be a data race with any other user.
var encodingSpecs = map[string]struct {
	pattern string
	special map[string]int
}{
	CL100K: {
		pattern: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
		special: map[string]int{"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
	},
	O200K: {
		pattern: strings.Join([]string{
			`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
			`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
			`\p{N}{1,3}`,
			` ?[^\s\p{L}\p{N}]+[\r\n/]*`,
			`\s*[\r\n]+`,
			`\s+(?!\S)`,
			`\s+`,
		}, "|"),
		special: map[string]int{"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
	},
}

// encodings are built once per process: the ranks take tens of
// megabytes and a second to decode. They are read-only once built.
var encodings = map[string]func() (*Encoding, error){
	CL100K: sync.OnceValues(func() (*Encoding, error) { return build(CL100K) }),
	O200K:  sync.OnceValues(func() (*Encoding, error) { return build(O200K) }),
}

func build(name string) (*Encoding, error) {
	spec := encodingSpecs[name]
	ranks, err := tiktoken_loader.NewOfflineLoader().LoadTiktokenBpe(name + ".tiktoken")
	if err != nil {
		return nil, fmt.Errorf("window: loading %s: %w", name, err)
	}
	bpe, err := tiktoken.NewCoreBPE(ranks, spec.special, spec.pattern)
	if err != nil {
		return nil, fmt.Errorf("window: building %s: %w", name, err)
	}
	set := map[string]any{}
	for k := range spec.special {
		set[k] = true
	}
	enc := &tiktoken.Encoding{Name: name, PatStr: spec.pattern, MergeableRanks: ranks, SpecialTokens: spec.special}
	return &Encoding{name: name, tk: tiktoken.NewTiktoken(bpe, enc, set)}, nil
}

// GetEncoding returns the encoding name (CL100K or O200K).
func GetEncoding(name string) (*Encoding, error) {
	f, ok := encodings[name]
	if !ok {
		return nil, fmt.Errorf("window: unknown encoding %q (want %s or %s)", name, CL100K, O200K)
	}
	return f()
}

// Name returns the encoding's name.
func (e *Encoding) Name() string { return e.name }

// Encode returns the tokens of text, special-token strings treated as
// ordinary text.
func (e *Encoding) Encode(text string) []int { return e.tk.EncodeOrdinary(text) }

// Count returns the number of tokens of text. Special-token strings in the
// text ("<|endoftext|>") count as ordinary text, as the API treats them.
func (e *Encoding) Count(text string) int { return len(e.tk.EncodeOrdinary(text)) }

// EncodingFor returns the encoding an OpenAI model uses, by name without
// the provider ("gpt-4o-mini"); newer and unknown models use O200K.
func EncodingFor(model string) string {
	for _, p := range []string{"gpt-4-", "gpt-3.5", "text-embedding-3", "text-embedding-ada"} {
		if strings.HasPrefix(model, p) {
			return CL100K
		}
	}
	if model == "gpt-4" {
		return CL100K
	}
	return O200K
}

// Per-message framing of OpenAI chat requests, from OpenAI's cookbook
// ("How to count tokens with tiktoken"): every message costs 3 tokens
// beyond its content, and the reply is primed with 3 more.
const (
	tokensPerMessage = 3
	tokensReplyPrime = 3
)

// OpenAICounter counts requests exactly (up to OpenAI's undocumented
// framing of tools and schemas) with an OpenAI encoding.
type OpenAICounter struct {
	Encoding *Encoding
	// Cache, when set, keeps the counts of messages already seen, so a
	// conversation counted again encodes only its new messages.
	Cache *MessageCache
}

// CountTokens implements Counter.
func (c OpenAICounter) CountTokens(_ context.Context, req *llm.Request) (int, error) {
	if c.Cache == nil {
		return countRequest(c.Encoding.Count, req), nil
	}
	fixed, per := c.Cache.split(c.Encoding.name, c.Encoding.Count, req)
	return fixed + sum(per), nil
}

func (c OpenAICounter) split(req *llm.Request) (int, []int, func(int) int) {
	fixed, per := c.Cache.split(c.Encoding.name, c.Encoding.Count, req)
	return fixed, per, func(n int) int { return n }
}

func sum(ns []int) int {
	total := 0
	for _, n := range ns {
		total += n
	}
	return total
}

// splitRequest is countRequest in two parts, which add up to it: what does
// not depend on the messages, and each message's count.
func splitRequest(count func(string) int, req *llm.Request) (fixed int, perMessage []int) {
	rest := *req
	rest.Messages = nil
	fixed = countRequest(count, &rest)
	perMessage = make([]int, len(req.Messages))
	for i, m := range req.Messages {
		perMessage[i] = messageTokens(count, m)
	}
	return fixed, perMessage
}

func messageTokens(count func(string) int, m llm.Message) int {
	return tokensPerMessage + count(string(m.Role)) + countParts(count, m.Parts)
}

// countRequest adds up a request's text with count, plus framing, tool
// definitions (their JSON), images by size, and the output schema.
func countRequest(count func(string) int, req *llm.Request) int {
	n := tokensReplyPrime
	if len(req.System) > 0 {
		n += tokensPerMessage
		for _, t := range req.System {
			n += count(t.Text)
		}
	}
	for _, m := range req.Messages {
		n += messageTokens(count, m)
	}
	for _, t := range req.Tools {
		n += count(t.Name) + count(t.Description) + count(string(t.InputSchema)) + tokensPerMessage
	}
	if req.Output != nil {
		n += count(string(req.Output.Schema))
	}
	return n
}

// countParts counts parts with count. messageKey (cache.go) hashes what
// it reads: a change here needs the same change there.
func countParts(count func(string) int, parts []llm.Part) int {
	n := 0
	for _, p := range parts {
		switch p := p.(type) {
		case llm.Text:
			n += count(p.Text)
		case llm.Thinking:
			n += count(p.Text)
		case llm.ToolCall:
			n += count(p.Name) + count(string(p.Input)) + tokensPerMessage
		case llm.ToolResult:
			n += countParts(count, p.Content) + tokensPerMessage
		case llm.Image:
			n += imageTokens(p.Data)
		case llm.Document:
			if strings.HasPrefix(p.MediaType, "text/") {
				n += count(string(p.Data))
			} else {
				// A PDF is read page by page as text and images; its size
				// in bytes is the only thing known without parsing it.
				n += len(p.Data)/1000*pdfTokensPerKB + count(p.Title)
			}
		}
	}
	return n
}

// pdfTokensPerKB is a rough rate for PDFs (text and page image per page
// of about 50 KB, 1,500 to 3,000 tokens a page by Anthropic's guide).
const pdfTokensPerKB = 45

// imageTokens follows OpenAI's high-detail rule (85 tokens, plus 170 per
// 512-pixel tile after scaling to fit 2048×2048 with the short side at
// most 768), which Anthropic's (width×height/750) is close to. An image
// whose size cannot be read (a URL) counts as four tiles.
func imageTokens(data []byte) int {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 85 + 4*170
	}
	w, h := float64(cfg.Width), float64(cfg.Height)
	if s := 2048 / max(w, h); s < 1 {
		w, h = w*s, h*s
	}
	if s := 768 / min(w, h); s < 1 {
		w, h = w*s, h*s
	}
	tiles := int((w+511)/512) * int((h+511)/512)
	return 85 + 170*tiles
}
