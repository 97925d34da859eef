package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keelai/keel/rag"
)

// Search implements rag.Store. Each search reads one consistent snapshot
// of the database, so a concurrent write is seen whole or not at all.
func (s *Store) Search(ctx context.Context, name string, q rag.Query) ([]rag.Hit, error) {
	mode, err := rag.ParseMode(string(q.Mode))
	if err != nil {
		return nil, err
	}
	q.Mode = mode
	// A search retries when its snapshot and the loaded vector index are
	// at different versions (a write landed in between). That is rare, and
	// a retry usually finds them in step; under writes that never pause, the
	// last attempt reads the vectors of its own snapshot into an index of
	// its own, which is slower but always consistent.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		hits, retry, err := s.search(ctx, name, q, attempt == attempts)
		if !retry {
			return hits, err
		}
	}
}

func (s *Store) search(ctx context.Context, name string, q rag.Query, private bool) (hits []rag.Hit, retry bool, err error) {
	// Read before the snapshot is: see acquireIndex.
	s.mu.RLock()
	drops := s.drops
	s.mu.RUnlock()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("search collection %q: %w", name, err)
	}
	defer conn.Close()
	// A deferred transaction: a read snapshot that takes no write lock.
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, false, fmt.Errorf("search collection %q: %w", name, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	c, err := s.collection(ctx, conn, name)
	if err != nil {
		return nil, false, err
	}
	k := q.Limit()
	n := candidates(q, k)
	var lex, vec []scored
	if q.Mode != rag.Vector {
		if lex, err = s.lexicalSearch(ctx, conn, c, q, n); err != nil {
			return nil, false, fmt.Errorf("search collection %q: %w", name, err)
		}
	}
	if q.Mode != rag.Lexical {
		idx, release, err := s.acquireIndex(ctx, conn, c, q, private, drops)
		if err != nil {
			return nil, false, fmt.Errorf("search collection %q: %w", name, err)
		}
		if idx == nil {
			return nil, true, nil
		}
		vec, err = s.vectorSearch(ctx, conn, c, idx, q, n)
		release()
		if err != nil {
			return nil, false, fmt.Errorf("search collection %q: %w", name, err)
		}
	}
	ranked := lex
	switch q.Mode {
	case rag.Vector:
		ranked = vec
	case rag.Hybrid:
		ranked = fuse(q.Fusion, lex, vec)
	}
	if q.PerDocument {
		ranked = bestPerDocument(ranked)
	}
	if len(ranked) > k {
		ranked = ranked[:k]
	}
	hits, err = s.hits(ctx, conn, ranked, q.WithVectors)
	if err != nil {
		return nil, false, fmt.Errorf("search collection %q: %w", name, err)
	}
	return hits, false, nil
}

// scored is a chunk row id with its score, higher is better.
type scored struct {
	id    int64
	score float64
}

// candidates is how many results each ranking fetches before fusion or
// per-document grouping: enough that the final k rarely runs short.
func candidates(q rag.Query, k int) int {
	n := k
	if q.PerDocument {
		n = 4 * k
	}
	if q.Mode == rag.Hybrid {
		n = max(n, 4*k, 50)
	}
	return n
}

func bestPerDocument(ranked []scored) []scored {
	seen := map[int64]bool{}
	out := ranked[:0]
	for _, r := range ranked {
		if d := docOfChunk(r.id); !seen[d] {
			seen[d] = true
			out = append(out, r)
		}
	}
	return out
}

// filterClause returns SQL restricting chunk ids (column expr) to the
// documents whose metadata matches filter, with its arguments.
func filterClause(expr string, filter map[string]string) (string, []any) {
	if len(filter) == 0 {
		return "", nil
	}
	var b strings.Builder
	var args []any
	for k, v := range filter {
		b.WriteString(` AND ` + expr + ` IN (SELECT c.id FROM rag_chunks c JOIN rag_metadata m ON m.document = c.document WHERE m.key = ? AND m.value = ?)`)
		args = append(args, k, v)
	}
	return b.String(), args
}

