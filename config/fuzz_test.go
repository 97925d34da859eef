package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, must
// fail with a one-line *Error, and must return only configurations that
// pass its own validation.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"providers:\n  openai:\n    api_key: sk-x\n",
		"models:\n  a: {provider: openai, model: m, fallbacks: [b]}\n  b: {provider: openai, model: m, fallbacks: [a]}\n",
		"models:\n  a:\n    provider: openai\n    model: m\n    price: {input: 1e3}\n",
		"x: &a [1, *a]\n",
		"base: &b {provider: openai, model: m}\nmodels:\n  a:\n    <<: *b\n",
		"limits:\n  request_timeout: 1h\n",
		"server: !!map {addr: ':8080'}\n",
		"- [[[[[]]]]]\n",
		"{\"providers\": {\"openai\": {\"type\": \"openai\"}}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("keel.yaml", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err.Error())
			}
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if probs := c.validate(); len(probs) != 0 {
			t.Fatalf("accepted config fails validation: %v", probs)
		}
		_ = c.String()
	})
}
