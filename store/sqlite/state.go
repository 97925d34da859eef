package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/keelai/keel/store/state"
)

// State is the relational state (state.Store) in an SQLite file, by
// default the same keel.db the RAG store uses: its tables (conversations,
// messages, api_keys, usage_ledger, eval_runs, eval_cases and
// state_migrations) do not clash with the RAG store's rag_* ones. It is
// safe for concurrent use; writes are serialised.
type State struct {
	db   *sql.DB
	path string
	// keyByHash is prepared once: it runs on every authenticated request.
	keyByHash *sql.Stmt
	// writeMu makes this process one writer: SQLite allows one write
	// transaction at a time anyway, and queueing here is cheaper than
	// queueing on the busy timeout.
	writeMu sync.Mutex
}

var _ state.Store = (*State)(nil)

// OpenState opens (creating if needed) the relational state in the SQLite
// file at path, creating its folder and applying any schema migration
// this version has that the file lacks.
func OpenState(ctx context.Context, path string) (*State, error) {
	db, err := openDB(path)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	s := &State{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if s.keyByHash, err = db.PrepareContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = ?`); err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return s, nil
}

// migrate applies the migrations the file lacks, each in the transaction
// that records it. The write transaction is taken up front (immediate),
// so two processes opening one new file at once apply each migration
// once.
func (s *State) migrate(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS state_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM state_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if have > len(stateMigrations) {
		return fmt.Errorf("migrate: the file is at schema version %d, newer than this keel's %d", have, len(stateMigrations))
	}
	for v := have + 1; v <= len(stateMigrations); v++ {
		if _, err := tx.ExecContext(ctx, stateMigrations[v-1]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO state_migrations (version, applied_at) VALUES (?, ?)`, v, micros(time.Now())); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *State) Close() error {
	s.keyByHash.Close()
	return s.db.Close()
}

// Ping implements state.Store.
func (s *State) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("state %s: %w", s.path, err)
	}
	return nil
}

