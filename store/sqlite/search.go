package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keelai/keel/rag"
)

// Search implements rag.Store.
func (s *Store) Search(ctx context.Context, name string, q rag.Query) ([]rag.Hit, error) {
	mode, err := rag.ParseMode(string(q.Mode))
	if err != nil {
		return nil, err
	}
	c, err := s.collection(ctx, s.db, name)
	if err != nil {
		return nil, err
	}
	k := q.Limit()
	var ranked []scored
	switch mode {
	case rag.Lexical:
		ranked, err = s.lexicalSearch(ctx, c, q, candidates(q, k))
	case rag.Vector:
		ranked, err = s.vectorSearch(ctx, c, q, candidates(q, k))
	case rag.Hybrid:
		ranked, err = s.hybridSearch(ctx, c, q, k)
	}
	if err != nil {
		return nil, fmt.Errorf("search collection %q: %w", name, err)
	}
	if q.PerDocument {
		ranked = bestPerDocument(ranked)
	}
	if len(ranked) > k {
		ranked = ranked[:k]
	}
	hits, err := s.hits(ctx, ranked, q.WithVectors)
	if err != nil {
		return nil, fmt.Errorf("search collection %q: %w", name, err)
	}
	return hits, nil
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
		b.WriteString(` AND ` + expr + ` IN (SELECT c.id FROM chunks c JOIN metadata m ON m.document = c.document WHERE m.key = ? AND m.value = ?)`)
		args = append(args, k, v)
	}
	return b.String(), args
}

func (s *Store) vectorSearch(ctx context.Context, c *collection, q rag.Query, n int) ([]scored, error) {
	if len(q.Vector) == 0 {
		return nil, errors.New("vector search needs a query vector: configure an embedder")
	}
	if c.embedder == "" {
		return nil, errors.New("the collection has no vectors: it was ingested without an embedder")
	}
	if len(q.Vector) != c.dims {
		return nil, fmt.Errorf("query vector has %d dimensions, the collection's (%s) have %d", len(q.Vector), c.embedder, c.dims)
	}
	idx, err := s.vectorIndex(ctx, c)
	if err != nil {
		return nil, err
	}
	var keep func(string) bool
	if len(q.Filter) > 0 {
		allowed, err := s.filteredChunks(ctx, c, q.Filter)
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
		var id int64
		if _, err := fmt.Sscan(r.ID, &id); err != nil {
			return nil, fmt.Errorf("vector index returned id %q: %w", r.ID, err)
		}
		out = append(out, scored{id, float64(r.Score)})
	}
	return out, nil
}

func (s *Store) filteredChunks(ctx context.Context, c *collection, filter map[string]string) (map[string]bool, error) {
	where, args := filterClause("k.id", filter)
	rows, err := s.db.QueryContext(ctx, `SELECT k.id FROM chunks k JOIN documents d ON d.id = k.document WHERE d.collection = ?`+where,
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

// vectorIndex returns the collection's loaded index, loading it from the
// vector blobs when absent or older than the collection.
func (s *Store) vectorIndex(ctx context.Context, c *collection) (rag.VectorIndex, error) {
	if s.opts.NewIndex == nil {
		return nil, errors.New("no vector index is configured in this store")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if li := s.indexes[c.id]; li != nil && li.version == c.version && li.dims == c.dims {
		return li.idx, nil
	}
	idx := s.opts.NewIndex(c.dims)
	rows, err := s.db.QueryContext(ctx, `SELECT k.id, k.vector FROM chunks k JOIN documents d ON d.id = k.document WHERE d.collection = ? AND k.vector IS NOT NULL`, c.id)
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
		if err := idx.Add(chunkKey(id), v); err != nil {
			return nil, fmt.Errorf("load vectors: chunk %d: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load vectors: %w", err)
	}
	s.indexes[c.id] = &loadedIndex{version: c.version, dims: c.dims, idx: idx}
	return idx, nil
}

func (s *Store) hybridSearch(ctx context.Context, c *collection, q rag.Query, k int) ([]scored, error) {
	n := candidates(q, k)
	lex, err := s.lexicalSearch(ctx, c, q, n)
	if err != nil {
		return nil, err
	}
	vec, err := s.vectorSearch(ctx, c, q, n)
	if err != nil {
		return nil, err
	}
	toIDs := func(l []scored) []string {
		ids := make([]string, len(l))
		for i, x := range l {
			ids[i] = chunkKey(x.id)
		}
		return ids
	}
	w1, w2 := q.Fusion.LexicalWeight, q.Fusion.VectorWeight
	if w1 == 0 && w2 == 0 {
		w1, w2 = 1, 1
	}
	fused := rag.RRF(q.Fusion.K, []float64{w1, w2}, toIDs(lex), toIDs(vec))
	out := make([]scored, len(fused))
	for i, f := range fused {
		var id int64
		fmt.Sscan(f.ID, &id)
		out[i] = scored{id, float64(f.Score)}
	}
	return out, nil
}

// hits loads the chunks of ranked, in order, with their documents.
func (s *Store) hits(ctx context.Context, ranked []scored, withVectors bool) ([]rag.Hit, error) {
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
	rows, err := s.db.QueryContext(ctx, `
		SELECT k.id, k.idx, k.text, k.start, k.end, k.headings, `+vecCol+`, d.doc_id, d.title, d.source, d.metadata
		FROM chunks k JOIN documents d ON d.id = k.document
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
