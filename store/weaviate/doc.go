// Package weaviate implements rag.Store on Weaviate, the distributed vector
// database, through its official Go client: for collections that outgrow
// one machine, or several Keel replicas sharing one index.
//
// Each Keel collection is two Weaviate classes, one object per chunk
// (BM25-indexed text, the chunk's own embedding, vectorizer "none", cosine
// distance) and one per document (its content hash, for idempotent
// re-ingest), plus an entry in a registry class that remembers the
// collection's embedder. Lexical search is Weaviate's BM25, vector search
// its nearVector, hybrid its ranked fusion of the two; metadata filters are
// "key=value" pairs matched with ContainsAll.
//
//	st, err := weaviate.Open(ctx, weaviate.Options{URL: "http://127.0.0.1:8080"})
//	hits, err := st.Search(ctx, "docs", rag.Query{Text: q, Mode: rag.Hybrid, Vector: v})
//
// Weaviate has no transactions across objects: Apply writes chunks first,
// removes stale ones, and records document hashes last, so a failed Apply
// leaves documents that the next ingest sees as changed and writes again.
package weaviate
