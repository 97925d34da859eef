// Package chunk splits documents into passages for indexing: recursively
// and along the document's structure — sections under headings first, then
// paragraphs, lines, sentences and words — so that each passage holds
// about a target number of tokens, keeps the heading path above it, and
// knows its byte offsets in the source text.
//
//	c := chunk.New(chunk.Options{Size: 300, Overlap: 40})
//	for _, ch := range c.Chunk(&doc) { ... }
package chunk

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keelai/keel/rag"
)

// Options configure a Chunker.
type Options struct {
	// Size is the target number of tokens per chunk; 0 means 300.
	Size int
	// Overlap is how many tokens of the end of a chunk are repeated at the
	// start of the next one within a section, so that a sentence cut by a
	// boundary is whole in one of them; 0 means Size/8, negative none.
	Overlap int
	// Count counts the tokens of a text; nil means EstimateTokens.
	Count func(string) int
}

// Chunker is a structure-aware recursive chunker. It is immutable and safe
// for concurrent use.
type Chunker struct {
	size, overlap int
	count         func(string) int
}

var _ rag.Chunker = (*Chunker)(nil)

// New returns a Chunker.
func New(opts Options) *Chunker {
	c := &Chunker{size: opts.Size, overlap: opts.Overlap, count: opts.Count}
	if c.size <= 0 {
		c.size = 300
	}
	switch {
	case c.overlap == 0:
		c.overlap = c.size / 8
	case c.overlap < 0:
		c.overlap = 0
	}
	c.overlap = min(c.overlap, c.size/2)
	if c.count == nil {
		c.count = EstimateTokens
	}
	return c
}

// Fingerprint implements rag.Fingerprinter: documents chunked with other
// settings are re-indexed.
func (c *Chunker) Fingerprint() string {
	return fmt.Sprintf("chunk/v1 size=%d overlap=%d", c.size, c.overlap)
}

// EstimateTokens approximates a text's token count for English-like text
// with current BPE tokenizers: about one token per four bytes of each word,
// at least one per word, plus one per punctuation run. It is a stand-in for
// a model's tokenizer, good to about ±20%, which is all chunk sizing needs.
func EstimateTokens(s string) int {
	n := 0
	for w := range strings.FieldsSeq(s) {
		letters, punct := 0, 0
		for _, r := range w {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				letters += utf8.RuneLen(r)
			} else {
				punct++
			}
		}
		n += max(1, (letters+3)/4) + min(punct, 2)
		if letters == 0 {
			n--
		}
	}
	return n
}

// section is a node of the heading tree: its full extent [start, end),
// the end of its own body before its first subsection, and its path.
type section struct {
	level      int
	path       []string
	start, end int
	bodyEnd    int
	children   []*section
}

// tree builds the heading tree of doc. Headings out of order or out of
// range are ignored rather than trusted.
func tree(doc *rag.Document) *section {
	root := &section{start: 0, end: len(doc.Text), bodyEnd: len(doc.Text)}
	stack := []*section{root}
	last := 0
	for _, h := range doc.Headings {
		if h.Start < last || h.Start > len(doc.Text) || h.Level < 1 {
			continue
		}
		last = h.Start
		for len(stack) > 1 && stack[len(stack)-1].level >= h.Level {
			stack[len(stack)-1].end = h.Start
			stack = stack[:len(stack)-1]
		}
		parent := stack[len(stack)-1]
		if len(parent.children) == 0 {
			parent.bodyEnd = h.Start
		}
		path := append(append([]string(nil), parent.path...), h.Text)
		s := &section{level: h.Level, path: path, start: h.Start, end: len(doc.Text), bodyEnd: len(doc.Text)}
		parent.children = append(parent.children, s)
		stack = append(stack, s)
	}
	var fix func(s *section)
	fix = func(s *section) {
		if len(s.children) == 0 {
			s.bodyEnd = s.end
		}
		for _, ch := range s.children {
			fix(ch)
		}
	}
	fix(root)
	return root
}

// span is a piece of the document's text.
type span struct{ start, end, tokens int }

// Chunk implements rag.Chunker.
func (c *Chunker) Chunk(doc *rag.Document) []rag.Chunk {
	var out []rag.Chunk
	add := func(start, end int, path []string) {
		start, end = trim(doc.Text, start, end)
		if start >= end {
			return
		}
		out = append(out, rag.Chunk{
			ID:       rag.ChunkID(doc.ID, len(out)),
			DocID:    doc.ID,
			Index:    len(out),
			Text:     doc.Text[start:end],
			Start:    start,
			End:      end,
			Headings: path,
		})
	}
	var walk func(s *section)
	walk = func(s *section) {
		// A section that fits whole, subsections included, stays one chunk:
		// the passage keeps its context and no tiny chunks are made. Its
		// path is that of the single subsection it wraps, if that is all
		// it holds (a document that is one # Title and its content).
		if c.count(doc.Text[s.start:s.end]) <= c.size {
			path := s.path
			for w := s; len(w.children) == 1 && strings.TrimSpace(doc.Text[w.start:w.bodyEnd]) == ""; {
				w = w.children[0]
				path = w.path
			}
			add(s.start, s.end, path)
			return
		}
		for _, sp := range c.merge(doc.Text, c.split(doc.Text, s.start, s.bodyEnd, 0)) {
			add(sp.start, sp.end, s.path)
		}
		for _, ch := range s.children {
			walk(ch)
		}
	}
	walk(tree(doc))
	return out
}

