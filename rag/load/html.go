package load

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/keelai/keel/rag"
)

// HTML loads the main text of an HTML page: the first <main> (or,
// failing that, <article>, then <body>), without scripts, styles,
// navigation, headers, footers, asides and forms. Block elements become
// paragraphs, <h1>–<h6> become Headings, and the <title> (or the first
// <h1>) becomes the Title.
func HTML(data []byte) (rag.Document, error) {
	if err := checkText(data); err != nil {
		return rag.Document{}, err
	}
	root, err := html.Parse(bytes.NewReader(data))
	if err != nil {
		return rag.Document{}, err
	}
	var title string
	if t := find(root, atom.Title); t != nil {
		title = collapse(textOf(t))
	}
	body := find(root, atom.Main)
	if body == nil {
		body = find(root, atom.Article)
	}
	if body == nil {
		body = find(root, atom.Body)
	}
	if body == nil {
		body = root
	}
	var w htmlWriter
	w.walk(body)
	doc := rag.Document{Title: title, Text: strings.TrimRight(w.b.String(), "\n") + "\n", Headings: w.heads}
	if strings.TrimSpace(doc.Text) == "" {
		return rag.Document{}, ErrNoText
	}
	if doc.Title == "" {
		for _, h := range doc.Headings {
			if h.Level == 1 {
				doc.Title = h.Text
				break
			}
		}
	}
	return doc, nil
}

func find(n *html.Node, a atom.Atom) *html.Node {
	if n.Type == html.ElementNode && n.DataAtom == a {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, a); f != nil {
			return f
		}
	}
	return nil
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// htmlWriter renders the text of an element tree: inline text with its
// white space collapsed, a blank line between blocks.
type htmlWriter struct {
	b     strings.Builder
	heads []rag.Heading
	// space is true when a space is owed before the next inline text.
	space bool
	pre   int
}

func skipped(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Noscript, atom.Nav, atom.Header, atom.Footer, atom.Aside,
		atom.Form, atom.Svg, atom.Template, atom.Iframe, atom.Button, atom.Select, atom.Head:
		return true
	}
	return false
}

func block(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Section, atom.Article, atom.Main, atom.Blockquote, atom.Pre,
		atom.Ul, atom.Ol, atom.Li, atom.Dl, atom.Dt, atom.Dd, atom.Table, atom.Tr, atom.Figure,
		atom.Figcaption, atom.Hr, atom.Details, atom.Summary, atom.Address,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		return true
	}
	return false
}

func headingLevel(a atom.Atom) int {
	switch a {
	case atom.H1:
		return 1
	case atom.H2:
		return 2
	case atom.H3:
		return 3
	case atom.H4:
		return 4
	case atom.H5:
		return 5
	case atom.H6:
		return 6
	}
	return 0
}

// paragraph ends the current block with a blank line (once).
func (w *htmlWriter) paragraph() {
	s := w.b.String()
	if s == "" || strings.HasSuffix(s, "\n\n") {
		w.space = false
		return
	}
	if strings.HasSuffix(s, "\n") {
		w.b.WriteString("\n")
	} else {
		w.b.WriteString("\n\n")
	}
	w.space = false
}

func (w *htmlWriter) walk(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		w.text(n.Data)
		return
	case html.ElementNode:
		if skipped(n.DataAtom) {
			return
		}
	case html.CommentNode, html.DoctypeNode:
		return
	}
	if n.Type == html.ElementNode {
		switch {
		case n.DataAtom == atom.Br:
			w.b.WriteString("\n")
			w.space = false
			return
		case headingLevel(n.DataAtom) > 0:
			w.paragraph()
			t := collapse(textOf(n))
			if t != "" {
				w.heads = append(w.heads, rag.Heading{Level: headingLevel(n.DataAtom), Text: t, Start: w.b.Len()})
				w.b.WriteString(t)
			}
			w.paragraph()
			return
		case block(n.DataAtom):
			w.paragraph()
			if n.DataAtom == atom.Li {
				w.b.WriteString("- ")
			}
		case n.DataAtom == atom.Td || n.DataAtom == atom.Th:
			w.space = true
		}
		if n.DataAtom == atom.Pre {
			w.pre++
			defer func() { w.pre-- }()
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
	if n.Type == html.ElementNode && block(n.DataAtom) {
		w.paragraph()
	}
}

func (w *htmlWriter) text(s string) {
	if w.pre > 0 {
		w.b.WriteString(s)
		return
	}
	if s != "" && isSpace(s[0]) {
		w.space = true
	}
	fields := strings.Fields(s)
	for i, f := range fields {
		if (w.space || i > 0) && w.b.Len() > 0 && !strings.HasSuffix(w.b.String(), "\n") && !strings.HasSuffix(w.b.String(), "- ") {
			w.b.WriteByte(' ')
		}
		w.b.WriteString(f)
		w.space = false
	}
	if s != "" && isSpace(s[len(s)-1]) {
		w.space = true
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' }
