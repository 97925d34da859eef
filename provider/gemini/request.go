package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
)

// synthPrefix starts the tool-call ids the adapter makes up when Gemini
// sends a functionCall without an id. Such ids are Keel's, not Gemini's, so
// they are not sent back upstream.
const synthPrefix = "gemini_call_"

// translate turns a Keel request into genai contents and config, checking
// everything Gemini cannot take. It never modifies req.
func translate(provider string, req *llm.Request) ([]*genai.Content, *genai.GenerateContentConfig, error) {
	if req == nil {
		return nil, nil, invalidRequest(provider, "request is nil")
	}
	if len(req.Messages) == 0 {
		return nil, nil, invalidRequest(provider, "messages: at least one message is required")
	}
	contents := make([]*genai.Content, 0, len(req.Messages))
	for i := range req.Messages {
		c, err := translateMessage(req.Messages, i)
		if err != nil {
			return nil, nil, invalidRequest(provider, err.Error())
		}
		contents = append(contents, c)
	}
	cfg, err := translateConfig(req)
	if err != nil {
		return nil, nil, invalidRequest(provider, err.Error())
	}
	return contents, cfg, nil
}

func translateMessage(msgs []llm.Message, i int) (*genai.Content, error) {
	msg := msgs[i]
	c := &genai.Content{}
	switch msg.Role {
	case llm.RoleUser:
		c.Role = genai.RoleUser
	case llm.RoleAssistant:
		c.Role = genai.RoleModel
	default:
		return nil, fmt.Errorf("messages[%d]: unknown role %q (want user or assistant)", i, msg.Role)
	}
	for j, part := range msg.Parts {
		where := fmt.Sprintf("messages[%d].parts[%d]", i, j)
		if err := checkCache(llm.CacheOf(part)); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		switch p := part.(type) {
		case llm.Text:
			// Gemini rejects a part with no data; an empty text adds nothing.
			if p.Text != "" {
				c.Parts = append(c.Parts, &genai.Part{Text: p.Text})
			}
		case llm.Image:
			gp, err := mediaPart(p.MediaType, p.Data, p.URL, "image")
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			c.Parts = append(c.Parts, gp)
		case llm.Document:
			gp, err := mediaPart(p.MediaType, p.Data, p.URL, "document")
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			c.Parts = append(c.Parts, gp)
		case llm.ToolCall:
			if msg.Role != llm.RoleAssistant {
				return nil, fmt.Errorf("%s: tool call in a message with role %s (tool calls belong to assistant messages)", where, msg.Role)
			}
			gp, err := functionCallPart(p)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			c.Parts = append(c.Parts, gp)
		case llm.ToolResult:
			if msg.Role != llm.RoleUser {
				return nil, fmt.Errorf("%s: tool result in a message with role %s (tool results belong to user messages)", where, msg.Role)
			}
			gp, err := functionResponsePart(msgs, i, p)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			c.Parts = append(c.Parts, gp)
		case llm.Thinking:
			if err := appendThinking(c, p); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		default:
			return nil, fmt.Errorf("%s: part type %T is not supported by Gemini", where, part)
		}
	}
	if len(c.Parts) == 0 {
		return nil, fmt.Errorf("messages[%d]: message has no content Gemini can take", i)
	}
	return c, nil
}

// checkCache validates a cache breakpoint. Gemini has no inline cache
// markers (its caching is implicit, or explicit through cachedContents), so
// valid breakpoints are ignored; invalid ones are still rejected so that a
// request means the same whichever provider receives it.
func checkCache(cc *llm.CacheControl) error {
	if cc == nil {
		return nil
	}
	switch cc.TTL {
	case "", llm.CacheTTL5m, llm.CacheTTL1h:
		return nil
	}
	return fmt.Errorf("cache TTL %q is not supported (want %q or %q)", cc.TTL, llm.CacheTTL5m, llm.CacheTTL1h)
}

func mediaPart(mediaType string, data []byte, uri, what string) (*genai.Part, error) {
	switch {
	case len(data) > 0 && uri != "":
		return nil, fmt.Errorf("%s has both data and a URL; give one", what)
	case len(data) > 0:
		if mediaType == "" {
			return nil, fmt.Errorf("inline %s needs a media type", what)
		}
		return &genai.Part{InlineData: &genai.Blob{MIMEType: mediaType, Data: data}}, nil
	case uri != "":
		return &genai.Part{FileData: &genai.FileData{FileURI: uri, MIMEType: mediaType}}, nil
	}
	return nil, fmt.Errorf("%s has neither data nor a URL", what)
}

