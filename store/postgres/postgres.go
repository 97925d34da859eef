// Package postgres is the relational state (state.Store) on PostgreSQL,
// what `keel serve` uses when KEEL_DATABASE_URL is set so that several
// replicas share conversations, keys, the usage ledger and eval runs.
//
// Open applies the embedded migrations (migrations/NNNN_name.sql) at
// start, in one transaction holding an advisory lock, so replicas starting
// together migrate once. The schema is the first one on the connection's
// search_path: add search_path=NAME to the URL to keep Keel's tables in
// their own schema.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keelai/keel/store/state"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// State is the relational state in PostgreSQL. It is safe for concurrent
// use by many goroutines and many processes.
type State struct {
	pool *pgxpool.Pool
	// secrets are the URL's password, as given and as it may appear
	// encoded, redacted from every error this package returns: pgx errors
	// may quote the connection string.
	secrets []string
}

var _ state.Store = (*State)(nil)

// Open connects to the database at databaseURL (postgres://user:password@host:port/db?…),
// checks it answers, and migrates its schema to this version's.
func Open(ctx context.Context, databaseURL string) (*State, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, parseError(databaseURL, err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "keel"
	}
	s := &State{secrets: secretForms(cfg.ConnConfig.Password)}
	// Where pgx and net/url split a malformed URL differently (a raw @ in
	// the password), what net/url calls the password is kept secret too.
	if u, err := url.Parse(databaseURL); err == nil {
		if pw, ok := u.User.Password(); ok {
			s.secrets = append(s.secrets, secretForms(pw)...)
		}
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.wrap("connect", err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, s.wrap("connect", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *State) Close() error {
	s.pool.Close()
	return nil
}

// Ping implements state.Store.
func (s *State) Ping(ctx context.Context) error {
	return s.wrap("ping", s.pool.Ping(ctx))
}

// wrap prefixes err with what failed, and strips the password if pgx
// quoted it: such an error is replaced, not wrapped, so that no caller
// can unwrap its way to the secret.
func (s *State) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	msg, redacted := err.Error(), false
	for _, secret := range s.secrets {
		if strings.Contains(msg, secret) {
			msg, redacted = strings.ReplaceAll(msg, secret, "xxxxx"), true
		}
	}
	if redacted {
		return fmt.Errorf("postgres: %s: %s", what, msg)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// parseError explains why the URL was refused. pgx redacts passwords from
// parse errors only on a best-effort basis (its own comment says so), so
// its message is passed on only when the URL is one whose password is
// known for certain, and then redacted; otherwise nothing of it is said.
func parseError(databaseURL string, err error) error {
	u, uerr := url.Parse(databaseURL)
	if uerr != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("postgres: the database URL cannot be parsed; want postgres://user:password@host:port/database?sslmode=…")
	}
	pw, _ := u.User.Password()
	return (&State{secrets: secretForms(pw)}).wrap("the database URL", err)
}

// secretForms returns the password and the encodings it may appear in
// when pgx quotes the URL as written.
func secretForms(pw string) []string {
	if pw == "" {
		return nil
	}
	return []string{pw, url.PathEscape(pw), url.QueryEscape(pw), url.UserPassword("", pw).String()[1:]}
}

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. Their names start
// with a version number: 0001_init.sql.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		base := path.Base(name)
		digits, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(digits)
		if !ok || err != nil || v != len(out)+1 {
			return nil, fmt.Errorf("migration %s: want the name NNNN_what.sql numbered %d", base, len(out)+1)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	return out, nil
}

// migrate applies the migrations the database lacks in one transaction.
// The transaction-scoped advisory lock, keyed by the schema, makes a
// second replica starting at the same time wait and then find nothing
// left to do; DDL is transactional in PostgreSQL, so a failed migration
// leaves the schema as it was.
func (s *State) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('keel migrations ' || coalesce(current_schema(), '')))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return err
		}
		if have > len(ms) {
			return fmt.Errorf("the database is at schema version %d, newer than this keel's %d", have, len(ms))
		}
		for _, m := range ms[have:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
		}
		return nil
	})
	return s.wrap("migrate", err)
}
