package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/store/state"
)

// now is the store's clock at the microsecond precision timestamptz keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// jsonText is how optional JSON is passed: "" for none, which the SQL
// turns into NULL (an empty string is never valid JSON, so none is lost).
func jsonText(b json.RawMessage) string { return string(b) }

func rawJSON(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
}

// CreateConversation implements state.Store.
func (s *State) CreateConversation(ctx context.Context, c state.Conversation) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c.CreatedAt = orNow(c.CreatedAt, now())
	c.UpdatedAt = orNow(c.UpdatedAt, c.CreatedAt)
	tag, err := s.pool.Exec(ctx, `INSERT INTO conversations (id, owner, title, model, collection, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		c.ID, c.Owner, c.Title, c.Model, c.Collection, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return s.wrap(fmt.Sprintf("create conversation %q", c.ID), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create conversation %q: %w", c.ID, state.ErrConflict)
	}
	return nil
}

const conversationColumns = `id, owner, title, model, collection, created_at, updated_at`

func scanConversation(row pgx.Row) (state.Conversation, error) {
	var c state.Conversation
	err := row.Scan(&c.ID, &c.Owner, &c.Title, &c.Model, &c.Collection, &c.CreatedAt, &c.UpdatedAt)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// Conversation implements state.Store.
func (s *State) Conversation(ctx context.Context, owner, id string) (state.Conversation, error) {
	c, err := scanConversation(s.pool.QueryRow(ctx,
		`SELECT `+conversationColumns+` FROM conversations WHERE id = $1 AND owner = $2`, id, owner))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("conversation %q: %w", id, state.ErrNotFound)
	}
	return c, s.wrap(fmt.Sprintf("conversation %q", id), err)
}

// limitArg turns the contract's "0 means all" into SQL's LIMIT NULL.
func limitArg(limit int) any {
	if limit == 0 {
		return nil
	}
	return limit
}

// Conversations implements state.Store.
func (s *State) Conversations(ctx context.Context, owner string, limit int) ([]state.Conversation, error) {
	if limit < 0 {
		return nil, fmt.Errorf("list conversations: limit %d is negative", limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE owner = $1
		ORDER BY updated_at DESC, created_at DESC, id COLLATE "C" LIMIT $2`, owner, limitArg(limit))
	if err != nil {
		return nil, s.wrap("list conversations", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (state.Conversation, error) { return scanConversation(row) })
	return out, s.wrap("list conversations", err)
}

// DeleteConversation implements state.Store.
func (s *State) DeleteConversation(ctx context.Context, owner, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM conversations WHERE id = $1 AND owner = $2`, id, owner)
	if err != nil {
		return s.wrap(fmt.Sprintf("delete conversation %q", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete conversation %q: %w", id, state.ErrNotFound)
	}
	return nil
}

// appendSQL assigns seqs and inserts in one statement: the UPDATE takes
// the conversation's row lock and bumps last_seq, and the INSERT numbers
// the batch from the old value. A concurrent append (from this process or
// another replica) waits for the lock and then sees the new last_seq, so
// seqs are dense and never collide; no conversation row, no insert.
const appendSQL = `
WITH c AS (
	UPDATE conversations
	SET last_seq = last_seq + $3, updated_at = $4, model = CASE WHEN $5 <> '' THEN $5 ELSE model END
	WHERE id = $1 AND owner = $2
	RETURNING last_seq - $3 AS base
)
INSERT INTO messages (conversation, seq, body, model, input_tokens, output_tokens, cache_read_tokens,
	cache_write_tokens, cache_write_1h_tokens, cost, latency_ms, citations, created_at)
SELECT $1, c.base + m.ord, m.body::json, m.model, m.it, m.ot, m.crt, m.cwt, m.cw1, m.cost, m.lat,
	NULLIF(m.cit, '')::json, m.at
FROM c, unnest($6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
	$12::bigint[], $13::bigint[], $14::bigint[], $15::text[], $16::timestamptz[])
	WITH ORDINALITY AS m(body, model, it, ot, crt, cwt, cw1, cost, lat, cit, at, ord)`

// AppendMessages implements state.Store.
func (s *State) AppendMessages(ctx context.Context, owner, conversationID string, msgs ...state.Message) error {
	what := fmt.Sprintf("append to conversation %q", conversationID)
	if len(msgs) == 0 {
		var ok bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $1 AND owner = $2)`,
			conversationID, owner).Scan(&ok)
		if err == nil && !ok {
			return fmt.Errorf("%s: %w", what, state.ErrNotFound)
		}
		return s.wrap(what, err)
	}
	n := len(msgs)
	var (
		body, model, cit      = make([]string, n), make([]string, n), make([]string, n)
		it, ot, crt, cwt, cw1 = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		costs, lat            = make([]int64, n), make([]int64, n)
		at                    = make([]time.Time, n)
		t                     = now()
		lastModel             string
	)
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("%s: message %d: %w", what, i, err)
		}
		b, err := json.Marshal(m.Message)
		if err != nil {
			return fmt.Errorf("%s: message %d: %w", what, i, err)
		}
		body[i], model[i], cit[i] = string(b), m.Model, jsonText(m.Citations)
		u := m.Usage
		it[i], ot[i], crt[i], cwt[i], cw1[i] = int64(u.InputTokens), int64(u.OutputTokens),
			int64(u.CacheReadTokens), int64(u.CacheWriteTokens), int64(u.CacheWrite1hTokens)
		costs[i], lat[i], at[i] = int64(m.Cost), m.LatencyMS, orNow(m.CreatedAt, t)
		if m.Model != "" {
			lastModel = m.Model
		}
	}
	tag, err := s.pool.Exec(ctx, appendSQL, conversationID, owner, n, t, lastModel,
		body, model, it, ot, crt, cwt, cw1, costs, lat, cit, at)
	if err != nil {
		return s.wrap(what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, state.ErrNotFound)
	}
	return nil
}

