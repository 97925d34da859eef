// Package rag is Keel's retrieval-augmented generation core: the documents,
// chunks and hits that flow from loaders to stores to answers, the small
// interfaces that stores, vector indexes, embedders and rerankers implement,
// rank fusion (RRF) and diversity (MMR), and grounded answering with
// citations — streamed from a model, or extractive when no model is
// configured.
//
// The pieces compose like this:
//
//	docs, err := load.Path(ctx, "./docs", load.Options{})        // rag/load
//	ing := rag.Ingester{Store: st, Chunker: chunk.New(chunk.Options{})}
//	stats, err := ing.Ingest(ctx, "docs", docs, rag.IngestOptions{Sync: true})
//	hits, err := rag.Retriever{Store: st}.Retrieve(ctx, "docs", rag.Query{Text: q, K: 5})
//	ans := rag.Extract(q, hits, 5)                                 // offline
//
// Stores (store/sqlite, store/weaviate) implement Store; loaders live in
// rag/load, the chunker in rag/chunk, vector indexes in rag/vector and
// embedders in rag/embed.
package rag
