package backend

import "context"

// Caller is who is making a request: the API key the server authenticated,
// or the local owner (zero Caller) when the server runs without keys on
// loopback. Front ends read it to scope what a caller sees; the server's
// Models attribute calls to it (the "key" tag of every llm.Request).
type Caller struct {
	// KeyID is the key's id (state.Key.ID); "" for the local owner.
	KeyID string
	// Name is the key's name, for logs.
	Name string
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller in ctx (the zero Caller when none).
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}
