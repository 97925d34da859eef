package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"

	"github.com/keelai/keel/rag"
)

// Markdown loads a Markdown document: YAML front matter (between `---`
// lines at the very top) becomes Title (its `title`) and Metadata (the
// rest); Text is the body after it; Headings come from the CommonMark
// parse (ATX and setext headings, never a `#` inside a code block). The
// title defaults to the first level-1 heading.
func Markdown(data []byte) (rag.Document, error) {
	if err := checkText(data); err != nil {
		return rag.Document{}, err
	}
	src := normalise(string(data))
	meta, body, err := frontMatter(src)
	if err != nil {
		return rag.Document{}, err
	}
	if strings.TrimSpace(body) == "" {
		return rag.Document{}, fmt.Errorf("%w: nothing after the front matter", ErrEmpty)
	}
	doc := rag.Document{Text: body, Metadata: meta, Headings: headings(body)}
	if t, ok := meta["title"]; ok {
		doc.Title = t
		delete(meta, "title")
	}
	if len(meta) == 0 {
		doc.Metadata = nil
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

// frontMatter splits YAML front matter from the body. The front matter's
// line count is reported in errors so the user can find the field.
func frontMatter(src string) (map[string]string, string, error) {
	if !strings.HasPrefix(src, "---\n") {
		return nil, src, nil
	}
	rest := src[len("---\n"):]
	var fm, body string
	switch {
	case strings.HasPrefix(rest, "---\n"):
		fm, body = "", rest[len("---\n"):]
	case strings.HasPrefix(rest, "---") && len(rest) == 3:
		fm, body = "", ""
	default:
		end := strings.Index(rest, "\n---\n")
		switch {
		case end >= 0:
			fm, body = rest[:end], rest[end+len("\n---\n"):]
		case strings.HasSuffix(rest, "\n---"):
			fm, body = rest[:len(rest)-len("\n---")], ""
		default:
			return nil, "", fmt.Errorf("front matter: no closing --- line")
		}
	}
	raw := map[string]any{}
	if strings.TrimSpace(fm) != "" {
		if err := yaml.Unmarshal([]byte(fm), &raw); err != nil {
			return nil, "", &Error{Line: 2, Err: fmt.Errorf("front matter: %s", firstLine(err.Error()))}
		}
	}
	meta := make(map[string]string, len(raw))
	for k, v := range raw {
		s, err := metaString(v)
		if err != nil {
			return nil, "", fmt.Errorf("front matter field %q: %w", k, err)
		}
		meta[k] = s
	}
	return meta, body, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// metaString keeps strings as they are and encodes anything else as JSON.
func metaString(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// jsonable converts YAML's map[any]any (and nested values) into types
// encoding/json accepts.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonable(x)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(k)] = jsonable(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonable(x)
		}
		return out
	}
	return v
}

// headings parses body as CommonMark and returns its headings with the
// offset of the line each starts on.
func headings(body string) []rag.Heading {
	src := []byte(body)
	root := goldmark.New().Parser().Parse(text.NewReader(src))
	var out []rag.Heading
	ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		h, ok := n.(*ast.Heading)
		if !entering || !ok {
			return ast.WalkContinue, nil
		}
		lines := h.Lines()
		if lines.Len() == 0 {
			return ast.WalkSkipChildren, nil
		}
		start := lines.At(0).Start
		start = bytes.LastIndexByte(src[:start], '\n') + 1
		out = append(out, rag.Heading{Level: h.Level, Text: inlineText(h, src), Start: start})
		return ast.WalkSkipChildren, nil
	})
	return out
}

// inlineText returns the plain text of an inline container (emphasis,
// links and code spans unwrapped).
func inlineText(n ast.Node, src []byte) string {
	var b strings.Builder
	ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(src))
			if c.SoftLineBreak() || c.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return strings.TrimSpace(b.String())
}
