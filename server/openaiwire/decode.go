package openaiwire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"strconv"
	"strings"

	"github.com/keelai/keel/llm"
)

// chatCall is a decoded POST /v1/chat/completions: the model the client
// named, how it wants the answer, and the request in Keel's terms.
type chatCall struct {
	Model        string
	Stream       bool
	IncludeUsage bool
	Request      llm.Request
}

// chatRequest is the wire body. Every argument OpenAI documents is listed,
// so that decoding with unknown fields disallowed refuses exactly what
// OpenAI itself would refuse. Unions (content, stop, tool_choice,
// response_format) stay raw and are decoded where their path is known.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []wireMessage   `json:"messages"`
	Tools               []wireTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int64          `json:"seed"`
	User                string          `json:"user"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage       bool `json:"include_usage"`
		IncludeObfuscation bool `json:"include_obfuscation"`
	} `json:"stream_options"`
	ResponseFormat  json.RawMessage `json:"response_format"`
	ReasoningEffort string          `json:"reasoning_effort"`
	N               *int            `json:"n"`
	Logprobs        bool            `json:"logprobs"`
	TopLogprobs     *int            `json:"top_logprobs"`

	// Accepted and ignored: no Keel model takes them, and none changes
	// what a correct answer looks like.
	FrequencyPenalty     *float64           `json:"frequency_penalty"`
	PresencePenalty      *float64           `json:"presence_penalty"`
	LogitBias            map[string]float64 `json:"logit_bias"`
	Metadata             map[string]string  `json:"metadata"`
	Store                *bool              `json:"store"`
	ServiceTier          string             `json:"service_tier"`
	PromptCacheKey       string             `json:"prompt_cache_key"`
	PromptCacheRetention string             `json:"prompt_cache_retention"`
	PromptCacheOptions   json.RawMessage    `json:"prompt_cache_options"`
	SafetyIdentifier     string             `json:"safety_identifier"`
	Verbosity            string             `json:"verbosity"`
	Moderation           json.RawMessage    `json:"moderation"`

	// Refused when set: the answer would silently differ from what the
	// client asked for.
	Audio            json.RawMessage `json:"audio"`
	Modalities       []string        `json:"modalities"`
	Prediction       json.RawMessage `json:"prediction"`
	WebSearchOptions json.RawMessage `json:"web_search_options"`
	Functions        json.RawMessage `json:"functions"`
	FunctionCall     json.RawMessage `json:"function_call"`
}

type wireMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	Name         string          `json:"name"`
	ToolCalls    []wireToolCall  `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	Refusal      *string         `json:"refusal"`
	Audio        json.RawMessage `json:"audio"`
	FunctionCall json.RawMessage `json:"function_call"`
}

type wireToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type wirePart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
	File *struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
	} `json:"file"`
	InputAudio json.RawMessage `json:"input_audio"`
	// PromptCacheBreakpoint is OpenAI's explicit cache breakpoint;
	// CacheControl is the Anthropic-style marker that OpenAI-compatible
	// gateways accept on text parts. Both become an llm.CacheControl, so an
	// OpenAI client can place Claude cache breakpoints.
	PromptCacheBreakpoint *struct {
		Mode string `json:"mode"`
		TTL  string `json:"ttl"`
	} `json:"prompt_cache_breakpoint"`
	CacheControl *wireCacheControl `json:"cache_control"`
}

type wireCacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl"`
}

type wireTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"`
	} `json:"function"`
	// Custom is OpenAI's free-form tool, named so that it is refused by
	// its type rather than as an unknown argument.
	Custom       json.RawMessage   `json:"custom"`
	CacheControl *wireCacheControl `json:"cache_control"`
}

type wireResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
	} `json:"json_schema"`
}

type wireToolChoice struct {
	Type     string `json:"type"`
	Function *struct {
		Name string `json:"name"`
	} `json:"function"`
}

