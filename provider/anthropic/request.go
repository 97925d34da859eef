package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/keelai/keel/llm"
)

// samplingAPIVersion is the last API version that accepts temperature,
// top_p and top_k; the SDK sends 2026-10-21, which rejects them even at their
// defaults.
const samplingAPIVersion = "2023-06-01"

// invalid returns the KindInvalidRequest error for a request Anthropic
// cannot take, before anything is sent.
func (m *Model) invalid(format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindInvalidRequest, Provider: m.p.name, Message: fmt.Sprintf(format, args...)}
}

// params translates req into the SDK's parameters, and the per-call
// options that the parameters cannot express.
func (m *Model) params(req *llm.Request) (sdk.MessageNewParams, []option.RequestOption, error) {
	var p sdk.MessageNewParams
	if req == nil {
		return p, nil, m.invalid("nil request")
	}
	if len(req.Messages) == 0 {
		return p, nil, m.invalid("messages: at least one message is required")
	}
	p.Model = m.model

	switch {
	case req.MaxTokens < 0:
		return p, nil, m.invalid("max_tokens: %d is negative", req.MaxTokens)
	case req.MaxTokens == 0:
		p.MaxTokens = int64(DefaultMaxTokens(m.model))
	default:
		p.MaxTokens = int64(req.MaxTokens)
	}
	if req.TopK < 0 {
		return p, nil, m.invalid("top_k: %d is negative", req.TopK)
	}

	for i, t := range req.System {
		if t.Text == "" {
			return p, nil, m.invalid("system[%d]: empty text blocks are not accepted by Anthropic", i)
		}
		cc, err := m.cache(t.Cache, "system[%d]", i)
		if err != nil {
			return p, nil, err
		}
		p.System = append(p.System, sdk.TextBlockParam{Text: t.Text, CacheControl: cc})
	}

	p.Messages = make([]sdk.MessageParam, 0, len(req.Messages))
	for i, msg := range req.Messages {
		mp, err := m.message(i, msg)
		if err != nil {
			return p, nil, err
		}
		p.Messages = append(p.Messages, mp)
	}

	for i, t := range req.Tools {
		tp, err := m.tool(i, t)
		if err != nil {
			return p, nil, err
		}
		p.Tools = append(p.Tools, sdk.ToolUnionParam{OfTool: tp})
	}

	switch req.ToolChoice.Mode {
	case llm.ToolAuto:
	case llm.ToolAny:
		p.ToolChoice.OfAny = &sdk.ToolChoiceAnyParam{}
	case llm.ToolNone:
		p.ToolChoice.OfNone = new(sdk.NewToolChoiceNoneParam())
	case llm.ToolNamed:
		name := req.ToolChoice.Name
		if !slices.ContainsFunc(req.Tools, func(t llm.Tool) bool { return t.Name == name }) {
			return p, nil, m.invalid("tool_choice: tool %q is not among the request's tools", name)
		}
		p.ToolChoice.OfTool = &sdk.ToolChoiceToolParam{Name: name}
	default:
		return p, nil, m.invalid("tool_choice: unknown mode %q", req.ToolChoice.Mode)
	}
	if pc := req.ParallelToolCalls; pc != nil && !*pc && len(req.Tools) > 0 {
		// The switch lives on the tool choice, so the default auto choice
		// must be spelt out to carry it; "none" allows no calls at all.
		no := param.NewOpt(true)
		switch {
		case p.ToolChoice.OfAny != nil:
			p.ToolChoice.OfAny.DisableParallelToolUse = no
		case p.ToolChoice.OfTool != nil:
			p.ToolChoice.OfTool.DisableParallelToolUse = no
		case p.ToolChoice.OfNone == nil:
			p.ToolChoice.OfAuto = &sdk.ToolChoiceAutoParam{DisableParallelToolUse: no}
		}
	}

	p.StopSequences = req.StopSequences

	if req.Thinking != nil {
		if req.Thinking.BudgetTokens <= 0 {
			return p, nil, m.invalid("thinking: budget_tokens must be positive, got %d", req.Thinking.BudgetTokens)
		}
		p.Thinking.OfEnabled = &sdk.ThinkingConfigEnabledParam{BudgetTokens: int64(req.Thinking.BudgetTokens)}
	}

	if req.Output != nil {
		schema, err := m.object(req.Output.Schema, "output.schema")
		if err != nil {
			return p, nil, err
		}
		// Raw bytes, not a map: property order steers the order in which the
		// model writes the fields.
		format, _ := json.Marshal(struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		}{"json_schema", schema})
		p.OutputConfig.Format = param.Override[sdk.JSONOutputFormatParam](json.RawMessage(format))
	}

	var opts []option.RequestOption
	if req.Temperature != nil || req.TopP != nil || req.TopK > 0 {
		opts = append(opts, option.WithHeader("anthropic-version", samplingAPIVersion))
		if req.Temperature != nil {
			opts = append(opts, option.WithJSONSet("temperature", *req.Temperature))
		}
		if req.TopP != nil {
			opts = append(opts, option.WithJSONSet("top_p", *req.TopP))
		}
		if req.TopK > 0 {
			opts = append(opts, option.WithJSONSet("top_k", req.TopK))
		}
	}
	return p, opts, nil
}

