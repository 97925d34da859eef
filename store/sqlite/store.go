package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/vector"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// NewIndex builds the in-memory vector index of a collection whose
	// vectors have dims dimensions; nil means rag/vector's Auto index
	// (exact up to vector.DefaultThreshold vectors, partitioned above,
	// trained by the Store in the background). An index with the methods
	// TrainingDue() bool and Train(context.Context) error is trained the
	// same way: Train is called without the Store's lock, on a goroutine
	// the Store stops at Close.
	NewIndex func(dims int) rag.VectorIndex
	// Lexical tunes BM25; the zero value is the tuned default (see
	// DefaultLexical).
	Lexical *Lexical
}

// Store is the embedded rag.Store. It is safe for concurrent use; writes
// are serialised.
type Store struct {
	db      *sql.DB
	opts    Options
	lexical Lexical

	// writeMu serialises Apply and DropCollection within this process
	// (SQLite serialises across processes).
	writeMu sync.Mutex

	// mu guards indexes, each collection's vector index, loaded on the
	// first vector search and kept in step with writes. A vector search
	// holds the read lock while it uses an index; a writer holds the write
	// lock across its commit and the index update, so a search sees the
	// index at exactly the version of its SQL snapshot. Loads and
	// trainings, which take seconds to minutes, run without it.
	mu      sync.RWMutex
	indexes map[int64]*loadedIndex
	// loading holds the loads under way, by collection, so that the
	// searches that need the same index wait for one load instead of
	// each starting its own.
	loading map[int64]*pendingLoad
	// drops counts DropCollection calls. A load installs its index only
	// if none happened since its search's snapshot began: the snapshot
	// may hold a collection dropped since, whose id SQLite can give to
	// the next collection created.
	drops uint64

	// trainSignal wakes the trainer goroutine (see trainLoop) when an
	// index may have a training due; stopTrainer stops it and
	// trainerDone is closed when it has returned.
	trainSignal chan struct{}
	stopTrainer context.CancelFunc
	trainerDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

type loadedIndex struct {
	version int64
	dims    int
	idx     rag.VectorIndex
}

// pendingLoad is a load of a collection's index under way, without s.mu.
// Its fields are guarded by s.mu.
type pendingLoad struct {
	done chan struct{} // closed when the load is over, installed or not
	// waiters counts the searches that have waited for it, which the
	// tests observe.
	waiters int
}

// trainable is an index that trains itself when asked, such as
// vector.Auto with DeferTraining.
type trainable interface {
	TrainingDue() bool
	Train(context.Context) error
}

var _ rag.Store = (*Store)(nil)

// Open opens (creating if needed) the store in the SQLite file at path.
// Its folder is created too.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	db, err := openDB(path)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: create schema: %w", path, err)
	}
	s := &Store{
		db: db, opts: opts, lexical: DefaultLexical(),
		indexes:     map[int64]*loadedIndex{},
		loading:     map[int64]*pendingLoad{},
		trainSignal: make(chan struct{}, 1),
		trainerDone: make(chan struct{}),
	}
	if opts.Lexical != nil {
		s.lexical = *opts.Lexical
	}
	if s.opts.NewIndex == nil {
		// Exact up to a million chunks, partitioned (IVF) above, and
		// re-partitioned at each fourfold growth; the trainings run on
		// s's trainer goroutine, never in an Add made under s.mu.
		s.opts.NewIndex = func(dims int) rag.VectorIndex {
			return vector.NewAuto(dims, vector.AutoOptions{DeferTraining: true, Retrain: true})
		}
	}
	// The trainer outlives Open's ctx, which only bounds opening.
	trainCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopTrainer = stop
	go s.trainLoop(trainCtx)
	return s, nil
}

// Close stops a training under way, waits for the trainer goroutine to
// return, and closes the database. Calling it again returns the first
// call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopTrainer()
		<-s.trainerDone
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// signalTrainer wakes the trainer without waiting: one pending signal is
// enough, since the trainer looks at every index.
func (s *Store) signalTrainer() {
	select {
	case s.trainSignal <- struct{}{}:
	default:
	}
}