// trim narrows [start, end) to exclude surrounding white space.
func trim(text string, start, end int) (int, int) {
	for start < end {
		r, n := utf8.DecodeRuneInString(text[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		start += n
	}
	for end > start {
		r, n := utf8.DecodeLastRuneInString(text[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		end -= n
	}
	return start, end
}

// The separators split tries in turn, coarsest first.
const (
	byParagraph = iota
	byLine
	bySentence
	byWord
	byRunes
)

// split cuts [start, end) into contiguous spans of at most c.size tokens,
// at the coarsest separator that gives pieces small enough.
func (c *Chunker) split(text string, start, end, level int) []span {
	t := c.count(text[start:end])
	if t <= c.size || start >= end {
		return []span{{start, end, t}}
	}
	if level == byRunes {
		return c.cutRunes(text, start, end)
	}
	cuts := boundaries(text, start, end, level)
	if len(cuts) == 0 {
		return c.split(text, start, end, level+1)
	}
	var out []span
	prev := start
	for _, cut := range append(cuts, end) {
		if cut <= prev {
			continue
		}
		out = append(out, c.split(text, prev, cut, level+1)...)
		prev = cut
	}
	return out
}

// boundaries returns the offsets in (start, end) where pieces of the given
// level begin; each separator stays with the piece before it.
func boundaries(text string, start, end, level int) []int {
	var cuts []int
	s := text[start:end]
	switch level {
	case byParagraph:
		for i := 0; i < len(s); {
			j := strings.Index(s[i:], "\n\n")
			if j < 0 {
				break
			}
			k := i + j
			for k < len(s) && (s[k] == '\n' || s[k] == '\r' || s[k] == ' ' || s[k] == '\t') {
				k++
			}
			if k < len(s) {
				cuts = append(cuts, start+k)
			}
			i = k
		}
	case byLine:
		for i, r := range s {
			if r == '\n' && i+1 < len(s) {
				cuts = append(cuts, start+i+1)
			}
		}
	case bySentence:
		for i := 0; i+1 < len(s); i++ {
			if (s[i] == '.' || s[i] == '!' || s[i] == '?') && (s[i+1] == ' ' || s[i+1] == '\n') {
				k := i + 1
				for k < len(s) && (s[k] == ' ' || s[k] == '\n') {
					k++
				}
				if k < len(s) {
					cuts = append(cuts, start+k)
				}
				i = k - 1
			}
		}
	case byWord:
		for i := 1; i < len(s); i++ {
			if s[i-1] == ' ' || s[i-1] == '\n' || s[i-1] == '\t' {
				if s[i] != ' ' && s[i] != '\n' && s[i] != '\t' {
					cuts = append(cuts, start+i)
				}
			}
		}
	}
	return cuts
}

// cutRunes is the last resort for text without separators (a long token,
// CJK text): pieces of about c.size*4 bytes, cut at rune boundaries.
func (c *Chunker) cutRunes(text string, start, end int) []span {
	var out []span
	step := max(c.size*4, 4)
	for start < end {
		e := min(start+step, end)
		for e < end && !utf8.RuneStart(text[e]) {
			e++
		}
		out = append(out, span{start, e, c.count(text[start:e])})
		start = e
	}
	return out
}

// merge packs consecutive spans into chunks of at most c.size tokens. Each
// chunk after the first starts with the tail of the one before, up to
// c.overlap tokens, cut at a sentence boundary or, failing that, a word
// boundary.
func (c *Chunker) merge(text string, spans []span) []span {
	var out []span
	cur := span{start: -1}
	for _, sp := range spans {
		if cur.start >= 0 && cur.tokens+sp.tokens > c.size {
			out = append(out, cur)
			tail := c.tail(text, cur.start, cur.end, min(c.overlap, c.size-sp.tokens))
			if tail < cur.end {
				cur = span{tail, cur.end, c.count(text[tail:cur.end])}
			} else {
				cur = span{start: -1}
			}
		}
		if cur.start < 0 {
			cur = sp
			continue
		}
		cur.end = sp.end
		cur.tokens += sp.tokens
	}
	if cur.start >= 0 {
		out = append(out, cur)
	}
	return out
}

// tail returns the earliest sentence (or else word) boundary in
// (start, end) after which at most budget tokens remain; end when none.
func (c *Chunker) tail(text string, start, end, budget int) int {
	if budget <= 0 {
		return end
	}
	for _, level := range []int{bySentence, byWord} {
		for _, b := range boundaries(text, start, end, level) {
			if c.count(text[b:end]) <= budget {
				return b
			}
		}
	}
	return end
}