// cache translates a cache breakpoint; where names the block for errors.
func (m *Model) cache(c *llm.CacheControl, where string, args ...any) (sdk.CacheControlEphemeralParam, error) {
	if c == nil {
		return sdk.CacheControlEphemeralParam{}, nil
	}
	cc := sdk.NewCacheControlEphemeralParam()
	switch c.TTL {
	case "":
	case llm.CacheTTL5m, llm.CacheTTL1h:
		cc.TTL = sdk.CacheControlEphemeralTTL(c.TTL)
	default:
		return cc, m.invalid(where+": cache ttl %q: want \"5m\" or \"1h\"", append(slices.Clone(args), c.TTL)...)
	}
	return cc, nil
}

// object checks that raw is a JSON object; empty means {"type":"object"}.
func (m *Model) object(raw json.RawMessage, where string) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return json.RawMessage(`{"type":"object"}`), nil
	}
	if raw[0] != '{' || !json.Valid(raw) {
		return nil, m.invalid("%s: not a JSON object", where)
	}
	return raw, nil
}

func (m *Model) tool(i int, t llm.Tool) (*sdk.ToolParam, error) {
	if t.Name == "" {
		return nil, m.invalid("tools[%d]: name is empty", i)
	}
	schema, err := m.object(t.InputSchema, fmt.Sprintf("tools[%d] (%s): input_schema", i, t.Name))
	if err != nil {
		return nil, err
	}
	cc, err := m.cache(t.Cache, "tools[%d] (%s)", i, t.Name)
	if err != nil {
		return nil, err
	}
	tp := &sdk.ToolParam{
		Name: t.Name,
		// Sent as given, so that the schema reaches the API byte for byte.
		InputSchema:  param.Override[sdk.ToolInputSchemaParam](schema),
		CacheControl: cc,
	}
	if t.Description != "" {
		tp.Description = param.NewOpt(t.Description)
	}
	return tp, nil
}

func (m *Model) message(i int, msg llm.Message) (sdk.MessageParam, error) {
	if len(msg.Parts) == 0 {
		return sdk.MessageParam{}, m.invalid("messages[%d]: a message needs at least one part", i)
	}
	blocks := make([]sdk.ContentBlockParamUnion, 0, len(msg.Parts))
	for j, part := range msg.Parts {
		b, err := m.block(msg.Role, part, "messages[%d].parts[%d]", i, j)
		if err != nil {
			return sdk.MessageParam{}, err
		}
		blocks = append(blocks, b)
	}
	switch msg.Role {
	case llm.RoleUser:
		return sdk.MessageParam{OfUser: &sdk.UserMessageParam{Content: blocks}}, nil
	case llm.RoleAssistant:
		return sdk.MessageParam{OfAssistant: &sdk.AssistantMessageParam{Content: blocks}}, nil
	}
	return sdk.MessageParam{}, m.invalid("messages[%d]: role %q: want user or assistant", i, msg.Role)
}