// emptyObjectSchema stands for a function declared without parameters.
var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// decodeChatRequest decodes and validates a chat completions body. Any
// error is a *requestError naming the offending argument.
func decodeChatRequest(body []byte) (*chatCall, error) {
	var wr chatRequest
	if err := strictDecode(body, &wr); err != nil {
		return nil, locate(body, err)
	}
	call := &chatCall{Model: wr.Model, Stream: wr.Stream}
	req := &call.Request
	if wr.Model == "" {
		return nil, missing("model")
	}
	if len(wr.Messages) == 0 {
		return nil, missing("messages")
	}
	if err := wr.refuseUnsupported(); err != nil {
		return nil, err
	}
	if wr.StreamOptions != nil {
		if !wr.Stream {
			return nil, invalidParam("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
		call.IncludeUsage = wr.StreamOptions.IncludeUsage
	}

	if err := decodeMessages(wr.Messages, req); err != nil {
		return nil, err
	}
	for i, wt := range wr.Tools {
		t, err := decodeTool(wt, "tools["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		req.Tools = append(req.Tools, t)
	}
	if err := decodeToolChoice(wr.ToolChoice, req); err != nil {
		return nil, err
	}
	req.ParallelToolCalls = wr.ParallelToolCalls

	switch {
	case wr.MaxCompletionTokens != nil:
		if *wr.MaxCompletionTokens < 1 {
			return nil, invalidParam("max_completion_tokens", fmt.Sprintf("Invalid 'max_completion_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", *wr.MaxCompletionTokens))
		}
		req.MaxTokens = *wr.MaxCompletionTokens
	case wr.MaxTokens != nil:
		if *wr.MaxTokens < 1 {
			return nil, invalidParam("max_tokens", fmt.Sprintf("Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", *wr.MaxTokens))
		}
		req.MaxTokens = *wr.MaxTokens
	}
	if t := wr.Temperature; t != nil && (*t < 0 || *t > 2) {
		return nil, invalidParam("temperature", fmt.Sprintf("Invalid 'temperature': expected a value between 0 and 2, but got %g instead.", *t))
	}
	if p := wr.TopP; p != nil && (*p < 0 || *p > 1) {
		return nil, invalidParam("top_p", fmt.Sprintf("Invalid 'top_p': expected a value between 0 and 1, but got %g instead.", *p))
	}
	req.Temperature, req.TopP = wr.Temperature, wr.TopP

	stop, err := decodeStop(wr.Stop)
	if err != nil {
		return nil, err
	}
	req.StopSequences = stop
	if req.Output, err = decodeResponseFormat(wr.ResponseFormat); err != nil {
		return nil, err
	}
	if req.Thinking, err = decodeReasoningEffort(wr.ReasoningEffort); err != nil {
		return nil, err
	}
	if wr.User != "" {
		req.Tags = map[string]string{"user": wr.User}
	}
	return call, nil
}

// refuseUnsupported rejects arguments OpenAI knows that Keel cannot honour.
func (wr *chatRequest) refuseUnsupported() error {
	switch {
	case wr.N != nil && *wr.N != 1:
		return invalidParam("n", fmt.Sprintf("Invalid 'n': only n=1 is supported by this server, got %d.", *wr.N))
	case wr.Logprobs:
		return invalidParam("logprobs", "'logprobs' is not supported by this server.")
	case wr.TopLogprobs != nil:
		return invalidParam("top_logprobs", "'top_logprobs' is not supported by this server.")
	case isSet(wr.Audio):
		return invalidParam("audio", "Audio output is not supported by this server.")
	case isSet(wr.Prediction):
		return invalidParam("prediction", "Predicted outputs are not supported by this server.")
	case isSet(wr.WebSearchOptions):
		return invalidParam("web_search_options", "Web search is not supported by this server.")
	case isSet(wr.Functions):
		return invalidParam("functions", "The deprecated 'functions' argument is not supported; use 'tools'.")
	case isSet(wr.FunctionCall):
		return invalidParam("function_call", "The deprecated 'function_call' argument is not supported; use 'tool_choice'.")
	}
	for i, m := range wr.Modalities {
		if m != "text" {
			return invalidParam(fmt.Sprintf("modalities[%d]", i), fmt.Sprintf("Invalid 'modalities[%d]': only \"text\" is supported, got %q.", i, m))
		}
	}
	return nil
}

// decodeMessages fills req.System and req.Messages. System and developer
// messages become system blocks wherever they stand; tool messages become
// tool results of one user turn, which a following user message joins.
func decodeMessages(wms []wireMessage, req *llm.Request) error {
	toolTurn := false // the last Keel message is a user turn opened by tool results
	for i := range wms {
		m := &wms[i]
		path := "messages[" + strconv.Itoa(i) + "]"
		if isSet(m.Audio) {
			return invalidParam(path+".audio", "Invalid '"+path+".audio': audio messages are not supported by this server.")
		}
		if isSet(m.FunctionCall) {
			return invalidParam(path+".function_call", "Invalid '"+path+".function_call': the deprecated function_call is not supported; use 'tool_calls'.")
		}
		if m.Role != "assistant" && len(m.ToolCalls) > 0 {
			return invalidParam(path+".tool_calls", "Invalid '"+path+".tool_calls': only assistant messages may carry tool calls.")
		}
		if m.Role != "tool" && m.ToolCallID != "" {
			return invalidParam(path+".tool_call_id", "Invalid '"+path+".tool_call_id': only tool messages may carry a tool_call_id.")
		}
		switch m.Role {
		case "system", "developer":
			parts, err := decodeContent(m.Content, path, textOnly)
			if err != nil {
				return err
			}
			if len(parts) == 0 {
				return missing(path + ".content")
			}
			for _, p := range parts {
				req.System = append(req.System, p.(llm.Text))
			}
		case "user":
			parts, err := decodeContent(m.Content, path, userParts)
			if err != nil {
				return err
			}
			if len(parts) == 0 {
				return missing(path + ".content")
			}
			if toolTurn {
				last := &req.Messages[len(req.Messages)-1]
				last.Parts = append(last.Parts, parts...)
			} else {
				req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Parts: parts})
			}
			toolTurn = false
		case "assistant":
			parts, err := decodeContent(m.Content, path, assistantParts)
			if err != nil {
				return err
			}
			for j, tc := range m.ToolCalls {
				call, err := decodeToolCall(tc, fmt.Sprintf("%s.tool_calls[%d]", path, j))
				if err != nil {
					return err
				}
				parts = append(parts, call)
			}
			if len(parts) == 0 {
				return invalidParam(path+".content", "Invalid '"+path+"': an assistant message needs 'content' or 'tool_calls'.")
			}
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant, Parts: parts})
			toolTurn = false
		case "tool":
			if m.ToolCallID == "" {
				return missing(path + ".tool_call_id")
			}
			content, err := decodeContent(m.Content, path, textOnly)
			if err != nil {
				return err
			}
			res := llm.ToolResult{CallID: m.ToolCallID, Content: content}
			if toolTurn {
				last := &req.Messages[len(req.Messages)-1]
				last.Parts = append(last.Parts, res)
			} else {
				req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Parts: []llm.Part{res}})
				toolTurn = true
			}
		case "function":
			return invalidParam(path+".role", "Invalid '"+path+".role': the deprecated 'function' role is not supported; use 'tool'.")
		case "":
			return missing(path + ".role")
		default:
			return invalidParam(path+".role", fmt.Sprintf("Invalid value for '%s.role': %q. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", path, m.Role))
		}
	}
	if len(req.Messages) == 0 {
		return invalidParam("messages", "Invalid 'messages': at least one user message is required.")
	}
	return nil
}