// trainLoop runs the trainings that the loaded indexes have due, one at a
// time, without s.mu: searches and writes go on meanwhile (the index
// applies the writes made during a training when it swaps its partitions
// in). It returns when ctx is cancelled, which also stops a training under
// way.
func (s *Store) trainLoop(ctx context.Context) {
	defer close(s.trainerDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.trainSignal:
		}
		s.mu.RLock()
		due := make([]trainable, 0, len(s.indexes))
		for _, li := range s.indexes {
			if t, ok := li.idx.(trainable); ok {
				due = append(due, t)
			}
		}
		s.mu.RUnlock()
		for _, t := range due {
			if ctx.Err() != nil {
				return
			}
			if t.TrainingDue() {
				// A failed training leaves the index exact, which is
				// correct, only slower; the next signal tries again.
				_ = t.Train(ctx)
			}
		}
	}
}

// openDB opens the SQLite file at path, creating its folder, with the
// pragmas both the RAG store and the relational state (OpenState) rely on.
func openDB(path string) (*sql.DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Write transactions take the write lock up front, so two writers wait
	// for each other instead of failing to upgrade a read lock.
	q.Set("_txlock", "immediate")
	return sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
}

type collection struct {
	id       int64
	embedder string
	dims     int
	version  int64
}

func (s *Store) collection(ctx context.Context, q querier, name string) (*collection, error) {
	var c collection
	err := q.QueryRowContext(ctx, `SELECT id, embedder, dims, version FROM rag_collections WHERE name = ?`, name).
		Scan(&c.id, &c.embedder, &c.dims, &c.version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("collection %q: %w", name, rag.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("collection %q: %w", name, err)
	}
	return &c, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func ftsName(id int64) string { return "rag_fts_" + strconv.FormatInt(id, 10) }

// Documents implements rag.Store.
func (s *Store) Documents(ctx context.Context, name string) ([]rag.DocInfo, error) {
	c, err := s.collection(ctx, s.db, name)
	if errors.Is(err, rag.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT doc_id, hash FROM rag_documents WHERE collection = ? ORDER BY doc_id`, c.id)
	if err != nil {
		return nil, fmt.Errorf("collection %q: %w", name, err)
	}
	defer rows.Close()
	var out []rag.DocInfo
	for rows.Next() {
		var d rag.DocInfo
		if err := rows.Scan(&d.ID, &d.Hash); err != nil {
			return nil, fmt.Errorf("collection %q: %w", name, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Collections implements rag.Store.
func (s *Store) Collections(ctx context.Context) ([]rag.CollectionInfo, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT c.name, c.embedder, c.dims,
			(SELECT count(*) FROM rag_documents d WHERE d.collection = c.id),
			(SELECT count(*) FROM rag_chunks k JOIN rag_documents d ON d.id = k.document WHERE d.collection = c.id)
		FROM rag_collections c ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	defer rows.Close()
	var out []rag.CollectionInfo
	for rows.Next() {
		var ci rag.CollectionInfo
		if err := rows.Scan(&ci.Name, &ci.Embedder, &ci.Dimensions, &ci.Documents, &ci.Chunks); err != nil {
			return nil, fmt.Errorf("list collections: %w", err)
		}
		out = append(out, ci)
	}
	return out, rows.Err()
}

// DropCollection implements rag.Store.
func (s *Store) DropCollection(ctx context.Context, name string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("drop collection %q: %w", name, err)
	}
	defer tx.Rollback()
	c, err := s.collection(ctx, tx, name)
	if err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+ftsName(c.id)); err != nil {
		return fmt.Errorf("drop collection %q: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM rag_collections WHERE id = ?`, c.id); err != nil {
		return fmt.Errorf("drop collection %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("drop collection %q: %w", name, err)
	}
	s.mu.Lock()
	delete(s.indexes, c.id)
	s.drops++
	s.mu.Unlock()
	return nil
}

// validName rejects collection names that could not be shown or typed.
func validName(name string) error {
	if name == "" || len(name) > 200 || !utf8.ValidString(name) {
		return fmt.Errorf("collection name %q: want 1 to 200 characters of UTF-8", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("collection name %q: control characters are not allowed", name)
		}
	}
	return nil
}

// validate checks a batch before anything is written.
func validate(b *rag.Batch) error {
	seen := map[string]bool{}
	for _, p := range b.Put {
		id := p.Document.ID
		if id == "" {
			return fmt.Errorf("document from %q: empty id", p.Document.Source)
		}
		if seen[id] {
			return fmt.Errorf("document %q: appears twice in one batch", id)
		}
		seen[id] = true
		if len(p.Chunks) >= maxChunks {
			return fmt.Errorf("document %q: %d chunks, at most %d allowed", id, len(p.Chunks), maxChunks-1)
		}
		if p.Vectors != nil && len(p.Vectors) != len(p.Chunks) {
			return fmt.Errorf("document %q: %d vectors for %d chunks", id, len(p.Vectors), len(p.Chunks))
		}
		if p.Vectors == nil && b.Embedder != "" && len(p.Chunks) > 0 {
			return fmt.Errorf("document %q: no vectors although the batch names embedder %q", id, b.Embedder)
		}
		for i, v := range p.Vectors {
			if len(v) != b.Dimensions {
				return fmt.Errorf("document %q chunk %d: vector has %d dimensions, want %d", id, i, len(v), b.Dimensions)
			}
		}
	}
	return nil
}

// Apply implements rag.Store: every change in one transaction.
func (s *Store) Apply(ctx context.Context, name string, b rag.Batch) error {
	if err := validName(name); err != nil {
		return err
	}
	if err := validate(&b); err != nil {
		return fmt.Errorf("collection %q: %w", name, err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("collection %q: begin: %w", name, err)
	}
	defer tx.Rollback()
	c, err := s.ensureCollection(ctx, tx, name, &b)
	if err != nil {
		return err
	}
	fts := ftsName(c.id)
	var removed []int64
	type added struct {
		id  int64
		vec []float32
	}
	var adds []added

	del := func(docID string) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM rag_documents WHERE collection = ? AND doc_id = ?`, c.id, docID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM rag_chunks WHERE document = ?`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var cid int64
			if err := rows.Scan(&cid); err != nil {
				rows.Close()
				return err
			}
			removed = append(removed, cid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+fts+` WHERE rowid IN (SELECT id FROM rag_chunks WHERE document = ?)`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM rag_documents WHERE id = ?`, id)
		return err
	}
	for _, id := range b.Delete {
		if err := del(id); err != nil {
			return fmt.Errorf("collection %q: delete %q: %w", name, id, err)
		}
	}
	insDoc, err := tx.PrepareContext(ctx, `INSERT INTO rag_documents (collection, doc_id, title, source, hash, metadata) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("collection %q: %w", name, err)
	}
	defer insDoc.Close()
	insChunk, err := tx.PrepareContext(ctx, `INSERT INTO rag_chunks (id, document, idx, text, start, end, headings, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("collection %q: %w", name, err)
	}
	defer insChunk.Close()
	insFTS, err := tx.PrepareContext(ctx, `INSERT INTO `+fts+` (rowid, title, headings, body) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("collection %q: %w", name, err)
	}
	defer insFTS.Close()
	insMeta, err := tx.PrepareContext(ctx, `INSERT INTO rag_metadata (document, key, value) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("collection %q: %w", name, err)
	}
	defer insMeta.Close()

	for _, p := range b.Put {
		d := &p.Document
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("collection %q: %w", name, err)
		}
		if err := del(d.ID); err != nil {
			return fmt.Errorf("collection %q: replace %q: %w", name, d.ID, err)
		}
		meta, err := json.Marshal(d.Metadata)
		if err != nil {
			return fmt.Errorf("collection %q: document %q metadata: %w", name, d.ID, err)
		}
		res, err := insDoc.ExecContext(ctx, c.id, d.ID, d.Title, d.Source, d.Hash, string(meta))
		if err != nil {
			return fmt.Errorf("collection %q: insert %q: %w", name, d.ID, err)
		}
		docRow, _ := res.LastInsertId()
		for k, v := range d.Metadata {
			if _, err := insMeta.ExecContext(ctx, docRow, k, v); err != nil {
				return fmt.Errorf("collection %q: document %q metadata %q: %w", name, d.ID, k, err)
			}
		}
		for i, ch := range p.Chunks {
			heads, _ := json.Marshal(ch.Headings)
			var blob []byte
			var vec []float32
			if p.Vectors != nil {
				vec = p.Vectors[i]
				blob = encodeVector(vec)
			}
			cid := chunkRow(docRow, i)
			if _, err := insChunk.ExecContext(ctx, cid, docRow, ch.Index, ch.Text, ch.Start, ch.End, string(heads), blob); err != nil {
				return fmt.Errorf("collection %q: document %q chunk %d: %w", name, d.ID, i, err)
			}
			if _, err := insFTS.ExecContext(ctx, cid, d.Title, strings.Join(ch.Headings, " "), ch.Text); err != nil {
				return fmt.Errorf("collection %q: document %q chunk %d: index: %w", name, d.ID, i, err)
			}
			if vec != nil {
				adds = append(adds, added{cid, vec})
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rag_collections SET version = version + 1 WHERE id = ?`, c.id); err != nil {
		return fmt.Errorf("collection %q: %w", name, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("collection %q: commit: %w", name, err)
	}
	// Keep a loaded vector index in step, or drop it to be reloaded when it
	// is not at the version this write started from (another process wrote).
	li := s.indexes[c.id]
	if li == nil {
		return nil
	}
	if li.version != c.version {
		delete(s.indexes, c.id)
		return nil
	}
	for _, id := range removed {
		li.idx.Remove(chunkKey(id))
	}
	for _, a := range adds {
		if err := li.idx.Add(chunkKey(a.id), a.vec); err != nil {
			delete(s.indexes, c.id)
			return nil
		}
	}
	li.version = c.version + 1
	if len(adds) > 0 {
		// Only growth makes a training due.
		s.signalTrainer()
	}
	return nil
}

// ensureCollection returns the collection, creating it (and its FTS table)
// if needed, and checks that the batch's embedder matches it.
func (s *Store) ensureCollection(ctx context.Context, tx *sql.Tx, name string, b *rag.Batch) (*collection, error) {
	c, err := s.collection(ctx, tx, name)
	if errors.Is(err, rag.ErrNotFound) {
		res, err := tx.ExecContext(ctx, `INSERT INTO rag_collections (name, embedder, dims) VALUES (?, ?, ?)`, name, b.Embedder, b.Dimensions)
		if err != nil {
			return nil, fmt.Errorf("create collection %q: %w", name, err)
		}
		id, _ := res.LastInsertId()
		if _, err := tx.ExecContext(ctx, ftsTable(ftsName(id))); err != nil {
			return nil, fmt.Errorf("create collection %q: %w", name, err)
		}
		return &collection{id: id, embedder: b.Embedder, dims: b.Dimensions}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b.Put) > 0 && (b.Embedder != c.embedder || b.Dimensions != c.dims) {
		// A change of embedder is allowed only when the batch replaces or
		// deletes every document: vectors of two models never mix.
		gone := map[string]bool{}
		for _, id := range b.Delete {
			gone[id] = true
		}
		for _, p := range b.Put {
			gone[p.Document.ID] = true
		}
		docs, err := s.Documents(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if !gone[d.ID] {
				return nil, fmt.Errorf("collection %q holds vectors of embedder %q (%d dimensions); this ingest uses %q (%d): ingest into a new collection or drop it first",
					name, c.embedder, c.dims, b.Embedder, b.Dimensions)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE rag_collections SET embedder = ?, dims = ? WHERE id = ?`, b.Embedder, b.Dimensions, c.id); err != nil {
			return nil, fmt.Errorf("collection %q: %w", name, err)
		}
		c.embedder, c.dims = b.Embedder, b.Dimensions
	}
	return c, nil
}

// chunkBits is how many low bits of a chunk's row id hold its position in
// its document; the high bits are the document's row id. Ranking can then
// group chunks by document without a join.
const chunkBits = 20

// maxChunks is the most chunks one document may have.
const maxChunks = 1 << chunkBits

func chunkRow(docRow int64, i int) int64 { return docRow<<chunkBits | int64(i) }

func docOfChunk(id int64) int64 { return id >> chunkBits }

func chunkKey(id int64) string { return strconv.FormatInt(id, 10) }

// encodeVector stores a vector as little-endian float32s.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("vector blob of %d bytes is not a whole number of float32s", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