// block translates one part of a message from role; where and args name it
// in errors.
func (m *Model) block(role llm.Role, part llm.Part, where string, args ...any) (sdk.ContentBlockParamUnion, error) {
	var b sdk.ContentBlockParamUnion
	at := func(format string, more ...any) *llm.Error {
		return m.invalid(where+": "+format, append(slices.Clone(args), more...)...)
	}
	userOnly := func(kind string) error {
		if role != llm.RoleUser {
			return at("%s parts are only accepted in user messages", kind)
		}
		return nil
	}
	assistantOnly := func(kind string) error {
		if role != llm.RoleAssistant {
			return at("%s parts are only accepted in assistant messages", kind)
		}
		return nil
	}

	switch p := part.(type) {
	case llm.Text:
		t, err := m.text(p, where, args...)
		if err != nil {
			return b, err
		}
		b.OfText = t
	case llm.Image:
		if err := userOnly("image"); err != nil {
			return b, err
		}
		img, err := m.image(p, where, args...)
		if err != nil {
			return b, err
		}
		b.OfImage = img
	case llm.Document:
		if err := userOnly("document"); err != nil {
			return b, err
		}
		doc, err := m.document(p, where, args...)
		if err != nil {
			return b, err
		}
		b.OfDocument = doc
	case llm.ToolCall:
		if err := assistantOnly("tool call"); err != nil {
			return b, err
		}
		if p.ID == "" || p.Name == "" {
			return b, at("tool call: id and name are required")
		}
		input := bytes.TrimSpace(p.Input)
		if len(input) == 0 {
			input = []byte("{}")
		}
		if input[0] != '{' || !json.Valid(input) {
			return b, at("tool call %s (%s): input is not a JSON object", p.ID, p.Name)
		}
		cc, err := m.cache(p.Cache, where, args...)
		if err != nil {
			return b, err
		}
		b.OfToolUse = &sdk.ToolUseBlockParam{ID: p.ID, Name: p.Name, Input: json.RawMessage(input), CacheControl: cc}
	case llm.ToolResult:
		if err := userOnly("tool result"); err != nil {
			return b, err
		}
		if p.CallID == "" {
			return b, at("tool result: call id is empty")
		}
		cc, err := m.cache(p.Cache, where, args...)
		if err != nil {
			return b, err
		}
		tr := &sdk.ToolResultBlockParam{ToolUseID: p.CallID, CacheControl: cc}
		if p.IsError {
			tr.IsError = param.NewOpt(true)
		}
		for k, c := range p.Content {
			w := where + ".content[%d]"
			a := append(slices.Clone(args), k)
			var cu sdk.ToolResultBlockParamContentUnion
			var err error
			switch c := c.(type) {
			case llm.Text:
				cu.OfText, err = m.text(c, w, a...)
			case llm.Image:
				cu.OfImage, err = m.image(c, w, a...)
			case llm.Document:
				cu.OfDocument, err = m.document(c, w, a...)
			default:
				err = m.invalid(w+": %s parts are not accepted in a tool result (text, image or document)", append(a, kindName(c))...)
			}
			if err != nil {
				return b, err
			}
			tr.Content = append(tr.Content, cu)
		}
		b.OfToolResult = tr
	case llm.Thinking:
		if err := assistantOnly("thinking"); err != nil {
			return b, err
		}
		if p.Redacted != "" {
			b.OfRedactedThinking = &sdk.RedactedThinkingBlockParam{Data: p.Redacted}
		} else {
			b.OfThinking = &sdk.ThinkingBlockParam{Thinking: p.Text, Signature: p.Signature}
		}
	default:
		return b, at("unsupported part type %T", part)
	}
	return b, nil
}