// partSet says which content parts a role may send.
type partSet uint8

const (
	textOnly partSet = iota
	userParts
	assistantParts
)

// decodeContent decodes a message's content: a string, an array of parts,
// or null (no parts).
func decodeContent(raw json.RawMessage, msgPath string, allowed partSet) ([]llm.Part, error) {
	// Paths are built on the error branches only: a valid request should
	// not pay for the strings that would name its faults.
	path := func() string { return msgPath + ".content" }
	switch firstByte(raw) {
	case 0, 'n':
		if err := checkNull(raw, path()); err != nil {
			return nil, err
		}
		return nil, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, typeError(path(), "a string or an array of objects", raw)
		}
		if s == "" {
			return nil, nil
		}
		return []llm.Part{llm.Text{Text: s}}, nil
	case '[':
	default:
		return nil, typeError(path(), "a string or an array of objects", raw)
	}
	var wps []wirePart
	if err := strictDecode(raw, &wps); err != nil {
		return nil, decodeError(path(), err, raw)
	}
	parts := make([]llm.Part, 0, len(wps))
	for j := range wps {
		wp := &wps[j]
		if wp.Type == "text" && wp.PromptCacheBreakpoint == nil && wp.CacheControl == nil {
			parts = append(parts, llm.Text{Text: wp.Text})
			continue
		}
		p, err := decodePart(*wp, path()+"["+strconv.Itoa(j)+"]", allowed)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func decodePart(wp wirePart, path string, allowed partSet) (llm.Part, error) {
	refuse := func() error {
		return invalidParam(path+".type", fmt.Sprintf("Invalid '%s.type': a %s message cannot hold a %q part.", path, allowedRole(allowed), wp.Type))
	}
	switch wp.Type {
	case "text":
		cache, err := decodePartCache(wp, path)
		if err != nil {
			return nil, err
		}
		return llm.Text{Text: wp.Text, Cache: cache}, nil
	case "refusal":
		if allowed != assistantParts {
			return nil, refuse()
		}
		return llm.Text{Text: wp.Refusal}, nil
	case "image_url":
		if allowed != userParts {
			return nil, refuse()
		}
		if wp.ImageURL == nil || wp.ImageURL.URL == "" {
			return nil, missing(path + ".image_url.url")
		}
		return decodeImage(wp.ImageURL.URL, path+".image_url.url")
	case "file":
		if allowed != userParts {
			return nil, refuse()
		}
		return decodeFile(wp, path+".file")
	case "input_audio":
		return nil, invalidParam(path+".type", fmt.Sprintf("Invalid '%s': audio input is not supported by this server.", path))
	case "":
		return nil, missing(path + ".type")
	}
	return nil, invalidParam(path+".type", fmt.Sprintf("Invalid value for '%s.type': %q. Supported values are: 'text', 'image_url' and 'file'.", path, wp.Type))
}

func allowedRole(s partSet) string {
	switch s {
	case userParts:
		return "user"
	case assistantParts:
		return "assistant"
	}
	return "system, developer or tool"
}

func decodePartCache(wp wirePart, path string) (*llm.CacheControl, error) {
	if bp := wp.PromptCacheBreakpoint; bp != nil {
		if bp.Mode != "" && bp.Mode != "explicit" {
			return nil, invalidParam(path+".prompt_cache_breakpoint.mode", fmt.Sprintf("Invalid value for '%s.prompt_cache_breakpoint.mode': %q. Supported values are: 'explicit'.", path, bp.Mode))
		}
		switch bp.TTL {
		case "":
			return &llm.CacheControl{}, nil
		case "30m", "12h":
			// Minimum lifetimes: Keel's longest, one hour, is the
			// nearest that a Claude breakpoint can give.
			return &llm.CacheControl{TTL: llm.CacheTTL1h}, nil
		}
		return nil, invalidParam(path+".prompt_cache_breakpoint.ttl", fmt.Sprintf("Invalid value for '%s.prompt_cache_breakpoint.ttl': %q. Supported values are: '30m' and '12h'.", path, bp.TTL))
	}
	return decodeCacheControl(wp.CacheControl, path+".cache_control")
}

func decodeCacheControl(cc *wireCacheControl, path string) (*llm.CacheControl, error) {
	if cc == nil {
		return nil, nil
	}
	if cc.Type != "ephemeral" {
		return nil, invalidParam(path+".type", fmt.Sprintf("Invalid value for '%s.type': %q. Supported values are: 'ephemeral'.", path, cc.Type))
	}
	switch llm.CacheTTL(cc.TTL) {
	case "", llm.CacheTTL5m, llm.CacheTTL1h:
		return &llm.CacheControl{TTL: llm.CacheTTL(cc.TTL)}, nil
	}
	return nil, invalidParam(path+".ttl", fmt.Sprintf("Invalid value for '%s.ttl': %q. Supported values are: '5m' and '1h'.", path, cc.TTL))
}

// decodeImage reads an image_url: a base64 data: URL becomes inline bytes,
// an http(s) URL is passed on for the provider to fetch.
func decodeImage(url, path string) (llm.Part, error) {
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		return llm.Image{URL: url}, nil
	}
	mediaType, data, err := decodeDataURL(url)
	if err != nil {
		return nil, invalidParam(path, fmt.Sprintf("Invalid '%s': %v.", path, err))
	}
	if !strings.HasPrefix(mediaType, "image/") {
		return nil, invalidParam(path, fmt.Sprintf("Invalid '%s': media type %q is not an image.", path, mediaType))
	}
	return llm.Image{MediaType: mediaType, Data: data}, nil
}

