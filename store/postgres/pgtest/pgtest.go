// Package pgtest gives a test its own PostgreSQL schema, so that tests
// (and the several sessions sharing one server) never see each other's
// tables.
package pgtest

import (
	"context"

	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keelai/keel/internal/testenv"
	"github.com/keelai/keel/store/state"
)

// Schema creates a uniquely named, empty schema on the server at
// testenv.PostgresURL (skipping the test when it is unset), drops it with
// everything in it when the test ends, and returns a URL whose connections
// use it (search_path). Several Opens of that URL share the schema, as
// replicas would.
func Schema(t testing.TB) string {
	t.Helper()
	base := testenv.Service(t, testenv.PostgresURL)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL", testenv.PostgresURL)
	}
	name := "keel_test_" + state.NewID()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", u.Redacted(), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
