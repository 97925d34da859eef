package openai

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/keelai/keel/llm"
)

// ToolErrorPrefix starts the content of a tool message whose llm.ToolResult
// has IsError set: Chat Completions has no error flag on tool results, so
// the model learns of the failure from the text.
const ToolErrorPrefix = "Error: "

// params translates req into the SDK's request. Anything the Chat
// Completions API cannot take is a KindInvalidRequest error naming where it
// is, and nothing is sent.
func (p *Provider) params(model string, req *llm.Request) (openai.ChatCompletionNewParams, error) {
	if p.err != nil {
		return openai.ChatCompletionNewParams{}, p.err
	}
	t := translator{official: p.official, provider: p.name}
	return t.params(model, req)
}

type translator struct {
	official bool
	provider string
}

func (t translator) invalid(format string, args ...any) error {
	return &llm.Error{Kind: llm.KindInvalidRequest, Provider: t.provider, Message: fmt.Sprintf(format, args...)}
}

func (t translator) params(model string, req *llm.Request) (openai.ChatCompletionNewParams, error) {
	var out openai.ChatCompletionNewParams
	if req == nil {
		return out, t.invalid("nil request")
	}
	if model == "" {
		return out, t.invalid("no model name")
	}
	if len(req.Messages) == 0 {
		return out, t.invalid("request has no messages")
	}
	out.Model = shared.ChatModel(model)

	if sys, err := t.system(req.System); err != nil {
		return out, err
	} else if sys != nil {
		out.Messages = append(out.Messages, openai.ChatCompletionMessageParamUnion{OfSystem: sys})
	}
	for i, msg := range req.Messages {
		msgs, err := t.message(i, msg)
		if err != nil {
			return out, err
		}
		out.Messages = append(out.Messages, msgs...)
	}

	for i, tool := range req.Tools {
		fn, err := t.tool(i, tool)
		if err != nil {
			return out, err
		}
		out.Tools = append(out.Tools, openai.ChatCompletionToolUnionParam{OfFunction: fn})
	}
	if err := t.toolChoice(req, &out); err != nil {
		return out, err
	}
	if req.ParallelToolCalls != nil && len(req.Tools) > 0 {
		// OpenAI rejects parallel_tool_calls in a request without tools.
		out.ParallelToolCalls = openai.Bool(*req.ParallelToolCalls)
	}

	switch {
	case req.MaxTokens < 0:
		return out, t.invalid("max tokens: %d is negative", req.MaxTokens)
	case req.MaxTokens > 0 && t.official:
		// OpenAI's reasoning models reject max_tokens.
		out.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
	case req.MaxTokens > 0:
		// Many compatible servers (LM Studio, Together, older Ollama and
		// llama.cpp) know only max_tokens; those that know both accept it.
		out.MaxTokens = openai.Int(int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		out.Temperature = openai.Float(*req.Temperature)
	}
	if req.TopP != nil {
		out.TopP = openai.Float(*req.TopP)
	}
	switch {
	case req.TopK < 0:
		return out, t.invalid("top_k: %d is negative", req.TopK)
	case req.TopK > 0 && t.official:
		return out, t.invalid("top_k: OpenAI's API has no top-k sampling; leave TopK at 0")
	case req.TopK > 0:
		// Not part of OpenAI's schema, so not a field of the SDK's params;
		// vLLM, Ollama and llama.cpp read it from the body all the same.
		out.SetExtraFields(map[string]any{"top_k": req.TopK})
	}
	if len(req.StopSequences) > 0 {
		out.Stop.OfStringArray = req.StopSequences
	}
	if req.Output != nil {
		rf, err := t.output(req.Output)
		if err != nil {
			return out, err
		}
		out.ResponseFormat.OfJSONSchema = rf
	}
	if req.Thinking != nil {
		out.ReasoningEffort = reasoningEffort(req.Thinking.BudgetTokens)
	}
	return out, nil
}

// reasoningEffort maps a thinking budget onto Chat Completions' coarse
// reasoning effort.
func reasoningEffort(budget int) shared.ReasoningEffort {
	switch {
	case budget <= 2048:
		return shared.ReasoningEffortLow
	case budget <= 8192:
		return shared.ReasoningEffortMedium
	}
	return shared.ReasoningEffortHigh
}

// cacheTTL validates a cache breakpoint and returns the ttl to send ("" for
// the request's default). OpenAI's breakpoint lifetimes are minimums ("30m",
// "12h"); Keel's 1h becomes "12h", the shortest that still covers it.
func (t translator) cacheTTL(where string, c *llm.CacheControl) (string, error) {
	switch c.TTL {
	case "", llm.CacheTTL5m:
		return "", nil
	case llm.CacheTTL1h:
		return "12h", nil
	}
	return "", t.invalid("%s: cache ttl %q: want %q or %q", where, c.TTL, llm.CacheTTL5m, llm.CacheTTL1h)
}

// breakpoint returns the text-part breakpoint for c, or the zero value when
// c is nil or the server is not OpenAI's own (compatible servers may reject
// the unknown field; caching there is automatic or absent).
func (t translator) breakpoint(where string, c *llm.CacheControl) (openai.ChatCompletionContentPartTextPromptCacheBreakpointParam, bool, error) {
	var bp openai.ChatCompletionContentPartTextPromptCacheBreakpointParam
	if c == nil {
		return bp, false, nil
	}
	ttl, err := t.cacheTTL(where, c)
	if err != nil || !t.official {
		return bp, false, err
	}
	bp = openai.NewChatCompletionContentPartTextPromptCacheBreakpointParam()
	bp.Ttl = ttl
	return bp, true, nil
}

// textPart builds a text content part carrying c's breakpoint.
func (t translator) textPart(where, text string, c *llm.CacheControl) (openai.ChatCompletionContentPartTextParam, bool, error) {
	part := openai.ChatCompletionContentPartTextParam{Text: text}
	bp, ok, err := t.breakpoint(where, c)
	if ok {
		part.PromptCacheBreakpoint = bp
	}
	return part, ok, err
}

// system joins the system blocks into one "system" message. The "system"
// role (not "developer") is the one every compatible server knows, and
// OpenAI treats it as "developer" for the models that want that.
func (t translator) system(blocks []llm.Text) (*openai.ChatCompletionSystemMessageParam, error) {
	if len(blocks) == 0 {
		return nil, nil
	}
	parts := make([]openai.ChatCompletionContentPartTextParam, 0, len(blocks))
	texts := make([]string, 0, len(blocks))
	array := false
	for i, b := range blocks {
		part, cached, err := t.textPart(fmt.Sprintf("system block %d", i), b.Text, b.Cache)
		if err != nil {
			return nil, err
		}
		array = array || cached
		parts = append(parts, part)
		texts = append(texts, b.Text)
	}
	msg := &openai.ChatCompletionSystemMessageParam{}
	if array || (t.official && len(blocks) > 1) {
		msg.Content.OfArrayOfContentParts = parts
	} else {
		msg.Content.OfString = openai.String(strings.Join(texts, "\n\n"))
	}
	return msg, nil
}

// message translates one Keel message into one or more wire messages: a
// user message's tool results become "tool" messages (placed first, since
// they must follow the assistant's tool calls), its other parts one user
// message.
func (t translator) message(i int, msg llm.Message) ([]openai.ChatCompletionMessageParamUnion, error) {
	switch msg.Role {
	case llm.RoleUser:
		return t.userMessage(i, msg.Parts)
	case llm.RoleAssistant:
		a, err := t.assistantMessage(i, msg.Parts)
		if err != nil || a == nil {
			return nil, err
		}
		return []openai.ChatCompletionMessageParamUnion{{OfAssistant: a}}, nil
	}
	return nil, t.invalid("message %d: unknown role %q", i, msg.Role)
}

func (t translator) userMessage(i int, parts []llm.Part) ([]openai.ChatCompletionMessageParamUnion, error) {
	var out []openai.ChatCompletionMessageParamUnion
	var content []openai.ChatCompletionContentPartUnionParam
	plain := true // a single uncached text part goes as a string
	for j, part := range parts {
		where := fmt.Sprintf("message %d part %d", i, j)
		switch part := part.(type) {
		case llm.Text:
			tp, cached, err := t.textPart(where, part.Text, part.Cache)
			if err != nil {
				return nil, err
			}
			plain = plain && !cached
			content = append(content, openai.ChatCompletionContentPartUnionParam{OfText: &tp})
		case llm.Image:
			img, err := t.image(where, part)
			if err != nil {
				return nil, err
			}
			plain = false
			content = append(content, openai.ChatCompletionContentPartUnionParam{OfImageURL: img})
		case llm.Document:
			doc, err := t.document(where, part)
			if err != nil {
				return nil, err
			}
			plain = false
			content = append(content, doc)
		case llm.ToolResult:
			tm, err := t.toolResult(where, part)
			if err != nil {
				return nil, err
			}
			out = append(out, openai.ChatCompletionMessageParamUnion{OfTool: tm})
		default:
			return nil, t.invalid("%s: a user message cannot hold a %s part", where, partName(part))
		}
	}
	if len(content) == 0 {
		if len(out) == 0 {
			return nil, t.invalid("message %d: user message has no content", i)
		}
		return out, nil
	}
	user := &openai.ChatCompletionUserMessageParam{}
	if plain && len(content) == 1 {
		user.Content.OfString = openai.String(content[0].OfText.Text)
	} else {
		user.Content.OfArrayOfContentParts = content
	}
	return append(out, openai.ChatCompletionMessageParamUnion{OfUser: user}), nil
}

// image sends inline data as a data: URL.
func (t translator) image(where string, img llm.Image) (*openai.ChatCompletionContentPartImageParam, error) {
	var u string
	switch {
	case len(img.Data) > 0:
		mt := img.MediaType
		if mt == "" {
			mt = http.DetectContentType(img.Data)
		}
		if !strings.HasPrefix(mt, "image/") {
			return nil, t.invalid("%s: image media type %q is not an image type", where, mt)
		}
		u = dataURL(mt, img.Data)
	case img.URL != "":
		u = img.URL
	default:
		return nil, t.invalid("%s: image has neither data nor URL", where)
	}
	part := &openai.ChatCompletionContentPartImageParam{ImageURL: openai.ChatCompletionContentPartImageImageURLParam{URL: u}}
	if img.Cache != nil {
		ttl, err := t.cacheTTL(where, img.Cache)
		if err != nil {
			return nil, err
		}
		if t.official {
			part.PromptCacheBreakpoint = openai.NewChatCompletionContentPartImagePromptCacheBreakpointParam()
			part.PromptCacheBreakpoint.Ttl = ttl
		}
	}
	return part, nil
}

// document sends a PDF as a file part (base64 file_data) and a plain-text
// document as a text part headed by its title.
func (t translator) document(where string, doc llm.Document) (openai.ChatCompletionContentPartUnionParam, error) {
	mt, _, err := mime.ParseMediaType(doc.MediaType)
	if err != nil {
		return openai.ChatCompletionContentPartUnionParam{}, t.invalid("%s: document media type %q: %v", where, doc.MediaType, err)
	}
	if len(doc.Data) == 0 {
		if doc.URL != "" {
			return openai.ChatCompletionContentPartUnionParam{}, t.invalid("%s: documents by URL are not supported by Chat Completions; pass the bytes in Data", where)
		}
		return openai.ChatCompletionContentPartUnionParam{}, t.invalid("%s: document has no data", where)
	}
	switch {
	case mt == "application/pdf":
		name := doc.Title
		if name == "" {
			name = "document.pdf"
		}
		f := &openai.ChatCompletionContentPartFileParam{File: openai.ChatCompletionContentPartFileFileParam{
			FileData: openai.String(dataURL(mt, doc.Data)),
			Filename: openai.String(name),
		}}
		if doc.Cache != nil {
			ttl, err := t.cacheTTL(where, doc.Cache)
			if err != nil {
				return openai.ChatCompletionContentPartUnionParam{}, err
			}
			if t.official {
				f.PromptCacheBreakpoint = openai.NewChatCompletionContentPartFilePromptCacheBreakpointParam()
				f.PromptCacheBreakpoint.Ttl = ttl
			}
		}
		return openai.ChatCompletionContentPartUnionParam{OfFile: f}, nil
	case mt == "text/plain":
		if !utf8.Valid(doc.Data) {
			return openai.ChatCompletionContentPartUnionParam{}, t.invalid("%s: text document is not valid UTF-8", where)
		}
		text := string(doc.Data)
		if doc.Title != "" {
			text = doc.Title + "\n\n" + text
		}
		tp, _, err := t.textPart(where, text, doc.Cache)
		if err != nil {
			return openai.ChatCompletionContentPartUnionParam{}, err
		}
		return openai.ChatCompletionContentPartUnionParam{OfText: &tp}, nil
	}
	return openai.ChatCompletionContentPartUnionParam{}, t.invalid("%s: document media type %q is not supported (want application/pdf or text/plain)", where, doc.MediaType)
}

// toolResult becomes a "tool" message. Its content may only be text.
func (t translator) toolResult(where string, r llm.ToolResult) (*openai.ChatCompletionToolMessageParam, error) {
	if r.CallID == "" {
		return nil, t.invalid("%s: tool result has no call ID", where)
	}
	var texts []string
	for k, c := range r.Content {
		txt, ok := c.(llm.Text)
		if !ok {
			return nil, t.invalid("%s: tool result content part %d: Chat Completions tool results hold only text, not %s", where, k, partName(c))
		}
		texts = append(texts, txt.Text)
	}
	text := strings.Join(texts, "")
	if r.IsError {
		text = ToolErrorPrefix + text
	}
	tm := &openai.ChatCompletionToolMessageParam{ToolCallID: r.CallID}
	tp, cached, err := t.textPart(where, text, r.Cache)
	if err != nil {
		return nil, err
	}
	if cached {
		tm.Content.OfArrayOfContentParts = []openai.ChatCompletionContentPartTextParam{tp}
	} else {
		tm.Content.OfString = openai.String(text)
	}
	return tm, nil
}

// assistantMessage translates an assistant turn: text and tool calls.
// Thinking parts are dropped: Chat Completions takes no reasoning back
// (DeepSeek rejects reasoning_content in input), and other providers'
// signatures mean nothing here. It returns nil when nothing is left.
func (t translator) assistantMessage(i int, parts []llm.Part) (*openai.ChatCompletionAssistantMessageParam, error) {
	a := &openai.ChatCompletionAssistantMessageParam{}
	var texts []openai.ChatCompletionContentPartTextParam
	array := false
	for j, part := range parts {
		where := fmt.Sprintf("message %d part %d", i, j)
		switch part := part.(type) {
		case llm.Text:
			tp, cached, err := t.textPart(where, part.Text, part.Cache)
			if err != nil {
				return nil, err
			}
			array = array || cached
			texts = append(texts, tp)
		case llm.ToolCall:
			if part.ID == "" {
				return nil, t.invalid("%s: tool call has no ID", where)
			}
			if part.Name == "" {
				return nil, t.invalid("%s: tool call has no name", where)
			}
			args := strings.TrimSpace(string(part.Input))
			if args == "" {
				args = "{}"
			}
			a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
				OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
					ID:       part.ID,
					Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: part.Name, Arguments: args},
				},
			})
		case llm.Thinking:
			// dropped; see the doc comment
		default:
			return nil, t.invalid("%s: an assistant message cannot hold a %s part", where, partName(part))
		}
	}
	switch {
	case array:
		for _, tp := range texts {
			a.Content.OfArrayOfContentParts = append(a.Content.OfArrayOfContentParts,
				openai.ChatCompletionAssistantMessageParamContentArrayOfContentPartUnion{OfText: &tp})
		}
	case len(texts) > 0:
		var b strings.Builder
		for _, tp := range texts {
			b.WriteString(tp.Text)
		}
		a.Content.OfString = openai.String(b.String())
	case len(a.ToolCalls) == 0:
		return nil, nil
	}
	return a, nil
}

