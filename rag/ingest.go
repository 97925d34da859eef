package rag

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Ingester brings a collection in line with a set of documents: new and
// changed documents are chunked, embedded and stored, unchanged ones are
// skipped (by content hash), and with Sync the ones no longer present are
// removed — all in one Store.Apply, so a failure changes nothing.
type Ingester struct {
	Store   Store
	Chunker Chunker
	// Embedder, when set, embeds every new chunk; nil stores no vectors
	// (lexical search only).
	Embedder Embedder
	// EmbedBatch is how many chunks go to the embedder per call; 0 means 64.
	EmbedBatch int
}

// IngestOptions tune one ingest.
type IngestOptions struct {
	// Sync removes documents that are in the collection but not in the
	// ingested set.
	Sync bool
	// Progress, when set, is called as documents are chunked and embedded,
	// with the number done and the number to do.
	Progress func(done, total int)
}

// IngestStats counts what an ingest did.
type IngestStats struct {
	Added, Updated, Unchanged, Removed int
	// Chunks is the number of chunks written.
	Chunks int
}

func (s IngestStats) String() string {
	return fmt.Sprintf("%d added, %d updated, %d unchanged, %d removed (%d chunks written)",
		s.Added, s.Updated, s.Unchanged, s.Removed, s.Chunks)
}

// Ingest implements the Ingester's contract for one collection.
func (in *Ingester) Ingest(ctx context.Context, collection string, docs []Document, opts IngestOptions) (IngestStats, error) {
	var st IngestStats
	if in.Store == nil || in.Chunker == nil {
		return st, errors.New("ingest: Ingester needs a Store and a Chunker")
	}
	seen := make(map[string]string, len(docs))
	for i := range docs {
		d := &docs[i]
		if d.ID == "" {
			return st, fmt.Errorf("ingest: document from %q has no id", d.Source)
		}
		if prev, dup := seen[d.ID]; dup {
			return st, fmt.Errorf("ingest: document id %q comes from both %q and %q", d.ID, prev, d.Source)
		}
		seen[d.ID] = d.Source
	}
	existing, err := in.Store.Documents(ctx, collection)
	if err != nil {
		return st, fmt.Errorf("ingest: %w", err)
	}
	stored := make(map[string]string, len(existing))
	for _, e := range existing {
		stored[e.ID] = e.Hash
	}
	var b Batch
	if in.Embedder != nil {
		b.Embedder, b.Dimensions = in.Embedder.Name(), in.Embedder.Dimensions()
	}
	var todo []*Document
	for i := range docs {
		d := &docs[i]
		h, ok := stored[d.ID]
		switch {
		case !ok:
			st.Added++
		case h == in.storedHash(d):
			st.Unchanged++
			continue
		default:
			st.Updated++
		}
		todo = append(todo, d)
	}
	if opts.Sync {
		for _, e := range existing {
			if _, ok := seen[e.ID]; !ok {
				b.Delete = append(b.Delete, e.ID)
				st.Removed++
			}
		}
	}
	if len(todo) == 0 && len(b.Delete) == 0 {
		return st, nil
	}
	for i, d := range todo {
		if err := ctx.Err(); err != nil {
			return IngestStats{}, fmt.Errorf("ingest: %w", err)
		}
		ix := Indexed{Document: *d, Chunks: in.Chunker.Chunk(d)}
		ix.Document.Hash = in.storedHash(d)
		if in.Embedder != nil && len(ix.Chunks) > 0 {
			if ix.Vectors, err = in.embed(ctx, d, ix.Chunks); err != nil {
				return IngestStats{}, fmt.Errorf("ingest: embed %q: %w", d.ID, err)
			}
		}
		st.Chunks += len(ix.Chunks)
		b.Put = append(b.Put, ix)
		if opts.Progress != nil {
			opts.Progress(i+1, len(todo))
		}
	}
	if in.Embedder != nil {
		// An embedder that learns its size from its first answer knows it
		// only now.
		b.Dimensions = in.Embedder.Dimensions()
	}
	if err := in.Store.Apply(ctx, collection, b); err != nil {
		return IngestStats{}, fmt.Errorf("ingest: %w", err)
	}
	return st, nil
}

// storedHash is the document's content hash combined with the chunker's
// and the embedder's settings: a change in any of them re-indexes it.
func (in *Ingester) storedHash(d *Document) string {
	h := sha256.New()
	content := d.Hash
	if content == "" {
		content = d.ContentHash()
	}
	h.Write([]byte(content))
	if f, ok := in.Chunker.(Fingerprinter); ok {
		h.Write([]byte("\x00chunker:" + f.Fingerprint()))
	}
	if in.Embedder != nil {
		h.Write([]byte("\x00embedder:" + in.Embedder.Name()))
		if f, ok := in.Embedder.(Fingerprinter); ok {
			h.Write([]byte("\x00" + f.Fingerprint()))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// embed embeds a document's chunks in batches. Each chunk is embedded with
// its title and heading path in front, so a passage keeps the context a
// reader would have.
func (in *Ingester) embed(ctx context.Context, d *Document, chunks []Chunk) ([][]float32, error) {
	n := in.EmbedBatch
	if n <= 0 {
		n = 64
	}
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = EmbeddingText(d.Title, c)
	}
	var out [][]float32
	for start := 0; start < len(texts); start += n {
		batch := texts[start:min(start+n, len(texts))]
		vecs, err := in.Embedder.Embed(ctx, batch)
		if err != nil {
			return nil, err
		}
		if len(vecs) != len(batch) {
			return nil, fmt.Errorf("embedder %s returned %d vectors for %d texts", in.Embedder.Name(), len(vecs), len(batch))
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// EmbeddingText is the text embedded for a chunk: the document title and
// heading path, then the passage.
func EmbeddingText(title string, c Chunk) string {
	var ctx []string
	if title != "" {
		ctx = append(ctx, title)
	}
	for _, h := range c.Headings {
		if h != title {
			ctx = append(ctx, h)
		}
	}
	if len(ctx) == 0 {
		return c.Text
	}
	return strings.Join(ctx, " › ") + "\n\n" + c.Text
}
