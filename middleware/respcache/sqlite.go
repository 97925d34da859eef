package respcache

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jonboulle/clockwork"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// SQLite is a persistent Store in a SQLite database (one table,
// keel_response_cache), through the pure-Go modernc.org/sqlite driver.
type SQLite struct {
	db    *sql.DB
	owned bool
	clock clockwork.Clock
}

// OpenSQLite opens (creating if needed) the cache database at path.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("respcache: open %s: %w", path, err)
	}
	s, err := NewSQLite(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("respcache: %s: %w", path, err)
	}
	s.owned = true
	return s, nil
}

// NewSQLite uses db, an open SQLite database (Keel's embedded store, for
// instance), creating the cache table if needed. Close does not close db.
func NewSQLite(ctx context.Context, db *sql.DB) (*SQLite, error) {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS keel_response_cache (
		key        TEXT PRIMARY KEY,
		value      BLOB NOT NULL,
		expires_at INTEGER NOT NULL -- unix nanoseconds, 0 for never
	)`)
	if err != nil {
		return nil, fmt.Errorf("create table keel_response_cache: %w", err)
	}
	return &SQLite{db: db, clock: clockwork.NewRealClock()}, nil
}

// WithClock returns s reading expiry against clock (for tests).
func (s *SQLite) WithClock(clock clockwork.Clock) *SQLite {
	c := *s
	c.clock = clock
	return &c
}

// Get implements Store.
func (s *SQLite) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var value []byte
	var expires int64
	err := s.db.QueryRowContext(ctx, `SELECT value, expires_at FROM keel_response_cache WHERE key = ?`, key).Scan(&value, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if expires != 0 && s.clock.Now().UnixNano() >= expires {
		_, err := s.db.ExecContext(ctx, `DELETE FROM keel_response_cache WHERE key = ? AND expires_at = ?`, key, expires)
		return nil, false, err
	}
	return value, true, nil
}

// Set implements Store.
func (s *SQLite) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	var expires int64
	if ttl > 0 {
		expires = s.clock.Now().Add(ttl).UnixNano()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO keel_response_cache (key, value, expires_at) VALUES (?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`, key, value, expires)
	return err
}

// Purge deletes expired entries and returns how many.
func (s *SQLite) Purge(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM keel_response_cache WHERE expires_at != 0 AND expires_at <= ?`, s.clock.Now().UnixNano())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Close closes the database if OpenSQLite opened it.
func (s *SQLite) Close() error {
	if s.owned {
		return s.db.Close()
	}
	return nil
}
