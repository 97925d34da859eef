package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/keelai/keel/rag"
)

func cmdSearch(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("search", "--collection NAME [--k N] [--mode lexical|vector|hybrid] [--json] [--rewrite MODEL] [--rerank MODEL] (QUERY | --queries FILE.jsonl)", `
Search a collection and print the best documents, best first: each with
its score, title, source and a snippet of its best passage.

--rewrite MODEL has a model turn each query into search terms first;
--rerank MODEL reorders a wider set of candidates by a model's judgement
of their relevance (voyage/rerank-2.5 uses Voyage's rerank API, with
VOYAGE_API_KEY).

--queries runs every query of a JSONL file (_id and text on each line) and
implies --json: one object per hit per line, with query_id, id, score,
title and snippet.`)
	coll := f.String("collection", "", "the collection `name`")
	k := f.Int("k", 10, "how many `hits` to return")
	mode := f.String("mode", "", "the retrieval `mode`: lexical, vector or hybrid (default: hybrid with rag.embedder in keel.yaml, else lexical)")
	asJSON := f.Bool("json", false, "print one JSON object per hit per line")
	queries := f.String("queries", "", "a JSONL `file` of queries to run in a batch")
	rewrite := f.String("rewrite", "", "rewrite each query into search terms with this `model` first")
	rerank := f.String("rerank", "", "rerank the candidates with this `model` (a chat model, or voyage/rerank-2.5)")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if *coll == "" {
		return usagef("search", "--collection is required")
	}
	if *k < 1 {
		return usagef("search", "--k must be at least 1")
	}
	var m rag.Mode
	if *mode != "" {
		if m, err = rag.ParseMode(*mode); err != nil {
			return usagef("search", "%v", err)
		}
	}
	var batch []searchQuery
	switch {
	case *queries != "" && len(pos) > 0:
		return usagef("search", "give a QUERY or --queries, not both")
	case *queries != "":
		if batch, err = readQueries(*queries); err != nil {
			return err
		}
		*asJSON = true
	case len(pos) == 1 && strings.TrimSpace(pos[0]) != "":
		batch = []searchQuery{{Text: pos[0]}}
	default:
		return usagef("search", "want one QUERY argument (quote it) or --queries FILE.jsonl")
	}
	st, err := a.ragStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	r, closeEmb, err := a.retriever(ctx, st, *rewrite, *rerank)
	if err != nil {
		return err
	}
	defer closeEmb.Close()
	w := bufio.NewWriter(a.stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	for _, q := range batch {
		hits, err := r.Retrieve(ctx, *coll, rag.Query{Text: q.Text, K: *k, Mode: m, PerDocument: true})
		if err != nil {
			return err
		}
		for i, h := range hits {
			if *asJSON {
				if err := enc.Encode(searchHit{QueryID: q.ID, ID: h.DocID, Score: h.Score, Title: h.Title, Snippet: snippet(h.Text, 240)}); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(w, "%d. %s  (%.3f)\n   %s\n   %s\n", i+1, orDash(h.Title), h.Score, h.Label(), snippet(h.Text, 240))
		}
		if len(hits) == 0 && !*asJSON {
			fmt.Fprintln(w, "no matches")
		}
	}
	return nil
}

type searchQuery struct {
	ID   string `json:"_id"`
	Text string `json:"text"`
}

// searchHit is one line of `keel search --json`.
type searchHit struct {
	QueryID string  `json:"query_id,omitempty"`
	ID      string  `json:"id"`
	Score   float64 `json:"score"`
	Title   string  `json:"title"`
	Snippet string  `json:"snippet"`
}

// readQueries reads a JSONL file of {"_id", "text"} queries (a numeric _id
// or an "id" field are accepted too).
func readQueries(path string) ([]searchQuery, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	var out []searchQuery
	for n, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var raw map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber() // numeric ids stay as written, not 3.17e+07
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("search: %s:%d: invalid JSON: %v", path, n+1, err)
		}
		id := raw["_id"]
		if id == nil {
			id = raw["id"]
		}
		text, _ := raw["text"].(string)
		if id == nil || strings.TrimSpace(text) == "" {
			return nil, fmt.Errorf("search: %s:%d: want _id and a non-empty text", path, n+1)
		}
		out = append(out, searchQuery{ID: fmt.Sprint(id), Text: text})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("search: %s: no queries", path)
	}
	return out, nil
}

// snippet folds white space and cuts s to about n bytes at a word boundary.
func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut < n/2 {
		cut = n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	return s[:cut] + " …"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
