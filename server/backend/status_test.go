package backend_test

import (
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		kind llm.ErrorKind
		want int
	}{
		{llm.KindAuth, 401},
		{llm.KindPermission, 403},
		{llm.KindNotFound, 404},
		{llm.KindInvalidRequest, 400},
		{llm.KindContextLength, 400},
		{llm.KindContentFilter, 400},
		{llm.KindRateLimited, 429},
		{llm.KindBudgetExceeded, 402},
		{llm.KindOverloaded, 503},
		{llm.KindTimeout, 504},
		{llm.KindNetwork, 502},
		{llm.KindCanceled, 499},
		{llm.KindServer, 500},
		{"", 500},
		{"no_such_kind", 500},
	}
	for _, tt := range tests {
		if got := backend.Status(tt.kind); got != tt.want {
			t.Errorf("Status(%q) = %d, want %d", tt.kind, got, tt.want)
		}
	}
}
