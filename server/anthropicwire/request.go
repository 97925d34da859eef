package anthropicwire

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/keelai/keel/llm"
)

// decodeOptions make decoding strict: unknown members, duplicate names and
// invalid UTF-8 are errors (the last two are v2's defaults).
var decodeOptions = json.RejectUnknownMembers(true)

// invalid returns the 400 invalid_request_error for a request Keel cannot
// take; path is the JSON path of the offending member ("" for the body).
func invalid(path, format string, args ...any) *llm.Error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return &llm.Error{Kind: llm.KindInvalidRequest, Status: http.StatusBadRequest, Message: msg}
}

// decodeError turns a decoding failure into the 400 the API sends: the
// member's path in the API's dotted form, then what is wrong with it.
func decodeError(err error) *llm.Error {
	var se *json.SemanticError
	if errors.As(err, &se) {
		path := dotted(se.JSONPointer)
		var ste *serverToolError
		switch {
		case errors.Is(se.Err, json.ErrUnknownName):
			return invalid(path, "Extra inputs are not permitted")
		case errors.As(se.Err, &ste):
			return invalid(path+".type", "%s", ste.Error())
		case errors.Is(se.Err, errContentShape):
			return invalid(path, "%s", errContentShape.Error())
		case se.GoType != nil && se.JSONKind != 0:
			return invalid(path, "Input should be %s, not JSON %s", goKind(se.GoType.String()), jsonKind(se.JSONKind))
		case se.Err != nil:
			return invalid(path, "%s", se.Err.Error())
		}
		return invalid(path, "invalid value")
	}
	var sye *jsontext.SyntacticError
	if errors.As(err, &sye) {
		msg := sye.Err.Error()
		if p := dotted(sye.JSONPointer); p != "" {
			return invalid("", "invalid JSON at byte %d (in %s): %s", sye.ByteOffset, p, msg)
		}
		return invalid("", "invalid JSON at byte %d: %s", sye.ByteOffset, msg)
	}
	return invalid("", "invalid JSON body: %v", err)
}

