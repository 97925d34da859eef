// Package state defines the relational state of `keel serve` and of the
// CLI's server-side commands: conversations and their messages, API keys,
// the usage ledger and evaluation runs. The embedded SQLite store
// (store/sqlite) implements it by default; store/postgres implements it
// when KEEL_DATABASE_URL is set, so that several replicas share it.
// statetest holds the conformance suite both pass.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
)

// ErrNotFound is wrapped by lookups of a conversation, key or run that
// does not exist or that belongs to another owner: a caller cannot tell
// the two apart, so that ids are not an oracle.
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped when creating something whose id or name is taken.
var ErrConflict = errors.New("already exists")

// Store is the relational state. Implementations are safe for concurrent
// use by many goroutines and, for PostgreSQL, by many processes. Owner is
// the API key id a record belongs to; "" is the local owner (no keys).
type Store interface {
	// CreateConversation stores c; c.ID must be set (NewID makes one) and
	// CreatedAt/UpdatedAt are set by the store when zero.
	CreateConversation(ctx context.Context, c Conversation) error
	Conversation(ctx context.Context, owner, id string) (Conversation, error)
	// Conversations lists owner's conversations, most recently updated
	// first, at most limit (0: all).
	Conversations(ctx context.Context, owner string, limit int) ([]Conversation, error)
	// DeleteConversation removes a conversation and its messages.
	DeleteConversation(ctx context.Context, owner, id string) error
	// AppendMessages adds msgs, in order, after the conversation's last
	// message, all or none, and bumps its UpdatedAt. Seq is assigned by
	// the store.
	AppendMessages(ctx context.Context, owner, conversationID string, msgs ...Message) error
	// Messages returns a conversation's messages in order.
	Messages(ctx context.Context, owner, conversationID string) ([]Message, error)

	// CreateKey stores k (its Hash, never the secret). A taken name is
	// ErrConflict.
	CreateKey(ctx context.Context, k Key) error
	// KeyByHash finds the key whose secret hashes to hash (HashKey); a
	// revoked key is still returned, with RevokedAt set.
	KeyByHash(ctx context.Context, hash string) (Key, error)
	// Keys lists every key, revoked ones included, oldest first.
	Keys(ctx context.Context) ([]Key, error)
	// RevokeKey revokes the key with this id or name.
	RevokeKey(ctx context.Context, idOrName string) error

	// RecordUsage appends recs to the usage ledger, all or none. Records
	// are stored cleaned (UsageRecord.Clean), never refused for their
	// text, so that a batch is not held back by one odd model name.
	RecordUsage(ctx context.Context, recs ...UsageRecord) error
	// Usage sums the ledger by day (UTC), key and model within f.
	Usage(ctx context.Context, f UsageFilter) ([]UsageRow, error)

	// SaveEvalRun stores a run and its cases (replacing a run of the same
	// id, so that a run can be saved as it progresses).
	SaveEvalRun(ctx context.Context, r EvalRun) error
	EvalRun(ctx context.Context, id string) (EvalRun, error)
	// EvalRuns lists runs without their cases, newest first; suite ""
	// means all suites; limit 0 means all.
	EvalRuns(ctx context.Context, suite string, limit int) ([]EvalRun, error)

	// Ping checks the store can be reached (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}

// Conversation is a chat's header.
type Conversation struct {
	ID    string `json:"id"`
	Owner string `json:"-"`
	Title string `json:"title"`
	// Model is the model name the conversation last used.
	Model string `json:"model,omitempty"`
	// Collection is the RAG collection the conversation searches, if any.
	Collection string    `json:"collection,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Message is one turn of a stored conversation: the llm.Message itself
// (its stable JSON form is what is stored) plus what the turn cost.
type Message struct {
	Seq     int         `json:"seq"`
	Message llm.Message `json:"message"`
	// Model answered an assistant turn; empty for user turns.
	Model     string    `json:"model,omitempty"`
	Usage     llm.Usage `json:"usage"`
	Cost      cost.USD  `json:"cost"`
	LatencyMS int64     `json:"latency_ms,omitempty"`
	// Citations is the turn's citations as the API sent them (opaque here).
	Citations json.RawMessage `json:"citations,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

// Key is an API key's record. The secret itself is never stored: Hash is
// HashKey(secret), and Prefix its first characters, for people to tell
// keys apart.
type Key struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Hash   string `json:"-"`
	Prefix string `json:"prefix"`
	// RPM limits the key's requests per minute; 0 means no limit.
	RPM int `json:"rpm,omitempty"`
	// Budget limits the key's spending per day (UTC); 0 means none.
	Budget    cost.USD   `json:"budget,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// UsageRecord is one model call in the ledger.
type UsageRecord struct {
	Time      time.Time
	KeyID     string
	Model     string
	Usage     llm.Usage
	Cost      cost.USD
	LatencyMS int64
	// ErrorKind is the llm.ErrorKind of a failed call, "" on success.
	ErrorKind string
}

// UsageFilter bounds a usage query. Zero fields do not filter.
type UsageFilter struct {
	KeyID        string
	Model        string
	Since, Until time.Time
}

// UsageRow is the ledger summed over one day, key and model.
type UsageRow struct {
	Day    string    `json:"day"` // YYYY-MM-DD, UTC
	KeyID  string    `json:"key_id"`
	Model  string    `json:"model"`
	Calls  int       `json:"calls"`
	Errors int       `json:"errors"`
	Usage  llm.Usage `json:"usage"`
	Cost   cost.USD  `json:"cost"`
}

// EvalRun is one run of an evaluation suite. Summary and each case's Data
// are the eval package's own JSON; the columns beside them are what runs
// are listed, compared and filtered by.
type EvalRun struct {
	ID        string          `json:"id"`
	Suite     string          `json:"suite"`
	CreatedAt time.Time       `json:"created_at"`
	Summary   json.RawMessage `json:"summary,omitempty"`
	Cases     []EvalCase      `json:"cases,omitempty"`
}

// EvalCase is one case (one repeat) of a run.
type EvalCase struct {
	CaseID string `json:"case_id"`
	Repeat int    `json:"repeat"`
	Model  string `json:"model"`
	// PromptVersion is name@version+hash of the prompt the case used.
	PromptVersion string          `json:"prompt_version,omitempty"`
	Score         float64         `json:"score"`
	Passed        bool            `json:"passed"`
	Error         string          `json:"error,omitempty"`
	Cost          cost.USD        `json:"cost"`
	LatencyMS     int64           `json:"latency_ms"`
	Data          json.RawMessage `json:"data,omitempty"`
}