func functionCallPart(p llm.ToolCall) (*genai.Part, error) {
	if p.Name == "" {
		return nil, fmt.Errorf("tool call %q has no name", p.ID)
	}
	args, err := jsonObject(p.Input)
	if err != nil {
		return nil, fmt.Errorf("tool call %q input: %w", p.Name, err)
	}
	sig, err := decodeSignature(p.Signature)
	if err != nil {
		return nil, fmt.Errorf("tool call %q: %w", p.Name, err)
	}
	return &genai.Part{
		FunctionCall:     &genai.FunctionCall{ID: upstreamID(p.ID), Name: p.Name, Args: args},
		ThoughtSignature: sig,
	}, nil
}

func functionResponsePart(msgs []llm.Message, i int, p llm.ToolResult) (*genai.Part, error) {
	name := p.Name
	if name == "" {
		name = findCallName(msgs[:i], p.CallID)
	}
	if name == "" {
		return nil, fmt.Errorf("tool result for call %q: no Name, and no tool call with that id earlier in the conversation", p.CallID)
	}
	var text strings.Builder
	var media []*genai.FunctionResponsePart
	for k, part := range p.Content {
		switch c := part.(type) {
		case llm.Text:
			text.WriteString(c.Text)
		case llm.Image:
			fp, err := functionResponseMedia(c.MediaType, c.Data, c.URL, "image")
			if err != nil {
				return nil, fmt.Errorf("tool result content[%d]: %w", k, err)
			}
			media = append(media, fp)
		case llm.Document:
			fp, err := functionResponseMedia(c.MediaType, c.Data, c.URL, "document")
			if err != nil {
				return nil, fmt.Errorf("tool result content[%d]: %w", k, err)
			}
			media = append(media, fp)
		default:
			return nil, fmt.Errorf("tool result content[%d]: part type %T is not supported in a tool result", k, part)
		}
	}
	key := "output"
	if p.IsError {
		key = "error"
	}
	return &genai.Part{FunctionResponse: &genai.FunctionResponse{
		ID:       upstreamID(p.CallID),
		Name:     name,
		Response: map[string]any{key: text.String()},
		Parts:    media,
	}}, nil
}

func functionResponseMedia(mediaType string, data []byte, uri, what string) (*genai.FunctionResponsePart, error) {
	gp, err := mediaPart(mediaType, data, uri, what)
	if err != nil {
		return nil, err
	}
	if gp.InlineData != nil {
		return &genai.FunctionResponsePart{InlineData: &genai.FunctionResponseBlob{MIMEType: mediaType, Data: data}}, nil
	}
	return &genai.FunctionResponsePart{FileData: &genai.FunctionResponseFileData{FileURI: uri, MIMEType: mediaType}}, nil
}

// findCallName returns the name of the latest tool call with id in msgs.
func findCallName(msgs []llm.Message, id string) string {
	if id == "" {
		return ""
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, part := range msgs[i].Parts {
			if c, ok := part.(llm.ToolCall); ok && c.ID == id {
				return c.Name
			}
		}
	}
	return ""
}

// appendThinking adds a thinking part. A thinking part with a signature but
// no text is how the adapter represents a thought signature Gemini attached
// to a text part (see decoder): it goes back on the part before it.
func appendThinking(c *genai.Content, p llm.Thinking) error {
	if p.Redacted != "" && p.Text == "" {
		// Redacted thinking is another provider's encrypted reasoning;
		// Gemini cannot read it, and the model's own output never has it.
		return nil
	}
	sig, err := decodeSignature(p.Signature)
	if err != nil {
		return fmt.Errorf("thinking: %w", err)
	}
	if p.Text == "" {
		// Gemini validates signatures on function calls, not on text; one
		// with no part to ride on (a Part needs data) is left out.
		if n := len(c.Parts); n > 0 && sig != nil && c.Parts[n-1].ThoughtSignature == nil {
			c.Parts[n-1].ThoughtSignature = sig
		}
		return nil
	}
	c.Parts = append(c.Parts, &genai.Part{Text: p.Text, Thought: true, ThoughtSignature: sig})
	return nil
}

// decodeSignature decodes a thought signature: Gemini sends it base64
// encoded, and the adapter keeps it in that form.
func decodeSignature(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("signature is not a Gemini thought signature (base64): %w", err)
	}
	return b, nil
}

func encodeSignature(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// upstreamID returns the id to send to Gemini for a Keel tool-call id: none
// for ids the adapter made up.
func upstreamID(id string) string {
	if strings.HasPrefix(id, synthPrefix) {
		return ""
	}
	return id
}

// jsonObject decodes a tool call's input, which must be a JSON object (or
// empty, meaning no arguments).
func jsonObject(raw json.RawMessage) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %s", jsonKind(v))
	}
	return obj, nil
}

// schemaValue checks that raw is a JSON object and returns it compacted.
// genai marshals its request and ignores the error, so invalid JSON must
// not reach it.
func schemaValue(raw json.RawMessage) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("want a JSON Schema object, got %s", jsonKind(v))
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

