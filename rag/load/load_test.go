package load_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/load"
)

// makePDF builds a minimal one-page PDF showing text with Helvetica, or a
// page with no text at all when text is empty.
func makePDF(text string) []byte {
	content := ""
	if text != "" {
		content = fmt.Sprintf("BT /F1 12 Tf 72 720 Td (%s) Tj ET", text)
	}
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

func write(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFolder(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string][]byte{
		"guide.md":          []byte("---\ntitle: The Guide\ntags: [a, b]\nweight: 3\n---\n# Ignored title\n\nBody.\n\n## Part\n\nMore.\n"),
		"notes.txt":         []byte("plain\r\nnotes\n"),
		"site/page.html":    []byte("<html><head><title>Page</title><script>x()</script></head><body><nav>menu</nav><main><h1>Hello</h1><p>World <b>bold</b>.</p></main><footer>f</footer></body></html>"),
		"paper.pdf":         makePDF("Hello from a PDF"),
		"data/recs.jsonl":   []byte(`{"_id": 7, "title": "Seven", "text": "seven", "year": 2020, "tags": ["x"]}` + "\n\n" + `{"id": "eight", "text": "eight"}` + "\n"),
		"drafts/skip.md":    []byte("# skip"),
		".hidden/secret.md": []byte("# secret"),
		"image.png":         {0x89, 'P', 'N', 'G', 0},
	})
	var seen []string
	docs, err := load.Path(context.Background(), dir, load.Options{Exclude: []string{"drafts/**"}, OnFile: func(p string, n int) { seen = append(seen, filepath.Base(p)) }})
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		ID, Title, Text string
		Headings        []rag.Heading
		Metadata        map[string]string
	}
	var got []view
	for _, d := range docs {
		if d.Hash != d.ContentHash() {
			t.Errorf("%s: hash not set", d.ID)
		}
		got = append(got, view{d.ID, d.Title, d.Text, d.Headings, d.Metadata})
	}
	want := []view{
		{"7", "Seven", "seven", nil, map[string]string{"year": "2020", "tags": `["x"]`}},
		{"eight", "", "eight", nil, nil},
		{"guide.md", "The Guide", "# Ignored title\n\nBody.\n\n## Part\n\nMore.\n",
			[]rag.Heading{{Level: 1, Text: "Ignored title", Start: 0}, {Level: 2, Text: "Part", Start: 24}},
			map[string]string{"tags": `["a","b"]`, "weight": "3"}},
		{"notes.txt", "notes", "plain\nnotes\n", nil, nil},
		{"paper.pdf", "paper", "Hello from a PDF\n", nil, map[string]string{"pages": "1"}},
		{"site/page.html", "Page", "Hello\n\nWorld bold.\n", []rag.Heading{{Level: 1, Text: "Hello", Start: 0}}, nil},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
	if len(seen) != 5 {
		t.Errorf("OnFile saw %v, want 5 files", seen)
	}
	inc, err := load.Path(context.Background(), dir, load.Options{Include: []string{"*.md"}})
	if err != nil || len(inc) != 2 {
		t.Errorf("include *.md: %d docs, %v; want 2 (guide.md and drafts/skip.md)", len(inc), err)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string][]byte{
		"empty.txt":     {},
		"blank.md":      []byte(" \n\n"),
		"binary.txt":    {'a', 0, 1, 2, 0xff},
		"latin1.txt":    {'c', 'a', 'f', 0xe9},
		"scan.pdf":      makePDF(""),
		"broken.pdf":    []byte("%PDF-1.4\n1 0 obj <<< garbage"),
		"fake.pdf":      []byte("hello"),
		"bad.jsonl":     []byte(`{"id": "1", "text": "ok"}` + "\n" + `{"id": "2", "text": ` + "\n"),
		"noid.jsonl":    []byte(`{"text": "x"}`),
		"dup.jsonl":     []byte(`{"id": 1, "text": "x"}` + "\n" + `{"id": "1", "text": "y"}`),
		"notext.jsonl":  []byte(`{"id": 1, "text": ""}`),
		"array.jsonl":   []byte(`[1, 2]`),
		"unclosed.md":   []byte("---\ntitle: x\n# body"),
		"badyaml.md":    []byte("---\ntitle: [unclosed\n---\nbody"),
		"onlyfront.md":  []byte("---\ntitle: x\n---\n"),
		"empty.html":    []byte("<html><body><script>x</script></body></html>"),
		"big/large.txt": bytes.Repeat([]byte("a"), 2048),
	})
	tests := []struct {
		file string
		is   error
		want string // in the message
	}{
		{"empty.txt", load.ErrEmpty, "empty.txt: empty file"},
		{"blank.md", load.ErrEmpty, "blank.md: empty file"},
		{"binary.txt", load.ErrBinary, "binary.txt: binary file"},
		{"latin1.txt", load.ErrBinary, "latin1.txt: binary file"},
		{"scan.pdf", load.ErrNoText, "scan.pdf: no extractable text"},
		{"broken.pdf", nil, "broken.pdf: malformed PDF"},
		{"fake.pdf", nil, "fake.pdf: not a PDF"},
		{"bad.jsonl", nil, "bad.jsonl:2: invalid JSON"},
		{"noid.jsonl", nil, `noid.jsonl:1: no "id" or "_id" field`},
		{"dup.jsonl", nil, `dup.jsonl:2: id "1" repeats line 1`},
		{"notext.jsonl", nil, `notext.jsonl:1: no "text" field`},
		{"array.jsonl", nil, "array.jsonl:1: invalid JSON"},
		{"unclosed.md", nil, "unclosed.md: front matter: no closing ---"},
		{"badyaml.md", nil, "badyaml.md:2: front matter"},
		{"onlyfront.md", load.ErrEmpty, "onlyfront.md: empty file: nothing after the front matter"},
		{"empty.html", load.ErrNoText, "empty.html: no extractable text"},
		{"big/large.txt", load.ErrTooLarge, "large.txt: file too large: 2048 bytes, the limit is 1024 bytes"},
		{"missing.txt", nil, "missing.txt: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			docs, err := load.Path(context.Background(), filepath.Join(dir, tt.file), load.Options{MaxFileSize: 1024})
			if err == nil {
				t.Fatalf("loaded %d documents, want an error", len(docs))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			var le *load.Error
			if !errors.As(err, &le) || !strings.HasSuffix(le.Path, filepath.FromSlash(tt.file)) {
				t.Errorf("error %v does not name the file", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	// A folder with bad files reports every one and loads nothing.
	docs, err := load.Path(context.Background(), dir, load.Options{MaxFileSize: 1024})
	if err == nil || len(docs) != 0 {
		t.Fatalf("folder: %d docs, %v", len(docs), err)
	}
	for _, f := range []string{"empty.txt", "bad.jsonl:2", "scan.pdf", "large.txt"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("folder error does not mention %s:\n%v", f, err)
		}
	}
}

func TestBadGlob(t *testing.T) {
	if _, err := load.Path(context.Background(), t.TempDir(), load.Options{Include: []string{"[unclosed"}}); err == nil || !strings.Contains(err.Error(), "[unclosed") {
		t.Errorf("bad glob: %v", err)
	}
}

func FuzzMarkdown(f *testing.F) {
	f.Add([]byte("---\ntitle: T\ntags: [a]\n---\n# H\n\nbody\n\nSetext\n===\n"))
	f.Add([]byte("---\n: :\n---\n"))
	f.Add([]byte("```\n# not\n```\n## real\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := load.Markdown(data)
		if err != nil {
			return
		}
		last := 0
		for _, h := range doc.Headings {
			if h.Start < last || h.Start > len(doc.Text) || h.Level < 1 || h.Level > 6 {
				t.Fatalf("heading %+v out of order or range (text %d bytes)", h, len(doc.Text))
			}
			last = h.Start
		}
	})
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte(`{"_id": "1", "title": "t", "text": "x", "m": {"a": 1}}` + "\n" + `{"id": 2, "text": "y"}`))
	f.Add([]byte(`{"id": null}`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := load.JSONL("f.jsonl", data)
		if err != nil {
			var le *load.Error
			if !errors.As(err, &le) || le.Path != "f.jsonl" {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		for _, d := range docs {
			if d.ID == "" || (d.Text == "" && d.Title == "") {
				t.Fatalf("document without id or content: %+v", d)
			}
		}
	})
}

func FuzzHTML(f *testing.F) {
	f.Add([]byte("<html><title>T</title><body><main><h2>A</h2><p>x<br>y</p><pre> a\n  b</pre></main></body></html>"))
	f.Add([]byte("<h1></h1><h3>deep</h3><li>item"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := load.HTML(data)
		if err != nil {
			return
		}
		for _, h := range doc.Headings {
			if h.Start < 0 || h.Start > len(doc.Text) || !strings.HasPrefix(doc.Text[h.Start:], h.Text) {
				t.Fatalf("heading %+v does not point at its text", h)
			}
		}
	})
}

func FuzzPDF(f *testing.F) {
	f.Add(makePDF("Hello"))
	f.Add(makePDF(""))
	f.Add([]byte("%PDF-1.7\ntrailer << /Root 1 0 R >>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		load.PDF(data) // must not panic
	})
}
