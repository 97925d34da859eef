package tool_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/tool"
)

func TestNewRejectsBadTools(t *testing.T) {
	fn := func(ctx context.Context, in cityIn) (string, error) { return "", nil }
	tests := []struct {
		name string
		make func() error
		want string
	}{
		{"bad name", func() error { _, err := tool.New("has space", "", fn); return err }, `name "has space"`},
		{"empty name", func() error { _, err := tool.New("", "", fn); return err }, `name ""`},
		{"non-struct input", func() error {
			_, err := tool.New("n", "", func(ctx context.Context, in int) (int, error) { return in, nil })
			return err
		}, "must be a struct"},
		{"nil function", func() error {
			_, err := tool.New[cityIn, string]("n", "", nil)
			return err
		}, "nil function"},
		{"duplicate names", func() error {
			_, err := tool.NewRegistry([]tool.Tool{tool.Must("a", "", fn), tool.Must("a", "", fn)})
			return err
		}, `two tools named "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.make(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSpecSchema(t *testing.T) {
	spec := tool.Must("weather", "Current weather", func(ctx context.Context, in cityIn) (string, error) { return "", nil }).Spec()
	want := `{"type":"object","properties":{"city":{"type":"string","description":"the city"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"],"additionalProperties":false}`
	if diff := cmp.Diff(want, string(spec.InputSchema)); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
}

func TestRegistryRun(t *testing.T) {
	big := tool.Must("big", "", func(ctx context.Context, in struct{}) (string, error) {
		return strings.Repeat("é", 20), nil // 40 bytes
	})
	obj := tool.Must("obj", "", func(ctx context.Context, in struct{}) (map[string]int, error) {
		return map[string]int{"n": 1}, nil
	})
	slow := tool.Must("slow", "", func(ctx context.Context, in struct{}) (string, error) {
		<-ctx.Done() // returns only when the registry's timeout cancels it
		return "", ctx.Err()
	})
	leak := tool.Must("leak", "", func(ctx context.Context, in struct{}) (string, error) {
		return "", &llm.Error{Kind: llm.KindAuth, Message: "bad key sk-abcdefghijklmnop"}
	})
	r, err := tool.NewRegistry([]tool.Tool{big, obj, slow, leak}, tool.WithMaxOutput(11), tool.WithTimeout(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		call    string
		isError bool
		want    string
	}{
		{"big", false, "ééééé\n[output truncated: 10 of 40 bytes shown]"},
		{"obj", false, `{"n":1}`},
		{"slow", true, "tool slow timed out after 1ms"},
		{"leak", true, "auth: bad key [REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.call, func(t *testing.T) {
			res := r.Run(context.Background(), llm.ToolCall{ID: "x", Name: tt.call, Input: []byte(`{}`)})
			got := res.Content[0].(llm.Text).Text
			if res.IsError != tt.isError || !strings.HasPrefix(got, strings.SplitN(tt.want, "\n", 2)[0]) || (!tt.isError && got != tt.want) {
				t.Errorf("Run(%s) = %q error=%v, want %q error=%v", tt.call, got, res.IsError, tt.want, tt.isError)
			}
			if res.CallID != "x" || res.Name != tt.call {
				t.Errorf("result ids = %q %q", res.CallID, res.Name)
			}
		})
	}
	if diff := cmp.Diff([]string{"big", "obj", "slow", "leak"}, r.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	r2, err := r.With(weatherTool(t))
	if err != nil || len(r2.Names()) != 5 || len(r.Names()) != 4 {
		t.Errorf("With: %v, %v; original %v", r2.Names(), err, r.Names())
	}
}

func FuzzTypedToolInput(f *testing.F) {
	for _, s := range []string{`{"city":"Oslo"}`, `{"city":1}`, `{`, `null`, `[]`, `{"city":"a","unit":"f","x":1}`, ``} {
		f.Add([]byte(s))
	}
	tl := tool.Must("weather", "", func(ctx context.Context, in cityIn) (string, error) {
		if in.City == "" && in.Unit != "" {
			return "", nil
		}
		return in.City, nil
	})
	r, err := tool.NewRegistry([]tool.Tool{tl})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		res := r.Run(context.Background(), llm.ToolCall{ID: "1", Name: "weather", Input: input})
		if len(res.Content) == 0 && !res.IsError {
			t.Fatalf("input %q: empty successful result", input)
		}
	})
}
