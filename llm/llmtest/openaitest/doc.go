// Package openaitest is a wire emulator of the OpenAI Chat Completions API:
// an httptest server that answers POST /v1/chat/completions as OpenAI does,
// in JSON or, when the client asks for a stream, as server-sent
// chat.completion.chunk events ending with the usage chunk and "[DONE]". The
// official openai-go SDK cannot tell it from the real API, so code built on
// Keel (or on the SDK) can be tested with no network and no key.
//
// Script replies with Enqueue; each request takes the next one. A reply's
// llm.Response is rendered in OpenAI's format; its Fault makes the server
// misbehave (an error status with OpenAI's error body, retry-after headers,
// latency, a slow drip, a connection dropped after N events, a malformed
// event). With the script empty, the server echoes the last user message.
// Every request is recorded (Requests) for assertions on the wire body.
//
//	func TestSummary(t *testing.T) {
//		srv := openaitest.NewServer(t)
//		srv.Enqueue(llmtest.WireReply{Response: &llm.Response{
//			Content:    []llm.Part{llm.Text{Text: "A short summary."}},
//			StopReason: llm.StopEndTurn,
//			Usage:      llm.Usage{InputTokens: 12, OutputTokens: 4},
//		}})
//		m := openai.New(openai.Options{APIKey: "sk-test", BaseURL: srv.URL}).Model("gpt-4.1-mini")
//		got, err := summarize(ctx, m, text) // your code
//		...
//		body := srv.Requests()[0].Body // the JSON your code sent
//	}
//
// The server checks auth as OpenAI does: no bearer token gets OpenAI's 401
// body; RequireAPIKey makes any other key a 401 too. SetCompat makes it
// behave like an OpenAI-compatible server instead (no key needed, no usage,
// no ids, empty deltas, interleaved tool-call deltas). Thinking parts are
// rendered as reasoning_content, as DeepSeek and vLLM send them.
//
// The Batch API is there too: POST /v1/files (multipart) and GET
// /v1/files/{id}/content, POST /v1/batches, GET /v1/batches/{id} and POST
// /v1/batches/{id}/cancel. A batch stays in_progress until the test moves it
// (ProcessBatches, ExpireBatches, EndBatchesAfter); each request it runs
// takes the next scripted reply and is recorded as a chat completion, while
// the Files and Batches calls themselves are not recorded. An input file
// with a bad line makes the batch "failed" with errors naming the line.
//
// Start runs a server outside a test (for a CLI or a demo); Close stops it.
package openaitest