func decodeFile(wp wirePart, path string) (llm.Part, error) {
	f := wp.File
	switch {
	case f == nil:
		return nil, missing(path)
	case f.FileID != "":
		return nil, invalidParam(path+".file_id", fmt.Sprintf("Invalid '%s.file_id': uploaded files are not supported by this server; send file_data.", path))
	case f.FileData == "":
		return nil, missing(path + ".file_data")
	}
	mediaType, data, err := decodeDataURL(f.FileData)
	if err != nil {
		return nil, invalidParam(path+".file_data", fmt.Sprintf("Invalid '%s.file_data': %v.", path, err))
	}
	return llm.Document{MediaType: mediaType, Data: data, Title: f.Filename}, nil
}

// decodeDataURL decodes "data:<media type>;base64,<data>". net/url has no
// data: URL parser, and only the base64 form makes sense for binaries.
func decodeDataURL(s string) (mediaType string, data []byte, err error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return "", nil, errors.New("expected an http(s) URL or a base64 data: URL")
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return "", nil, errors.New("data: URL has no comma")
	}
	meta, ok = strings.CutSuffix(meta, ";base64")
	if !ok {
		return "", nil, errors.New("data: URL is not base64-encoded")
	}
	mediaType, _, err = mime.ParseMediaType(meta)
	if err != nil {
		return "", nil, fmt.Errorf("data: URL media type %q: %v", meta, err)
	}
	data, err = base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", nil, fmt.Errorf("data: URL payload is not valid base64")
	}
	return mediaType, data, nil
}

