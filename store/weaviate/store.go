package weaviate

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/google/uuid"
	wv "github.com/weaviate/weaviate-go-client/v5/weaviate"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/auth"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/fault"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/filters"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"

	"github.com/keelai/keel/rag"
)

// Options configures Open.
type Options struct {
	// URL is Weaviate's REST endpoint, e.g. "http://127.0.0.1:8080".
	URL string
	// APIKey authenticates when the server requires it.
	APIKey string
	// Prefix starts every class name Keel creates; "" means "Keel". Two
	// Keel deployments can share a Weaviate with different prefixes.
	Prefix string
	// HTTPClient sends requests; nil means the client's default.
	HTTPClient *http.Client
	// Timeout bounds each request; 0 means 60s.
	Timeout time.Duration
}

// Store is a rag.Store on Weaviate. It is safe for concurrent use.
type Store struct {
	c      *wv.Client
	prefix string
}

var _ rag.Store = (*Store)(nil)

// Open connects to Weaviate and checks that it answers.
func Open(ctx context.Context, o Options) (*Store, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("weaviate: URL %q: want http(s)://host:port", o.URL)
	}
	cfg := wv.Config{Host: u.Host, Scheme: u.Scheme, ConnectionClient: o.HTTPClient, Timeout: o.Timeout}
	if o.APIKey != "" {
		cfg.AuthConfig = auth.ApiKey{Value: o.APIKey}
		cfg.ConnectionClient = nil
	}
	c, err := wv.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("weaviate: connect to %s: %w", u.Host, err)
	}
	ready, err := c.Misc().ReadyChecker().Do(ctx)
	if err != nil {
		return nil, fmt.Errorf("weaviate: %s: %w", u.Host, wrap(err))
	}
	if !ready {
		return nil, fmt.Errorf("weaviate: %s is not ready", u.Host)
	}
	return &Store{c: c, prefix: cmp.Or(o.Prefix, "Keel")}, nil
}

// Close releases nothing: the client holds no connections of its own.
func (s *Store) Close() error { return nil }

