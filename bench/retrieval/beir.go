package retrieval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Query is one BEIR query.
type Query struct {
	ID   string `json:"_id"`
	Text string `json:"text"`
}

// Qrels maps a query id to its judged documents and their relevance grades.
type Qrels map[string]map[string]int

// LoadQueries reads a BEIR queries.jsonl file.
func LoadQueries(path string) ([]Query, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Query
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var q Query
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, q)
	}
	return out, sc.Err()
}

// LoadQrels reads a BEIR qrels TSV file (query-id, corpus-id, score, with a
// header line).
func LoadQrels(path string) (Qrels, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	q := Qrels{}
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		if len(f) != 3 || (i == 0 && f[0] == "query-id") {
			continue
		}
		grade, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: score %q: %w", path, i+1, f[2], err)
		}
		if q[f[0]] == nil {
			q[f[0]] = map[string]int{}
		}
		q[f[0]][f[1]] = grade
	}
	return q, nil
}

// Dataset is a BEIR data set on disk.
type Dataset struct {
	Dir string
}

// Corpus returns the path of corpus.jsonl.
func (d Dataset) Corpus() string { return filepath.Join(d.Dir, "corpus.jsonl") }

// Split returns the queries judged in split (train, dev or test) and their
// judgments.
func (d Dataset) Split(split string) ([]Query, Qrels, error) {
	qs, err := LoadQueries(filepath.Join(d.Dir, "queries.jsonl"))
	if err != nil {
		return nil, nil, err
	}
	qrels, err := LoadQrels(filepath.Join(d.Dir, "qrels", split+".tsv"))
	if err != nil {
		return nil, nil, err
	}
	qs = slices.DeleteFunc(qs, func(q Query) bool { return qrels[q.ID] == nil })
	return qs, qrels, nil
}

// NDCG returns nDCG@k of a ranking of document ids against graded
// judgments, with linear gain (as BEIR and trec_eval's ndcg_cut compute it).
func NDCG(ranked []string, judged map[string]int, k int) float64 {
	dcg := 0.0
	for i, id := range ranked[:min(k, len(ranked))] {
		if g := judged[id]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	}
	var grades []int
	for _, g := range judged {
		if g > 0 {
			grades = append(grades, g)
		}
	}
	slices.SortFunc(grades, func(a, b int) int { return b - a })
	idcg := 0.0
	for i, g := range grades[:min(k, len(grades))] {
		idcg += float64(g) / math.Log2(float64(i+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// Recall returns the share of relevant documents found in the first k of
// ranked.
func Recall(ranked []string, judged map[string]int, k int) float64 {
	rel := 0
	for _, g := range judged {
		if g > 0 {
			rel++
		}
	}
	if rel == 0 {
		return 0
	}
	found := 0
	for _, id := range ranked[:min(k, len(ranked))] {
		if judged[id] > 0 {
			found++
		}
	}
	return float64(found) / float64(rel)
}

// Scores are the mean measures over a set of queries.
type Scores struct {
	Queries   int
	NDCG10    float64
	Recall100 float64
}

func (s Scores) String() string {
	return fmt.Sprintf("nDCG@10 %.4f, Recall@100 %.4f over %d queries", s.NDCG10, s.Recall100, s.Queries)
}

// Evaluate runs every query through search (which returns document ids,
// best first, at least 100 when it can) and averages the measures.
func Evaluate(queries []Query, qrels Qrels, search func(Query) ([]string, error)) (Scores, error) {
	var s Scores
	for _, q := range queries {
		ranked, err := search(q)
		if err != nil {
			return Scores{}, fmt.Errorf("query %s: %w", q.ID, err)
		}
		s.NDCG10 += NDCG(ranked, qrels[q.ID], 10)
		s.Recall100 += Recall(ranked, qrels[q.ID], 100)
		s.Queries++
	}
	if s.Queries > 0 {
		s.NDCG10 /= float64(s.Queries)
		s.Recall100 /= float64(s.Queries)
	}
	return s, nil
}
