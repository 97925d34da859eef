package llm

import (
	"context"
	"iter"
	"slices"
	"testing"
)

type nopModel struct{ name string }

func (m nopModel) Name() string { return m.name }
func (m nopModel) Generate(context.Context, *Request) (*Response, error) {
	return &Response{Model: m.name}, nil
}
func (m nopModel) Stream(_ context.Context, req *Request) iter.Seq2[Event, error] {
	return StreamResponse(&Response{Model: m.name})
}

func TestChainOrder(t *testing.T) {
	var order []string
	tag := func(name string) Middleware {
		return func(next Model) Model {
			return Funcs{Next: next, GenerateFunc: func(ctx context.Context, req *Request) (*Response, error) {
				order = append(order, name)
				return next.Generate(ctx, req)
			}}
		}
	}
	m := Chain(nopModel{"p/m"}, tag("outer"), tag("inner"))
	if _, err := m.Generate(context.Background(), &Request{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"outer", "inner"}; !slices.Equal(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
	if m.Name() != "p/m" {
		t.Errorf("Funcs without NameFunc must delegate Name, got %q", m.Name())
	}
}

func TestRequestClone(t *testing.T) {
	r := &Request{
		System:   []Text{{Text: "s"}},
		Messages: []Message{UserText("a")},
		Tags:     map[string]string{"k": "v"},
	}
	c := r.Clone()
	c.System[0].Text = "changed"
	c.Messages[0].Parts[0] = Text{Text: "changed"}
	c.Messages = append(c.Messages, UserText("b"))
	c.Tags["k"] = "changed"
	if r.System[0].Text != "s" || r.Messages[0].Text() != "a" || len(r.Messages) != 1 || r.Tags["k"] != "v" {
		t.Errorf("changing the clone changed the original: %+v", r)
	}
}

func TestSplitName(t *testing.T) {
	tests := []struct{ in, provider, model string }{
		{"anthropic/claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6"},
		{"openrouter/meta-llama/llama-3.3-70b", "openrouter", "meta-llama/llama-3.3-70b"},
		{"claude", "", ""},
		{"/m", "", ""},
		{"p/", "", ""},
	}
	for _, tt := range tests {
		p, m, err := SplitName(tt.in)
		if p != tt.provider || m != tt.model || (err != nil) != (tt.provider == "") {
			t.Errorf("SplitName(%q) = %q, %q, %v", tt.in, p, m, err)
		}
	}
}