// dotted writes a JSON Pointer as the API writes paths: messages.0.content.
func dotted(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func goKind(t string) string {
	switch {
	case strings.Contains(t, "int"):
		return "a valid integer"
	case strings.Contains(t, "float"):
		return "a valid number"
	case strings.Contains(t, "bool"):
		return "a valid boolean"
	case strings.Contains(t, "string"):
		return "a valid string"
	case strings.HasPrefix(strings.TrimLeft(t, "*"), "[]"):
		return "a valid list"
	}
	return "a valid object"
}

func jsonKind(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

// decodeMessagesRequest decodes and checks a POST /v1/messages body and
// translates it into an llm.Request. It returns the model name, whether
// the client asked for a stream, and a 400 *llm.Error naming the field on
// bad input.
func decodeMessagesRequest(body []byte) (model string, stream bool, req *llm.Request, err error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w, decodeOptions); err != nil {
		return "", false, nil, decodeError(err)
	}
	req, err = w.toLLM()
	return w.Model, w.Stream, req, err
}

// decodeCountRequest decodes a POST /v1/messages/count_tokens body.
func decodeCountRequest(body []byte) (model string, req *llm.Request, err error) {
	var c wireCountRequest
	if err := json.Unmarshal(body, &c, decodeOptions); err != nil {
		return "", nil, decodeError(err)
	}
	one := 1 // max_tokens plays no part in counting input
	w := wireRequest{
		Model: c.Model, Messages: c.Messages, System: c.System, MaxTokens: &one, Tools: c.Tools,
		ToolChoice: c.ToolChoice, Thinking: c.Thinking, OutputConfig: c.OutputConfig, CacheControl: c.CacheControl,
	}
	req, err = w.toLLM()
	return c.Model, req, err
}

func (w *wireRequest) toLLM() (*llm.Request, error) {
	if w.Model == "" {
		return nil, invalid("model", "Field required")
	}
	if w.MaxTokens == nil {
		return nil, invalid("max_tokens", "Field required")
	}
	if *w.MaxTokens < 1 {
		return nil, invalid("max_tokens", "must be at least 1, got %d", *w.MaxTokens)
	}
	if len(w.Messages) == 0 {
		return nil, invalid("messages", "at least one message is required")
	}
	req := &llm.Request{
		MaxTokens:     *w.MaxTokens,
		Temperature:   w.Temperature,
		TopP:          w.TopP,
		StopSequences: w.StopSequences,
	}
	if t := w.Temperature; t != nil && (*t < 0 || *t > 2) {
		return nil, invalid("temperature", "must be between 0 and 2, got %v", *t)
	}
	if p := w.TopP; p != nil && (*p < 0 || *p > 1) {
		return nil, invalid("top_p", "must be between 0 and 1, got %v", *p)
	}
	if k := w.TopK; k != nil {
		if *k < 0 {
			return nil, invalid("top_k", "must not be negative, got %d", *k)
		}
		req.TopK = *k
	}

	if w.System != nil {
		sys, err := system(w.System)
		if err != nil {
			return nil, err
		}
		req.System = sys
	}

	req.Messages = make([]llm.Message, 0, len(w.Messages))
	for i := range w.Messages {
		m, err := message(i, &w.Messages[i])
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, m)
	}

	if len(w.Tools) > 0 {
		req.Tools = make([]llm.Tool, 0, len(w.Tools))
		for i := range w.Tools {
			t, err := tool(i, &w.Tools[i])
			if err != nil {
				return nil, err
			}
			req.Tools = append(req.Tools, t)
		}
	}

	if tc := w.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto":
		case "any":
			req.ToolChoice.Mode = llm.ToolAny
		case "none":
			req.ToolChoice.Mode = llm.ToolNone
		case "tool":
			if tc.Name == nil || *tc.Name == "" {
				return nil, invalid("tool_choice.name", "Field required")
			}
			req.ToolChoice = llm.ToolChoice{Mode: llm.ToolNamed, Name: *tc.Name}
		default:
			return nil, invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none', got %s", quote(tc.Type))
		}
		if tc.Type != "tool" && tc.Name != nil {
			return nil, invalid("tool_choice.name", "Extra inputs are not permitted")
		}
		if tc.Type == "none" && tc.DisableParallelToolUse != nil {
			return nil, invalid("tool_choice.disable_parallel_tool_use", "Extra inputs are not permitted")
		}
		if d := tc.DisableParallelToolUse; d != nil {
			req.ParallelToolCalls = new(!*d)
		}
	}

	if th := w.Thinking; th != nil {
		switch th.Type {
		case "enabled":
			if th.BudgetTokens == nil {
				return nil, invalid("thinking.enabled.budget_tokens", "Field required")
			}
			if *th.BudgetTokens < 1 {
				return nil, invalid("thinking.enabled.budget_tokens", "must be positive, got %d", *th.BudgetTokens)
			}
			req.Thinking = &llm.ThinkingConfig{BudgetTokens: *th.BudgetTokens}
		case "disabled":
			if th.BudgetTokens != nil {
				return nil, invalid("thinking.disabled.budget_tokens", "Extra inputs are not permitted")
			}
		case "adaptive":
			return nil, invalid("thinking.type", "adaptive thinking is not supported by Keel's gateway; use {\"type\":\"enabled\",\"budget_tokens\":N}")
		default:
			return nil, invalid("thinking.type", "Input should be 'enabled' or 'disabled', got %s", quote(th.Type))
		}
	}

	if oc := w.OutputConfig; oc != nil {
		if oc.Effort != nil {
			return nil, invalid("output_config.effort", "not supported by Keel's gateway")
		}
		if f := oc.Format; f != nil {
			if f.Type != "json_schema" {
				return nil, invalid("output_config.format.type", "Input should be 'json_schema', got %s", quote(f.Type))
			}
			if f.Schema.Kind() != '{' {
				return nil, invalid("output_config.format.schema", "Field required (a JSON Schema object)")
			}
			req.Output = &llm.OutputSchema{Schema: []byte(f.Schema), Strict: true}
		}
	}

	if w.Metadata != nil && w.Metadata.UserID != nil && *w.Metadata.UserID != "" {
		// Anthropic uses the id to spot abuse; Keel carries it to logs and
		// traces, which is what an operator of the gateway needs it for.
		req.Tags = map[string]string{"user_id": *w.Metadata.UserID}
	}

	if w.CacheControl != nil {
		cc, err := cache("cache_control", w.CacheControl)
		if err != nil {
			return nil, err
		}
		// Automatic caching: the breakpoint goes on the last block of the
		// request, as the API places it.
		last := &req.Messages[len(req.Messages)-1]
		if n := len(last.Parts); n > 0 && llm.CacheOf(last.Parts[n-1]) == nil {
			if p, ok := llm.WithCache(last.Parts[n-1], cc); ok {
				last.Parts[n-1] = p
			}
		}
	}
	return req, nil
}

