package geminitest

//lint:file-ignore ST1005 the emulator's error messages are the Gemini API's own, verbatim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The types below follow the Gemini API's JSON (v1beta). Requests are
// decoded strictly, as the API does: an unknown field is a 400, which is how
// an adapter sending a misspelt or misplaced field finds out in tests.

type wireRequest struct {
	Model             string            `json:"model,omitempty"` // in a countTokens generateContentRequest
	Contents          []wireContent     `json:"contents"`
	SystemInstruction *wireContent      `json:"systemInstruction,omitempty"`
	Tools             []wireTool        `json:"tools,omitempty"`
	ToolConfig        *wireToolConfig   `json:"toolConfig,omitempty"`
	GenerationConfig  *wireGenConfig    `json:"generationConfig,omitempty"`
	SafetySettings    []json.RawMessage `json:"safetySettings,omitempty"`
	CachedContent     string            `json:"cachedContent,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	ServiceTier       string            `json:"serviceTier,omitempty"`
	Store             *bool             `json:"store,omitempty"`
}

type wireCountRequest struct {
	Contents               []wireContent `json:"contents,omitempty"`
	GenerateContentRequest *wireRequest  `json:"generateContentRequest,omitempty"`
}

type wireContent struct {
	Role  string     `json:"role,omitempty"`
	Parts []wirePart `json:"parts"`
}

type wirePart struct {
	Text                *string               `json:"text,omitempty"`
	Thought             bool                  `json:"thought,omitempty"`
	ThoughtSignature    []byte                `json:"thoughtSignature,omitempty"`
	InlineData          *wireBlob             `json:"inlineData,omitempty"`
	FileData            *wireFileData         `json:"fileData,omitempty"`
	FunctionCall        *wireFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse    *wireFunctionResponse `json:"functionResponse,omitempty"`
	ExecutableCode      json.RawMessage       `json:"executableCode,omitempty"`
	CodeExecutionResult json.RawMessage       `json:"codeExecutionResult,omitempty"`
	VideoMetadata       json.RawMessage       `json:"videoMetadata,omitempty"`
	MediaResolution     json.RawMessage       `json:"mediaResolution,omitempty"`
}

type wireBlob struct {
	MIMEType    string `json:"mimeType"`
	Data        []byte `json:"data"`
	DisplayName string `json:"displayName,omitempty"`
}

type wireFileData struct {
	MIMEType    string `json:"mimeType,omitempty"`
	FileURI     string `json:"fileUri"`
	DisplayName string `json:"displayName,omitempty"`
}

type wireFunctionCall struct {
	ID   string         `json:"id,omitempty"`
	Name string         `json:"name"`
	Args map[string]any `json:"args,omitempty"`
}

type wireFunctionResponse struct {
	ID           string                     `json:"id,omitempty"`
	Name         string                     `json:"name"`
	Response     map[string]any             `json:"response"`
	Parts        []wireFunctionResponsePart `json:"parts,omitempty"`
	WillContinue *bool                      `json:"willContinue,omitempty"`
	Scheduling   string                     `json:"scheduling,omitempty"`
}

type wireFunctionResponsePart struct {
	InlineData *wireBlob     `json:"inlineData,omitempty"`
	FileData   *wireFileData `json:"fileData,omitempty"`
}

type wireTool struct {
	FunctionDeclarations  []wireFunctionDeclaration `json:"functionDeclarations,omitempty"`
	GoogleSearch          json.RawMessage           `json:"googleSearch,omitempty"`
	GoogleSearchRetrieval json.RawMessage           `json:"googleSearchRetrieval,omitempty"`
	CodeExecution         json.RawMessage           `json:"codeExecution,omitempty"`
	URLContext            json.RawMessage           `json:"urlContext,omitempty"`
}

type wireFunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
	Response             json.RawMessage `json:"response,omitempty"`
	ResponseJSONSchema   json.RawMessage `json:"responseJsonSchema,omitempty"`
	Behavior             string          `json:"behavior,omitempty"`
}

type wireToolConfig struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode,omitempty"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	} `json:"functionCallingConfig,omitempty"`
	RetrievalConfig json.RawMessage `json:"retrievalConfig,omitempty"`
}

type wireGenConfig struct {
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *float64        `json:"topK,omitempty"`
	CandidateCount     int             `json:"candidateCount,omitempty"`
	MaxOutputTokens    int             `json:"maxOutputTokens,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	Seed               *int            `json:"seed,omitempty"`
	ResponseMIMEType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ResponseModalities []string        `json:"responseModalities,omitempty"`
	ResponseLogprobs   bool            `json:"responseLogprobs,omitempty"`
	Logprobs           *int            `json:"logprobs,omitempty"`
	MediaResolution    string          `json:"mediaResolution,omitempty"`
	SpeechConfig       json.RawMessage `json:"speechConfig,omitempty"`
	ThinkingConfig     *struct {
		IncludeThoughts bool   `json:"includeThoughts,omitempty"`
		ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
		ThinkingLevel   string `json:"thinkingLevel,omitempty"`
	} `json:"thinkingConfig,omitempty"`
}

// Response shapes.

type wireResponse struct {
	Candidates     []wireCandidate     `json:"candidates,omitempty"`
	PromptFeedback *wirePromptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *wireUsage          `json:"usageMetadata,omitempty"`
	ModelVersion   string              `json:"modelVersion"`
	ResponseID     string              `json:"responseId"`
}

type wireCandidate struct {
	Content      wireOutContent `json:"content"`
	FinishReason string         `json:"finishReason,omitempty"`
	Index        int            `json:"index"`
}

