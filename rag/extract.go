package rag

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
)

// Extractive is an offline answer: the passages' most relevant sentences,
// each citing its source, for when no model is configured.
type Extractive struct {
	// Sentences are the chosen sentences, most relevant first.
	Sentences []Sentence
	// Sources are the cited hits, numbered by first citation.
	Sources []Source
}

// Sentence is a sentence (or short code block) quoted from a source.
type Sentence struct {
	Text string
	// N is the number of the source it comes from.
	N int
	// Code is true for a quoted code block.
	Code bool
}

// OfflineLabel heads every extractive answer, so nobody mistakes it for a
// model's.
const OfflineLabel = "Offline answer (no model configured): the most relevant sentences from the documents, quoted."

// Extract builds an extractive answer to question from hits (best first):
// every sentence of the passages is scored by the query words it holds,
// weighted by their rarity among the candidate sentences and by the rank of
// the passage, and the best limit (3 when 0) are quoted with citations.
func Extract(question string, hits []Hit, limit int) Extractive {
	if limit <= 0 {
		limit = 3
	}
	terms := contentWords(question)
	type cand struct {
		Sentence
		hit   int
		score float64
		words map[string]bool
	}
	var cands []cand
	df := map[string]int{}
	for i, h := range hits {
		for _, u := range units(h.Text) {
			w := map[string]bool{}
			for _, t := range contentWords(u.Text) {
				w[t] = true
			}
			for t := range w {
				df[t]++
			}
			cands = append(cands, cand{Sentence: u, hit: i, words: w})
		}
	}
	n := float64(len(cands))
	for i := range cands {
		c := &cands[i]
		for _, t := range terms {
			if c.words[t] {
				c.score += math.Log(1 + n/float64(df[t]))
			}
		}
		// Earlier passages ranked higher; very short fragments say little;
		// long units match many words by their length alone; code is quoted
		// only when it clearly beats the prose.
		c.score /= 1 + 0.1*float64(c.hit)
		words := len(strings.Fields(c.Text))
		if words < 4 && !c.Code {
			c.score *= 0.5
		}
		if words > 30 {
			c.score /= 1 + 0.02*float64(words-30)
		}
		if c.Code {
			c.score *= 0.5
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
	var out Extractive
	// Sources are numbered by label (file and heading path), so two
	// passages of one section are one source.
	num := map[string]int{}
	perHit := map[int]int{}
	for _, c := range cands {
		if len(out.Sentences) == limit || c.score <= 0 {
			break
		}
		if perHit[c.hit] == 2 {
			continue // spread the quotes over more than one passage
		}
		perHit[c.hit]++
		label := hits[c.hit].Label()
		if _, ok := num[label]; !ok {
			num[label] = len(out.Sources) + 1
			out.Sources = append(out.Sources, Source{N: num[label], Hit: hits[c.hit]})
		}
		s := c.Sentence
		s.N = num[label]
		out.Sentences = append(out.Sentences, s)
	}
	return out
}

// String renders the answer for a terminal: the offline label, the quoted
// sentences with their [n], and the list of sources.
func (e Extractive) String() string {
	var b strings.Builder
	b.WriteString(OfflineLabel)
	b.WriteString("\n\n")
	if len(e.Sentences) == 0 {
		b.WriteString("No passage in the documents matches the question.\n")
		return b.String()
	}
	for _, s := range e.Sentences {
		if s.Code {
			fmt.Fprintf(&b, "- [%d]\n", s.N)
			for line := range strings.SplitSeq(s.Text, "\n") {
				b.WriteString("      " + line + "\n")
			}
			continue
		}
		fmt.Fprintf(&b, "- %s [%d]\n", s.Text, s.N)
	}
	b.WriteString("\nSources:\n")
	for _, s := range e.Sources {
		fmt.Fprintf(&b, "[%d] %s\n", s.N, s.Hit.Label())
	}
	return b.String()
}

// units splits a passage into quotable units: sentences of prose, and
// short fenced code blocks whole. Headings and markup are left out.
func units(text string) []Sentence {
	var out []Sentence
	lines := strings.Split(text, "\n")
	var para []string
	flush := func() {
		if len(para) > 0 {
			for _, s := range sentences(strings.Join(para, " ")) {
				out = append(out, Sentence{Text: s})
			}
			para = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(line, "```") || strings.HasPrefix(line, "~~~"):
			flush()
			fence := line[:3]
			var code []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), fence); i++ {
				code = append(code, lines[i])
			}
			if len(code) > 0 && len(code) <= 12 {
				out = append(out, Sentence{Text: strings.Join(code, "\n"), Code: true})
			}
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "|") || strings.HasPrefix(line, "---"):
			flush()
		case isListItem(line):
			flush()
			para = append(para, strings.TrimSpace(strings.TrimLeft(line, "-*+>0123456789.) ")))
			flush()
		default:
			para = append(para, strings.TrimLeft(line, "> "))
		}
	}
	flush()
	return out
}

func isListItem(line string) bool {
	if strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* ") || strings.HasPrefix(line, "+ ") {
		return true
	}
	i := strings.IndexFunc(line, func(r rune) bool { return !unicode.IsDigit(r) })
	return i > 0 && i+1 < len(line) && (line[i] == '.' || line[i] == ')') && line[i+1] == ' '
}

// sentences splits prose at ., ! or ? followed by a space and a capital
// letter, digit or opening mark, which keeps "e.g. this" and "v1.2" whole.
func sentences(p string) []string {
	var out []string
	start := 0
	for i := 0; i+2 < len(p); i++ {
		if (p[i] == '.' || p[i] == '!' || p[i] == '?') && p[i+1] == ' ' {
			r := rune(p[i+2])
			if unicode.IsUpper(r) || unicode.IsDigit(r) || r == '`' || r == '"' || r == '(' {
				out = append(out, strings.TrimSpace(p[start:i+1]))
				start = i + 2
			}
		}
	}
	if s := strings.TrimSpace(p[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// contentWords returns the distinct, lower-cased, lightly stemmed words of
// s without stop words, for matching a question against sentences.
func contentWords(s string) []string {
	seen := map[string]bool{}
	var out []string
	for w := range strings.FieldsFuncSeq(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len(w) < 2 || stopword(w) {
			continue
		}
		w = stem(w)
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// stem strips common English suffixes so that "streaming", "streams" and
// "streamed" meet at "stream". Crude by design: it only has to match a
// question's words with a passage's, never to produce real stems.
func stem(w string) string {
	for _, suf := range []string{"ing", "ed", "es", "s", "ly"} {
		if len(w) > len(suf)+3 && strings.HasSuffix(w, suf) {
			return w[:len(w)-len(suf)]
		}
	}
	return w
}

func stopword(w string) bool {
	switch w {
	case "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
		"no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
		"this", "to", "was", "will", "with", "how", "do", "does", "did", "what", "which", "who", "whom",
		"why", "when", "where", "can", "could", "should", "would", "i", "you", "we", "my", "your", "our",
		"me", "from", "about", "use", "using", "get":
		return true
	}
	return false
}
