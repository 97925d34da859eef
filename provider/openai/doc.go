// Package openai is Keel's adapter for the OpenAI Chat Completions API and
// for the many servers that speak it (Ollama, vLLM, llama.cpp server, LM
// Studio, Groq, OpenRouter, Together), over the official openai-go SDK.
//
//	p := openai.New(openai.Options{APIKey: key})
//	m := p.Model("gpt-4.1-mini") // an llm.Model named "openai/gpt-4.1-mini"
//	resp, err := m.Generate(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("Hi")}})
//
// and, for a local Ollama (no key needed):
//
//	p := openai.New(openai.Options{Name: "ollama", BaseURL: openai.OllamaBaseURL(os.Getenv("OLLAMA_HOST"))})
//
// # OpenAI and compatible servers
//
// A provider whose BaseURL is empty or on api.openai.com talks to OpenAI
// itself; any other base URL is taken for a compatible server. Two things
// differ: OpenAI gets max_completion_tokens (its reasoning models reject
// max_tokens) and prompt-cache breakpoints on content parts, while
// compatible servers get max_tokens (the field they all know) and no
// breakpoints (a strict server would reject the unknown field). Responses
// from compatible servers may lack usage, ids, or a finish reason on the
// usage chunk, and may send reasoning as reasoning_content or reasoning:
// all are tolerated, and reasoning becomes an llm.Thinking part.
//
// # Translation
//
//   - Request.System becomes one "system" message (not "developer": every
//     compatible server knows "system", and OpenAI reads it as developer
//     instructions for the models that want them).
//   - Images go as image_url parts (inline data as a data: URL); PDFs as
//     file parts with base64 file_data; plain-text documents as text parts
//     headed by their title.
//   - Tool results become "tool" messages, placed before the rest of their
//     user turn; a failed result's text is prefixed with ToolErrorPrefix,
//     since the API has no error flag. Tool results can hold only text.
//   - Thinking parts are dropped when sending: Chat Completions takes no
//     reasoning back.
//   - Request.Thinking maps to reasoning_effort (budget ≤ 2048 low, ≤ 8192
//     medium, above high); Request.Output to a json_schema response format.
//   - Usage: prompt_tokens includes cached_tokens (and cache_write_tokens),
//     so InputTokens = prompt_tokens − cached − written.
//   - finish_reason stop → end_turn (tool_use when the message calls tools),
//     length → max_tokens, tool_calls and function_call → tool_use,
//     content_filter → refusal, anything else → unknown.
//
// # Errors
//
// Every failure is an *llm.Error. Beyond the status: context_length_exceeded
// is KindContextLength; insufficient_quota is KindRateLimited with
// ShouldRetry false (waiting does not bring credit back, but a fallback
// model may help); content_filter is KindContentFilter. A stream cut before
// its finish_reason and "[DONE]" is KindNetwork wrapping llm.ErrIncomplete.
//
// The SDK never reads the environment here and never retries: Keel's
// resolver and retry middleware own both.
package openai
