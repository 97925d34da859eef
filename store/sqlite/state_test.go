package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/keelai/keel/store/state"
	"github.com/keelai/keel/store/state/statetest"
)

func openTestState(t testing.TB) *State {
	t.Helper()
	s, err := OpenState(t.Context(), filepath.Join(t.TempDir(), "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStateConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store { return openTestState(t) })
}
