package window

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Token ids from OpenAI's tiktoken: its own tests (tests/test_encoding.py)
// for cl100k_base, and its published outputs for o200k_base.
func TestEncodingTokens(t *testing.T) {
	tests := []struct {
		enc, text string
		want      []int
	}{
		{CL100K, "hello world", []int{15339, 1917}},
		{CL100K, "rer", []int{38149}},
		{CL100K, "'rer", []int{2351, 81}},
		{CL100K, "today\n \n", []int{31213, 27907}},
		{CL100K, "today\n  \n", []int{31213, 14211}},
		{CL100K, " \u00850", []int{220, 126, 227, 15}},
		{CL100K, "👍", []int{9468, 239, 235}},
		{CL100K, "China is great!", []int{23078, 374, 2294, 0}},
		{O200K, "hello world", []int{24912, 2375}},
		{O200K, "Hello, world!", []int{13225, 11, 2375, 0}},
	}
	for _, tt := range tests {
		enc, err := GetEncoding(tt.enc)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, enc.Encode(tt.text)); diff != "" {
			t.Errorf("%s.Encode(%q) (-want +got):\n%s", tt.enc, tt.text, diff)
		}
		if got := enc.Count(tt.text); got != len(tt.want) {
			t.Errorf("%s.Count(%q) = %d, want %d", tt.enc, tt.text, got, len(tt.want))
		}
	}
}
