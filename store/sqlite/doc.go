// Package sqlite is Keel's embedded store: one SQLite file (the pure-Go
// modernc.org/sqlite driver, no cgo) holding collections of documents and
// their chunks, a full-text index per collection (FTS5, ranked with BM25)
// and chunk vectors as blobs, searched through an in-memory vector index.
//
// It implements rag.Store. Every Apply is one transaction, so a failed
// ingest leaves the collection as it was. The file is opened in WAL mode:
// any number of readers (goroutines or processes) run alongside one writer.
//
//	st, err := sqlite.Open(ctx, filepath.Join(os.Getenv("KEEL_DATA"), "keel.db"), sqlite.Options{})
//	defer st.Close()
//	hits, err := st.Search(ctx, "docs", rag.Query{Text: "streaming", K: 5})
package sqlite
