// Package gemini is Keel's adapter for Google's Gemini Developer API, built
// on the official SDK (google.golang.org/genai) with an API key.
//
//	p := gemini.New(gemini.Options{APIKey: key})
//	m := p.Model("gemini-2.5-flash") // Name() is "gemini/gemini-2.5-flash"
//	resp, err := m.Generate(ctx, &llm.Request{
//		Messages: []llm.Message{llm.UserText("Why is the sky blue?")},
//	})
//
// The adapter passes every setting to the SDK explicitly and never lets it
// read the environment (GOOGLE_API_KEY, GEMINI_API_KEY,
// GOOGLE_GEMINI_BASE_URL, GOOGLE_GENAI_USE_VERTEXAI): Keel's configuration
// resolver owns it. The SDK's HTTP retries and its automatic continuation
// (which re-sends a request, and reconnects a dropped stream, on its own)
// are off, so that Keel's retry middleware is the only one to retry.
//
// Translation, in short:
//
//   - Request.System becomes systemInstruction; roles user and assistant
//     become user and model.
//   - Text, inline images and documents (inlineData), images and documents
//     by URL (fileData), tool calls (functionCall) and tool results
//     (functionResponse, with images and documents in its parts). A tool
//     result needs the function's name: ToolResult.Name, or else the name of
//     the tool call with the same id earlier in the conversation.
//   - Gemini often sends function calls without ids. The adapter then makes
//     up a stable id, "gemini_call_<index>_<hash of name and arguments>",
//     and does not send such ids back upstream.
//   - Thoughts (parts with thought: true) become llm.Thinking. Thought
//     signatures are kept base64-encoded, as on the wire: on a function call
//     in ToolCall.Signature, on a thought in Thinking.Signature, and on a
//     text part as an llm.Thinking with no text right after the text; all go
//     back unchanged on the part they came with.
//   - Tools become functionDeclarations with parametersJsonSchema (the
//     schema as is); ToolChoice becomes functionCallingConfig AUTO, ANY or
//     NONE, with allowedFunctionNames for a named tool. Request.Output asks
//     for application/json with responseJsonSchema; Request.Thinking sets
//     thinkingConfig with includeThoughts (a budget of 0 means Gemini's
//     dynamic budget).
//   - Cache breakpoints (llm.CacheControl) are validated and ignored: Gemini
//     has no inline cache markers; its caching is implicit, or explicit
//     through cachedContents, which Keel does not manage.
//   - Usage: Gemini's promptTokenCount includes cachedContentTokenCount, so
//     InputTokens = prompt − cached (+ toolUsePromptTokenCount),
//     CacheReadTokens = cached, OutputTokens = candidates + thoughts.
//   - finishReason STOP is end_turn, or tool_use when the answer has function
//     calls; MAX_TOKENS is max_tokens; SAFETY, RECITATION, BLOCKLIST,
//     PROHIBITED_CONTENT and SPII are refusal; anything else is unknown. A
//     prompt blocked by promptFeedback.blockReason is a KindContentFilter
//     error.
//
// Errors are *llm.Error values built from Google's error body and the HTTP
// response headers (retry-after, x-goog-request-id), which the adapter's
// transport records per request; a RetryInfo detail's retryDelay sets
// RetryAfter when no header does.
//
// Package keel/llm/llmtest/geminitest emulates the API for tests.
package gemini
