// Package vector is an in-memory cosine-similarity index for embeddings:
// the vector search behind Keel's embedded store.
//
// Vectors live in one contiguous block. A search scans int8-quantised
// copies of them (a quarter of the bytes of float32, and dot products that
// AVX-512 VNNI computes 64 dimensions at a time), keeps the best candidates,
// and rescores those with the exact float32 vectors, so results and scores
// are those of an exact float32 search in all but pathological cases (the
// tests measure recall@10 against exact search).
//
// An Index is safe for concurrent use: searches run in parallel with each
// other, and a write waits for running searches. It serialises to bytes
// with MarshalBinary so that a store can persist and reload it quickly.
//
//	ix := vector.New(384)
//	err := ix.Put(vector.Item{ID: "doc1#0", Vector: emb, Meta: vector.Meta{"lang": "en"}})
//	hits, err := ix.SearchMeta(query, 10, vector.Where(vector.Meta{"lang": "en"}))
//
// Auto wraps that exact index for collections that may grow past a
// million vectors: above AutoOptions.Threshold it becomes an inverted-file
// index of √n partitions, each an Index, and a search scans only the
// partitions closest to the query.
package vector
