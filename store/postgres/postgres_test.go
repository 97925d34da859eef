package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/store/postgres/pgtest"
	"github.com/keelai/keel/store/state"
	"github.com/keelai/keel/store/state/statetest"
)

func openTest(t testing.TB, url string) *State {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store { return openTest(t, pgtest.Schema(t)) })
}

func versions(t *testing.T, s *State) []int {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
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

func TestMigrationsIdempotent(t *testing.T) {
	url := pgtest.Schema(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	a := openTest(t, url)
	ctx := t.Context()
	c := state.Conversation{ID: state.NewID()}
	if err := a.CreateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b := openTest(t, url)
	if got := versions(t, b); len(got) != len(ms) {
		t.Fatalf("versions after two opens = %v, want %d migrations once each", got, len(ms))
	}
	if _, err := b.Conversation(ctx, "", c.ID); err != nil {
		t.Fatalf("reopening lost data: %v", err)
	}
}

func TestMigrationsConcurrent(t *testing.T) {
	url := pgtest.Schema(t)
	const replicas = 4
	var wg sync.WaitGroup
	stores := make([]*State, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ms, _ := migrations()
	if got := versions(t, stores[0]); len(got) != len(ms) {
		t.Fatalf("versions = %v, want %d", got, len(ms))
	}
	// A conversation started on one replica continues on another.
	ctx := t.Context()
	c := state.Conversation{ID: state.NewID(), Owner: "k"}
	if err := stores[0].CreateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	var awg sync.WaitGroup
	for i := range 20 {
		awg.Go(func() {
			if err := stores[i%replicas].AppendMessages(ctx, "k", c.ID, state.Message{Message: llm.UserText(fmt.Sprint(i))}); err != nil {
				t.Error(err)
			}
		})
	}
	awg.Wait()
	ms2, err := stores[replicas-1].Messages(ctx, "k", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms2 {
		if m.Seq != i+1 {
			t.Fatalf("message %d has seq %d across replicas", i, m.Seq)
		}
	}
	if len(ms2) != 20 {
		t.Fatalf("%d messages, want 20", len(ms2))
	}
}

func TestUnreachableHidesPassword(t *testing.T) {
	const password = "hunter2-s3cret-pw"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for _, url := range []string{
		// Nothing listens on port 1.
		"postgres://keel:" + password + "@127.0.0.1:1/keel?sslmode=disable&connect_timeout=5",
		"host=127.0.0.1 port=1 user=keel password=" + password + " dbname=keel sslmode=disable connect_timeout=5",
		// Not parseable at all.
		"postgres://keel:" + password + "@127.0.0.1:notaport/keel",
		"postgres://keel:" + password + "@127.0.0.1:1/keel?sslmode=bogus",
	} {
		s, err := Open(ctx, url)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) worked", url)
		}
		if strings.Contains(err.Error(), password) || strings.Contains(fmt.Sprintf("%+v", err), password) {
			t.Fatalf("error shows the password: %v", err)
		}
		for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
			if strings.Contains(u.Error(), password) {
				t.Fatalf("wrapped error shows the password: %v", u)
			}
		}
		if strings.Contains(url, "bogus") && !strings.Contains(err.Error(), "sslmode") {
			t.Fatalf("error does not name the bad setting: %v", err)
		}
		if !strings.Contains(err.Error(), "postgres") {
			t.Fatalf("error does not say what failed: %v", err)
		}
		t.Log(err)
	}
}

func TestRedactsEncodedPassword(t *testing.T) {
	const pw = "p@ss w/rd:%ü"
	s := &State{secrets: secretForms(pw)}
	for _, form := range secretForms(pw) {
		err := s.wrap("connect", fmt.Errorf("cannot parse `postgres://keel:%s@host/db`: bad", form))
		if strings.Contains(err.Error(), form) || errors.Unwrap(err) != nil {
			t.Errorf("form %q: %v (unwraps to %v)", form, err, errors.Unwrap(err))
		}
	}
	inner := errors.New("no password here")
	if err := s.wrap("ping", inner); !errors.Is(err, inner) {
		t.Errorf("an error without the password is not wrapped: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	u := "postgres://" + url.UserPassword("keel", pw).String() + "@127.0.0.1:1/keel?sslmode=disable"
	if _, err := Open(ctx, u); err == nil || strings.Contains(err.Error(), "w/rd") || strings.Contains(err.Error(), "w%2Frd") {
		t.Fatalf("Open = %v", err)
	}
}

func TestClosed(t *testing.T) {
	s := openTest(t, pgtest.Schema(t))
	s.Close()
	err := s.Ping(t.Context())
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Ping after Close = %v, want an error saying the pool is closed", err)
	}
	if _, err := s.Conversations(t.Context(), "", 0); err == nil {
		t.Fatal("Conversations after Close: no error")
	}
}

func BenchmarkState(b *testing.B) {
	statetest.Benchmark(b, func(b *testing.B) state.Store { return openTest(b, pgtest.Schema(b)) })
}

// Whatever the password and whatever is wrong with the URL, the error
// does not show the password.
func FuzzOpenHidesPassword(f *testing.F) {
	for _, pw := range []string{"hunter22", "p@ss w/rd:%ü", "pass'word", "a=b c=d", "%zz%", "@@@@@@"} {
		for _, tail := range []string{"?sslmode=bogus", ":notaport/db", "/db?sslmode=disable&connect_timeout=1", "/db?pool_max_conns=x"} {
			f.Add(pw, tail)
		}
	}
	f.Fuzz(func(t *testing.T, pw, tail string) {
		// Short passwords, or ones the mask could spell, would be found
		// in any message by chance.
		if len(pw) < 6 || strings.Contains(pw, "x") || strings.ContainsAny(tail, "@") {
			t.Skip()
		}
		urls := []string{"postgres://" + url.UserPassword("keel", pw).String() + "@127.0.0.1:1" + tail}
		// Written unescaped, a password with URL syntax in it (@ # / ?)
		// is no longer where a parser can find it: that URL's error may
		// quote it, as it would any other part of a URL that cannot be told
		// apart. Without such characters, unescaped must be safe too.
		if !strings.ContainsAny(pw, "@#/?%[]") {
			urls = append(urls, "postgres://keel:"+pw+"@127.0.0.1:1"+tail)
		}
		for _, raw := range urls {
			_, err := Open(t.Context(), raw)
			if err == nil {
				t.Fatalf("Open(%q) worked", raw)
			}
			for _, form := range secretForms(pw) {
				if strings.Contains(err.Error(), form) {
					t.Fatalf("Open(%q) = %v: shows the password", raw, err)
				}
			}
		}
	})
}