// Messages implements state.Store. The ownership check rides along with
// the read; only an empty result needs a second look, to tell an empty
// conversation from a missing (or someone else's) one.
func (s *State) Messages(ctx context.Context, owner, conversationID string) ([]state.Message, error) {
	what := fmt.Sprintf("messages of %q", conversationID)
	rows, err := s.pool.Query(ctx, `SELECT seq, body::text, model, input_tokens, output_tokens, cache_read_tokens,
		cache_write_tokens, cache_write_1h_tokens, cost, latency_ms, citations::text, created_at
		FROM messages WHERE conversation = $1
			AND EXISTS (SELECT 1 FROM conversations WHERE id = $1 AND owner = $2)
		ORDER BY seq`, conversationID, owner)
	if err != nil {
		return nil, s.wrap(what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (state.Message, error) {
		var m state.Message
		var body string
		var cit *string
		u := &m.Usage
		if err := row.Scan(&m.Seq, &body, &m.Model, &u.InputTokens, &u.OutputTokens, &u.CacheReadTokens,
			&u.CacheWriteTokens, &u.CacheWrite1hTokens, &m.Cost, &m.LatencyMS, &cit, &m.CreatedAt); err != nil {
			return m, err
		}
		if err := json.Unmarshal([]byte(body), &m.Message); err != nil {
			return m, fmt.Errorf("message %d: %w", m.Seq, err)
		}
		m.Citations = rawJSON(cit)
		m.CreatedAt = m.CreatedAt.UTC()
		return m, nil
	})
	if err != nil {
		return nil, s.wrap(what, err)
	}
	if len(out) == 0 {
		if _, err := s.Conversation(ctx, owner, conversationID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CreateKey implements state.Store.
func (s *State) CreateKey(ctx context.Context, k state.Key) error {
	if err := k.Validate(); err != nil {
		return err
	}
	k.CreatedAt = orNow(k.CreatedAt, now())
	tag, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, name, hash, prefix, rpm, budget, created_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		k.ID, k.Name, k.Hash, k.Prefix, k.RPM, int64(k.Budget), k.CreatedAt, k.RevokedAt)
	if err != nil {
		return s.wrap(fmt.Sprintf("create key %q", k.Name), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create key %q: its id, name or hash is taken: %w", k.Name, state.ErrConflict)
	}
	return nil
}

const keyColumns = `id, name, hash, prefix, rpm, budget, created_at, revoked_at`

func scanKey(row pgx.Row) (state.Key, error) {
	var k state.Key
	var budget int64
	if err := row.Scan(&k.ID, &k.Name, &k.Hash, &k.Prefix, &k.RPM, &budget, &k.CreatedAt, &k.RevokedAt); err != nil {
		return k, err
	}
	k.Budget = cost.USD(budget)
	k.CreatedAt = k.CreatedAt.UTC()
	if k.RevokedAt != nil {
		t := k.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	return k, nil
}

// KeyByHash implements state.Store.
func (s *State) KeyByHash(ctx context.Context, hash string) (state.Key, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		// The hash is not named: it is as good as the secret for lookups.
		return k, fmt.Errorf("key: %w", state.ErrNotFound)
	}
	return k, s.wrap("key", err)
}

// Keys implements state.Store.
func (s *State) Keys(ctx context.Context) ([]state.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, n`)
	if err != nil {
		return nil, s.wrap("list keys", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (state.Key, error) { return scanKey(row) })
	return out, s.wrap("list keys", err)
}

// RevokeKey implements state.Store. An id wins over a name, so that a key
// named like another's id cannot revoke two. Revoking a revoked key keeps
// the time it was first revoked.
func (s *State) RevokeKey(ctx context.Context, idOrName string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1)
		WHERE id = $2 OR (name = $2 AND name <> '' AND NOT EXISTS (SELECT 1 FROM api_keys WHERE id = $2))`,
		now(), idOrName)
	if err != nil {
		return s.wrap(fmt.Sprintf("revoke key %q", idOrName), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke key %q: %w", idOrName, state.ErrNotFound)
	}
	return nil
}

// RecordUsage implements state.Store: one INSERT of every record,
// cleaned (see state.UsageRecord.Clean), so the server can batch its
// ledger writes into one round trip.
func (s *State) RecordUsage(ctx context.Context, recs ...state.UsageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	n := len(recs)
	var (
		ts                    = make([]time.Time, n)
		keys, models, kinds   = make([]string, n), make([]string, n), make([]string, n)
		it, ot, crt, cwt, cw1 = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		costs, lat            = make([]int64, n), make([]int64, n)
		t                     = now()
	)
	for i, r := range recs {
		r = r.Clean()
		u := r.Usage
		ts[i], keys[i], models[i], kinds[i] = orNow(r.Time, t), r.KeyID, r.Model, r.ErrorKind
		it[i], ot[i], crt[i], cwt[i], cw1[i] = int64(u.InputTokens), int64(u.OutputTokens),
			int64(u.CacheReadTokens), int64(u.CacheWriteTokens), int64(u.CacheWrite1hTokens)
		costs[i], lat[i] = int64(r.Cost), r.LatencyMS
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO usage_ledger (ts, key_id, model, input_tokens, output_tokens,
		cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, cost, latency_ms, error_kind)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
			$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[])`,
		ts, keys, models, it, ot, crt, cwt, cw1, costs, lat, kinds)
	return s.wrap("record usage", err)
}

// Usage implements state.Store; the sums are SQL's. The WHERE clause is
// built from the filter's set fields so the planner can use the indexes.
func (s *State) Usage(ctx context.Context, f state.UsageFilter) ([]state.UsageRow, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.KeyID != "" {
		add("key_id = $%d", f.KeyID)
	}
	if f.Model != "" {
		add("model = $%d", f.Model)
	}
	if !f.Since.IsZero() {
		add("ts >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		add("ts < $%d", f.Until)
	}
	q := `SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, key_id, model,
		count(*), count(*) FILTER (WHERE error_kind <> ''),
		sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(cache_read_tokens)::bigint,
		sum(cache_write_tokens)::bigint, sum(cache_write_1h_tokens)::bigint, sum(cost)::bigint
		FROM usage_ledger`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` GROUP BY 1, 2, 3 ORDER BY day, key_id COLLATE "C", model COLLATE "C"`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("usage", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (state.UsageRow, error) {
		var r state.UsageRow
		var c int64
		u := &r.Usage
		err := row.Scan(&r.Day, &r.KeyID, &r.Model, &r.Calls, &r.Errors, &u.InputTokens, &u.OutputTokens,
			&u.CacheReadTokens, &u.CacheWriteTokens, &u.CacheWrite1hTokens, &c)
		r.Cost = cost.USD(c)
		return r, err
	})
	return out, s.wrap("usage", err)
}

// SaveEvalRun implements state.Store. A run saved again keeps its
// creation time unless the new one sets it, and its cases are replaced.
func (s *State) SaveEvalRun(ctx context.Context, r state.EvalRun) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var created *time.Time
	if !r.CreatedAt.IsZero() {
		created = &r.CreatedAt
	}
	n := len(r.Cases)
	var (
		idx, repeat                   = make([]int32, n), make([]int32, n)
		caseID, model, pv, errs, data = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		score                         = make([]float64, n)
		passed                        = make([]bool, n)
		costs, lat                    = make([]int64, n), make([]int64, n)
	)
	for i, c := range r.Cases {
		idx[i], repeat[i] = int32(i), int32(c.Repeat)
		caseID[i], model[i], pv[i], errs[i], data[i] = c.CaseID, c.Model, c.PromptVersion, c.Error, jsonText(c.Data)
		score[i], passed[i], costs[i], lat[i] = c.Score, c.Passed, int64(c.Cost), c.LatencyMS
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO eval_runs (id, suite, created_at, summary)
			VALUES ($1, $2, coalesce($3::timestamptz, $4::timestamptz), NULLIF($5, '')::json)
			ON CONFLICT (id) DO UPDATE SET suite = excluded.suite, summary = excluded.summary,
				created_at = coalesce($3::timestamptz, eval_runs.created_at)`,
			r.ID, r.Suite, created, now(), jsonText(r.Summary)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM eval_cases WHERE run = $1`, r.ID); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO eval_cases (run, idx, case_id, repeat, model, prompt_version,
			score, passed, error, cost, latency_ms, data)
			SELECT $1, c.idx, c.case_id, c.repeat, c.model, c.pv, c.score, c.passed, c.error, c.cost, c.lat,
				NULLIF(c.data, '')::json
			FROM unnest($2::integer[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::float8[],
				$8::boolean[], $9::text[], $10::bigint[], $11::bigint[], $12::text[])
				AS c(idx, case_id, repeat, model, pv, score, passed, error, cost, lat, data)`,
			r.ID, idx, caseID, repeat, model, pv, score, passed, errs, costs, lat, data)
		return err
	})
	return s.wrap(fmt.Sprintf("save eval run %q", r.ID), err)
}

const runColumns = `id, suite, created_at, summary::text`

func scanRun(row pgx.Row) (state.EvalRun, error) {
	var r state.EvalRun
	var summary *string
	err := row.Scan(&r.ID, &r.Suite, &r.CreatedAt, &summary)
	r.CreatedAt = r.CreatedAt.UTC()
	r.Summary = rawJSON(summary)
	return r, err
}

// EvalRun implements state.Store. The run and its cases are read in one
// snapshot, so a save in progress elsewhere is seen whole or not at all.
func (s *State) EvalRun(ctx context.Context, id string) (state.EvalRun, error) {
	var r state.EvalRun
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		r, err = scanRun(tx.QueryRow(ctx, `SELECT `+runColumns+` FROM eval_runs WHERE id = $1`, id))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT case_id, repeat, model, prompt_version, score, passed, error,
			cost, latency_ms, data::text FROM eval_cases WHERE run = $1 ORDER BY idx`, id)
		if err != nil {
			return err
		}
		r.Cases, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (state.EvalCase, error) {
			var c state.EvalCase
			var data *string
			var cst int64
			err := row.Scan(&c.CaseID, &c.Repeat, &c.Model, &c.PromptVersion, &c.Score, &c.Passed, &c.Error,
				&cst, &c.LatencyMS, &data)
			c.Cost, c.Data = cost.USD(cst), rawJSON(data)
			return c, err
		})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return state.EvalRun{}, fmt.Errorf("eval run %q: %w", id, state.ErrNotFound)
	}
	return r, s.wrap(fmt.Sprintf("eval run %q", id), err)
}

// EvalRuns implements state.Store.
func (s *State) EvalRuns(ctx context.Context, suite string, limit int) ([]state.EvalRun, error) {
	if limit < 0 {
		return nil, fmt.Errorf("list eval runs: limit %d is negative", limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM eval_runs WHERE $1 = '' OR suite = $1
		ORDER BY created_at DESC, n DESC LIMIT $2`, suite, limitArg(limit))
	if err != nil {
		return nil, s.wrap("list eval runs", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (state.EvalRun, error) { return scanRun(row) })
	return out, s.wrap("list eval runs", err)
}
