// Command vector measures Keel's in-memory vector index (rag/vector) side by
// side with github.com/philippgille/chromem-go on the same vectors and
// queries: build time, query latency p50/p99, recall@k against exact search,
// and peak memory.
//
// Each engine runs in its own child process (this program re-executed) so
// that its peak resident memory can be read from the operating system; a
// "baseline" child that only generates the data shows what the data itself
// costs.
//
//	cd bench/vector && go run . -sizes 10000x384,100000x384,10000x1536,100000x1536
//
// It lives in its own module so that the peer never enters Keel's go.mod.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keelai/keel/rag/vector"
	"github.com/philippgille/chromem-go"
)

type result struct {
	Engine  string  `json:"engine"`
	N       int     `json:"n"`
	Dim     int     `json:"dim"`
	BuildMS float64 `json:"build_ms"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
	MeanMS  float64 `json:"mean_ms"`
	Recall  float64 `json:"recall"`
	PeakMB  float64 `json:"peak_mb"`
}

func main() {
	sizes := flag.String("sizes", "10000x384,100000x384,10000x1536,100000x1536", "comma-separated NxDIM")
	queries := flag.Int("queries", 200, "timed queries per engine")
	recallQ := flag.Int("recall-queries", 100, "queries checked against exact search")
	k := flag.Int("k", 10, "results per query")
	data := flag.String("data", "random", "random (Gaussian: the hard case for quantisation) or clustered")
	engines := flag.String("engines", "baseline,keel,chromem", "engines to run")
	child := flag.String("child", "", "internal: run one engine and print its result")
	n := flag.Int("n", 0, "internal")
	dim := flag.Int("dim", 0, "internal")
	flag.Parse()

	if *child != "" {
		r, err := run(*child, *n, *dim, *queries, *recallQ, *k, *data)
		if err != nil {
			log.Fatal(err)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}

	fmt.Printf("# vector search, k=%d, %s data, %d timed queries, recall on %d, GOMAXPROCS=%d, %s\n\n",
		*k, *data, *queries, *recallQ, runtime.GOMAXPROCS(0), cpuName())
	fmt.Println("| n | dim | engine | build | p50 | p99 | recall@k | peak RSS | p50 vs keel |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, s := range strings.Split(*sizes, ",") {
		ns, ds, ok := strings.Cut(s, "x")
		nn, err1 := strconv.Atoi(ns)
		dd, err2 := strconv.Atoi(ds)
		if !ok || err1 != nil || err2 != nil {
			log.Fatalf("-sizes: %q is not NxDIM", s)
		}
		var rs []result
		for _, e := range strings.Split(*engines, ",") {
			r, err := spawn(e, nn, dd, *queries, *recallQ, *k, *data)
			if err != nil {
				log.Fatalf("%s %s: %v", e, s, err)
			}
			rs = append(rs, r)
		}
		var keelP50 float64
		for _, r := range rs {
			if r.Engine == "keel" {
				keelP50 = r.P50MS
			}
		}
		for _, r := range rs {
			if r.Engine == "baseline" {
				fmt.Printf("| %d | %d | (data only) | | | | | %.0f MB | |\n", r.N, r.Dim, r.PeakMB)
				continue
			}
			ratio := ""
			if keelP50 > 0 {
				ratio = fmt.Sprintf("%.1f×", r.P50MS/keelP50)
			}
			fmt.Printf("| %d | %d | %s | %.2f s | %.3f ms | %.3f ms | %.4f | %.0f MB | %s |\n",
				r.N, r.Dim, r.Engine, r.BuildMS/1000, r.P50MS, r.P99MS, r.Recall, r.PeakMB, ratio)
		}
	}
}

// spawn runs one engine in a child process and adds its peak RSS.
func spawn(engine string, n, dim, queries, recallQ, k int, data string) (result, error) {
	cmd := exec.Command(os.Args[0], "-child", engine, "-n", strconv.Itoa(n), "-dim", strconv.Itoa(dim),
		"-queries", strconv.Itoa(queries), "-recall-queries", strconv.Itoa(recallQ), "-k", strconv.Itoa(k), "-data", data)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return result{}, err
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return result{}, fmt.Errorf("child output %q: %w", out.String(), err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakMB = float64(ru.Maxrss) / 1024 // Linux reports KiB
	}
	return r, nil
}

type searcher func(q []float32, k int) ([]string, error)

func run(engine string, n, dim, nq, recallQ, k int, data string) (result, error) {
	docs, queries := generate(n, dim, nq, data)
	r := result{Engine: engine, N: n, Dim: dim}
	if engine == "baseline" {
		return r, nil
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("doc-%07d", i)
	}

	start := time.Now()
	var search searcher
	switch engine {
	case "keel":
		ix := vector.New(dim)
		items := make([]vector.Item, n)
		for i := range items {
			items[i] = vector.Item{ID: ids[i], Vector: docs[i]}
		}
		if err := ix.Put(items...); err != nil {
			return r, err
		}
		search = func(q []float32, k int) ([]string, error) {
			hits, err := ix.Search(q, k, nil)
			out := make([]string, len(hits))
			for i, h := range hits {
				out[i] = h.ID
			}
			return out, err
		}
	case "chromem":
		db := chromem.NewDB()
		noEmbed := func(context.Context, string) ([]float32, error) {
			return nil, fmt.Errorf("embeddings are supplied")
		}
		c, err := db.CreateCollection("bench", nil, noEmbed)
		if err != nil {
			return r, err
		}
		// chromem normalises in place; give it its own copies so the
		// exact reference below sees the original vectors.
		embs := make([][]float32, n)
		for i := range embs {
			embs[i] = slices.Clone(docs[i])
		}
		if err := c.AddConcurrently(context.Background(), ids, embs, nil, nil, runtime.GOMAXPROCS(0)); err != nil {
			return r, err
		}
		search = func(q []float32, k int) ([]string, error) {
			res, err := c.QueryEmbedding(context.Background(), q, k, nil, nil)
			out := make([]string, len(res))
			for i, x := range res {
				out[i] = x.ID
			}
			return out, err
		}
	default:
		return r, fmt.Errorf("unknown engine %q", engine)
	}
	r.BuildMS = ms(time.Since(start))
	runtime.GC()

	for _, q := range queries[:min(5, len(queries))] { // warm caches
		if _, err := search(q, k); err != nil {
			return r, err
		}
	}
	lat := make([]float64, len(queries))
	got := make([][]string, len(queries))
	for i, q := range queries {
		t := time.Now()
		res, err := search(q, k)
		lat[i] = ms(time.Since(t))
		if err != nil {
			return r, err
		}
		got[i] = res
	}
	slices.Sort(lat)
	r.P50MS = lat[len(lat)/2]
	r.P99MS = lat[min(len(lat)-1, len(lat)*99/100)]
	for _, l := range lat {
		r.MeanMS += l / float64(len(lat))
	}

	recallQ = min(recallQ, len(queries))
	var found, total int
	truth := exactAll(docs, queries[:recallQ], k)
	for i := range recallQ {
		set := map[string]bool{}
		for _, id := range got[i] {
			set[id] = true
		}
		for _, w := range truth[i] {
			total++
			if set[ids[w]] {
				found++
			}
		}
	}
	r.Recall = float64(found) / float64(total)
	return r, nil
}

// generate makes the same vectors for every engine: a fixed seed.
func generate(n, dim, nq int, data string) (docs, queries [][]float32) {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(dim)))
	gauss := func() []float32 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		return v
	}
	docs = make([][]float32, n)
	switch data {
	case "clustered":
		centres := make([][]float32, max(1, n/100))
		for i := range centres {
			centres[i] = gauss()
		}
		for i := range docs {
			c := centres[rng.IntN(len(centres))]
			v := gauss()
			for j := range v {
				v[j] = c[j] + 0.8*v[j]
			}
			docs[i] = v
		}
		for range nq {
			d := docs[rng.IntN(n)]
			v := gauss()
			for j := range v {
				v[j] = d[j] + 0.5*v[j]
			}
			queries = append(queries, v)
		}
	default:
		for i := range docs {
			docs[i] = gauss()
		}
		for range nq {
			queries = append(queries, gauss())
		}
	}
	return docs, queries
}

// exactAll is the reference: float64 cosine against every vector.
func exactAll(docs, queries [][]float32, k int) [][]int {
	norms := make([]float64, len(docs))
	for i, d := range docs {
		for _, x := range d {
			norms[i] += float64(x) * float64(x)
		}
		norms[i] = math.Sqrt(norms[i])
	}
	out := make([][]int, len(queries))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			type sc struct {
				i int
				s float64
			}
			all := make([]sc, len(docs))
			for qi := w; qi < len(queries); qi += workers {
				q := queries[qi]
				for i, d := range docs {
					var s float64
					for j, x := range q {
						s += float64(x) * float64(d[j])
					}
					all[i] = sc{i, s / norms[i]}
				}
				slices.SortFunc(all, func(a, b sc) int { return cmp.Compare(b.s, a.s) })
				for _, s := range all[:k] {
					out[qi] = append(out[qi], s.i)
				}
			}
		})
	}
	wg.Wait()
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.Lines(string(b)) {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimLeft(name, "\t :"))
		}
	}
	return runtime.GOARCH
}
