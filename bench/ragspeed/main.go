// Command ragspeed measures the embedded store end to end (store/sqlite
// through rag.Ingester and rag.Retriever, as `keel ingest` and `keel
// search` use it): ingest rate, query latency p50/p99 for lexical, vector
// and hybrid search, and peak resident memory, at several collection
// sizes and vector widths.
//
//	go run ./bench/ragspeed -sizes 10000,100000 -dims 384,1536
//
// Passages are real scientific text when ../shared/data/scifact is
// present (sentences of the SciFact abstracts, shuffled three at a time
// into passages, so that 100k passages keep a real vocabulary and term
// distribution), a Zipf-distributed synthetic vocabulary otherwise. Queries
// are SciFact's claims (or synthetic). Vectors come from a deterministic
// hash-seeded Gaussian embedder: latency does not depend on what vectors
// mean, and no model is needed. Each configuration runs in a child
// process (this program re-executed) so its peak memory is its own;
// hybrid is compared with the lexical search of the same process.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/chunk"
	"github.com/keelai/keel/store/sqlite"
)

type result struct {
	N            int                `json:"n"`
	Dim          int                `json:"dim"`
	Corpus       string             `json:"corpus"`
	IngestPerSec float64            `json:"ingest_per_sec"`
	P50MS        map[string]float64 `json:"p50_ms"`
	P99MS        map[string]float64 `json:"p99_ms"`
	PeakMB       float64            `json:"peak_mb"`
}

func main() {
	sizes := flag.String("sizes", "10000,100000", "comma-separated collection sizes (passages)")
	dims := flag.String("dims", "0,384,1536", "comma-separated vector widths; 0 is lexical only")
	queries := flag.Int("queries", 200, "timed queries per mode")
	data := flag.String("data", "../shared/data/scifact", "SciFact folder (synthetic text when absent)")
	child := flag.Bool("child", false, "internal: run one configuration and print its result")
	n := flag.Int("n", 0, "internal")
	dim := flag.Int("dim", 0, "internal")
	flag.Parse()
	log.SetFlags(0)

	if *child {
		r, err := run(*n, *dim, *queries, *data)
		if err != nil {
			log.Fatal(err)
		}
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
			r.PeakMB = float64(ru.Maxrss) / 1024 // Linux reports KiB
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}

	fmt.Printf("| passages | vectors | ingest passages/s | lexical p50 / p99 | vector p50 / p99 | hybrid p50 / p99 | hybrid ÷ lexical (p50) | peak RSS |\n")
	fmt.Printf("|---:|---:|---:|---|---|---|---:|---:|\n")
	for _, ns := range strings.Split(*sizes, ",") {
		for _, ds := range strings.Split(*dims, ",") {
			nv, _ := strconv.Atoi(ns)
			dv, _ := strconv.Atoi(ds)
			out, err := exec.Command(os.Args[0], "-child", "-n", ns, "-dim", ds,
				"-queries", strconv.Itoa(*queries), "-data", *data).Output()
			if err != nil {
				log.Fatalf("n=%d dim=%d: %v", nv, dv, err)
			}
			var r result
			if err := json.Unmarshal(out, &r); err != nil {
				log.Fatalf("n=%d dim=%d: %v: %s", nv, dv, err, out)
			}
			lat := func(mode string) string {
				if _, ok := r.P50MS[mode]; !ok {
					return "—"
				}
				return fmt.Sprintf("%.2f / %.2f ms", r.P50MS[mode], r.P99MS[mode])
			}
			ratio := "—"
			if h, ok := r.P50MS["hybrid"]; ok && r.P50MS["lexical"] > 0 {
				ratio = fmt.Sprintf("%.2f×", h/r.P50MS["lexical"])
			}
			width := "none"
			if dv > 0 {
				width = strconv.Itoa(dv)
			}
			fmt.Printf("| %d | %s | %.0f | %s | %s | %s | %s | %.0f MB |\n",
				r.N, width, r.IngestPerSec, lat("lexical"), lat("vector"), lat("hybrid"), ratio, r.PeakMB)
		}
	}
}

