-- The relational state of keel serve (store/state). JSON columns are json,
-- not jsonb: json keeps the exact text written (key order, numbers), and
-- messages must come back byte for byte, tool-call arguments included.

CREATE TABLE conversations (
	id         text PRIMARY KEY,
	owner      text NOT NULL,
	title      text NOT NULL,
	model      text NOT NULL,
	collection text NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	-- last_seq is the seq of the conversation's last message; appending
	-- bumps it under the row lock, so replicas never hand out one seq twice.
	last_seq   bigint NOT NULL DEFAULT 0
);
CREATE INDEX conversations_owner_updated ON conversations (owner, updated_at DESC);

CREATE TABLE messages (
	conversation          text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	seq                   bigint NOT NULL,
	body                  json NOT NULL,
	model                 text NOT NULL,
	input_tokens          bigint NOT NULL,
	output_tokens         bigint NOT NULL,
	cache_read_tokens     bigint NOT NULL,
	cache_write_tokens    bigint NOT NULL,
	cache_write_1h_tokens bigint NOT NULL,
	cost                  bigint NOT NULL, -- nano-dollars (cost.USD)
	latency_ms            bigint NOT NULL,
	citations             json,
	created_at            timestamptz NOT NULL,
	PRIMARY KEY (conversation, seq)
);

CREATE TABLE api_keys (
	n          bigint GENERATED ALWAYS AS IDENTITY, -- creation order among equal times
	id         text NOT NULL UNIQUE,
	name       text NOT NULL,
	hash       text NOT NULL UNIQUE, -- SHA-256 of the secret; the secret is never stored
	prefix     text NOT NULL,
	rpm        integer NOT NULL,
	budget     bigint NOT NULL,
	created_at timestamptz NOT NULL,
	revoked_at timestamptz
);
CREATE UNIQUE INDEX api_keys_name ON api_keys (name) WHERE name <> '';

CREATE TABLE usage_ledger (
	ts                    timestamptz NOT NULL,
	key_id                text NOT NULL,
	model                 text NOT NULL,
	input_tokens          bigint NOT NULL,
	output_tokens         bigint NOT NULL,
	cache_read_tokens     bigint NOT NULL,
	cache_write_tokens    bigint NOT NULL,
	cache_write_1h_tokens bigint NOT NULL,
	cost                  bigint NOT NULL,
	latency_ms            bigint NOT NULL,
	error_kind            text NOT NULL
);
CREATE INDEX usage_ledger_ts ON usage_ledger (ts);
CREATE INDEX usage_ledger_key_ts ON usage_ledger (key_id, ts);

CREATE TABLE eval_runs (
	n          bigint GENERATED ALWAYS AS IDENTITY,
	id         text NOT NULL UNIQUE,
	suite      text NOT NULL,
	created_at timestamptz NOT NULL,
	summary    json
);
CREATE INDEX eval_runs_suite_created ON eval_runs (suite, created_at DESC);

CREATE TABLE eval_cases (
	run            text NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
	idx            integer NOT NULL,
	case_id        text NOT NULL,
	repeat         integer NOT NULL,
	model          text NOT NULL,
	prompt_version text NOT NULL,
	score          double precision NOT NULL,
	passed         boolean NOT NULL,
	error          text NOT NULL,
	cost           bigint NOT NULL,
	latency_ms     bigint NOT NULL,
	data           json,
	PRIMARY KEY (run, idx)
);
