package load

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/ledongthuc/pdf"

	"github.com/keelai/keel/rag"
)

// PDF extracts the text of a PDF with github.com/ledongthuc/pdf (pure Go),
// one paragraph per page. The library panics on some malformed files: the
// panic is recovered and reported as an error, so one bad PDF fails its own
// load and nothing else. Encrypted PDFs and PDFs without a text layer
// (scans) are errors.
func PDF(data []byte) (doc rag.Document, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return rag.Document{}, ErrEmpty
	}
	if !bytes.HasPrefix(bytes.TrimLeft(data, "\x00\t\r\n "), []byte("%PDF-")) {
		return rag.Document{}, fmt.Errorf("not a PDF (no %%PDF- header)")
	}
	defer func() {
		if p := recover(); p != nil {
			doc, err = rag.Document{}, fmt.Errorf("malformed PDF: %v", p)
		}
	}()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return rag.Document{}, fmt.Errorf("malformed PDF: %w", err)
	}
	var b strings.Builder
	fonts := map[string]*pdf.Font{}
	for i := 1; i <= r.NumPage(); i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		for _, name := range p.Fonts() {
			if _, ok := fonts[name]; !ok {
				f := p.Font(name)
				fonts[name] = &f
			}
		}
		t, err := p.GetPlainText(fonts)
		if err != nil {
			return rag.Document{}, fmt.Errorf("page %d: %w", i, err)
		}
		t = strings.TrimSpace(strings.ReplaceAll(t, "\r\n", "\n"))
		if t == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(t)
	}
	if strings.TrimSpace(b.String()) == "" {
		return rag.Document{}, fmt.Errorf("%w: the PDF has no text layer (a scan needs OCR first)", ErrNoText)
	}
	doc.Text = b.String() + "\n"
	if title := r.Trailer().Key("Info").Key("Title").Text(); strings.TrimSpace(title) != "" {
		doc.Title = strings.TrimSpace(title)
	}
	doc.Metadata = map[string]string{"pages": fmt.Sprint(r.NumPage())}
	return doc, nil
}