// run ingests n passages (with dim-wide vectors when dim > 0) into a fresh
// store and times queries in every mode the collection supports.
func run(n, dim, queries int, data string) (*result, error) {
	ctx := context.Background()
	texts, qs, corpus, err := passages(n, queries, data)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ragspeed")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "keel.db"), sqlite.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()

	var emb rag.Embedder
	if dim > 0 {
		emb = hashEmbedder{dim: dim}
	}
	in := rag.Ingester{Store: st, Chunker: chunk.New(chunk.Options{Size: 1000}), Embedder: emb}
	const batch = 5000 // documents per Apply, as a large `keel ingest` would commit
	start := time.Now()
	for i := 0; i < len(texts); i += batch {
		docs := make([]rag.Document, 0, batch)
		for j := i; j < min(i+batch, len(texts)); j++ {
			d := rag.Document{ID: "p" + strconv.Itoa(j), Title: "", Source: "bench", Text: texts[j]}
			d.Hash = d.ContentHash()
			docs = append(docs, d)
		}
		if _, err := in.Ingest(ctx, "bench", docs, rag.IngestOptions{}); err != nil {
			return nil, err
		}
	}
	r := &result{N: n, Dim: dim, Corpus: corpus, IngestPerSec: float64(n) / time.Since(start).Seconds(),
		P50MS: map[string]float64{}, P99MS: map[string]float64{}}

	modes := []rag.Mode{rag.Lexical}
	if dim > 0 {
		modes = append(modes, rag.Vector, rag.Hybrid)
	}
	ret := rag.Retriever{Store: st, Embedder: emb}
	for _, mode := range modes {
		for i := range 20 { // warm the caches and the vector index
			if _, err := ret.Retrieve(ctx, "bench", rag.Query{Text: qs[i%len(qs)], Mode: mode, K: 10}); err != nil {
				return nil, fmt.Errorf("%s: %w", mode, err)
			}
		}
		lat := make([]float64, 0, queries)
		for i := range queries {
			t := time.Now()
			if _, err := ret.Retrieve(ctx, "bench", rag.Query{Text: qs[i%len(qs)], Mode: mode, K: 10}); err != nil {
				return nil, fmt.Errorf("%s: %w", mode, err)
			}
			lat = append(lat, float64(time.Since(t).Microseconds())/1000)
		}
		slices.Sort(lat)
		r.P50MS[string(mode)] = lat[len(lat)/2]
		r.P99MS[string(mode)] = lat[len(lat)*99/100]
	}
	return r, nil
}

// passages returns n passages and the query texts: from SciFact when the
// folder exists, synthetic otherwise.
func passages(n, queries int, dir string) (texts, qs []string, corpus string, err error) {
	rng := rand.New(rand.NewPCG(1, 2))
	sentences, qs, err := scifact(dir)
	switch {
	case err == nil:
		corpus = "scifact"
	case os.IsNotExist(err):
		sentences, qs, corpus = synthetic(rng, queries), nil, "synthetic"
		for range queries {
			qs = append(qs, strings.Join(sentences[rng.IntN(len(sentences))], " "))
		}
	default:
		return nil, nil, "", err
	}
	texts = make([]string, n)
	for i := range texts {
		texts[i] = strings.Join(sentences[rng.IntN(len(sentences))], " ") + " " +
			strings.Join(sentences[rng.IntN(len(sentences))], " ") + " " +
			strings.Join(sentences[rng.IntN(len(sentences))], " ")
	}
	return texts, qs, corpus, nil
}

// scifact returns SciFact's sentences (as word lists) and its claims.
func scifact(dir string) (sentences [][]string, claims []string, err error) {
	f, err := os.Open(filepath.Join(dir, "corpus.jsonl"))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var doc struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			return nil, nil, err
		}
		for _, s := range strings.SplitAfter(doc.Text, ". ") {
			if w := strings.Fields(s); len(w) > 3 {
				sentences = append(sentences, w)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	q, err := os.Open(filepath.Join(dir, "queries.jsonl"))
	if err != nil {
		return nil, nil, err
	}
	defer q.Close()
	qsc := bufio.NewScanner(q)
	for qsc.Scan() {
		var c struct{ Text string }
		if err := json.Unmarshal(qsc.Bytes(), &c); err != nil {
			return nil, nil, err
		}
		claims = append(claims, c.Text)
	}
	return sentences, claims, qsc.Err()
}

// synthetic returns sentences over a 30,000-word Zipf vocabulary.
func synthetic(rng *rand.Rand, _ int) [][]string {
	zipf := rand.NewZipf(rng, 1.1, 1, 29_999)
	out := make([][]string, 20_000)
	for i := range out {
		s := make([]string, 8+rng.IntN(20))
		for j := range s {
			s[j] = "w" + strconv.FormatUint(zipf.Uint64(), 36)
		}
		out[i] = s
	}
	return out
}

// hashEmbedder gives each text a unit Gaussian vector seeded by its hash:
// deterministic, free, and as hard for the int8 index as real embeddings.
type hashEmbedder struct{ dim int }

func (e hashEmbedder) Name() string    { return "bench/hash-" + strconv.Itoa(e.dim) }
func (e hashEmbedder) Dimensions() int { return e.dim }

func (e hashEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		h := fnv.New64a()
		h.Write([]byte(t))
		rng := rand.New(rand.NewPCG(h.Sum64(), 7))
		v := make([]float32, e.dim)
		var norm float64
		for j := range v {
			x := rng.NormFloat64()
			v[j] = float32(x)
			norm += x * x
		}
		inv := float32(1 / math.Sqrt(norm))
		for j := range v {
			v[j] *= inv
		}
		out[i] = v
	}
	return out, nil
}