func translateConfig(req *llm.Request) (*genai.GenerateContentConfig, error) {
	cfg := &genai.GenerateContentConfig{
		// Automatic continuation re-sends the request on its own (and
		// reconnects dropped streams); retrying belongs to Keel's middleware.
		AutomaticContinuation: new(false),
		StopSequences:         req.StopSequences,
	}
	if len(req.System) > 0 {
		sys := &genai.Content{Role: genai.RoleUser}
		for i, t := range req.System {
			if err := checkCache(t.Cache); err != nil {
				return nil, fmt.Errorf("system[%d]: %w", i, err)
			}
			if t.Text != "" {
				sys.Parts = append(sys.Parts, &genai.Part{Text: t.Text})
			}
		}
		if len(sys.Parts) > 0 {
			cfg.SystemInstruction = sys
		}
	}
	switch {
	case req.MaxTokens < 0:
		return nil, fmt.Errorf("max tokens: %d is negative", req.MaxTokens)
	case req.MaxTokens > math.MaxInt32:
		return nil, fmt.Errorf("max tokens: %d is too large", req.MaxTokens)
	case req.MaxTokens > 0:
		cfg.MaxOutputTokens = int32(req.MaxTokens)
	}
	if req.Temperature != nil {
		cfg.Temperature = new(float32(*req.Temperature))
	}
	if req.TopP != nil {
		cfg.TopP = new(float32(*req.TopP))
	}
	switch {
	case req.TopK < 0:
		return nil, fmt.Errorf("top k: %d is negative", req.TopK)
	case req.TopK > 0:
		cfg.TopK = new(float32(req.TopK))
	}
	// req.ParallelToolCalls is not translated: Gemini has no switch for
	// parallel function calls, so the model keeps its default.
	if req.Thinking != nil {
		budget := req.Thinking.BudgetTokens
		switch {
		case budget < 0:
			return nil, fmt.Errorf("thinking budget: %d is negative", budget)
		case budget > math.MaxInt32:
			return nil, fmt.Errorf("thinking budget: %d is too large", budget)
		case budget == 0:
			// Zero means "thinking on, size unspecified": Gemini's dynamic
			// budget. (Gemini's own 0 turns thinking off.)
			budget = -1
		}
		cfg.ThinkingConfig = &genai.ThinkingConfig{IncludeThoughts: true, ThinkingBudget: new(int32(budget))}
	}
	if req.Output != nil {
		cfg.ResponseMIMEType = "application/json"
		if len(req.Output.Schema) > 0 {
			s, err := schemaValue(req.Output.Schema)
			if err != nil {
				return nil, fmt.Errorf("output schema: %w", err)
			}
			cfg.ResponseJsonSchema = s
		}
	}
	if len(req.Tools) > 0 {
		decls := make([]*genai.FunctionDeclaration, 0, len(req.Tools))
		seen := make(map[string]bool, len(req.Tools))
		for i, t := range req.Tools {
			if t.Name == "" {
				return nil, fmt.Errorf("tools[%d]: name is empty", i)
			}
			if seen[t.Name] {
				return nil, fmt.Errorf("tools[%d]: duplicate tool name %q", i, t.Name)
			}
			seen[t.Name] = true
			if err := checkCache(t.Cache); err != nil {
				return nil, fmt.Errorf("tools[%d] (%s): %w", i, t.Name, err)
			}
			d := &genai.FunctionDeclaration{Name: t.Name, Description: t.Description}
			if len(bytes.TrimSpace(t.InputSchema)) > 0 {
				s, err := schemaValue(t.InputSchema)
				if err != nil {
					return nil, fmt.Errorf("tools[%d] (%s) input schema: %w", i, t.Name, err)
				}
				d.ParametersJsonSchema = s
			}
			decls = append(decls, d)
		}
		cfg.Tools = []*genai.Tool{{FunctionDeclarations: decls}}
	}
	fc, err := functionCalling(req)
	if err != nil {
		return nil, err
	}
	if fc != nil {
		cfg.ToolConfig = &genai.ToolConfig{FunctionCallingConfig: fc}
	}
	return cfg, nil
}

func functionCalling(req *llm.Request) (*genai.FunctionCallingConfig, error) {
	tc := req.ToolChoice
	switch tc.Mode {
	case llm.ToolAuto:
		return nil, nil
	case llm.ToolNone:
		if len(req.Tools) == 0 {
			return nil, nil
		}
		return &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeNone}, nil
	case llm.ToolAny:
		if len(req.Tools) == 0 {
			return nil, fmt.Errorf("tool choice %q: the request has no tools", tc.Mode)
		}
		return &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny}, nil
	case llm.ToolNamed:
		for _, t := range req.Tools {
			if t.Name == tc.Name {
				return &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny, AllowedFunctionNames: []string{tc.Name}}, nil
			}
		}
		return nil, fmt.Errorf("tool choice: tool %q is not among the request's tools", tc.Name)
	}
	return nil, fmt.Errorf("tool choice: unknown mode %q", tc.Mode)
}
