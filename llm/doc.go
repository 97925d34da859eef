// Package llm is Keel's provider-neutral core: the conversation (messages made
// of typed parts), the request, the response with a normalised stop reason and
// usage, a typed error taxonomy, streaming events, and the Model interface that
// every provider adapter and every middleware implements.
//
// Nothing in llm imports a provider, a database or a server. Providers live in
// keel/provider/...; middleware are func(Model) Model values composed with
// Chain, in the same way as net/http handlers.
//
// The shortest useful program:
//
//	m, err := provider.Open("anthropic/claude-sonnet-4-6") // resolves the name; no network call
//	...
//	resp, err := m.Generate(ctx, &llm.Request{
//		Messages: []llm.Message{llm.UserText("Why is the sky blue?")},
//	})
//	fmt.Println(resp.Text())
//
// and the same, streamed:
//
//	for ev, err := range m.Stream(ctx, req) {
//		if err != nil { ... }
//		fmt.Print(ev.Text)
//	}
package llm