func cache(path string, c *wireCache) (*llm.CacheControl, error) {
	if c == nil {
		return nil, nil
	}
	if c.Type != "ephemeral" {
		return nil, invalid(path+".type", "Input should be 'ephemeral', got %s", quote(c.Type))
	}
	switch c.TTL {
	case "":
		return &llm.CacheControl{}, nil
	case "5m":
		return &llm.CacheControl{TTL: llm.CacheTTL5m}, nil
	case "1h":
		return &llm.CacheControl{TTL: llm.CacheTTL1h}, nil
	}
	return nil, invalid(path+".ttl", "Input should be '5m' or '1h', got %s", quote(c.TTL))
}

func system(c *wireContent) ([]llm.Text, error) {
	if c.IsString {
		if c.Text == "" {
			return nil, nil
		}
		return []llm.Text{{Text: c.Text}}, nil
	}
	out := make([]llm.Text, 0, len(c.Blocks))
	for i := range c.Blocks {
		b := &c.Blocks[i]
		path := "system." + strconv.Itoa(i)
		if b.Type != "text" {
			return nil, invalid(path+".type", "Input should be 'text', got %s", quote(b.Type))
		}
		p, err := block(path, llm.RoleUser, b)
		if err != nil {
			return nil, err
		}
		out = append(out, p.(llm.Text))
	}
	return out, nil
}

func message(i int, m *wireMessage) (llm.Message, error) {
	path := "messages." + strconv.Itoa(i)
	var role llm.Role
	switch m.Role {
	case "user":
		role = llm.RoleUser
	case "assistant":
		role = llm.RoleAssistant
	case "":
		return llm.Message{}, invalid(path+".role", "Field required")
	default:
		return llm.Message{}, invalid(path+".role", "Input should be 'user' or 'assistant', got %s", quote(m.Role))
	}
	if m.Content == nil {
		return llm.Message{}, invalid(path+".content", "Field required")
	}
	if m.Content.IsString {
		return llm.Message{Role: role, Parts: []llm.Part{llm.Text{Text: m.Content.Text}}}, nil
	}
	parts := make([]llm.Part, 0, len(m.Content.Blocks))
	for j := range m.Content.Blocks {
		p, err := block(path+".content."+strconv.Itoa(j), role, &m.Content.Blocks[j])
		if err != nil {
			return llm.Message{}, err
		}
		parts = append(parts, p)
	}
	return llm.Message{Role: role, Parts: parts}, nil
}

// Members of wireBlock, as bits, so that each block type can say which it
// accepts.
const (
	fText = 1 << iota
	fSource
	fID
	fName
	fInput
	fToolUseID
	fContent
	fIsError
	fThinking
	fSignature
	fData
	fTitle
	fContext
	fCitations
	fCache
)

var fieldNames = [...]string{"text", "source", "id", "name", "input", "tool_use_id", "content", "is_error",
	"thinking", "signature", "data", "title", "context", "citations", "cache_control"}

func (b *wireBlock) present() uint {
	var m uint
	set := func(ok bool, bit uint) {
		if ok {
			m |= bit
		}
	}
	set(b.Text != nil, fText)
	set(b.Source != nil, fSource)
	set(b.ID != nil, fID)
	set(b.Name != nil, fName)
	set(b.Input != nil, fInput)
	set(b.ToolUseID != nil, fToolUseID)
	set(b.Content != nil, fContent)
	set(b.IsError != nil, fIsError)
	set(b.Thinking != nil, fThinking)
	set(b.Signature != nil, fSignature)
	set(b.Data != nil, fData)
	set(b.Title != nil, fTitle)
	set(b.Context != nil, fContext)
	set(b.Citations != nil, fCitations)
	set(b.CacheControl != nil, fCache)
	return m
}

// allowed returns the members of a block type, and those it requires.
func allowed(typ string) (all, required uint, ok bool) {
	switch typ {
	case "text":
		return fText | fCitations | fCache, fText, true
	case "image":
		return fSource | fCache, fSource, true
	case "document":
		return fSource | fTitle | fContext | fCitations | fCache, fSource, true
	case "tool_use":
		return fID | fName | fInput | fCache, fID | fName | fInput, true
	case "tool_result":
		return fToolUseID | fContent | fIsError | fCache, fToolUseID, true
	case "thinking":
		return fThinking | fSignature, fThinking | fSignature, true
	case "redacted_thinking":
		return fData, fData, true
	}
	return 0, 0, false
}