func decodeToolCall(tc wireToolCall, path string) (llm.ToolCall, error) {
	switch {
	case tc.Type != "" && tc.Type != "function":
		return llm.ToolCall{}, invalidParam(path+".type", fmt.Sprintf("Invalid value for '%s.type': %q. Supported values are: 'function'.", path, tc.Type))
	case tc.ID == "":
		return llm.ToolCall{}, missing(path + ".id")
	case tc.Function.Name == "":
		return llm.ToolCall{}, missing(path + ".function.name")
	}
	args := strings.TrimSpace(tc.Function.Arguments)
	if args == "" {
		args = "{}"
	}
	if !json.Valid([]byte(args)) {
		return llm.ToolCall{}, invalidParam(path+".function.arguments", fmt.Sprintf("Invalid '%s.function.arguments': not valid JSON.", path))
	}
	return llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Input: json.RawMessage(args)}, nil
}

func decodeTool(wt wireTool, path string) (llm.Tool, error) {
	if wt.Type != "function" {
		if wt.Type == "" {
			return llm.Tool{}, missing(path + ".type")
		}
		return llm.Tool{}, invalidParam(path+".type", fmt.Sprintf("Invalid value for '%s.type': %q. Supported values are: 'function'.", path, wt.Type))
	}
	fn := wt.Function
	if fn == nil {
		return llm.Tool{}, missing(path + ".function")
	}
	if fn.Name == "" {
		return llm.Tool{}, missing(path + ".function.name")
	}
	schema := fn.Parameters
	switch firstByte(schema) {
	case 0, 'n':
		schema = emptyObjectSchema
	case '{':
	default:
		return llm.Tool{}, typeError(path+".function.parameters", "an object", schema)
	}
	cache, err := decodeCacheControl(wt.CacheControl, path+".cache_control")
	if err != nil {
		return llm.Tool{}, err
	}
	return llm.Tool{Name: fn.Name, Description: fn.Description, InputSchema: schema, Cache: cache}, nil
}

