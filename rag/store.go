package rag

import (
	"context"
	"errors"
	"fmt"
)

// Mode is a retrieval mode.
type Mode string

// Retrieval modes.
const (
	// Lexical ranks by BM25 over the passages' words.
	Lexical Mode = "lexical"
	// Vector ranks by cosine similarity of embeddings.
	Vector Mode = "vector"
	// Hybrid fuses the lexical and the vector ranking with reciprocal rank
	// fusion (see Fuse).
	Hybrid Mode = "hybrid"
)

// ParseMode returns the mode named s ("" is Lexical).
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", Lexical:
		return Lexical, nil
	case Vector, Hybrid:
		return Mode(s), nil
	}
	return "", fmt.Errorf("retrieval mode %q: want lexical, vector or hybrid", s)
}

// Query asks a store for passages.
type Query struct {
	// Text is the query in words (lexical and hybrid modes).
	Text string
	// Vector is the query's embedding (vector and hybrid modes). Retriever
	// fills it from Text with its Embedder.
	Vector []float32
	// Mode selects the ranking; "" is Lexical.
	Mode Mode
	// K is how many hits to return; 0 means 10.
	K int
	// Filter keeps only passages whose document metadata has every listed
	// key with exactly the listed value.
	Filter map[string]string
	// Fusion tunes hybrid mode; the zero value is plain RRF with k=60 and
	// equal weights.
	Fusion Fusion
	// PerDocument returns at most one hit (the best passage) per document,
	// for callers that rank documents rather than passages.
	PerDocument bool
	// WithVectors asks for Hit.Vector to be filled (for MMR).
	WithVectors bool
}

// Limit returns q.K, or the default of 10.
func (q Query) Limit() int {
	if q.K <= 0 {
		return 10
	}
	return q.K
}

// Fusion weights reciprocal rank fusion.
type Fusion struct {
	// K is RRF's rank constant; 0 means 60, the value of the original paper.
	K float64
	// LexicalWeight and VectorWeight scale each list's contribution; both 0
	// means 1 and 1.
	LexicalWeight, VectorWeight float64
}

// Indexed is a document ready to store: its chunks and, when an embedder is
// configured, one vector per chunk.
type Indexed struct {
	Document Document
	Chunks   []Chunk
	// Vectors is nil, or parallel to Chunks.
	Vectors [][]float32
}

// Batch is one atomic change to a collection.
type Batch struct {
	// Put adds documents, replacing any with the same ID.
	Put []Indexed
	// Delete removes documents by ID.
	Delete []string
	// Embedder names the embedding model of Put's vectors ("" for none) and
	// Dimensions their size; a store refuses to mix models in a collection.
	Embedder   string
	Dimensions int
}

// DocInfo is what a store remembers of a document to decide whether
// re-ingesting it is needed.
type DocInfo struct {
	ID string
	// Hash is the value stored with the document: Ingester stores the
	// document's content hash combined with the chunker's and the
	// embedder's settings.
	Hash string
}

// CollectionInfo describes a collection.
type CollectionInfo struct {
	Name       string
	Documents  int
	Chunks     int
	Embedder   string
	Dimensions int
}

// Store keeps collections of documents and searches them. Implementations:
// store/sqlite (embedded, the default) and store/weaviate.
//
// Implementations must be safe for concurrent use.
type Store interface {
	// Documents lists the documents of a collection with their hashes;
	// an unknown collection has none.
	Documents(ctx context.Context, collection string) ([]DocInfo, error)
	// Apply makes every change in b, creating the collection if needed, or
	// none of them: a failed Apply leaves the collection as it was.
	Apply(ctx context.Context, collection string, b Batch) error
	// Search returns the best passages for q, best first. An unknown
	// collection is an error wrapping ErrNotFound.
	Search(ctx context.Context, collection string, q Query) ([]Hit, error)
	// Collections lists the collections.
	Collections(ctx context.Context) ([]CollectionInfo, error)
	// DropCollection removes a collection and everything in it.
	DropCollection(ctx context.Context, collection string) error
	// Close releases the store.
	Close() error
}

// ErrNotFound is wrapped by errors about collections that do not exist.
var ErrNotFound = errors.New("not found")

// Embedder turns texts into vectors. Implementations live in rag/embed.
type Embedder interface {
	// Name is the embedding model's `provider/model` name; vectors from
	// different names are never mixed in one collection.
	Name() string
	// Dimensions is the length of every vector Embed returns.
	Dimensions() int
	// Embed returns one vector per text, in order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// QueryEmbedder is implemented by embedders whose models embed search
// queries differently from documents (input_type, task_type). Retriever
// uses it for queries when available.
type QueryEmbedder interface {
	EmbedQuery(ctx context.Context, text string) ([]float32, error)
}

// Scored is a vector index match: a chunk id and its cosine similarity.
type Scored struct {
	ID    string
	Score float32
}

// VectorIndex is an in-memory nearest-neighbour index over chunk vectors,
// used by the embedded store for vector and hybrid search. Implementations
// live in rag/vector. They must be safe for concurrent Search calls; Add
// and Remove are called by one writer at a time, never concurrently with
// each other.
type VectorIndex interface {
	// Add inserts or replaces the vector of id. The index keeps its own
	// copy (or quantisation) of vec.
	Add(id string, vec []float32) error
	// Remove deletes id; removing an absent id does nothing.
	Remove(id string)
	// Search returns up to k ids by descending cosine similarity to query,
	// skipping ids for which filter (when not nil) returns false.
	Search(query []float32, k int, filter func(id string) bool) ([]Scored, error)
	// Len returns the number of vectors held.
	Len() int
}

// Chunker splits a document into passages.
type Chunker interface {
	Chunk(doc *Document) []Chunk
}

// Fingerprinter is implemented by chunkers (and embedders) whose output
// depends on settings: Ingester folds the fingerprint into each document's
// stored hash, so changing a setting re-indexes on the next ingest.
type Fingerprinter interface {
	Fingerprint() string
}

// Reranker reorders hits for a query, best first, and may drop some. A
// model-judged reranker and API rerankers implement it.
type Reranker interface {
	Rerank(ctx context.Context, query string, hits []Hit) ([]Hit, error)
}