// wireOutContent is a candidate's content; unlike a request's, its parts
// may be absent (a stopped candidate with nothing to say).
type wireOutContent struct {
	Parts []wirePart `json:"parts,omitempty"`
	Role  string     `json:"role"`
}

type wirePromptFeedback struct {
	BlockReason string `json:"blockReason"`
}

type wireUsage struct {
	PromptTokenCount        int                 `json:"promptTokenCount"`
	CandidatesTokenCount    int                 `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int                 `json:"totalTokenCount"`
	CachedContentTokenCount int                 `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int                 `json:"thoughtsTokenCount,omitempty"`
	PromptTokensDetails     []wireModalityCount `json:"promptTokensDetails,omitempty"`
}

type wireModalityCount struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

type wireCountResponse struct {
	TotalTokens         int                 `json:"totalTokens"`
	PromptTokensDetails []wireModalityCount `json:"promptTokensDetails,omitempty"`
}

// Errors: {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED"}}.

type wireErrorEnvelope struct {
	Error wireError `json:"error"`
}

type wireError struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details,omitempty"`
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data, and phrases failures as the API does.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("Invalid JSON payload received. Unknown name %s: Cannot find field.", f)
		}
		return fmt.Errorf("Invalid JSON payload received. %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("Invalid JSON payload received. Unexpected token after the JSON value.")
	}
	return nil
}

// checkContents applies the API's checks on contents: roles, non-empty
// parts, each part holding exactly one kind of data, named functions.
func checkContents(field string, contents []wireContent, system bool) error {
	for i, c := range contents {
		where := fmt.Sprintf("%s[%d]", field, i)
		if system {
			where = field
		}
		if !system && c.Role != "" && c.Role != "user" && c.Role != "model" {
			return errors.New("Please use a valid role: user, model.")
		}
		if len(c.Parts) == 0 {
			return fmt.Errorf("* GenerateContentRequest.%s.parts: contents.parts must not be empty.", where)
		}
		for j, p := range c.Parts {
			n := 0
			for _, set := range []bool{p.Text != nil, p.InlineData != nil, p.FileData != nil, p.FunctionCall != nil,
				p.FunctionResponse != nil, p.ExecutableCode != nil, p.CodeExecutionResult != nil} {
				if set {
					n++
				}
			}
			pw := fmt.Sprintf("GenerateContentRequest.%s.parts[%d]", where, j)
			switch {
			case n == 0 && p.ThoughtSignature == nil:
				return fmt.Errorf("* %s.data: required oneof field 'data' must have one initialized field", pw)
			case n > 1:
				return fmt.Errorf("* %s.data: oneof field 'data' is already set. Cannot set more than one data field", pw)
			case p.InlineData != nil && p.InlineData.MIMEType == "":
				return fmt.Errorf("* %s.inline_data.mime_type: mime_type must not be empty", pw)
			case p.FileData != nil && p.FileData.FileURI == "":
				return fmt.Errorf("* %s.file_data.file_uri: file_uri must not be empty", pw)
			case p.FunctionCall != nil && p.FunctionCall.Name == "":
				return fmt.Errorf("* %s.function_call.name: Name cannot be empty.", pw)
			case p.FunctionResponse != nil && p.FunctionResponse.Name == "":
				return fmt.Errorf("* %s.function_response.name: Name cannot be empty.", pw)
			}
		}
	}
	return nil
}

// checkRequest validates a generateContent body the way the API does and
// returns the message of its 400 INVALID_ARGUMENT, or nil.
func checkRequest(req *wireRequest) error {
	if len(req.Contents) == 0 {
		return errors.New("* GenerateContentRequest.contents: contents is not specified")
	}
	if err := checkContents("contents", req.Contents, false); err != nil {
		return err
	}
	if req.SystemInstruction != nil {
		if err := checkContents("system_instruction", []wireContent{*req.SystemInstruction}, true); err != nil {
			return err
		}
	}
	names := map[string]bool{}
	for i, t := range req.Tools {
		for j, d := range t.FunctionDeclarations {
			if d.Name == "" {
				return fmt.Errorf("* GenerateContentRequest.tools[%d].function_declarations[%d].name: Name cannot be empty.", i, j)
			}
			if d.Parameters != nil && d.ParametersJSONSchema != nil {
				return fmt.Errorf("* GenerateContentRequest.tools[%d].function_declarations[%d]: parameters and parameters_json_schema are mutually exclusive.", i, j)
			}
			names[d.Name] = true
		}
	}
	if tc := req.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		fc := tc.FunctionCallingConfig
		switch fc.Mode {
		case "", "AUTO", "ANY", "NONE", "VALIDATED":
		default:
			return fmt.Errorf("Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), %q", fc.Mode)
		}
		for _, n := range fc.AllowedFunctionNames {
			if !names[n] {
				return fmt.Errorf("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: function %q is not declared.", n)
			}
		}
		if len(fc.AllowedFunctionNames) > 0 && fc.Mode != "ANY" {
			return errors.New("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: only allowed when mode is ANY.")
		}
	}
	if g := req.GenerationConfig; g != nil {
		if g.ResponseSchema != nil && g.ResponseJSONSchema != nil {
			return errors.New("* GenerateContentRequest.generation_config: response_schema and response_json_schema are mutually exclusive.")
		}
		if (g.ResponseSchema != nil || g.ResponseJSONSchema != nil) && g.ResponseMIMEType != "application/json" {
			return errors.New("* GenerateContentRequest.generation_config.response_mime_type: a response schema needs response_mime_type application/json.")
		}
		if g.CandidateCount > 1 {
			return errors.New("* GenerateContentRequest.generation_config.candidate_count: this emulator answers one candidate.")
		}
	}
	return nil
}
