// Package anthropictest is a wire emulator of the Anthropic Messages API: an
// httptest server that speaks the API's JSON and server-sent events closely
// enough that the official anthropic-sdk-go (and Keel's adapter on top of it)
// cannot tell it from the real service. Tests use it to run code that talks
// to Claude with no network and no API key, and to inject the faults a real
// service produces: error statuses with their headers, slow and dripping
// streams, connections dropped mid-stream and malformed events.
//
// The emulator answers POST /v1/messages (JSON, or SSE when the body says
// "stream": true) and POST /v1/messages/count_tokens. Each Messages call takes
// the next scripted llmtest.WireReply; when the script is empty it echoes the
// text of the last user message, so a program can be pointed at it with no
// script at all. Every request is recorded, token counts included.
//
// A test that checks what reaches the wire and what comes back:
//
//	func TestGreeting(t *testing.T) {
//		srv := anthropictest.NewServer(t)
//		srv.Enqueue(llmtest.WireReply{Response: &llm.Response{
//			Content:    []llm.Part{llm.Text{Text: "Hello!"}},
//			StopReason: llm.StopEndTurn,
//			Usage:      llm.Usage{InputTokens: 12, OutputTokens: 3},
//		}})
//		m := anthropic.New(anthropic.Options{APIKey: "test-key", BaseURL: srv.URL}).
//			Model("claude-sonnet-4-6")
//		resp, err := m.Generate(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("Hi")}})
//		...
//		body := srv.Requests()[0].Body // the JSON the SDK sent
//	}
//
// and one that checks how the code under test survives an overloaded API and
// a stream cut after three events:
//
//	srv.Enqueue(
//		llmtest.WireReply{Fault: llmtest.Fault{Status: 529, Header: http.Header{"Retry-After": {"2"}}}},
//		llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Drop: true, DropAfter: 3}},
//	)
//
// It also answers the Message Batches endpoints (POST /v1/messages/batches,
// GET …/{id}, GET …/{id}/results as JSONL, POST …/{id}/cancel). A batch
// stays in_progress until the test moves it: ProcessBatches answers pending
// requests with the script (an error Fault makes that request errored),
// ExpireBatches expires what is left, EndBatchesAfter ends batches on their
// nth retrieval. Results come back in reverse order, as the real API does
// not keep the order either.
//
// Outside tests (a demo, the CLI), New starts a server that the caller closes.
//
// What the emulator checks, as the API does: a credential (x-api-key or
// Authorization: Bearer) is present, the anthropic-version header is set, the
// body is JSON with model, max_tokens and messages, and, for API version
// 2026-10-21 and later, that it carries no temperature, top_p or top_k. A
// rejected request is recorded but takes no scripted reply.
package anthropictest