func decodeToolChoice(raw json.RawMessage, req *llm.Request) error {
	const path = "tool_choice"
	switch firstByte(raw) {
	case 0, 'n':
		return checkNull(raw, path)
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return typeError(path, "a string or an object", raw)
		}
		switch s {
		case "auto":
			req.ToolChoice = llm.ToolChoice{Mode: llm.ToolAuto}
		case "none":
			req.ToolChoice = llm.ToolChoice{Mode: llm.ToolNone}
		case "required":
			req.ToolChoice = llm.ToolChoice{Mode: llm.ToolAny}
		default:
			return invalidParam(path, fmt.Sprintf("Invalid value for 'tool_choice': %q. Supported values are: 'none', 'auto' and 'required'.", s))
		}
	case '{':
		var tc wireToolChoice
		if err := strictUnmarshal(raw, &tc, path); err != nil {
			return err
		}
		if tc.Type != "function" {
			return invalidParam(path+".type", fmt.Sprintf("Invalid value for 'tool_choice.type': %q. Supported values are: 'function'.", tc.Type))
		}
		if tc.Function == nil || tc.Function.Name == "" {
			return missing(path + ".function.name")
		}
		req.ToolChoice = llm.ToolChoice{Mode: llm.ToolNamed, Name: tc.Function.Name}
	default:
		return typeError(path, "a string or an object", raw)
	}
	if req.ToolChoice.Mode != llm.ToolAuto && req.ToolChoice.Mode != llm.ToolNone && len(req.Tools) == 0 {
		return invalidParam(path, "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
	}
	if req.ToolChoice.Mode == llm.ToolNamed {
		for _, t := range req.Tools {
			if t.Name == req.ToolChoice.Name {
				return nil
			}
		}
		return invalidParam("tool_choice.function.name", fmt.Sprintf("Invalid 'tool_choice': no tool is named %q.", req.ToolChoice.Name))
	}
	return nil
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	switch firstByte(raw) {
	case 0, 'n':
		return nil, checkNull(raw, "stop")
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, typeError("stop", "a string or an array of strings", raw)
		}
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	case '[':
		var ss []string
		if err := strictUnmarshal(raw, &ss, "stop"); err != nil {
			return nil, err
		}
		return ss, nil
	}
	return nil, typeError("stop", "a string or an array of strings", raw)
}

func decodeResponseFormat(raw json.RawMessage) (*llm.OutputSchema, error) {
	const path = "response_format"
	switch firstByte(raw) {
	case 0, 'n':
		return nil, checkNull(raw, path)
	case '{':
	default:
		return nil, typeError(path, "an object", raw)
	}
	var rf wireResponseFormat
	if err := strictUnmarshal(raw, &rf, path); err != nil {
		return nil, err
	}
	switch rf.Type {
	case "text":
		return nil, nil
	case "json_object":
		// Any JSON object: the schema every provider's JSON mode accepts.
		return &llm.OutputSchema{Name: "json_object", Schema: json.RawMessage(`{"type":"object"}`)}, nil
	case "json_schema":
		js := rf.JSONSchema
		if js == nil {
			return nil, missing(path + ".json_schema")
		}
		if js.Name == "" {
			return nil, missing(path + ".json_schema.name")
		}
		if firstByte(js.Schema) != '{' {
			if len(js.Schema) == 0 {
				return nil, missing(path + ".json_schema.schema")
			}
			return nil, typeError(path+".json_schema.schema", "an object", js.Schema)
		}
		return &llm.OutputSchema{Name: js.Name, Schema: js.Schema, Strict: js.Strict != nil && *js.Strict}, nil
	case "":
		return nil, missing(path + ".type")
	}
	return nil, invalidParam(path+".type", fmt.Sprintf("Invalid value for 'response_format.type': %q. Supported values are: 'text', 'json_object' and 'json_schema'.", rf.Type))
}

// decodeReasoningEffort turns the coarse effort levels into thinking
// budgets. The budgets are the inverse of provider/openai's mapping, so an
// effort survives a trip through Keel to an OpenAI model unchanged.
func decodeReasoningEffort(effort string) (*llm.ThinkingConfig, error) {
	budget := 0
	switch effort {
	case "", "none", "minimal":
		return nil, nil
	case "low":
		budget = 2048
	case "medium":
		budget = 8192
	case "high":
		budget = 16384
	case "xhigh", "max":
		budget = 32768
	default:
		return nil, invalidParam("reasoning_effort", fmt.Sprintf("Invalid value for 'reasoning_effort': %q. Supported values are: 'none', 'minimal', 'low', 'medium', 'high' and 'xhigh'.", effort))
	}
	return &llm.ThinkingConfig{BudgetTokens: budget}, nil
}

