package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/middleware/retry"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/chunk"
	"github.com/keelai/keel/rag/embed"
	"github.com/keelai/keel/rag/load"
	"github.com/keelai/keel/store/sqlite"
	"github.com/keelai/keel/store/weaviate"
)

// storeFile is the embedded store's file name inside the data folder.
const storeFile = "keel.db"

func cmdIngest(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("ingest", "--collection NAME [--sync] [--include GLOB]... [--exclude GLOB]... PATH...", `
Load files and folders into a collection of the embedded store (under
$KEEL_DATA, default ./.keel), ready for 'keel search' and 'keel ask'.

Folders are read recursively: Markdown, text, HTML, PDF and JSONL files
(one document a line: id or _id, title, text; other fields are metadata).
Unchanged documents are skipped, changed ones replaced; --sync also removes
documents that are no longer there. If any file cannot be read, nothing is
written and every bad file is named.`)
	coll := f.String("collection", "", "the collection `name`")
	sync := f.Bool("sync", false, "remove documents that are not in the given paths")
	var include, exclude globs
	f.Var(&include, "include", "load only files matching this `glob` (repeatable; ** matches folders)")
	f.Var(&exclude, "exclude", "skip files and folders matching this `glob` (repeatable)")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if *coll == "" {
		return usagef("ingest", "--collection is required")
	}
	if len(pos) == 0 {
		return usagef("ingest", "want at least one PATH")
	}
	st, err := a.ragStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	stats, err := a.ingest(ctx, st, *coll, pos, load.Options{Include: include, Exclude: exclude}, *sync)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "collection %s: %s\n", *coll, stats)
	return nil
}

// globs is a repeatable string flag.
type globs []string

func (g *globs) String() string     { return strings.Join(*g, ",") }
func (g *globs) Set(v string) error { *g = append(*g, v); return nil }

// ragStore opens where collections live: Weaviate when storage.weaviate_url
// (KEEL_WEAVIATE_URL) is set, else the embedded store in the data folder.
func (a *app) ragStore(ctx context.Context) (rag.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	if u := cfg.Storage.WeaviateURL.Reveal(); u != "" {
		return weaviate.Open(ctx, weaviate.Options{URL: u})
	}
	return sqlite.Open(ctx, filepath.Join(cfg.Storage.Data, storeFile), sqlite.Options{})
}

// embedder returns the embedder of rag.embedder in keel.yaml, behind a
// cache in the data folder so that re-ingesting never pays twice; nil when
// none is configured (lexical retrieval only). The caller closes the
// returned closer.
func (a *app) embedder(ctx context.Context) (rag.Embedder, io.Closer, error) {
	cfg, err := a.config()
	if err != nil || cfg.RAG.Embedder == "" {
		return nil, nopCloser{}, err
	}
	o := embed.Options{Dimensions: cfg.RAG.Dimensions}
	typ := "voyage"
	if model, ok := strings.CutPrefix(cfg.RAG.Embedder, "voyage/"); ok {
		o.Model, o.APIKey, o.BaseURL = model, a.getenv(envVoyageKey), a.getenv(envVoyageBaseURL)
	} else {
		r, err := a.resolver()
		if err != nil {
			return nil, nil, err
		}
		ep, err := r.Endpoint(cfg.RAG.Embedder)
		if err != nil {
			return nil, nil, fmt.Errorf("rag.embedder: %w", err)
		}
		typ = ep.Type
		o.Model, o.Provider, o.APIKey, o.BaseURL, o.HTTPClient = ep.Model, ep.Provider, ep.APIKey, ep.BaseURL, ep.HTTPClient
	}
	// Embedding calls get the same retries as model calls.
	opts, err := middleware.FromConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	o.Middleware = []llm.Middleware{retry.New(opts.Retry)}
	e, err := embed.New(typ, o)
	if err != nil {
		return nil, nil, fmt.Errorf("rag.embedder: %w", err)
	}
	cache, err := embed.OpenSQLiteCache(ctx, filepath.Join(cfg.Storage.Data, "embeddings.db"))
	if err != nil {
		return nil, nil, err
	}
	return embed.Cached(e, embed.NewMemoryCache(10_000), cache), cache, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// ingest loads paths and brings the collection in line with them, with a
// progress bar on a terminal.
func (a *app) ingest(ctx context.Context, st rag.Store, coll string, paths []string, opts load.Options, sync bool) (rag.IngestStats, error) {
	var bar *progressbar.ProgressBar
	if a.stdoutTTY {
		bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription("loading"),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		defer bar.Finish()
		opts.OnFile = func(string, int) { bar.Add(1) }
	}
	var docs []rag.Document
	var errs []error
	for _, p := range paths {
		d, err := load.Path(ctx, p, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		docs = append(docs, d...)
	}
	if len(errs) > 0 {
		return rag.IngestStats{}, fmt.Errorf("ingest: nothing was written: %w", errors.Join(errs...))
	}
	if len(docs) == 0 {
		return rag.IngestStats{}, fmt.Errorf("ingest: no loadable files in %s (Markdown, text, HTML, PDF, JSONL)", strings.Join(paths, ", "))
	}
	emb, closeEmb, err := a.embedder(ctx)
	if err != nil {
		return rag.IngestStats{}, err
	}
	defer closeEmb.Close()
	in := rag.Ingester{Store: st, Chunker: chunk.New(chunk.Options{}), Embedder: emb}
	var iopts rag.IngestOptions
	iopts.Sync = sync
	if bar != nil {
		bar.Reset()
		bar.ChangeMax(len(docs))
		bar.Describe("indexing")
		iopts.Progress = func(done, total int) { bar.ChangeMax(total); bar.Set(done) }
	}
	return in.Ingest(ctx, coll, docs, iopts)
}