// checkVectorQuery reports why a vector query cannot run on c, if it cannot.
func checkVectorQuery(c *collection, q rag.Query) error {
	if len(q.Vector) == 0 {
		return errors.New("vector search needs a query vector: configure an embedder")
	}
	if c.embedder == "" {
		return errors.New("the collection has no vectors: it was ingested without an embedder")
	}
	if len(q.Vector) != c.dims {
		return fmt.Errorf("query vector has %d dimensions, the collection's (%s) have %d", len(q.Vector), c.embedder, c.dims)
	}
	return nil
}

func (s *Store) vectorSearch(ctx context.Context, db querier, c *collection, idx rag.VectorIndex, q rag.Query, n int) ([]scored, error) {
	var keep func(string) bool
	if len(q.Filter) > 0 {
		allowed, err := s.filteredChunks(ctx, db, c, q.Filter)
		if err != nil {
			return nil, err
		}
		keep = func(id string) bool { return allowed[id] }
	}
	res, err := idx.Search(q.Vector, n, keep)
	if err != nil {
		return nil, err
	}
	out := make([]scored, 0, len(res))
	for _, r := range res {
		id, err := strconv.ParseInt(r.ID, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("vector index returned id %q: %w", r.ID, err)
		}
		out = append(out, scored{id, float64(r.Score)})
	}
	return out, nil
}

