// Package retrieval is Keel's retrieval-quality harness: BEIR-format data
// sets (corpus, queries, relevance judgments) and the standard measures,
// nDCG@k and Recall@k, computed as trec_eval and BEIR compute them.
//
// The tests in this package run the harness against real data in
// ../shared/data (BEIR SciFact, PubMedQA) and skip when it is absent:
//
//	go test ./bench/retrieval -run SciFact -v
package retrieval
