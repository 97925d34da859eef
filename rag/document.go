package rag

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Document is one unit of source text as a loader produced it: a file, a
// JSONL record, a page.
type Document struct {
	// ID identifies the document within its collection: the path relative
	// to the ingested root for files, the record's id for JSONL. Re-ingesting
	// a document with the same ID replaces it.
	ID string
	// Title is the front-matter title, the first heading, the HTML <title>
	// or the JSONL title; may be empty.
	Title string
	// Source says where the document came from (a file path, "FILE:LINE" for
	// a JSONL record), for citations shown to people.
	Source string
	// Text is the extracted plain text. Offsets in Chunk and Citation are
	// byte offsets into it.
	Text string
	// Headings are the section headings found in Text, in order, so that
	// the chunker can keep heading paths without re-parsing the format.
	Headings []Heading
	// Metadata holds the other fields (front matter, JSONL fields). Values
	// that were not strings in the source are kept as their JSON text.
	Metadata map[string]string
	// Hash is the content hash, set by loaders (see ContentHash): stores
	// use it to skip unchanged documents on re-ingest.
	Hash string
}

// Heading is a section heading inside Document.Text.
type Heading struct {
	// Level is 1 for a top-level heading (# or <h1>), up to 6.
	Level int
	// Text is the heading's text without markup.
	Text string
	// Start is the byte offset in Document.Text where the heading's line
	// begins; the section it opens runs to the next heading of the same or
	// a higher level.
	Start int
}

// ContentHash returns a hex SHA-256 over everything that makes the
// document what it is (id, title, text, headings and metadata), so that any
// change, and only a change, gives a new hash.
func (d *Document) ContentHash() string {
	h := sha256.New()
	field := func(s string) {
		// Length-prefixed fields, so that ("ab","c") and ("a","bc") differ.
		var n [8]byte
		l := uint64(len(s))
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(d.ID)
	field(d.Title)
	field(d.Source)
	field(d.Text)
	for _, hd := range d.Headings {
		field(string(rune('0' + hd.Level)))
		field(hd.Text)
	}
	for _, k := range slices.Sorted(maps.Keys(d.Metadata)) {
		field(k)
		field(d.Metadata[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Chunk is a passage of a document: the unit that is indexed, retrieved and
// cited.
type Chunk struct {
	// ID is unique within the collection: DocID + "#" + Index.
	ID string
	// DocID is the document the chunk belongs to.
	DocID string
	// Index is the chunk's position within its document, from 0.
	Index int
	// Text is the passage. Chunks overlap when the chunker is asked to.
	Text string
	// Start and End are byte offsets of Text in Document.Text.
	Start, End int
	// Headings is the heading path above the passage, outermost first.
	Headings []string
}

// ChunkID returns the id of the chunk at index of document docID.
func ChunkID(docID string, index int) string {
	return docID + "#" + strconv.Itoa(index)
}

// Citation says where a passage comes from, precisely enough to show it to
// a person and to find it again.
type Citation struct {
	// DocID, Title and Source identify the document.
	DocID  string `json:"doc_id"`
	Title  string `json:"title,omitempty"`
	Source string `json:"source,omitempty"`
	// Headings is the heading path above the passage, outermost first.
	Headings []string `json:"headings,omitempty"`
	// Start and End are byte offsets of the passage in the document's text.
	Start int `json:"start"`
	End   int `json:"end"`
}

// Label returns a short human label: the source (or id), then the
// heading path, e.g. "docs/streaming.md › Streaming › Cancelling".
func (c Citation) Label() string {
	s := c.Source
	if s == "" {
		s = c.DocID
	}
	parts := append([]string{s}, c.Headings...)
	return strings.Join(parts, " › ")
}

// Hit is one retrieved passage with its score and citation.
type Hit struct {
	// ChunkID identifies the passage in its collection.
	ChunkID string `json:"chunk_id"`
	// Text is the passage.
	Text string `json:"text"`
	// Score orders hits: higher is better. Its scale depends on the mode
	// (BM25, cosine similarity, or a fused RRF score).
	Score float64 `json:"score"`
	// Citation locates the passage.
	Citation
	// Metadata is the document's metadata.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Vector is the passage's embedding, set only when the query asked for
	// vectors (for MMR).
	Vector []float32 `json:"-"`
}