// block translates one content block of a message from role; path names it.
func block(path string, role llm.Role, b *wireBlock) (llm.Part, error) {
	all, required, ok := allowed(b.Type)
	if !ok {
		if b.Type == "" {
			return nil, invalid(path+".type", "Field required")
		}
		return nil, invalid(path+".type", "block type %s is not supported by Keel's gateway (text, image, document, tool_use, tool_result, thinking, redacted_thinking)", quote(b.Type))
	}
	have := b.present()
	for i, name := range fieldNames {
		bit := uint(1) << i
		if have&bit != 0 && all&bit == 0 {
			return nil, invalid(path+"."+b.Type+"."+name, "Extra inputs are not permitted")
		}
		if have&bit == 0 && required&bit != 0 {
			return nil, invalid(path+"."+b.Type+"."+name, "Field required")
		}
	}
	cc, err := cache(path+".cache_control", b.CacheControl)
	if err != nil {
		return nil, err
	}
	userOnly := func() error {
		if role != llm.RoleUser {
			return invalid(path+".type", "%s blocks are only accepted in user messages", b.Type)
		}
		return nil
	}
	assistantOnly := func() error {
		if role != llm.RoleAssistant {
			return invalid(path+".type", "%s blocks are only accepted in assistant messages", b.Type)
		}
		return nil
	}

	switch b.Type {
	case "text":
		// Citations on a text block are the model's earlier answer coming
		// back; the text is what the next turn needs.
		return llm.Text{Text: *b.Text, Cache: cc}, nil
	case "image":
		if err := userOnly(); err != nil {
			return nil, err
		}
		return image(path+".source", b.Source, cc)
	case "document":
		if err := userOnly(); err != nil {
			return nil, err
		}
		if b.Context != nil {
			return nil, invalid(path+".context", "document context is not supported by Keel's gateway; put it in a text block")
		}
		if b.Citations != nil {
			var c struct {
				Enabled bool `json:"enabled"`
			}
			if err := json.Unmarshal(b.Citations, &c, decodeOptions); err != nil {
				return nil, invalid(path+".citations", "Input should be {\"enabled\": boolean}")
			}
			if c.Enabled {
				return nil, invalid(path+".citations", "citations are not supported by Keel's gateway")
			}
		}
		d, err := document(path+".source", b.Source)
		if err != nil {
			return nil, err
		}
		if b.Title != nil {
			d.Title = *b.Title
		}
		d.Cache = cc
		return d, nil
	case "tool_use":
		if err := assistantOnly(); err != nil {
			return nil, err
		}
		if b.Input.Kind() != '{' {
			return nil, invalid(path+".input", "Input should be a valid dictionary")
		}
		return llm.ToolCall{ID: *b.ID, Name: *b.Name, Input: []byte(b.Input), Cache: cc}, nil
	case "tool_result":
		if err := userOnly(); err != nil {
			return nil, err
		}
		r := llm.ToolResult{CallID: *b.ToolUseID, IsError: b.IsError != nil && *b.IsError, Cache: cc}
		if c := b.Content; c != nil {
			if c.IsString {
				if c.Text != "" {
					r.Content = []llm.Part{llm.Text{Text: c.Text}}
				}
			} else {
				r.Content = make([]llm.Part, 0, len(c.Blocks))
				for k := range c.Blocks {
					cb := &c.Blocks[k]
					cpath := path + ".content." + strconv.Itoa(k)
					switch cb.Type {
					case "text", "image", "document":
					default:
						return nil, invalid(cpath+".type", "Input should be 'text', 'image' or 'document', got %s", quote(cb.Type))
					}
					p, err := block(cpath, llm.RoleUser, cb)
					if err != nil {
						return nil, err
					}
					r.Content = append(r.Content, p)
				}
			}
		}
		return r, nil
	case "thinking":
		if err := assistantOnly(); err != nil {
			return nil, err
		}
		return llm.Thinking{Text: *b.Thinking, Signature: *b.Signature}, nil
	default: // redacted_thinking
		if err := assistantOnly(); err != nil {
			return nil, err
		}
		return llm.Thinking{Redacted: *b.Data}, nil
	}
}

