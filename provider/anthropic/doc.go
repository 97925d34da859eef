// Package anthropic adapts Anthropic's Messages API (Claude) to llm.Model,
// over the official anthropic-sdk-go.
//
//	p := anthropic.New(anthropic.Options{APIKey: key})
//	m := p.Model("claude-sonnet-4-6") // Name() is "anthropic/claude-sonnet-4-6"
//	resp, err := m.Generate(ctx, &llm.Request{
//		System:   []llm.Text{{Text: longInstructions, Cache: &llm.CacheControl{}}},
//		Messages: []llm.Message{llm.UserText("Hello")},
//	})
//
// The adapter takes its configuration from Options only: it never reads
// ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL or any other environment variable
// (Keel's config resolver does that), and the SDK's own retries are off, so
// that Keel's retry middleware is the one owner of retries.
//
// What maps to what:
//
//   - Every llm part type both ways: text, image (base64 or URL), document
//     (PDF base64 or URL, plain text), tool_use, tool_result (is_error, text
//     and image content), thinking with its signature and redacted_thinking,
//     unchanged so that they verify when sent back.
//   - CacheControl becomes cache_control (ttl "5m" or "1h") on system blocks,
//     tool definitions and every content block that carries one.
//   - Usage: input_tokens → InputTokens (it already excludes the cache),
//     cache_read_input_tokens → CacheReadTokens, and cache creation split into
//     CacheWriteTokens (5 minutes) and CacheWrite1hTokens (1 hour); when the
//     API sends no split, all creation tokens are 5-minute ones. In streams,
//     message_start and message_delta both carry usage: the latest non-zero
//     value of each field wins, nothing is added twice.
//   - Stop reasons map one to one; model_context_window_exceeded becomes
//     StopMaxTokens (the answer was cut by a token limit, the context window
//     instead of max_tokens, and is handled the same way); others StopUnknown.
//   - Errors become *llm.Error, refined by the API's error type
//     (overloaded_error → KindOverloaded, "prompt is too long" →
//     KindContextLength, ...), with retry-after and the request id.
//   - Request.Output becomes output_config.format (json_schema); Thinking
//     becomes thinking {type: enabled, budget_tokens}.
//   - MaxTokens 0 becomes the model's output limit from a small table of
//     current models, else 4096.
//   - Temperature and TopP: API version 2026-10-21, which this SDK sends,
//     rejects them. A request that sets either is sent with API version
//     2023-06-01, which still takes them; a model that refuses sampling
//     parameters outright answers with an invalid-request error.
//
// Anthropic-specific checks happen before anything is sent: a part the API
// cannot take in its place (an image in an assistant message, a tool call in
// a user message, an unsupported media type, a bad cache TTL) is a
// KindInvalidRequest error naming the message and part.
//
// Tests run the adapter against llm/llmtest/anthropictest, an emulator of
// the API that the official SDK cannot tell from the real one.
package anthropic
