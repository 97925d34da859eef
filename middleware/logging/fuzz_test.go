package logging_test

import (
	"bytes"
	"testing"

	"github.com/keelai/keel/middleware/logging"
)

// FuzzLoadCapture: a capture file is untrusted input (it may be edited by
// hand or truncated); loading must fail with an error, never panic.
func FuzzLoadCapture(f *testing.F) {
	f.Add([]byte(`{"model":"a/b","request":{"messages":[{"role":"user","parts":[{"type":"text","text":"q"}]}]},"response":{"model":"a/b","content":[{"type":"text","text":"a"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}}` + "\n"))
	f.Add([]byte(`{"model":"a/b","request":{"messages":[]},"error":{"kind":"overloaded","status":529,"message":"busy"}}`))
	f.Add([]byte("{\n"))
	f.Add([]byte(`{"response":{"content":[{"type":"tool_result","content":[{"type":"nope"}]}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		replies, err := logging.LoadCapture(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range replies {
			if r.Response == nil && r.Err == nil {
				t.Fatal("a loaded reply has neither response nor error")
			}
		}
	})
}
