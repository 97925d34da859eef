package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/load"
)

const (
	defaultSearchK = 10
	maxSearchK     = 100
	maxNameLength  = 128
)

func (h *handler) listCollections(w http.ResponseWriter, r *http.Request) {
	type collectionJSON struct {
		Name      string `json:"name"`
		Documents int    `json:"documents"`
		Chunks    int    `json:"chunks"`
	}
	cs, err := h.d.RAG.Collections(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]collectionJSON, len(cs))
	for i, c := range cs {
		out[i] = collectionJSON{Name: c.Name, Documents: c.Documents, Chunks: c.Chunks}
	}
	writeJSON(w, http.StatusOK, map[string]any{"collections": out})
}

// checkName refuses collection names that would be awkward in URLs, logs
// and file listings. `keel ask --docs` makes names like docs:guide:1a2b.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLength {
		return badRequest("collection name must be 1 to %d characters", maxNameLength)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c)
		if !ok {
			return badRequest("collection name %q may hold only letters, digits and . _ : -", name)
		}
	}
	return nil
}

// collection returns the named collection's description, or a 404.
func (h *handler) collection(r *http.Request, name string) (rag.CollectionInfo, error) {
	cs, err := h.d.RAG.Collections(r.Context())
	if err != nil {
		return rag.CollectionInfo{}, err
	}
	i := slices.IndexFunc(cs, func(c rag.CollectionInfo) bool { return c.Name == name })
	if i < 0 {
		return rag.CollectionInfo{}, notFound("collection %q not found", name)
	}
	return cs[i], nil
}

func (h *handler) deleteCollection(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := h.collection(r, name); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.d.RAG.DropCollection(r.Context(), name); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) deleteDocument(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("name"), r.PathValue("id")
	info, err := h.collection(r, name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	docs, err := h.d.RAG.Documents(r.Context(), name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !slices.ContainsFunc(docs, func(d rag.DocInfo) bool { return d.ID == id }) {
		h.fail(w, r, notFound("document %q not found in collection %q", id, name))
		return
	}
	b := rag.Batch{Delete: []string{id}, Embedder: info.Embedder, Dimensions: info.Dimensions}
	if err := h.d.RAG.Apply(r.Context(), name, b); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// upload ingests the "file" parts of a multipart body into a collection,
// all in one Ingest (one Store.Apply): a bad file fails the upload with an
// error naming it, and the collection stays as it was.
func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := checkName(name); err != nil {
		h.fail(w, r, err)
		return
	}
	docs, err := h.readUpload(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in := rag.Ingester{Store: h.d.RAG, Chunker: h.chunker, Embedder: h.d.Embedder}
	stats, err := in.Ingest(r.Context(), name, docs, rag.IngestOptions{})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{
		"added": stats.Added, "updated": stats.Updated, "unchanged": stats.Unchanged, "chunks": stats.Chunks,
	})
}

func (h *handler) readUpload(w http.ResponseWriter, r *http.Request) ([]rag.Document, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		return nil, badRequest(`Content-Type must be multipart/form-data with one or more "file" parts`)
	}
	limit := h.d.MaxUploadBytes
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("reading the multipart body: %v", err)
	}
	var (
		docs  []rag.Document
		names = map[string]bool{}
	)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			// Read the body to its end (an epilogue may follow the last
			// boundary): the server lifts its body deadline at EOF, and an
			// ingest can outlast it.
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return nil, uploadErr(err, limit)
			}
			break
		}
		if err != nil {
			return nil, uploadErr(err, limit)
		}
		if part.FormName() != "file" {
			return nil, badRequest("unexpected form field %q: send documents as \"file\" parts", part.FormName())
		}
		// A file name is a label and the document's id, never a path on
		// this machine.
		fname := path.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
		if fname == "" || fname == "." || fname == "/" {
			return nil, badRequest(`a "file" part has no file name`)
		}
		if names[fname] {
			return nil, badRequest("file %q is uploaded twice", fname)
		}
		names[fname] = true
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, uploadErr(err, limit)
		}
		ds, err := loadBytes(fname, data)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		docs = append(docs, ds...)
	}
	if len(docs) == 0 {
		return nil, badRequest(`no documents: send one or more "file" parts`)
	}
	return docs, nil
}

func uploadErr(err error, limit int64) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &requestError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request",
			msg: fmt.Sprintf("upload too large: the limit is %d bytes", limit)}
	}
	return badRequest("reading the multipart body: %v", err)
}

// loadBytes is load.File for an upload already in memory: the loader is
// chosen by extension, and errors are *load.Error naming the file (and
// the line, for JSONL).
func loadBytes(name string, data []byte) ([]rag.Document, error) {
	var (
		doc rag.Document
		err error
	)
	switch load.KindOf(name) {
	case load.KindJSONL:
		return load.JSONL(name, data)
	case load.KindPDF:
		doc, err = load.PDF(data)
	case load.KindMarkdown:
		doc, err = load.Markdown(data)
	case load.KindHTML:
		doc, err = load.HTML(data)
	default:
		doc, err = load.Text(data)
	}
	if err != nil {
		if le, ok := errors.AsType[*load.Error](err); ok {
			le.Path = name
			return nil, le
		}
		return nil, &load.Error{Path: name, Err: err}
	}
	doc.ID, doc.Source = name, name
	if doc.Title == "" {
		doc.Title = strings.TrimSuffix(name, path.Ext(name))
	}
	doc.Hash = doc.ContentHash()
	return []rag.Document{doc}, nil
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	name, q := r.PathValue("name"), r.URL.Query()
	text := strings.TrimSpace(q.Get("q"))
	if text == "" {
		h.fail(w, r, badRequest(`query parameter "q" is required`))
		return
	}
	k, err := intParam(r, "k", defaultSearchK, 1, maxSearchK)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var mode rag.Mode
	if s := q.Get("mode"); s != "" {
		if mode, err = rag.ParseMode(s); err != nil {
			h.fail(w, r, badRequest(`query parameter "mode" must be lexical, vector or hybrid, not %q`, s))
			return
		}
		if mode != rag.Lexical && h.d.Embedder == nil {
			h.fail(w, r, badRequest(`query parameter "mode": %s search needs an embedder, and this server has none`, mode))
			return
		}
	}
	ret := rag.Retriever{Store: h.d.RAG, Embedder: h.d.Embedder}
	hits, err := ret.Retrieve(r.Context(), name, rag.Query{Text: text, K: k, Mode: mode})
	if err != nil {
		if errors.Is(err, rag.ErrNotFound) {
			err = notFound("collection %q not found", name)
		}
		h.fail(w, r, err)
		return
	}
	// A hit is shown as a chat's citation is; its index is its rank.
	writeJSON(w, http.StatusOK, map[string]any{"hits": citationsOf(hits)})
}
