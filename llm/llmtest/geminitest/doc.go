// Package geminitest is a wire emulator of the Gemini API (the Developer
// API, v1beta): an httptest server that speaks the API's JSON and
// server-sent events closely enough that the official SDK
// (google.golang.org/genai), and Keel's gemini adapter on top of it, cannot
// tell it from the real service. Tests use it to run code that talks to
// Gemini with no network and no API key, and to inject the faults a real
// service produces: error statuses with their headers, slow and dripping
// streams, connections dropped mid-stream, malformed and error events.
//
// The emulator answers POST /{version}/models/{model}:generateContent
// (JSON), :streamGenerateContent (SSE with ?alt=sse, otherwise one JSON
// array) and :countTokens. Each generation call takes the next scripted
// llmtest.WireReply; when the script is empty it echoes the text of the last
// user turn, so a program can be pointed at it with no script at all.
// Every request is recorded.
//
// A test that checks what reaches the wire and what comes back:
//
//	func TestGreeting(t *testing.T) {
//		srv := geminitest.NewServer(t)
//		srv.Enqueue(llmtest.WireReply{Response: &llm.Response{
//			Content:    []llm.Part{llm.Text{Text: "Hello!"}},
//			StopReason: llm.StopEndTurn,
//			Usage:      llm.Usage{InputTokens: 12, OutputTokens: 3},
//		}})
//		m := gemini.New(gemini.Options{APIKey: "test-key", BaseURL: srv.URL}).
//			Model("gemini-2.5-flash")
//		resp, err := m.Generate(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("Hi")}})
//		...
//		body := srv.Requests()[0].Body // the JSON the SDK sent
//	}
//
// and one that checks how the code under test survives a rate limit and a
// stream cut after three chunks:
//
//	srv.Enqueue(
//		llmtest.WireReply{Fault: llmtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"2"}}}},
//		llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Drop: true, DropAfter: 3}},
//	)
//
// The SDK can also be used directly:
//
//	client, _ := genai.NewClient(ctx, &genai.ClientConfig{
//		APIKey: "test-key", Backend: genai.BackendGeminiAPI,
//		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
//	})
//
// Outside tests (a demo, the CLI), New starts a server that the caller
// closes.
//
// How scripted responses are rendered:
//
//   - Text becomes text parts; llm.Thinking becomes parts with thought: true;
//     tool calls become functionCall parts (with an id only when the
//     ToolCall has one: the real API mostly sends none). Signatures are
//     Keel's form of thoughtSignature, base64, and must decode as such; a
//     llm.Thinking with a signature and no text puts its signature on the
//     part before it, which is how the adapter represents a signature on a
//     text part.
//   - A streamed answer sends text and thoughts in word-sized chunks,
//     function calls whole, and the finishReason (STOP, MAX_TOKENS, SAFETY,
//     OTHER) on the last chunk; every chunk carries usageMetadata.
//   - Usage: promptTokenCount is InputTokens + CacheReadTokens (cache
//     writes, which Gemini does not have, count as prompt tokens);
//     cachedContentTokenCount is CacheReadTokens; thoughtsTokenCount is one
//     per word of thinking (at most OutputTokens) and candidatesTokenCount
//     the rest of OutputTokens.
//   - A response with StopReason llm.StopRefusal and no content is a blocked
//     prompt: promptFeedback.blockReason SAFETY and no candidates.
//
// Faults: Status answers with Google's error body,
// {"error":{"code","message","status"}} (ErrorBody builds custom ones, with
// details such as RetryInfo); Header, Latency, Drip, Drop/DropAfter and
// Malformed/MalformedAfter apply as llmtest documents them (Drop and
// Malformed also apply to non-streamed answers: half a body, or a body that
// is not JSON). StreamError makes a stream fail with an error event.
//
// What the emulator checks, as the API does: a credential (x-goog-api-key,
// ?key= or a bearer token; any value) is present, else 403
// PERMISSION_DENIED; the body is JSON with no unknown field; contents are
// present with roles user or model, non-empty parts, and one kind of data
// per part; function declarations and responses are named; the
// allowed function names are declared. A rejected request is recorded but
// takes no scripted reply.
//
// countTokens never takes a scripted reply. It counts deterministically:
// one token per 4 bytes of text (rounded up), 258 per image or document,
// function calls, responses and declarations by their JSON; it accepts
// contents or a generateContentRequest. An echoed answer's usage is counted
// the same way.
package geminitest