func (t translator) tool(i int, tool llm.Tool) (*openai.ChatCompletionFunctionToolParam, error) {
	if tool.Name == "" {
		return nil, t.invalid("tool %d: no name", i)
	}
	if tool.Cache != nil {
		// Function definitions carry no breakpoint in Chat Completions; the
		// tools sit before the messages, so a breakpoint on the first
		// message part caches them too.
		if _, err := t.cacheTTL(fmt.Sprintf("tool %d (%s)", i, tool.Name), tool.Cache); err != nil {
			return nil, err
		}
	}
	fn := shared.FunctionDefinitionParam{Name: tool.Name}
	if tool.Description != "" {
		fn.Description = openai.String(tool.Description)
	}
	schema := shared.FunctionParameters{"type": "object", "properties": map[string]any{}}
	if len(tool.InputSchema) > 0 {
		schema = nil
		if err := json.Unmarshal(tool.InputSchema, &schema); err != nil || schema == nil {
			return nil, t.invalid("tool %d (%s): input schema is not a JSON object", i, tool.Name)
		}
	}
	fn.Parameters = schema
	return &openai.ChatCompletionFunctionToolParam{Function: fn}, nil
}

func (t translator) toolChoice(req *llm.Request, out *openai.ChatCompletionNewParams) error {
	tc := req.ToolChoice
	switch tc.Mode {
	case llm.ToolAuto:
		// The API's default when tools are given; leaving it out keeps the
		// request valid for servers without tool support.
	case llm.ToolNone:
		if len(req.Tools) > 0 {
			out.ToolChoice.OfAuto = openai.String("none")
		}
	case llm.ToolAny:
		if len(req.Tools) == 0 {
			return t.invalid("tool choice %q needs tools", tc.Mode)
		}
		out.ToolChoice.OfAuto = openai.String("required")
	case llm.ToolNamed:
		found := false
		for _, tool := range req.Tools {
			found = found || tool.Name == tc.Name
		}
		if !found {
			return t.invalid("tool choice names tool %q, which is not among the request's tools", tc.Name)
		}
		out.ToolChoice.OfFunctionToolChoice = &openai.ChatCompletionNamedToolChoiceParam{
			Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: tc.Name},
		}
	default:
		return t.invalid("unknown tool choice mode %q", tc.Mode)
	}
	return nil
}

func (t translator) output(o *llm.OutputSchema) (*shared.ResponseFormatJSONSchemaParam, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(o.Schema, &probe); err != nil || probe == nil {
		return nil, t.invalid("output schema is not a JSON object")
	}
	name := o.Name
	if name == "" {
		name = "output"
	}
	js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: name, Schema: json.RawMessage(o.Schema)}
	if o.Strict {
		js.Strict = openai.Bool(true)
	}
	return &shared.ResponseFormatJSONSchemaParam{JSONSchema: js}, nil
}

func dataURL(mediaType string, data []byte) string {
	return "data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(data)
}

// partName names a part's type for error messages.
func partName(p llm.Part) string {
	switch p.(type) {
	case llm.Text:
		return "text"
	case llm.Image:
		return "image"
	case llm.Document:
		return "document"
	case llm.ToolCall:
		return "tool call"
	case llm.ToolResult:
		return "tool result"
	case llm.Thinking:
		return "thinking"
	}
	return fmt.Sprintf("%T", p)
}