// className encodes a collection name into Weaviate's class-name alphabet
// ([A-Za-z0-9_], case-insensitive in places): lower-case letters and digits
// stay, anything else becomes _XX (hex), so distinct names stay distinct.
func (s *Store) className(kind, collection string) string {
	var b strings.Builder
	b.WriteString(s.prefix)
	b.WriteString(kind)
	b.WriteByte('_')
	for _, c := range []byte(collection) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

func (s *Store) chunkClass(coll string) string { return s.className("Chunk", coll) }
func (s *Store) docClass(coll string) string   { return s.className("Doc", coll) }
func (s *Store) registry() string              { return s.prefix + "Collections" }

// namespace makes object ids deterministic, so that writing a chunk again
// replaces it (the upsert that makes re-ingest idempotent).
var namespace = uuid.MustParse("6f1c3a52-8f0e-4c55-9b7e-7a3c2e2d9b10")

func objectID(parts ...string) string {
	return uuid.NewHash(sha1.New(), namespace, []byte(strings.Join(parts, "\x00")), 5).String()
}

func checkName(collection string) error {
	if collection == "" || len(collection) > 100 {
		return fmt.Errorf("weaviate: collection name %q: want 1 to 100 bytes", collection)
	}
	return nil
}

// wrap turns the client's errors into ones that print the server's
// message.
func wrap(err error) error {
	if e, ok := errors.AsType[*fault.WeaviateClientError](err); ok {
		if e.DerivedFromError != nil {
			return fmt.Errorf("%s: %w", e.Msg, e.DerivedFromError)
		}
		if e.StatusCode != 0 {
			return fmt.Errorf("HTTP %d: %s", e.StatusCode, e.Msg)
		}
		return errors.New(e.Msg)
	}
	return err
}

func (s *Store) classExists(ctx context.Context, class string) (bool, error) {
	ok, err := s.c.Schema().ClassExistenceChecker().WithClassName(class).Do(ctx)
	if err != nil {
		return false, fmt.Errorf("weaviate: check class %s: %w", class, wrap(err))
	}
	return ok, nil
}

func text(name string, tokenization string, searchable bool) *models.Property {
	return &models.Property{Name: name, DataType: []string{"text"}, Tokenization: tokenization, IndexSearchable: &searchable}
}

func (s *Store) ensureClass(ctx context.Context, class *models.Class) error {
	ok, err := s.classExists(ctx, class.Class)
	if err != nil || ok {
		return err
	}
	if err := s.c.Schema().ClassCreator().WithClass(class).Do(ctx); err != nil {
		// Another replica may have created it meanwhile.
		if ok, err2 := s.classExists(ctx, class.Class); err2 == nil && ok {
			return nil
		}
		return fmt.Errorf("weaviate: create class %s: %w", class.Class, wrap(err))
	}
	return nil
}

func (s *Store) ensureSchema(ctx context.Context, coll string) error {
	no := false
	yes := true
	cosine := map[string]any{"distance": "cosine"}
	if err := s.ensureClass(ctx, &models.Class{
		Class:             s.registry(),
		Description:       "Keel collections and their embedders",
		Vectorizer:        "none",
		VectorIndexType:   "flat",
		VectorIndexConfig: cosine,
		Properties: []*models.Property{
			text("name", "field", false),
			text("embedder", "field", false),
			{Name: "dimensions", DataType: []string{"int"}},
		},
	}); err != nil {
		return err
	}
	if err := s.ensureClass(ctx, &models.Class{
		Class:             s.docClass(coll),
		Description:       "Keel documents of collection " + coll,
		Vectorizer:        "none",
		VectorIndexType:   "flat",
		VectorIndexConfig: cosine,
		Properties: []*models.Property{
			text("doc_id", "field", false),
			text("hash", "field", false),
			{Name: "chunks", DataType: []string{"int"}},
		},
	}); err != nil {
		return err
	}
	return s.ensureClass(ctx, &models.Class{
		Class:             s.chunkClass(coll),
		Description:       "Keel chunks of collection " + coll,
		Vectorizer:        "none",
		VectorIndexConfig: cosine,
		InvertedIndexConfig: &models.InvertedIndexConfig{
			Bm25: &models.BM25Config{K1: 1.2, B: 0.75},
		},
		Properties: []*models.Property{
			text("chunk_id", "field", false),
			text("doc_id", "field", false),
			{Name: "idx", DataType: []string{"int"}},
			text("text", "word", true),
			text("title", "word", true),
			text("source", "field", false),
			{Name: "headings", DataType: []string{"text[]"}, Tokenization: "word", IndexSearchable: &no},
			{Name: "start_offset", DataType: []string{"int"}, IndexFilterable: &no},
			{Name: "end_offset", DataType: []string{"int"}, IndexFilterable: &no},
			{Name: "metadata", DataType: []string{"text"}, IndexFilterable: &no, IndexSearchable: &no},
			{Name: "meta_pairs", DataType: []string{"text[]"}, Tokenization: "field", IndexFilterable: &yes, IndexSearchable: &no},
		},
	})
}

// collectionInfo is the registry entry of a collection.
type collectionInfo struct {
	Name       string `json:"name"`
	Embedder   string `json:"embedder"`
	Dimensions int    `json:"dimensions"`
}

func (s *Store) getInfo(ctx context.Context, coll string) (*collectionInfo, error) {
	objs, err := s.c.Data().ObjectsGetter().WithClassName(s.registry()).WithID(objectID("collection", coll)).Do(ctx)
	if err != nil {
		if e, ok := errors.AsType[*fault.WeaviateClientError](err); ok && e.StatusCode == http.StatusNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("weaviate: read collection %q: %w", coll, wrap(err))
	}
	if len(objs) == 0 {
		return nil, nil
	}
	var info collectionInfo
	if err := remarshal(objs[0].Properties, &info); err != nil {
		return nil, fmt.Errorf("weaviate: read collection %q: %w", coll, err)
	}
	return &info, nil
}

func (s *Store) putInfo(ctx context.Context, info collectionInfo) error {
	_, err := s.c.Batch().ObjectsBatcher().WithObjects(&models.Object{
		Class:      s.registry(),
		ID:         strfmtUUID(objectID("collection", info.Name)),
		Properties: map[string]any{"name": info.Name, "embedder": info.Embedder, "dimensions": info.Dimensions},
	}).Do(ctx)
	if err != nil {
		return fmt.Errorf("weaviate: record collection %q: %w", info.Name, wrap(err))
	}
	return nil
}

func remarshal(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

// Documents lists the documents of a collection with their hashes.
func (s *Store) Documents(ctx context.Context, collection string) ([]rag.DocInfo, error) {
	class := s.docClass(collection)
	ok, err := s.classExists(ctx, class)
	if err != nil || !ok {
		return nil, err
	}
	var out []rag.DocInfo
	after := ""
	for {
		get := s.c.GraphQL().Get().WithClassName(class).WithLimit(1000).WithFields(
			graphql.Field{Name: "doc_id"}, graphql.Field{Name: "hash"},
			graphql.Field{Name: "_additional", Fields: []graphql.Field{{Name: "id"}}})
		if after != "" {
			get = get.WithAfter(after)
		}
		var rows []struct {
			DocID      string `json:"doc_id"`
			Hash       string `json:"hash"`
			Additional struct {
				ID string `json:"id"`
			} `json:"_additional"`
		}
		if err := s.get(ctx, get, class, &rows); err != nil {
			return nil, fmt.Errorf("weaviate: list documents of %q: %w", collection, err)
		}
		for _, r := range rows {
			out = append(out, rag.DocInfo{ID: r.DocID, Hash: r.Hash})
		}
		if len(rows) < 1000 {
			break
		}
		after = rows[len(rows)-1].Additional.ID
	}
	slices.SortFunc(out, func(a, b rag.DocInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// get runs a GraphQL Get and decodes the class's objects into rows.
func (s *Store) get(ctx context.Context, get *graphql.GetBuilder, class string, rows any) error {
	res, err := get.Do(ctx)
	if err != nil {
		return wrap(err)
	}
	if len(res.Errors) > 0 {
		msgs := make([]string, len(res.Errors))
		for i, e := range res.Errors {
			msgs[i] = e.Message
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	data, _ := res.Data["Get"].(map[string]any)
	return remarshal(data[class], rows)
}

// batchSize bounds the objects sent in one batch request.
const batchSize = 200

// Apply makes the changes of b. See the package documentation for what a
// failure leaves behind.
func (s *Store) Apply(ctx context.Context, collection string, b rag.Batch) error {
	if err := checkName(collection); err != nil {
		return err
	}
	if err := validate(b); err != nil {
		return fmt.Errorf("weaviate: collection %q: %w", collection, err)
	}
	info, err := s.getInfo(ctx, collection)
	if err != nil {
		return err
	}
	if info == nil {
		info = &collectionInfo{Name: collection}
	}
	hasVectors := slices.ContainsFunc(b.Put, func(ix rag.Indexed) bool { return ix.Vectors != nil })
	if hasVectors {
		if info.Embedder != "" && (info.Embedder != b.Embedder || info.Dimensions != b.Dimensions) {
			return fmt.Errorf("weaviate: collection %q holds vectors of %s (%d dimensions), not %s (%d)",
				collection, info.Embedder, info.Dimensions, b.Embedder, b.Dimensions)
		}
	}
	if err := s.ensureSchema(ctx, collection); err != nil {
		return err
	}
	if hasVectors && info.Embedder == "" {
		info.Embedder, info.Dimensions = b.Embedder, b.Dimensions
	}
	if err := s.putInfo(ctx, *info); err != nil {
		return err
	}

	// 1. Chunks, upserted by deterministic id.
	var objs []*models.Object
	chunkClass := s.chunkClass(collection)
	for _, ix := range b.Put {
		meta, _ := json.Marshal(ix.Document.Metadata)
		pairs := metaPairs(ix.Document.Metadata)
		for i, ch := range ix.Chunks {
			o := &models.Object{
				Class: chunkClass,
				ID:    strfmtUUID(objectID("chunk", collection, ch.ID)),
				Properties: map[string]any{
					"chunk_id":     ch.ID,
					"doc_id":       ix.Document.ID,
					"idx":          ch.Index,
					"text":         ch.Text,
					"title":        ix.Document.Title,
					"source":       ix.Document.Source,
					"headings":     nonNil(ch.Headings),
					"start_offset": ch.Start,
					"end_offset":   ch.End,
					"metadata":     string(meta),
					"meta_pairs":   pairs,
				},
			}
			if ix.Vectors != nil {
				o.Vector = ix.Vectors[i]
			}
			objs = append(objs, o)
		}
	}
	if err := s.writeObjects(ctx, objs); err != nil {
		return fmt.Errorf("weaviate: collection %q: write chunks: %w", collection, err)
	}

	// 2. Stale chunks: those past the new end of a replaced document, and
	// all of a deleted one's.
	var stale []*filters.WhereBuilder
	for _, ix := range b.Put {
		stale = append(stale, filters.Where().WithOperator(filters.And).WithOperands([]*filters.WhereBuilder{
			eq("doc_id", ix.Document.ID),
			filters.Where().WithPath([]string{"idx"}).WithOperator(filters.GreaterThanEqual).WithValueInt(int64(len(ix.Chunks))),
		}))
	}
	for _, id := range b.Delete {
		stale = append(stale, eq("doc_id", id))
	}
	if err := s.deleteWhere(ctx, chunkClass, stale); err != nil {
		return fmt.Errorf("weaviate: collection %q: delete stale chunks: %w", collection, err)
	}

	// 3. Document records last: until they are written, a re-ingest sees
	// the documents as changed.
	objs = objs[:0]
	for _, ix := range b.Put {
		objs = append(objs, &models.Object{
			Class:      s.docClass(collection),
			ID:         strfmtUUID(objectID("doc", collection, ix.Document.ID)),
			Properties: map[string]any{"doc_id": ix.Document.ID, "hash": ix.Document.Hash, "chunks": len(ix.Chunks)},
		})
	}
	if err := s.writeObjects(ctx, objs); err != nil {
		return fmt.Errorf("weaviate: collection %q: write documents: %w", collection, err)
	}
	var gone []*filters.WhereBuilder
	for _, id := range b.Delete {
		gone = append(gone, eq("doc_id", id))
	}
	if err := s.deleteWhere(ctx, s.docClass(collection), gone); err != nil {
		return fmt.Errorf("weaviate: collection %q: delete documents: %w", collection, err)
	}
	return nil
}

// validate checks a batch before anything is written.
func validate(b rag.Batch) error {
	seen := map[string]bool{}
	for _, ix := range b.Put {
		id := ix.Document.ID
		if id == "" {
			return errors.New("a document has an empty id")
		}
		if seen[id] {
			return fmt.Errorf("document %q appears twice", id)
		}
		seen[id] = true
		if ix.Vectors == nil {
			continue
		}
		if len(ix.Vectors) != len(ix.Chunks) {
			return fmt.Errorf("document %q: %d vectors for %d chunks", id, len(ix.Vectors), len(ix.Chunks))
		}
		for i, v := range ix.Vectors {
			if len(v) == 0 || (b.Dimensions > 0 && len(v) != b.Dimensions) {
				return fmt.Errorf("document %q chunk %d: vector of %d dimensions, batch says %d", id, i, len(v), b.Dimensions)
			}
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// metaPairs encodes metadata as "key=value" strings, which filters match
// exactly (field tokenization) whatever the keys are. '=' and '%' in keys
// are escaped so that no two pairs encode alike.
func metaPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, keyEscaper.Replace(k)+"="+v)
	}
	slices.Sort(out)
	return out
}

var keyEscaper = strings.NewReplacer("%", "%25", "=", "%3D")

func eq(prop, value string) *filters.WhereBuilder {
	return filters.Where().WithPath([]string{prop}).WithOperator(filters.Equal).WithValueText(value)
}

func (s *Store) writeObjects(ctx context.Context, objs []*models.Object) error {
	for lo := 0; lo < len(objs); lo += batchSize {
		res, err := s.c.Batch().ObjectsBatcher().WithObjects(objs[lo:min(len(objs), lo+batchSize)]...).Do(ctx)
		if err != nil {
			return wrap(err)
		}
		// A batch answers 200 and reports failures per object.
		for _, r := range res {
			if r.Result != nil && r.Result.Errors != nil && len(r.Result.Errors.Error) > 0 {
				return fmt.Errorf("object %s: %s", r.ID, r.Result.Errors.Error[0].Message)
			}
		}
	}
	return nil
}

// deleteWhere deletes the objects of class matching any of conds.
func (s *Store) deleteWhere(ctx context.Context, class string, conds []*filters.WhereBuilder) error {
	const perRequest = 100
	for lo := 0; lo < len(conds); lo += perRequest {
		part := conds[lo:min(len(conds), lo+perRequest)]
		where := part[0]
		if len(part) > 1 {
			where = filters.Where().WithOperator(filters.Or).WithOperands(part)
		}
		// A batch delete removes at most the server's
		// QUERY_MAXIMUM_RESULTS objects (10,000 by default): repeat until
		// nothing matches.
		for {
			res, err := s.c.Batch().ObjectsBatchDeleter().WithClassName(class).WithWhere(where).WithOutput("minimal").Do(ctx)
			if err != nil {
				return wrap(err)
			}
			if res.Results == nil {
				break
			}
			if res.Results.Failed > 0 {
				return fmt.Errorf("%d objects could not be deleted", res.Results.Failed)
			}
			if res.Results.Matches < res.Results.Limit || res.Results.Matches == 0 {
				break
			}
		}
	}
	return nil
}

// chunkRow is a chunk object as GraphQL returns it.
type chunkRow struct {
	ChunkID    string   `json:"chunk_id"`
	DocID      string   `json:"doc_id"`
	Text       string   `json:"text"`
	Title      string   `json:"title"`
	Source     string   `json:"source"`
	Headings   []string `json:"headings"`
	Start      int      `json:"start_offset"`
	End        int      `json:"end_offset"`
	Metadata   string   `json:"metadata"`
	Additional struct {
		Score    json.RawMessage `json:"score"`
		Distance *float64        `json:"distance"`
		Vector   []float32       `json:"vector"`
	} `json:"_additional"`
}

// Search returns the best passages for q, best first.
func (s *Store) Search(ctx context.Context, collection string, q rag.Query) ([]rag.Hit, error) {
	class := s.chunkClass(collection)
	ok, err := s.classExists(ctx, class)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("weaviate: collection %q: %w", collection, rag.ErrNotFound)
	}
	mode := cmp.Or(q.Mode, rag.Lexical)
	if (mode == rag.Vector || mode == rag.Hybrid) && len(q.Vector) == 0 {
		return nil, fmt.Errorf("weaviate: %s search needs a query vector (configure an embedder)", mode)
	}
	if (mode == rag.Lexical || mode == rag.Hybrid) && strings.TrimSpace(q.Text) == "" {
		return nil, fmt.Errorf("weaviate: %s search needs query text", mode)
	}
	k := q.Limit()
	limit := k
	if q.PerDocument {
		// Several passages of one document may lead; fetch enough to
		// fill k distinct documents in the usual case.
		limit = min(k*5, 1000)
	}
	add := []graphql.Field{{Name: "score"}, {Name: "distance"}}
	if q.WithVectors {
		add = append(add, graphql.Field{Name: "vector"})
	}
	get := s.c.GraphQL().Get().WithClassName(class).WithLimit(limit).WithFields(
		graphql.Field{Name: "chunk_id"}, graphql.Field{Name: "doc_id"}, graphql.Field{Name: "text"},
		graphql.Field{Name: "title"}, graphql.Field{Name: "source"}, graphql.Field{Name: "headings"},
		graphql.Field{Name: "start_offset"}, graphql.Field{Name: "end_offset"}, graphql.Field{Name: "metadata"},
		graphql.Field{Name: "_additional", Fields: add})
	if len(q.Filter) > 0 {
		get = get.WithWhere(filters.Where().WithPath([]string{"meta_pairs"}).WithOperator(filters.ContainsAll).WithValueText(metaPairs(q.Filter)...))
	}
	switch mode {
	case rag.Lexical:
		get = get.WithBM25(s.c.GraphQL().Bm25ArgBuilder().WithQuery(q.Text).WithProperties("text", "title"))
	case rag.Vector:
		get = get.WithNearVector(s.c.GraphQL().NearVectorArgBuilder().WithVector(q.Vector))
	case rag.Hybrid:
		lw, vw := q.Fusion.LexicalWeight, q.Fusion.VectorWeight
		if lw == 0 && vw == 0 {
			lw, vw = 1, 1
		}
		// Weaviate's ranked fusion weighs the vector list by alpha and the
		// keyword list by 1-alpha, with its own fixed rank constant.
		alpha := float32(vw / (lw + vw))
		get = get.WithHybrid(s.c.GraphQL().HybridArgumentBuilder().WithQuery(q.Text).WithVector(q.Vector).
			WithAlpha(alpha).WithProperties([]string{"text", "title"}).WithFusionType(graphql.Ranked))
	default:
		return nil, fmt.Errorf("weaviate: unknown search mode %q", mode)
	}
	var rows []chunkRow
	if err := s.get(ctx, get, class, &rows); err != nil {
		return nil, fmt.Errorf("weaviate: search %q: %w", collection, err)
	}
	hits := make([]rag.Hit, 0, min(len(rows), k))
	seen := map[string]bool{}
	for _, r := range rows {
		if q.PerDocument {
			if seen[r.DocID] {
				continue
			}
			seen[r.DocID] = true
		}
		h := rag.Hit{
			ChunkID: r.ChunkID,
			Text:    r.Text,
			Score:   score(r, mode),
			Citation: rag.Citation{
				DocID: r.DocID, Title: r.Title, Source: r.Source,
				Headings: r.Headings, Start: r.Start, End: r.End,
			},
		}
		if r.Metadata != "" && r.Metadata != "null" {
			if err := json.Unmarshal([]byte(r.Metadata), &h.Metadata); err != nil {
				return nil, fmt.Errorf("weaviate: search %q: chunk %s metadata: %w", collection, r.ChunkID, err)
			}
		}
		if q.WithVectors {
			h.Vector = r.Additional.Vector
		}
		hits = append(hits, h)
		if len(hits) == k {
			break
		}
	}
	return hits, nil
}

// score is the hit's score on the mode's scale: BM25 for lexical, cosine
// similarity for vector, Weaviate's fused score for hybrid.
func score(r chunkRow, mode rag.Mode) float64 {
	if mode == rag.Vector && r.Additional.Distance != nil {
		return 1 - *r.Additional.Distance
	}
	// GraphQL sends scores as strings.
	var s string
	if json.Unmarshal(r.Additional.Score, &s) == nil {
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	var f float64
	json.Unmarshal(r.Additional.Score, &f)
	return f
}

// Collections lists the collections with their sizes.
func (s *Store) Collections(ctx context.Context) ([]rag.CollectionInfo, error) {
	ok, err := s.classExists(ctx, s.registry())
	if err != nil || !ok {
		return nil, err
	}
	var rows []collectionInfo
	get := s.c.GraphQL().Get().WithClassName(s.registry()).WithLimit(10000).WithFields(
		graphql.Field{Name: "name"}, graphql.Field{Name: "embedder"}, graphql.Field{Name: "dimensions"})
	if err := s.get(ctx, get, s.registry(), &rows); err != nil {
		return nil, fmt.Errorf("weaviate: list collections: %w", err)
	}
	out := make([]rag.CollectionInfo, 0, len(rows))
	for _, r := range rows {
		docs, err := s.count(ctx, s.docClass(r.Name))
		if err != nil {
			return nil, err
		}
		chunks, err := s.count(ctx, s.chunkClass(r.Name))
		if err != nil {
			return nil, err
		}
		out = append(out, rag.CollectionInfo{Name: r.Name, Documents: docs, Chunks: chunks, Embedder: r.Embedder, Dimensions: r.Dimensions})
	}
	slices.SortFunc(out, func(a, b rag.CollectionInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *Store) count(ctx context.Context, class string) (int, error) {
	res, err := s.c.GraphQL().Aggregate().WithClassName(class).
		WithFields(graphql.Field{Name: "meta", Fields: []graphql.Field{{Name: "count"}}}).Do(ctx)
	if err != nil {
		return 0, fmt.Errorf("weaviate: count %s: %w", class, wrap(err))
	}
	if len(res.Errors) > 0 {
		return 0, fmt.Errorf("weaviate: count %s: %s", class, res.Errors[0].Message)
	}
	var rows []struct {
		Meta struct {
			Count int `json:"count"`
		} `json:"meta"`
	}
	agg, _ := res.Data["Aggregate"].(map[string]any)
	if err := remarshal(agg[class], &rows); err != nil || len(rows) == 0 {
		return 0, nil
	}
	return rows[0].Meta.Count, nil
}

// DropCollection removes a collection and everything in it.
func (s *Store) DropCollection(ctx context.Context, collection string) error {
	info, err := s.getInfo(ctx, collection)
	if err != nil {
		return err
	}
	if info == nil {
		return fmt.Errorf("weaviate: collection %q: %w", collection, rag.ErrNotFound)
	}
	for _, class := range []string{s.chunkClass(collection), s.docClass(collection)} {
		ok, err := s.classExists(ctx, class)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := s.c.Schema().ClassDeleter().WithClassName(class).Do(ctx); err != nil {
			return fmt.Errorf("weaviate: drop %q: %w", collection, wrap(err))
		}
	}
	err = s.c.Data().Deleter().WithClassName(s.registry()).WithID(objectID("collection", collection)).Do(ctx)
	if err != nil {
		return fmt.Errorf("weaviate: drop %q: %w", collection, wrap(err))
	}
	return nil
}

func strfmtUUID(s string) strfmt.UUID { return strfmt.UUID(s) }
