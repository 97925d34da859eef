package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/keelai/keel/llm"
)

// Registry holds tools by name and runs calls to them with a timeout, panic
// recovery and an output size limit. It is immutable once built and safe for
// concurrent use.
type Registry struct {
	tools    map[string]Tool
	order    []string
	timeout  time.Duration
	maxBytes int
}

// RegistryOption configures a Registry.
type RegistryOption func(*Registry)

// WithTimeout bounds each call (default 60s; 0 means no limit). The call's
// context is cancelled at the deadline; a tool that ignores its context
// cannot be stopped, since Go cannot kill a goroutine and abandoning it would
// leak it.
func WithTimeout(d time.Duration) RegistryOption { return func(r *Registry) { r.timeout = d } }

// WithMaxOutput bounds the text a call returns to the model, in bytes
// (default 32 KiB); longer output is truncated with a note.
func WithMaxOutput(n int) RegistryOption { return func(r *Registry) { r.maxBytes = n } }

// NewRegistry returns a registry of tools; names must be unique.
func NewRegistry(tools []Tool, opts ...RegistryOption) (*Registry, error) {
	r := &Registry{tools: map[string]Tool{}, timeout: time.Minute, maxBytes: 32 << 10}
	for _, o := range opts {
		o(r)
	}
	for i, t := range tools {
		if t == nil {
			return nil, fmt.Errorf("tool: registry: tool %d is nil", i)
		}
		name := t.Spec().Name
		if _, dup := r.tools[name]; dup {
			return nil, fmt.Errorf("tool: registry: two tools named %q", name)
		}
		r.tools[name] = t
		r.order = append(r.order, name)
	}
	return r, nil
}

// With returns a new registry holding r's tools and more, with r's options.
func (r *Registry) With(tools ...Tool) (*Registry, error) {
	all := make([]Tool, 0, len(r.order)+len(tools))
	for _, n := range r.order {
		all = append(all, r.tools[n])
	}
	return NewRegistry(append(all, tools...), func(n *Registry) { n.timeout, n.maxBytes = r.timeout, r.maxBytes })
}

// Get returns the tool named name.
func (r *Registry) Get(name string) (Tool, bool) {
	t, ok := r.tools[name]
	return t, ok
}

// Names returns the tools' names in registration order.
func (r *Registry) Names() []string { return slices.Clone(r.order) }

// Specs returns the tools' descriptions for llm.Request.Tools, in
// registration order.
func (r *Registry) Specs() []llm.Tool {
	specs := make([]llm.Tool, 0, len(r.order))
	for _, n := range r.order {
		specs = append(specs, r.tools[n].Spec())
	}
	return specs
}

// Run executes one call and always returns its result: an unknown tool,
// arguments that are not valid JSON (as when max_tokens cut the call short),
// input that fails validation, an error, a panic or a timeout each become a
// result with IsError set whose text tells the model what went wrong, so the
// conversation can go on.
func (r *Registry) Run(ctx context.Context, call llm.ToolCall) llm.ToolResult {
	res := llm.ToolResult{CallID: call.ID, Name: call.Name}
	fail := func(msg string) llm.ToolResult {
		res.IsError = true
		res.Content = []llm.Part{llm.Text{Text: r.truncate(llm.Redact(msg))}}
		return res
	}
	t, ok := r.tools[call.Name]
	if !ok {
		return fail(fmt.Sprintf("unknown tool %q; available tools: %v", call.Name, slices.Sorted(maps.Keys(r.tools))))
	}
	if len(call.Input) > 0 && !json.Valid(call.Input) {
		return fail(fmt.Sprintf("the arguments for %s are not valid JSON (perhaps cut off by the output token limit); call it again with complete, shorter arguments", call.Name))
	}
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	parts, err := r.call(ctx, t, call.Input)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && r.timeout > 0:
		return fail(fmt.Sprintf("tool %s timed out after %v", call.Name, r.timeout))
	case err != nil:
		return fail(err.Error())
	}
	res.Content = r.limit(parts)
	return res
}

// call runs t, turning a panic into an error so that one faulty tool cannot
// bring down the agent.
func (r *Registry) call(ctx context.Context, t Tool, input json.RawMessage) (parts []llm.Part, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tool %s panicked: %v", t.Spec().Name, p)
		}
	}()
	return t.Call(ctx, input)
}

// limit truncates the text parts of a result so that together they fit in
// maxBytes.
func (r *Registry) limit(parts []llm.Part) []llm.Part {
	if r.maxBytes <= 0 {
		return parts
	}
	out := make([]llm.Part, 0, len(parts))
	budget := r.maxBytes
	for _, p := range parts {
		t, ok := p.(llm.Text)
		if !ok {
			out = append(out, p)
			continue
		}
		if len(t.Text) > budget {
			total := len(t.Text)
			t.Text = cut(t.Text, budget) + fmt.Sprintf("\n[output truncated: %d of %d bytes shown]", len(cut(t.Text, budget)), total)
			out = append(out, t)
			budget = 0
			continue
		}
		budget -= len(t.Text)
		out = append(out, t)
	}
	return out
}

// truncate bounds an error message. Error messages get at least 1 KiB even
// under a smaller output limit, since a cut explanation helps no model.
func (r *Registry) truncate(s string) string {
	if n := max(r.maxBytes, 1<<10); r.maxBytes > 0 && len(s) > n {
		return cut(s, n) + "\n[message truncated]"
	}
	return s
}

// cut returns the longest prefix of s of at most n bytes that does not split
// a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
