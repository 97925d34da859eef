package sqlite

// stateMigrations are the relational state's schema changes, in order;
// migration i+1 is recorded as version i+1 in state_migrations once
// applied. Append only: a released migration is never edited.
//
// Times are INTEGER microseconds since the Unix epoch (UTC), the
// precision PostgreSQL keeps too, so both stores return the same values.
// JSON columns are TEXT holding exactly the bytes written.
var stateMigrations = []string{
	`
CREATE TABLE conversations (
	id         TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	title      TEXT NOT NULL,
	model      TEXT NOT NULL,
	collection TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	last_seq   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_owner_updated ON conversations(owner, updated_at DESC);

CREATE TABLE messages (
	conversation          TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
	seq                   INTEGER NOT NULL,
	body                  TEXT NOT NULL,
	model                 TEXT NOT NULL,
	input_tokens          INTEGER NOT NULL,
	output_tokens         INTEGER NOT NULL,
	cache_read_tokens     INTEGER NOT NULL,
	cache_write_tokens    INTEGER NOT NULL,
	cache_write_1h_tokens INTEGER NOT NULL,
	cost                  INTEGER NOT NULL,
	latency_ms            INTEGER NOT NULL,
	citations             TEXT,
	created_at            INTEGER NOT NULL,
	PRIMARY KEY (conversation, seq)
) WITHOUT ROWID;

CREATE TABLE api_keys (
	n          INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	prefix     TEXT NOT NULL,
	rpm        INTEGER NOT NULL,
	budget     INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);
CREATE UNIQUE INDEX api_keys_name ON api_keys(name) WHERE name <> '';

CREATE TABLE usage_ledger (
	ts                    INTEGER NOT NULL,
	key_id                TEXT NOT NULL,
	model                 TEXT NOT NULL,
	input_tokens          INTEGER NOT NULL,
	output_tokens         INTEGER NOT NULL,
	cache_read_tokens     INTEGER NOT NULL,
	cache_write_tokens    INTEGER NOT NULL,
	cache_write_1h_tokens INTEGER NOT NULL,
	cost                  INTEGER NOT NULL,
	latency_ms            INTEGER NOT NULL,
	error_kind            TEXT NOT NULL
);
CREATE INDEX usage_ledger_ts ON usage_ledger(ts);
CREATE INDEX usage_ledger_key_ts ON usage_ledger(key_id, ts);

CREATE TABLE eval_runs (
	n          INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	suite      TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	summary    TEXT
);
CREATE INDEX eval_runs_suite_created ON eval_runs(suite, created_at DESC);

CREATE TABLE eval_cases (
	run            TEXT NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
	idx            INTEGER NOT NULL,
	case_id        TEXT NOT NULL,
	repeat         INTEGER NOT NULL,
	model          TEXT NOT NULL,
	prompt_version TEXT NOT NULL,
	score          REAL NOT NULL,
	passed         INTEGER NOT NULL,
	error          TEXT NOT NULL,
	cost           INTEGER NOT NULL,
	latency_ms     INTEGER NOT NULL,
	data           TEXT,
	PRIMARY KEY (run, idx)
) WITHOUT ROWID;
`,
}