// write runs f in a write transaction, serialised with the others.
func (s *State) write(ctx context.Context, f func(tx *sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// micros is how times are stored: microseconds since the epoch, the
// precision PostgreSQL keeps, so both stores round alike.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// now is the store's clock, rounded to what it keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func rawJSON(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// CreateConversation implements state.Store.
func (s *State) CreateConversation(ctx context.Context, c state.Conversation) error {
	if err := c.Validate(); err != nil {
		return err
	}
	t := now()
	c.CreatedAt = orNow(c.CreatedAt, t)
	c.UpdatedAt = orNow(c.UpdatedAt, c.CreatedAt)
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO conversations (id, owner, title, model, collection, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			c.ID, c.Owner, c.Title, c.Model, c.Collection, micros(c.CreatedAt), micros(c.UpdatedAt))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("create conversation %q: %w", c.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("create conversation %q: %w", c.ID, state.ErrConflict)
	}
	return nil
}

const conversationColumns = `id, owner, title, model, collection, created_at, updated_at`

func scanConversation(sc interface{ Scan(...any) error }) (state.Conversation, error) {
	var c state.Conversation
	var created, updated int64
	if err := sc.Scan(&c.ID, &c.Owner, &c.Title, &c.Model, &c.Collection, &created, &updated); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

// Conversation implements state.Store.
func (s *State) Conversation(ctx context.Context, owner, id string) (state.Conversation, error) {
	c, err := scanConversation(s.db.QueryRowContext(ctx,
		`SELECT `+conversationColumns+` FROM conversations WHERE id = ? AND owner = ?`, id, owner))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("conversation %q: %w", id, state.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("conversation %q: %w", id, err)
	}
	return c, nil
}

// Conversations implements state.Store.
func (s *State) Conversations(ctx context.Context, owner string, limit int) ([]state.Conversation, error) {
	if limit < 0 {
		return nil, fmt.Errorf("list conversations: limit %d is negative", limit)
	}
	if limit == 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+conversationColumns+` FROM conversations
		WHERE owner = ? ORDER BY updated_at DESC, created_at DESC, id LIMIT ?`, owner, limit)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	defer rows.Close()
	var out []state.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("list conversations: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	return out, nil
}

// DeleteConversation implements state.Store.
func (s *State) DeleteConversation(ctx context.Context, owner, id string) error {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM conversations WHERE id = ? AND owner = ?`, id, owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("delete conversation %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete conversation %q: %w", id, state.ErrNotFound)
	}
	return nil
}

// encodedMessage is a message checked and encoded, before any write.
type encodedMessage struct {
	state.Message
	body string
}

// encodeMessages validates and encodes msgs, so that a bad one is refused
// before anything is written.
func encodeMessages(msgs []state.Message) ([]encodedMessage, string, error) {
	out := make([]encodedMessage, len(msgs))
	lastModel := ""
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			return nil, "", fmt.Errorf("message %d: %w", i, err)
		}
		body, err := json.Marshal(m.Message)
		if err != nil {
			return nil, "", fmt.Errorf("message %d: %w", i, err)
		}
		out[i] = encodedMessage{Message: m, body: string(body)}
		if m.Model != "" {
			lastModel = m.Model
		}
	}
	return out, lastModel, nil
}

// AppendMessages implements state.Store. The conversation row's last_seq
// is bumped in the same transaction as the inserts, so seqs are dense and
// never reused.
func (s *State) AppendMessages(ctx context.Context, owner, conversationID string, msgs ...state.Message) error {
	enc, lastModel, err := encodeMessages(msgs)
	if err != nil {
		return fmt.Errorf("append to conversation %q: %w", conversationID, err)
	}
	t := now()
	if len(enc) == 0 {
		var one int
		err := s.db.QueryRowContext(ctx, `SELECT 1 FROM conversations WHERE id = ? AND owner = ?`, conversationID, owner).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("append to conversation %q: %w", conversationID, state.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("append to conversation %q: %w", conversationID, err)
		}
		return nil
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var last int
		err := tx.QueryRowContext(ctx, `UPDATE conversations
			SET last_seq = last_seq + ?1, updated_at = ?2, model = CASE WHEN ?3 <> '' THEN ?3 ELSE model END
			WHERE id = ?4 AND owner = ?5 RETURNING last_seq`,
			len(enc), micros(t), lastModel, conversationID, owner).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return state.ErrNotFound
		}
		if err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO messages (conversation, seq, body, model,
			input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
			cost, latency_ms, citations, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		seq := last - len(enc)
		for _, m := range enc {
			seq++
			u := m.Usage
			if _, err := ins.ExecContext(ctx, conversationID, seq, m.body, m.Model,
				u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens, u.CacheWrite1hTokens,
				int64(m.Cost), m.LatencyMS, nullJSON(m.Citations), micros(orNow(m.CreatedAt, t))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append to conversation %q: %w", conversationID, err)
	}
	return nil
}

// Messages implements state.Store.
func (s *State) Messages(ctx context.Context, owner, conversationID string) ([]state.Message, error) {
	// One read transaction, so the ownership check and the rows are one
	// snapshot.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("messages of %q: %w", conversationID, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM conversations WHERE id = ? AND owner = ?`, conversationID, owner).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("messages of %q: %w", conversationID, state.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("messages of %q: %w", conversationID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, body, model, input_tokens, output_tokens, cache_read_tokens,
		cache_write_tokens, cache_write_1h_tokens, cost, latency_ms, citations, created_at
		FROM messages WHERE conversation = ? ORDER BY seq`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("messages of %q: %w", conversationID, err)
	}
	defer rows.Close()
	var out []state.Message
	for rows.Next() {
		var m state.Message
		var body []byte
		var cit sql.NullString
		var created int64
		u := &m.Usage
		if err := rows.Scan(&m.Seq, &body, &m.Model, &u.InputTokens, &u.OutputTokens, &u.CacheReadTokens,
			&u.CacheWriteTokens, &u.CacheWrite1hTokens, &m.Cost, &m.LatencyMS, &cit, &created); err != nil {
			return nil, fmt.Errorf("messages of %q: %w", conversationID, err)
		}
		if err := json.Unmarshal(body, &m.Message); err != nil {
			return nil, fmt.Errorf("messages of %q: message %d: %w", conversationID, m.Seq, err)
		}
		m.Citations = rawJSON(cit)
		m.CreatedAt = fromMicros(created)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("messages of %q: %w", conversationID, err)
	}
	return out, nil
}

// CreateKey implements state.Store.
func (s *State) CreateKey(ctx context.Context, k state.Key) error {
	if err := k.Validate(); err != nil {
		return err
	}
	k.CreatedAt = orNow(k.CreatedAt, now())
	var revoked any
	if k.RevokedAt != nil {
		revoked = micros(*k.RevokedAt)
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, prefix, rpm, budget, created_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			k.ID, k.Name, k.Hash, k.Prefix, k.RPM, int64(k.Budget), micros(k.CreatedAt), revoked)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("create key %q: %w", k.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("create key %q: its id, name or hash is taken: %w", k.Name, state.ErrConflict)
	}
	return nil
}

const keyColumns = `id, name, hash, prefix, rpm, budget, created_at, revoked_at`

func scanKey(sc interface{ Scan(...any) error }) (state.Key, error) {
	var k state.Key
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Name, &k.Hash, &k.Prefix, &k.RPM, &k.Budget, &created, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt = fromMicros(created)
	if revoked.Valid {
		t := fromMicros(revoked.Int64)
		k.RevokedAt = &t
	}
	return k, nil
}

// KeyByHash implements state.Store.
func (s *State) KeyByHash(ctx context.Context, hash string) (state.Key, error) {
	k, err := scanKey(s.keyByHash.QueryRowContext(ctx, hash))
	if errors.Is(err, sql.ErrNoRows) {
		// The hash is not named: it is as good as the secret for lookups.
		return k, fmt.Errorf("key: %w", state.ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("key: %w", err)
	}
	return k, nil
}

// Keys implements state.Store.
func (s *State) Keys(ctx context.Context) ([]state.Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, n`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []state.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// RevokeKey implements state.Store. An id wins over a name, so that a key
// named like another's id cannot revoke two. Revoking a revoked key keeps
// the time it was first revoked.
func (s *State) RevokeKey(ctx context.Context, idOrName string) error {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?)
			WHERE id = ?2 OR (name = ?2 AND name <> '' AND NOT EXISTS (SELECT 1 FROM api_keys WHERE id = ?2))`,
			micros(now()), idOrName)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke key %q: %w", idOrName, err)
	}
	if n == 0 {
		return fmt.Errorf("revoke key %q: %w", idOrName, state.ErrNotFound)
	}
	return nil
}

// RecordUsage implements state.Store: every record, cleaned (see
// state.UsageRecord.Clean), in one transaction.
func (s *State) RecordUsage(ctx context.Context, recs ...state.UsageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	t := now()
	err := s.write(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO usage_ledger (ts, key_id, model, input_tokens, output_tokens,
			cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, cost, latency_ms, error_kind)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		// The transaction ends when ctx does; its inserts run without it,
		// since the driver watches a cancellable context with a goroutine
		// and a progress handler per statement: a sixth of each insert's
		// cost (go test -bench State/RecordUsage), for statements that take
		// microseconds.
		noCancel := context.WithoutCancel(ctx)
		for _, r := range recs {
			r = r.Clean()
			u := r.Usage
			if _, err := ins.ExecContext(noCancel, micros(orNow(r.Time, t)), r.KeyID, r.Model,
				u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens, u.CacheWrite1hTokens,
				int64(r.Cost), r.LatencyMS, r.ErrorKind); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record usage: %w", err)
	}
	return nil
}

// Usage implements state.Store; the sums are SQL's.
func (s *State) Usage(ctx context.Context, f state.UsageFilter) ([]state.UsageRow, error) {
	var where []string
	var args []any
	if f.KeyID != "" {
		where, args = append(where, "key_id = ?"), append(args, f.KeyID)
	}
	if f.Model != "" {
		where, args = append(where, "model = ?"), append(args, f.Model)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "ts >= ?"), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "ts < ?"), append(args, micros(f.Until))
	}
	q := `SELECT strftime('%Y-%m-%d', ts / 1000000, 'unixepoch') AS day, key_id, model,
		count(*), count(*) FILTER (WHERE error_kind <> ''),
		sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
		sum(cache_write_1h_tokens), sum(cost)
		FROM usage_ledger`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " GROUP BY day, key_id, model ORDER BY day, key_id, model"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	var out []state.UsageRow
	for rows.Next() {
		var r state.UsageRow
		u := &r.Usage
		if err := rows.Scan(&r.Day, &r.KeyID, &r.Model, &r.Calls, &r.Errors, &u.InputTokens, &u.OutputTokens,
			&u.CacheReadTokens, &u.CacheWriteTokens, &u.CacheWrite1hTokens, &r.Cost); err != nil {
			return nil, fmt.Errorf("usage: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	return out, nil
}

// SaveEvalRun implements state.Store. A run saved again keeps its
// creation time unless the new one sets it, and its cases are replaced.
func (s *State) SaveEvalRun(ctx context.Context, r state.EvalRun) error {
	if err := r.Validate(); err != nil {
		return err
	}
	created := int64(0)
	if !r.CreatedAt.IsZero() {
		created = micros(r.CreatedAt)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO eval_runs (id, suite, created_at, summary)
			VALUES (?1, ?2, CASE WHEN ?3 <> 0 THEN ?3 ELSE ?4 END, ?5)
			ON CONFLICT (id) DO UPDATE SET suite = excluded.suite, summary = excluded.summary,
				created_at = CASE WHEN ?3 <> 0 THEN ?3 ELSE eval_runs.created_at END`,
			r.ID, r.Suite, created, micros(now()), nullJSON(r.Summary)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM eval_cases WHERE run = ?`, r.ID); err != nil {
			return err
		}
		if len(r.Cases) == 0 {
			return nil
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO eval_cases (run, idx, case_id, repeat, model, prompt_version,
			score, passed, error, cost, latency_ms, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for i, c := range r.Cases {
			if _, err := ins.ExecContext(ctx, r.ID, i, c.CaseID, c.Repeat, c.Model, c.PromptVersion,
				c.Score, c.Passed, c.Error, int64(c.Cost), c.LatencyMS, nullJSON(c.Data)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save eval run %q: %w", r.ID, err)
	}
	return nil
}

// EvalRun implements state.Store.
func (s *State) EvalRun(ctx context.Context, id string) (state.EvalRun, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return state.EvalRun{}, fmt.Errorf("eval run %q: %w", id, err)
	}
	defer tx.Rollback()
	r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM eval_runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("eval run %q: %w", id, state.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("eval run %q: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT case_id, repeat, model, prompt_version, score, passed, error,
		cost, latency_ms, data FROM eval_cases WHERE run = ? ORDER BY idx`, id)
	if err != nil {
		return r, fmt.Errorf("eval run %q: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c state.EvalCase
		var data sql.NullString
		if err := rows.Scan(&c.CaseID, &c.Repeat, &c.Model, &c.PromptVersion, &c.Score, &c.Passed, &c.Error,
			&c.Cost, &c.LatencyMS, &data); err != nil {
			return r, fmt.Errorf("eval run %q: %w", id, err)
		}
		c.Data = rawJSON(data)
		r.Cases = append(r.Cases, c)
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("eval run %q: %w", id, err)
	}
	return r, nil
}

const runColumns = `id, suite, created_at, summary`

func scanRun(sc interface{ Scan(...any) error }) (state.EvalRun, error) {
	var r state.EvalRun
	var created int64
	var summary sql.NullString
	if err := sc.Scan(&r.ID, &r.Suite, &created, &summary); err != nil {
		return r, err
	}
	r.CreatedAt = fromMicros(created)
	r.Summary = rawJSON(summary)
	return r, nil
}

// EvalRuns implements state.Store.
func (s *State) EvalRuns(ctx context.Context, suite string, limit int) ([]state.EvalRun, error) {
	if limit < 0 {
		return nil, fmt.Errorf("list eval runs: limit %d is negative", limit)
	}
	if limit == 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM eval_runs
		WHERE ?1 = '' OR suite = ?1 ORDER BY created_at DESC, n DESC LIMIT ?2`, suite, limit)
	if err != nil {
		return nil, fmt.Errorf("list eval runs: %w", err)
	}
	defer rows.Close()
	var out []state.EvalRun
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list eval runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list eval runs: %w", err)
	}
	return out, nil
}
