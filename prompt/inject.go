package prompt

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"text/template"
)

// Untrusted text (retrieved documents, user input, tool output) is shown to
// the model inside XML-style elements. Every character that could end or
// fake an element (<, >, &, and quotes in attributes) is escaped as an XML
// entity, so no text can close its element, open a new one, or forge an
// attribute: escaping, not hoping that the text is benign. Models read the
// entities as the characters they stand for.

// Doc is one retrieved document to show the model.
type Doc struct {
	// Source says where the text comes from (a path, URL or title).
	Source string
	// Text is the document's content.
	Text string
}

// Escape escapes s for use inside an element or an attribute value.
func Escape(s string) string { return html.EscapeString(s) }

// Element renders text inside <tag index="N" source="S">…</tag>, the
// text escaped. index 0 and an empty source are left out. tag must be a
// fixed XML name chosen by the program, never untrusted text; Element
// panics otherwise, because a bad tag is a programming error.
func Element(tag string, index int, source, text string) string {
	var attrs []Attr
	if index > 0 {
		attrs = append(attrs, Attr{"index", strconv.Itoa(index)})
	}
	if source != "" {
		attrs = append(attrs, Attr{"source", source})
	}
	return ElementWith(tag, attrs, text)
}

// Attr is an attribute of an element. Its name is chosen by the program;
// its value may be untrusted and is escaped.
type Attr struct{ Name, Value string }

// ElementWith renders text inside <tag name="value" …>…</tag> with the
// attributes in order, every value and the text escaped, so that neither
// can close the element or forge another. tag and the attribute names
// must be XML names chosen by the program; ElementWith panics otherwise.
func ElementWith(tag string, attrs []Attr, text string) string {
	if !validTag(tag) {
		panic(fmt.Sprintf("prompt.Element: %q is not an XML name", tag))
	}
	n := len(text) + 2*len(tag) + 8
	for _, a := range attrs {
		if !validTag(a.Name) {
			panic(fmt.Sprintf("prompt.Element: attribute %q is not an XML name", a.Name))
		}
		n += len(a.Name) + len(a.Value) + 4
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString("<" + tag)
	for _, a := range attrs {
		b.WriteString(" " + a.Name + `="` + Escape(a.Value) + `"`)
	}
	b.WriteString(">\n")
	b.WriteString(Escape(text))
	b.WriteString("\n</" + tag + ">")
	return b.String()
}

func validTag(tag string) bool {
	if tag == "" {
		return false
	}
	for i, r := range tag {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// Documents renders retrieved documents as <document index="1"
// source="…"> elements, numbered from 1, inside one <documents> element.
func Documents(docs ...Doc) string {
	var b strings.Builder
	b.WriteString("<documents>\n")
	for i, d := range docs {
		b.WriteString(Element("document", i+1, d.Source, d.Text))
		b.WriteString("\n")
	}
	b.WriteString("</documents>")
	return b.String()
}

// UserInput renders text a user typed as a <user_input> element.
func UserInput(text string) string { return Element("user_input", 0, "", text) }

// ToolOutput renders what a tool returned as a <tool_output> element
// whose source is the tool's name.
func ToolOutput(tool, text string) string { return Element("tool_output", 0, tool, text) }

// funcs are the injection helpers available in prompt templates:
//
//	{{untrusted .question}}   a <user_input> element
//	{{documents .docs}}       <documents> from []Doc, []string or a string
//	{{tool "search" .out}}    a <tool_output source="search"> element
//	{{escape .x}}             the text escaped, without delimiters
var funcs = template.FuncMap{
	"untrusted": func(v any) string { return UserInput(fmt.Sprint(v)) },
	"documents": func(v any) (string, error) {
		switch v := v.(type) {
		case []Doc:
			return Documents(v...), nil
		case Doc:
			return Documents(v), nil
		case []string:
			docs := make([]Doc, len(v))
			for i, t := range v {
				docs[i] = Doc{Text: t}
			}
			return Documents(docs...), nil
		case []any:
			docs := make([]Doc, len(v))
			for i, t := range v {
				docs[i] = Doc{Text: fmt.Sprint(t)}
			}
			return Documents(docs...), nil
		case string:
			return Documents(Doc{Text: v}), nil
		}
		return "", fmt.Errorf("documents: want []prompt.Doc, []string or a string, got %T", v)
	},
	"tool":   func(name string, v any) string { return ToolOutput(name, fmt.Sprint(v)) },
	"escape": func(v any) string { return Escape(fmt.Sprint(v)) },
}