func image(path string, s *wireSource, cc *llm.CacheControl) (llm.Part, error) {
	switch s.Type {
	case "base64":
		if err := only(path, s, sMediaType|sData); err != nil {
			return nil, err
		}
		switch mt := *s.MediaType; mt {
		case "image/jpeg", "image/png", "image/gif", "image/webp":
		default:
			return nil, invalid(path+".media_type", "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp', got %s", quote(mt))
		}
		data, err := base64.StdEncoding.DecodeString(*s.Data)
		if err != nil {
			return nil, invalid(path+".data", "invalid base64 data: %v", err)
		}
		return llm.Image{MediaType: *s.MediaType, Data: data, Cache: cc}, nil
	case "url":
		if err := only(path, s, sURL); err != nil {
			return nil, err
		}
		return llm.Image{URL: *s.URL, Cache: cc}, nil
	case "file":
		return nil, invalid(path+".type", "file sources (the Files API) are not supported by Keel's gateway; send base64 or url")
	case "":
		return nil, invalid(path+".type", "Field required")
	}
	return nil, invalid(path+".type", "Input should be 'base64' or 'url', got %s", quote(s.Type))
}

func document(path string, s *wireSource) (llm.Document, error) {
	switch s.Type {
	case "base64":
		if err := only(path, s, sMediaType|sData); err != nil {
			return llm.Document{}, err
		}
		if *s.MediaType != "application/pdf" {
			return llm.Document{}, invalid(path+".media_type", "Input should be 'application/pdf', got %s", quote(*s.MediaType))
		}
		data, err := base64.StdEncoding.DecodeString(*s.Data)
		if err != nil {
			return llm.Document{}, invalid(path+".data", "invalid base64 data: %v", err)
		}
		return llm.Document{MediaType: "application/pdf", Data: data}, nil
	case "text":
		if err := only(path, s, sMediaType|sData); err != nil {
			return llm.Document{}, err
		}
		if *s.MediaType != "text/plain" {
			return llm.Document{}, invalid(path+".media_type", "Input should be 'text/plain', got %s", quote(*s.MediaType))
		}
		return llm.Document{MediaType: "text/plain", Data: []byte(*s.Data)}, nil
	case "url":
		if err := only(path, s, sURL); err != nil {
			return llm.Document{}, err
		}
		return llm.Document{MediaType: "application/pdf", URL: *s.URL}, nil
	case "file", "content":
		return llm.Document{}, invalid(path+".type", "%s sources are not supported by Keel's gateway; send base64, text or url", s.Type)
	case "":
		return llm.Document{}, invalid(path+".type", "Field required")
	}
	return llm.Document{}, invalid(path+".type", "Input should be 'base64', 'text' or 'url', got %s", quote(s.Type))
}

const (
	sMediaType = 1 << iota
	sData
	sURL
	sFileID
)

// only checks that a source has exactly the members want.
func only(path string, s *wireSource, want uint) error {
	for _, f := range [...]struct {
		name string
		bit  uint
		has  bool
	}{{"media_type", sMediaType, s.MediaType != nil}, {"data", sData, s.Data != nil}, {"url", sURL, s.URL != nil}, {"file_id", sFileID, s.FileID != nil}} {
		switch {
		case f.has && want&f.bit == 0:
			return invalid(path+"."+s.Type+"."+f.name, "Extra inputs are not permitted")
		case !f.has && want&f.bit != 0:
			return invalid(path+"."+s.Type+"."+f.name, "Field required")
		}
	}
	return nil
}

func tool(i int, t *wireTool) (llm.Tool, error) {
	path := "tools." + strconv.Itoa(i)
	if t.Name == "" {
		return llm.Tool{}, invalid(path+".name", "Field required")
	}
	if t.InputSchema == nil {
		return llm.Tool{}, invalid(path+".input_schema", "Field required")
	}
	if t.InputSchema.Kind() != '{' {
		return llm.Tool{}, invalid(path+".input_schema", "Input should be a valid dictionary")
	}
	cc, err := cache(path+".cache_control", t.CacheControl)
	if err != nil {
		return llm.Tool{}, err
	}
	out := llm.Tool{Name: t.Name, InputSchema: []byte(t.InputSchema), Cache: cc}
	if t.Description != nil {
		out.Description = *t.Description
	}
	return out, nil
}
