package chunk_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/chunk"
	"github.com/keelai/keel/rag/load"
)

func words(n int, w string) string {
	return strings.TrimSpace(strings.Repeat(w+" ", n))
}

// invariants checks what every chunking must satisfy: offsets point at the
// text, chunks fit the size (allowing one unit's overshoot), and every
// non-space byte of the document is in some chunk.
func invariants(t *testing.T, doc *rag.Document, chunks []rag.Chunk, size int) {
	t.Helper()
	covered := make([]bool, len(doc.Text))
	for i, c := range chunks {
		if c.Index != i || c.ID != rag.ChunkID(doc.ID, i) || c.DocID != doc.ID {
			t.Errorf("chunk %d: id %q index %d doc %q", i, c.ID, c.Index, c.DocID)
		}
		if doc.Text[c.Start:c.End] != c.Text {
			t.Errorf("chunk %d: Text differs from Text[%d:%d]", i, c.Start, c.End)
		}
		if n := chunk.EstimateTokens(c.Text); n > size+size/4 {
			t.Errorf("chunk %d: %d tokens, target %d", i, n, size)
		}
		for j := c.Start; j < c.End; j++ {
			covered[j] = true
		}
	}
	for i, r := range doc.Text {
		if !covered[i] && !unicode.IsSpace(r) {
			t.Fatalf("byte %d (%q) is in no chunk", i, doc.Text[i:min(i+20, len(doc.Text))])
		}
	}
}

func TestHeadingPaths(t *testing.T) {
	src := "# Guide\n\nIntro.\n\n## Streaming\n\n" + words(60, "stream") + "\n\n### Cancel\n\nCancel the context.\n\n## Retries\n\nBack off.\n"
	doc, err := load.Markdown([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	doc.ID = "g.md"
	chunks := chunk.New(chunk.Options{Size: 100}).Chunk(&doc)
	invariants(t, &doc, chunks, 100)
	type view struct {
		Path  string
		Start string
	}
	var got []view
	for _, c := range chunks {
		got = append(got, view{strings.Join(c.Headings, "/"), c.Text[:min(12, len(c.Text))]})
	}
	want := []view{
		{"Guide", "# Guide\n\nInt"},
		{"Guide/Streaming", "## Streaming"},
		{"Guide/Streaming", "stream strea"},
		{"Guide/Streaming/Cancel", "### Cancel\n\n"},
		{"Guide/Retries", "## Retries\n\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

func TestSmallSectionStaysWhole(t *testing.T) {
	doc, _ := load.Markdown([]byte("# A\n\nOne.\n\n## B\n\nTwo.\n"))
	chunks := chunk.New(chunk.Options{}).Chunk(&doc)
	if len(chunks) != 1 || chunks[0].Text != "# A\n\nOne.\n\n## B\n\nTwo." || cmp.Diff([]string{"A"}, chunks[0].Headings) != "" {
		t.Errorf("chunks %+v, want the whole document under A", chunks)
	}
}

func TestSplitsAndOverlaps(t *testing.T) {
	sentence := func(i int) string { return fmt.Sprintf("Sentence number %d says something about topic %d.", i, i) }
	var paras []string
	for p := range 6 {
		var ss []string
		for s := range 8 {
			ss = append(ss, sentence(p*8+s))
		}
		paras = append(paras, strings.Join(ss, " "))
	}
	tests := []struct {
		name    string
		text    string
		opts    chunk.Options
		overlap bool
	}{
		{"paragraphs", strings.Join(paras, "\n\n"), chunk.Options{Size: 150, Overlap: 20}, true},
		{"one long paragraph", strings.Join(paras, " "), chunk.Options{Size: 60, Overlap: 15}, true},
		{"no overlap", strings.Join(paras, " "), chunk.Options{Size: 60, Overlap: -1}, false},
		{"one huge word", strings.Repeat("x", 5000), chunk.Options{Size: 50}, false},
		{"CJK without spaces", strings.Repeat("検索拡張生成", 400), chunk.Options{Size: 50}, false},
		{"lines", strings.Repeat("line of code here\n", 200), chunk.Options{Size: 40}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := rag.Document{ID: "d", Text: tt.text}
			chunks := chunk.New(tt.opts).Chunk(&doc)
			if len(chunks) < 2 {
				t.Fatalf("%d chunks, want several", len(chunks))
			}
			invariants(t, &doc, chunks, tt.opts.Size)
			overlapped := false
			for i := 1; i < len(chunks); i++ {
				if chunks[i].Start < chunks[i-1].End {
					overlapped = true
				}
				if chunks[i].Start <= chunks[i-1].Start {
					t.Errorf("chunk %d starts at %d, not after chunk %d at %d", i, chunks[i].Start, i-1, chunks[i-1].Start)
				}
			}
			if want := tt.overlap; overlapped != want {
				t.Errorf("overlap seen %v, want %v", overlapped, want)
			}
		})
	}
}

func TestEmptyAndFingerprint(t *testing.T) {
	if got := chunk.New(chunk.Options{}).Chunk(&rag.Document{ID: "e", Text: " \n\n "}); len(got) != 0 {
		t.Errorf("blank document gave %d chunks", len(got))
	}
	if chunk.New(chunk.Options{Size: 100}).Fingerprint() == chunk.New(chunk.Options{Size: 200}).Fingerprint() {
		t.Error("fingerprints of different sizes are equal")
	}
}

func FuzzChunk(f *testing.F) {
	f.Add("# A\n\ntext. More text.\n\n## B\n\n```\ncode # not a heading\n```\n", 20)
	f.Add(strings.Repeat("word ", 300), 30)
	f.Add("é\n\n\n\n. . . ! ?", 1)
	f.Fuzz(func(t *testing.T, src string, size int) {
		doc, err := load.Markdown([]byte(src))
		if err != nil {
			return
		}
		doc.ID = "f"
		size = 1 + abs(size)%400
		chunks := chunk.New(chunk.Options{Size: size}).Chunk(&doc)
		for i, c := range chunks {
			if c.Start < 0 || c.End > len(doc.Text) || c.Start >= c.End || doc.Text[c.Start:c.End] != c.Text {
				t.Fatalf("chunk %d: bad offsets %d..%d of %d", i, c.Start, c.End, len(doc.Text))
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