// locate turns an error of the one-pass decode into one naming the
// message or tool at fault. encoding/json reports neither array indices
// nor where an unknown field was, so on failure (only) the messages and
// tools are decoded again one by one.
func locate(body []byte, err error) error {
	var typeErr *json.UnmarshalTypeError
	nested := strings.HasPrefix(err.Error(), "json: unknown field ")
	if errors.As(err, &typeErr) {
		nested = strings.HasPrefix(typeErr.Field, "messages.") || strings.HasPrefix(typeErr.Field, "tools.")
	}
	if !nested {
		return decodeError("", err, body)
	}
	var raw struct {
		Messages []json.RawMessage `json:"messages"`
		Tools    []json.RawMessage `json:"tools"`
	}
	if json.Unmarshal(body, &raw) == nil {
		for i, m := range raw.Messages {
			if err := strictUnmarshal(m, new(wireMessage), "messages["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		for i, t := range raw.Tools {
			if err := strictUnmarshal(t, new(wireTool), "tools["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return decodeError("", err, body)
}

var errTrailing = errors.New("unexpected data after the JSON value")

// strictDecode decodes data into v, refusing unknown fields and trailing
// data, and returns encoding/json's error as it is.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

// strictUnmarshal is strictDecode reporting failures as *requestError
// under path.
func strictUnmarshal(data []byte, v any, path string) error {
	if err := strictDecode(data, v); err != nil {
		return decodeError(path, err, data)
	}
	return nil
}

// decodeError turns an encoding/json error into OpenAI's wording, with the
// argument's path.
func decodeError(path string, err error, data []byte) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &requestError{
			status: 400,
			param:  joinPath(path, typeErr.Field),
			msg: fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.",
				joinPath(path, typeErr.Field), goTypeName(typeErr.Type), jsonValueName(typeErr.Value)),
		}
	}
	// encoding/json has no typed error for unknown fields; its message is
	// stable ("json: unknown field \"x\"").
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		if path == "" {
			return &requestError{status: 400, msg: "Unrecognized request argument supplied: " + name}
		}
		return &requestError{status: 400, param: path + "." + name,
			msg: fmt.Sprintf("Unrecognized argument supplied at '%s': %s", path, name)}
	}
	if path == "" || err == errTrailing || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return parseError(err)
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return parseError(err)
	}
	return &requestError{status: 400, param: path, msg: fmt.Sprintf("Invalid '%s': %v", path, err)}
}

func parseError(err error) *requestError {
	return &requestError{status: 400, msg: "We could not parse the JSON body of your request: " + strings.TrimPrefix(err.Error(), "json: ")}
}

func joinPath(path, field string) string {
	switch {
	case field == "":
		return path
	case path == "":
		return field
	}
	return path + "." + field
}

func goTypeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		if t == reflect.TypeFor[json.RawMessage]() {
			return "a JSON value"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return goTypeName(t.Elem())
	}
	return "a " + t.String()
}

func jsonValueName(v string) string {
	switch {
	case v == "string":
		return "a string"
	case v == "bool":
		return "a boolean"
	case v == "array":
		return "an array"
	case v == "object":
		return "an object"
	case strings.HasPrefix(v, "number"):
		return "a number"
	}
	return v
}

// typeError reports a union value of the wrong JSON type.
func typeError(path, want string, raw json.RawMessage) error {
	got := "null"
	switch firstByte(raw) {
	case '"':
		got = "a string"
	case '[':
		got = "an array"
	case '{':
		got = "an object"
	case 't', 'f':
		got = "a boolean"
	case 'n', 0:
	default:
		got = "a number"
	}
	return &requestError{status: 400, param: path,
		msg: fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", path, want, got)}
}

func checkNull(raw json.RawMessage, path string) error {
	if len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	return &requestError{status: 400, param: path, msg: fmt.Sprintf("Invalid value for '%s'.", path)}
}

func missing(path string) error {
	return &requestError{status: 400, param: path, msg: fmt.Sprintf("Missing required parameter: '%s'.", path)}
}

func invalidParam(param, msg string) error {
	return &requestError{status: 400, param: param, msg: msg}
}

// firstByte returns the first non-space byte of raw, 0 when there is none.
func firstByte(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

func isSet(raw json.RawMessage) bool {
	c := firstByte(raw)
	return c != 0 && c != 'n'
}
