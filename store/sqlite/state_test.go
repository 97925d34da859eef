package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/rag"

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

func stateVersions(t *testing.T, s *State) []int {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), `SELECT version FROM state_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestStateMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "keel.db")
	ctx := t.Context()
	// Replicas of the CLI opening one new file at once: each migration
	// is applied once and every open succeeds.
	const n = 4
	states := make([]*State, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { states[i], errs[i] = OpenState(ctx, path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	c := state.Conversation{ID: state.NewID()}
	if err := states[0].CreateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		s.Close()
	}
	// Opening again applies nothing and keeps the data.
	s := openTestStateAt(t, path)
	if got := stateVersions(t, s); len(got) != len(stateMigrations) {
		t.Fatalf("versions = %v, want %d migrations once each", got, len(stateMigrations))
	}
	if _, err := s.Conversation(ctx, "", c.ID); err != nil {
		t.Fatalf("reopening lost data: %v", err)
	}
	// A file from a newer keel is refused, not half-used.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO state_migrations (version, applied_at) VALUES (?, 0)`, len(stateMigrations)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenState(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a newer schema: err = %v, want one saying it is newer", err)
	}
}

func openTestStateAt(t testing.TB, path string) *State {
	t.Helper()
	s, err := OpenState(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The state and the RAG store share keel.db without touching each other.
func TestStateBesideRAGStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keel.db")
	ctx := t.Context()
	rs, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	st := openTestStateAt(t, path)
	if err := rs.Apply(ctx, "docs", rag.Batch{Put: []rag.Indexed{{
		Document: rag.Document{ID: "d1", Source: "a.md", Title: "A", Text: "hello world"},
		Chunks:   []rag.Chunk{{ID: "d1#0", DocID: "d1", Text: "hello world", End: 11}},
	}}}); err != nil {
		t.Fatal(err)
	}
	c := state.Conversation{ID: state.NewID(), Collection: "docs"}
	if err := st.CreateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	cols, err := rs.Collections(ctx)
	if err != nil || len(cols) != 1 || cols[0].Documents != 1 {
		t.Fatalf("RAG collections beside the state = %+v, %v", cols, err)
	}
	if _, err := st.Conversation(ctx, "", c.ID); err != nil {
		t.Fatal(err)
	}
}

func TestStateClosed(t *testing.T) {
	s := openTestState(t)
	s.Close()
	if err := s.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Ping after Close = %v, want an error saying the database is closed", err)
	}
}

func ExampleOpenState() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "keel")
	defer os.RemoveAll(dir)
	s, err := OpenState(ctx, filepath.Join(dir, "keel.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	c := state.Conversation{ID: state.NewID(), Owner: "", Title: "Hello"}
	_ = s.CreateConversation(ctx, c)
	_ = s.AppendMessages(ctx, "", c.ID,
		state.Message{Message: llm.UserText("Hi!")},
		state.Message{Message: llm.AssistantText("Hello! How can I help?"), Model: "anthropic/claude-haiku-4-5", Cost: 42_000},
	)
	msgs, _ := s.Messages(ctx, "", c.ID)
	for _, m := range msgs {
		fmt.Println(m.Seq, m.Message.Role, m.Message.Text(), m.Cost)
	}
	// Someone else's conversation is not found.
	_, err = s.Messages(ctx, "another-key", c.ID)
	fmt.Println(errors.Is(err, state.ErrNotFound))
	// Output:
	// 1 user Hi! $0.00
	// 2 assistant Hello! How can I help? $0.000042
	// true
}

func BenchmarkState(b *testing.B) {
	statetest.Benchmark(b, func(b *testing.B) state.Store { return openTestState(b) })
}