func (s *Store) filteredChunks(ctx context.Context, db querier, c *collection, filter map[string]string) (map[string]bool, error) {
	where, args := filterClause("k.id", filter)
	rows, err := db.QueryContext(ctx, `SELECT k.id FROM rag_chunks k JOIN rag_documents d ON d.id = k.document WHERE d.collection = ?`+where,
		append([]any{c.id}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	allowed := map[string]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		allowed[chunkKey(id)] = true
	}
	return allowed, rows.Err()
}

// acquireIndex returns c's vector index at exactly c.version, read-locked
// until release is called. It returns a nil index when the caller must
// retry with a fresh snapshot: when the loaded index is newer than the
// snapshot. With private, it never asks for a retry: on a version mismatch
// it loads this snapshot's vectors into an index that only this search
// uses.
//
// A missing or older index is loaded from this snapshot without s.mu, so
// that the searches and writes of other collections go on meanwhile; the
// searches that need it while it loads wait for that one load. A load that
// cannot be installed still serves this search, privately: a newer index
// was installed meanwhile, or a collection was dropped since before the
// snapshot was taken (drops is s.drops read then), which could have been
// this one, its id now another's.
func (s *Store) acquireIndex(ctx context.Context, db querier, c *collection, q rag.Query, private bool, drops uint64) (idx rag.VectorIndex, release func(), err error) {
	if err := checkVectorQuery(c, q); err != nil {
		return nil, nil, err
	}
	for {
		s.mu.RLock()
		li := s.indexes[c.id]
		if li != nil && li.version == c.version && li.dims == c.dims {
			return li.idx, s.mu.RUnlock, nil
		}
		// Read the version under the lock: Apply advances it.
		newer := li != nil && li.version > c.version
		s.mu.RUnlock()
		if private {
			fresh, err := s.loadIndex(ctx, db, c)
			if err != nil {
				return nil, nil, err
			}
			return fresh, func() {}, nil
		}
		if newer {
			return nil, nil, nil
		}

		s.mu.Lock()
		if li := s.indexes[c.id]; li != nil && (li.version > c.version || li.version == c.version && li.dims == c.dims) {
			// Installed meanwhile: look again.
			s.mu.Unlock()
			continue
		}
		if p := s.loading[c.id]; p != nil {
			p.waiters++
			s.mu.Unlock()
			// Its snapshot may be older or newer than this one: look
			// again when it is over, rather than use it blindly.
			select {
			case <-p.done:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			continue
		}
		p := &pendingLoad{done: make(chan struct{})}
		s.loading[c.id] = p
		s.mu.Unlock()

		fresh, err := s.loadIndex(ctx, db, c)

		s.mu.Lock()
		delete(s.loading, c.id)
		close(p.done)
		installed := false
		if err == nil && s.drops == drops {
			// An Apply that committed meanwhile found no index to update,
			// so an older index, or none, is the only one fresh replaces;
			// the next search at the newer version reloads.
			if li := s.indexes[c.id]; li == nil || li.version < c.version {
				s.indexes[c.id] = &loadedIndex{version: c.version, dims: c.dims, idx: fresh}
				installed = true
			}
		}
		s.mu.Unlock()
		if err != nil {
			return nil, nil, err
		}
		if !installed {
			// fresh is at this snapshot's version and no writer sees it.
			return fresh, func() {}, nil
		}
		s.signalTrainer()
		// The index is now installed at c.version: the next round uses it
		// under the read lock, unless a writer has advanced it already.
	}
}

// loadIndex reads the vectors of c, as db's snapshot has them, into a new
// index.
func (s *Store) loadIndex(ctx context.Context, db querier, c *collection) (rag.VectorIndex, error) {
	fresh := s.opts.NewIndex(c.dims)
	rows, err := db.QueryContext(ctx, `SELECT k.id, k.vector FROM rag_chunks k JOIN rag_documents d ON d.id = k.document WHERE d.collection = ? AND k.vector IS NOT NULL`, c.id)
	if err != nil {
		return nil, fmt.Errorf("load vectors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var blob []byte
		if err := rows.Scan(&id, &blob); err != nil {
			return nil, fmt.Errorf("load vectors: %w", err)
		}
		v, err := decodeVector(blob)
		if err != nil {
			return nil, fmt.Errorf("load vectors: chunk %d: %w", id, err)
		}
		if err := fresh.Add(chunkKey(id), v); err != nil {
			return nil, fmt.Errorf("load vectors: chunk %d: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load vectors: %w", err)
	}
	return fresh, nil
}

// fuse combines the lexical and vector rankings by weighted RRF.
func fuse(f rag.Fusion, lex, vec []scored) []scored {
	toIDs := func(l []scored) []string {
		ids := make([]string, len(l))
		for i, x := range l {
			ids[i] = chunkKey(x.id)
		}
		return ids
	}
	w1, w2 := f.LexicalWeight, f.VectorWeight
	if w1 == 0 && w2 == 0 {
		w1, w2 = 1, 1
	}
	fused := rag.RRF(f.K, []float64{w1, w2}, toIDs(lex), toIDs(vec))
	out := make([]scored, len(fused))
	for i, x := range fused {
		id, _ := strconv.ParseInt(x.ID, 10, 64) // ids came from chunkKey
		out[i] = scored{id, x.Score}
	}
	return out
}

// hits loads the chunks of ranked, in order, with their documents.
func (s *Store) hits(ctx context.Context, db querier, ranked []scored, withVectors bool) ([]rag.Hit, error) {
	if len(ranked) == 0 {
		return nil, nil
	}
	args := make([]any, len(ranked))
	for i, r := range ranked {
		args[i] = r.id
	}
	vecCol := "NULL"
	if withVectors {
		vecCol = "k.vector"
	}
	rows, err := db.QueryContext(ctx, `
		SELECT k.id, k.idx, k.text, k.start, k.end, k.headings, `+vecCol+`, d.doc_id, d.title, d.source, d.metadata
		FROM rag_chunks k JOIN rag_documents d ON d.id = k.document
		WHERE k.id IN (?`+strings.Repeat(",?", len(ranked)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := make(map[int64]rag.Hit, len(ranked))
	for rows.Next() {
		var (
			id, idx     int64
			h           rag.Hit
			heads, meta string
			blob        []byte
		)
		if err := rows.Scan(&id, &idx, &h.Text, &h.Start, &h.End, &heads, &blob, &h.DocID, &h.Title, &h.Source, &meta); err != nil {
			return nil, err
		}
		h.ChunkID = rag.ChunkID(h.DocID, int(idx))
		if err := json.Unmarshal([]byte(heads), &h.Headings); err != nil {
			return nil, fmt.Errorf("chunk %d headings: %w", id, err)
		}
		if err := json.Unmarshal([]byte(meta), &h.Metadata); err != nil {
			return nil, fmt.Errorf("chunk %d metadata: %w", id, err)
		}
		if blob != nil {
			if h.Vector, err = decodeVector(blob); err != nil {
				return nil, fmt.Errorf("chunk %d: %w", id, err)
			}
		}
		byID[id] = h
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]rag.Hit, 0, len(ranked))
	for _, r := range ranked {
		h, ok := byID[r.id]
		if !ok {
			continue // removed by a writer between ranking and loading
		}
		h.Score = r.score
		out = append(out, h)
	}
	return out, nil
}
