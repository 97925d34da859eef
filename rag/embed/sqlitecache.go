package embed

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// SQLiteCache is a persistent Cache in a SQLite database (modernc.org/sqlite,
// no cgo), so that re-ingesting after a restart pays for no embedding twice.
type SQLiteCache struct {
	db    *sql.DB
	owned bool
}

const cacheSchema = `CREATE TABLE IF NOT EXISTS embedding_cache (
	model  TEXT NOT NULL,
	hash   BLOB NOT NULL,
	vector BLOB NOT NULL,
	PRIMARY KEY (model, hash)
) WITHOUT ROWID`

// OpenSQLiteCache opens (creating if needed) a cache in the SQLite file at
// path.
func OpenSQLiteCache(ctx context.Context, path string) (*SQLiteCache, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("embed: open cache %s: %w", path, err)
	}
	c, err := NewSQLiteCache(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("embed: open cache %s: %w", path, err)
	}
	c.owned = true
	return c, nil
}

// NewSQLiteCache keeps the cache in db (for instance the embedded store's
// database), creating its table if needed. Close does not close db.
func NewSQLiteCache(ctx context.Context, db *sql.DB) (*SQLiteCache, error) {
	if _, err := db.ExecContext(ctx, cacheSchema); err != nil {
		return nil, fmt.Errorf("embed: create cache table: %w", err)
	}
	return &SQLiteCache{db: db}, nil
}

// Close closes the database if OpenSQLiteCache opened it.
func (c *SQLiteCache) Close() error {
	if c.owned {
		return c.db.Close()
	}
	return nil
}

// lookupChunk bounds the parameters of one query (SQLite allows 32766).
const lookupChunk = 400

// Get implements Cache. A stored value of the wrong shape reads as a miss,
// and is replaced on the next Put.
func (c *SQLiteCache) Get(ctx context.Context, keys []Key) ([][]float32, error) {
	out := make([][]float32, len(keys))
	// Group by model so each query is one model and many hashes.
	byModel := map[string][]int{}
	for i, k := range keys {
		byModel[k.Model] = append(byModel[k.Model], i)
	}
	for model, idx := range byModel {
		for lo := 0; lo < len(idx); lo += lookupChunk {
			part := idx[lo:min(len(idx), lo+lookupChunk)]
			args := make([]any, 0, len(part)+1)
			args = append(args, model)
			pos := map[[32]byte][]int{}
			for _, i := range part {
				args = append(args, keys[i].Hash[:])
				pos[keys[i].Hash] = append(pos[keys[i].Hash], i)
			}
			q := "SELECT hash, vector FROM embedding_cache WHERE model = ? AND hash IN (?" + strings.Repeat(",?", len(part)-1) + ")"
			rows, err := c.db.QueryContext(ctx, q, args...)
			if err != nil {
				return nil, fmt.Errorf("embed: cache lookup: %w", err)
			}
			for rows.Next() {
				var hash, blob []byte
				if err := rows.Scan(&hash, &blob); err != nil {
					rows.Close()
					return nil, fmt.Errorf("embed: cache lookup: %w", err)
				}
				v, ok := decodeVector(blob)
				if len(hash) != 32 || !ok {
					continue
				}
				for _, i := range pos[[32]byte(hash)] {
					out[i] = v
				}
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("embed: cache lookup: %w", err)
			}
		}
	}
	return out, nil
}

// Put implements Cache, in one transaction.
func (c *SQLiteCache) Put(ctx context.Context, keys []Key, vecs [][]float32) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("embed: cache store: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, "INSERT OR REPLACE INTO embedding_cache (model, hash, vector) VALUES (?, ?, ?)")
	if err != nil {
		return fmt.Errorf("embed: cache store: %w", err)
	}
	defer st.Close()
	for i, k := range keys {
		if _, err := st.ExecContext(ctx, k.Model, k.Hash[:], encodeVector(vecs[i])); err != nil {
			return fmt.Errorf("embed: cache store: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("embed: cache store: %w", err)
	}
	return nil
}

func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func decodeVector(b []byte) ([]float32, bool) {
	if len(b) == 0 || len(b)%4 != 0 {
		return nil, false
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, true
}
