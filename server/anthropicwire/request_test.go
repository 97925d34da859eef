package anthropicwire

import "testing"

// TestSamplingAndParallelToolUse checks that top_k and
// tool_choice.disable_parallel_tool_use reach the llm.Request instead of
// being accepted and dropped.
func TestSamplingAndParallelToolUse(t *testing.T) {
	const head = `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],` +
		`"tools":[{"name":"t","input_schema":{"type":"object"}}]`
	for _, tc := range []struct {
		name     string
		body     string
		topK     int
		parallel *bool // nil: the provider's default
	}{
		{"neither", head + `}`, 0, nil},
		{"top_k", head + `,"top_k":40}`, 40, nil},
		{"auto without the switch", head + `,"tool_choice":{"type":"auto"}}`, 0, nil},
		{"auto, one call", head + `,"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`, 0, new(false)},
		{"any, one call", head + `,"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`, 0, new(false)},
		{"tool, one call", head + `,"tool_choice":{"type":"tool","name":"t","disable_parallel_tool_use":true}}`, 0, new(false)},
		{"any, parallel said allowed", head + `,"tool_choice":{"type":"any","disable_parallel_tool_use":false}}`, 0, new(true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, req, err := decodeMessagesRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if req.TopK != tc.topK {
				t.Errorf("TopK = %d, want %d", req.TopK, tc.topK)
			}
			switch got := req.ParallelToolCalls; {
			case (got == nil) != (tc.parallel == nil):
				t.Errorf("ParallelToolCalls = %v, want %v", got, tc.parallel)
			case got != nil && *got != *tc.parallel:
				t.Errorf("ParallelToolCalls = %v, want %v", *got, *tc.parallel)
			}
		})
	}
}