func kindName(p llm.Part) string {
	switch p.(type) {
	case llm.ToolCall:
		return "tool call"
	case llm.ToolResult:
		return "tool result"
	case llm.Thinking:
		return "thinking"
	}
	return fmt.Sprintf("%T", p)
}

func (m *Model) text(t llm.Text, where string, args ...any) (*sdk.TextBlockParam, error) {
	if t.Text == "" {
		return nil, m.invalid(where+": empty text blocks are not accepted by Anthropic", args...)
	}
	cc, err := m.cache(t.Cache, where, args...)
	if err != nil {
		return nil, err
	}
	return &sdk.TextBlockParam{Text: t.Text, CacheControl: cc}, nil
}

func (m *Model) image(img llm.Image, where string, args ...any) (*sdk.ImageBlockParam, error) {
	cc, err := m.cache(img.Cache, where, args...)
	if err != nil {
		return nil, err
	}
	b := &sdk.ImageBlockParam{CacheControl: cc}
	switch {
	case len(img.Data) > 0 && img.URL != "":
		return nil, m.invalid(where+": image: set Data or URL, not both", args...)
	case len(img.Data) > 0:
		switch mt := sdk.Base64ImageSourceMediaType(img.MediaType); mt {
		case sdk.Base64ImageSourceMediaTypeImageJPEG, sdk.Base64ImageSourceMediaTypeImagePNG,
			sdk.Base64ImageSourceMediaTypeImageGIF, sdk.Base64ImageSourceMediaTypeImageWebP:
			b.Source.OfBase64 = &sdk.Base64ImageSourceParam{Data: base64.StdEncoding.EncodeToString(img.Data), MediaType: mt}
		default:
			return nil, m.invalid(where+": image: media type %q is not supported (image/jpeg, image/png, image/gif or image/webp)", append(slices.Clone(args), img.MediaType)...)
		}
	case img.URL != "":
		b.Source.OfURL = &sdk.URLImageSourceParam{URL: img.URL}
	default:
		return nil, m.invalid(where+": image: neither Data nor URL is set", args...)
	}
	return b, nil
}

func (m *Model) document(d llm.Document, where string, args ...any) (*sdk.DocumentBlockParam, error) {
	cc, err := m.cache(d.Cache, where, args...)
	if err != nil {
		return nil, err
	}
	b := &sdk.DocumentBlockParam{CacheControl: cc}
	if d.Title != "" {
		b.Title = param.NewOpt(d.Title)
	}
	mt, _, _ := strings.Cut(d.MediaType, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case len(d.Data) > 0 && d.URL != "":
		return nil, m.invalid(where+": document: set Data or URL, not both", args...)
	case mt == "application/pdf" && len(d.Data) > 0:
		b.Source.OfBase64 = &sdk.Base64PDFSourceParam{Data: base64.StdEncoding.EncodeToString(d.Data)}
	case (mt == "application/pdf" || mt == "") && d.URL != "":
		b.Source.OfURL = &sdk.URLPDFSourceParam{URL: d.URL}
	case mt == "text/plain" && len(d.Data) > 0:
		if !utf8.Valid(d.Data) {
			return nil, m.invalid(where+": document: text/plain data is not valid UTF-8", args...)
		}
		b.Source.OfText = &sdk.PlainTextSourceParam{Data: string(d.Data)}
	case mt == "text/plain":
		return nil, m.invalid(where+": document: text/plain documents must be inline (Data), not by URL", args...)
	case len(d.Data) == 0 && d.URL == "":
		return nil, m.invalid(where+": document: neither Data nor URL is set", args...)
	default:
		return nil, m.invalid(where+": document: media type %q is not supported (application/pdf or text/plain)", append(slices.Clone(args), d.MediaType)...)
	}
	return b, nil
}
