package sqlite

// schema creates the tables shared by every collection. Each collection also
// has its own FTS5 table, fts_<collection id>, so that BM25 statistics
// (document frequencies, average length) are the collection's own.
const schema = `
CREATE TABLE IF NOT EXISTS rag_collections (
	id       INTEGER PRIMARY KEY,
	name     TEXT NOT NULL UNIQUE,
	embedder TEXT NOT NULL DEFAULT '',
	dims     INTEGER NOT NULL DEFAULT 0,
	version  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rag_documents (
	id         INTEGER PRIMARY KEY,
	collection INTEGER NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
	doc_id     TEXT NOT NULL,
	title      TEXT NOT NULL,
	source     TEXT NOT NULL,
	hash       TEXT NOT NULL,
	metadata   TEXT NOT NULL,
	UNIQUE (collection, doc_id)
);
CREATE TABLE IF NOT EXISTS rag_chunks (
	id       INTEGER PRIMARY KEY,
	document INTEGER NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
	idx      INTEGER NOT NULL,
	text     TEXT NOT NULL,
	start    INTEGER NOT NULL,
	end      INTEGER NOT NULL,
	headings TEXT NOT NULL,
	vector   BLOB
);
CREATE INDEX IF NOT EXISTS rag_chunks_document ON rag_chunks(document);
CREATE TABLE IF NOT EXISTS rag_metadata (
	document INTEGER NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (key, value, document)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rag_metadata_document ON rag_metadata(document);
`

// ftsTable returns the DDL of a collection's full-text table. It is
// contentless (the text lives in chunks) with contentless_delete so rows can
// be removed by rowid; rowid is the chunk's id.
func ftsTable(name string) string {
	return `CREATE VIRTUAL TABLE IF NOT EXISTS ` + name + ` USING fts5(
	title, headings, body,
	content='', contentless_delete=1,
	tokenize='porter unicode61 remove_diacritics 2')`
}
