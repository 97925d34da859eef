package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/load"
)

func cmdAsk(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("ask", "[--collection NAME | --docs PATH] [--model M] [--k N] [--offline] [--rewrite MODEL] [--rerank MODEL] QUESTION", `
Answer QUESTION from documents, citing them as [n] with the list of sources.

--docs indexes a folder (or file) into the embedded store on first use and
reuses the index while the files are unchanged (changed files are
re-indexed, removed ones dropped). --collection asks a collection made by
'keel ingest'.

With a model configured (see 'keel models'), the answer is streamed from
the model, grounded in the passages found; citations of sources that were
not given are flagged. With no model configured, or with --offline, Keel
answers offline: it quotes the most relevant sentences, each with its
citation.`)
	coll := f.String("collection", "", "the collection `name` to ask")
	docs := f.String("docs", "", "a `folder` (or file) of documents to ask, indexed on first use")
	model := f.String("model", "", "the `model`: provider/model or an alias (default: the configured default)")
	k := f.Int("k", 5, "how many `passages` to retrieve")
	offline := f.Bool("offline", false, "answer by quoting the documents, without a model")
	rewrite := f.String("rewrite", "", "rewrite the question into search terms with this `model` first")
	rerank := f.String("rerank", "", "rerank the candidates with this `model` (a chat model, or voyage/rerank-2.5)")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if (*coll == "") == (*docs == "") {
		return usagef("ask", "give exactly one of --collection NAME or --docs PATH")
	}
	if len(pos) != 1 || strings.TrimSpace(pos[0]) == "" {
		return usagef("ask", "want one QUESTION argument (quote it)")
	}
	if *k < 1 {
		return usagef("ask", "--k must be at least 1")
	}
	if *offline && *model != "" {
		return usagef("ask", "--offline and --model exclude each other")
	}
	question := pos[0]

	// Resolve the model first: a bad --model fails before any indexing.
	var m llm.Model
	if !*offline {
		m, err = a.model(*model)
		switch {
		case *model == "" && errors.Is(err, provider.ErrNoProvider):
			m = nil // no provider at all: the offline answer
		case err != nil:
			return err
		}
	}

	st, err := a.ragStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	name := *coll
	if *docs != "" {
		if name, err = a.indexDocs(ctx, st, *docs); err != nil {
			return err
		}
	}
	r, closeEmb, err := a.retriever(ctx, st, *rewrite, *rerank)
	if err != nil {
		return err
	}
	defer closeEmb.Close()
	hits, err := r.Retrieve(ctx, name, rag.Query{Text: question, K: *k})
	if err != nil {
		return err
	}
	if m == nil {
		fmt.Fprint(a.stdout, rag.Extract(question, hits, 4))
		return nil
	}
	return a.groundedAnswer(ctx, m, question, hits)
}

// indexDocs brings the collection that mirrors path up to date and returns
// its name. The name is derived from the absolute path, so each folder has
// its own collection.
func (a *app) indexDocs(ctx context.Context, st rag.Store, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("ask: %w", err)
	}
	sum := sha256.Sum256([]byte(abs))
	name := "docs:" + filepath.Base(abs) + ":" + hex.EncodeToString(sum[:6])
	stats, err := a.ingest(ctx, st, name, []string{path}, load.Options{}, true)
	if err != nil {
		return "", err
	}
	if stats.Added+stats.Updated+stats.Removed > 0 {
		a.notef("keel: indexed %s: %s", path, stats)
	}
	return name, nil
}

// groundedAnswer streams the model's answer and lists the sources it cites.
func (a *app) groundedAnswer(ctx context.Context, m llm.Model, question string, hits []rag.Hit) error {
	resp, err := a.stream(ctx, m, rag.GroundedRequest(question, hits))
	if err != nil {
		return err
	}
	a.stopNote(resp)
	cited := rag.Cite(resp.Text(), hits)
	if len(cited.Sources) > 0 {
		fmt.Fprintln(a.stdout, "\nSources:")
		for _, s := range cited.Sources {
			fmt.Fprintf(a.stdout, "[%d] %s\n", s.N, s.Hit.Label())
		}
	}
	if len(cited.Invented) > 0 {
		var ns []string
		for _, n := range cited.Invented {
			ns = append(ns, fmt.Sprintf("[%d]", n))
		}
		fmt.Fprintf(a.stdout, "\nWarning: the answer cites %s, which match no source it was given.\n", strings.Join(ns, ", "))
	}
	return nil
}
