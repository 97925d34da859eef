package config

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/keelai/keel/llm"
)

// Error is a problem with a config file, located as precisely as Keel can:
// the file, the line and column (0 when unknown) and the field, a dotted
// path such as models.fast.provider ("" for the whole file).
type Error struct {
	File   string
	Line   int
	Column int
	Field  string
	Msg    string
}

// Error returns one line: file:line:col: field: message. Anything shaped
// like a key is redacted, since names and messages come from the file.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return llm.Redact(b.String())
}

// ExtensionPrefix starts the names of fields Keel ignores, as in Docker
// Compose files: a place for YAML anchors shared by several entries
// (x-defaults: &defaults ...) and for other tools' settings.
const ExtensionPrefix = "x-"

// maxDepth bounds the nesting Parse accepts; Keel's schema is four levels
// deep, so anything far deeper is garbage or an attack on the stack.
const maxDepth = 64

// Parse decodes and validates a config file's content. name is used in
// errors (the file's path). Parse does not look at the environment or the
// file system.
func Parse(name string, data []byte) (*Config, error) {
	if name == "" {
		name = DefaultFile
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(name, nil, err)
	}
	c := &Config{File: name}
	var docs []ast.Node
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			if _, isComment := d.Body.(*ast.CommentGroupNode); !isComment {
				docs = append(docs, d.Body)
			}
		}
	}
	switch {
	case len(docs) == 0:
		return c, nil
	case len(docs) > 1:
		return nil, &Error{File: name, Line: line(docs[1]), Column: column(docs[1]), Msg: "more than one YAML document; want one"}
	}
	body := docs[0]
	switch body.(type) {
	case *ast.NullNode:
		return c, nil
	case *ast.MappingNode, *ast.MappingValueNode:
	default:
		return nil, &Error{File: name, Line: line(body), Column: column(body), Msg: fmt.Sprintf("want a mapping of sections (providers, models, server, limits, storage, guard, logging, routing, rag), got %s", body.Type().YAMLName())}
	}
	ix := newIndex()
	if err := ix.walk(body, "", 0); err != nil {
		err.File = name
		return nil, err
	}
	if err := yaml.NodeToValue(body, c, yaml.Strict(), yaml.AllowFieldPrefixes(ExtensionPrefix)); err != nil {
		return nil, yamlError(name, ix, err)
	}
	c.File = name
	c.setDefaults()
	if probs := c.validate(); len(probs) > 0 {
		return nil, ix.first(name, probs)
	}
	return c, nil
}

func line(n ast.Node) int {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return t.Position.Line
	}
	return 0
}

func column(n ast.Node) int {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return t.Position.Column
	}
	return 0
}

// yamlError turns a go-yaml error into an *Error. It uses the message and
// the position only: go-yaml's own rendering quotes the source line, which
// may hold a key.
func yamlError(name string, ix *index, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &Error{File: name, Msg: llm.Redact(err.Error())}
	}
	e := &Error{File: name, Msg: llm.Redact(ye.GetMessage())}
	tok := ye.GetToken()
	if tok != nil && tok.Position != nil {
		e.Line, e.Column = tok.Position.Line, tok.Position.Column
		if ix != nil {
			e.Field = ix.byPos[pos{e.Line, e.Column}]
		}
	}
	var unknown *yaml.UnknownFieldError
	var typeErr *yaml.TypeError
	switch {
	case errors.As(err, &unknown):
		// The field path ends with the unknown key; name its parent and
		// list what is allowed there instead.
		parent, key := splitLast(e.Field)
		e.Field = parent
		e.Msg = fmt.Sprintf("unknown field %q", key)
		if allowed := fieldsAt(parent); len(allowed) > 0 {
			e.Msg += " (want " + strings.Join(allowed, ", ") + ")"
		}
		if key == "" {
			e.Msg = llm.Redact(ye.GetMessage())
		}
	case errors.As(err, &typeErr):
		e.Msg = fmt.Sprintf("want %s, got %s", kindName(typeErr.DstType), kindName(typeErr.SrcType))
	}
	return e
}

// kindName describes a Go type in YAML terms for error messages.
func kindName(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	if t.String() == "time.Duration" {
		return "a duration such as 30s"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return t.String()
}

var durationType = reflect.TypeFor[time.Duration]()

// typeAt returns the Go type of the field at a dotted path of Config, or
// nil when the path leads nowhere.
func typeAt(path string) reflect.Type {
	t := reflect.TypeFor[Config]()
	if path == "" {
		return t
	}
	for seg := range strings.SplitSeq(path, ".") {
		if i := strings.IndexByte(seg, '['); i >= 0 {
			seg = seg[:i]
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByTag(t, seg)
			if !ok {
				return nil
			}
			t = f.Type
		case reflect.Map:
			t = t.Elem()
		default:
			return nil
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return t
}

// fieldsAt lists the YAML field names allowed at a dotted path of Config,
// or nil when the path does not lead to a struct.
func fieldsAt(path string) []string {
	t := typeAt(path)
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Fields() {
		if tag := yamlName(f); tag != "" {
			names = append(names, tag)
		}
	}
	return names
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" {
		return ""
	}
	return tag
}

func splitLast(path string) (parent, last string) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", path
	}
	return path[:i], path[i+1:]
}

type pos struct{ line, col int }

// index maps YAML positions to dotted field paths and back, so that errors
// from the decoder (which know a position) and from validation (which know
// a path) can name both.
type index struct {
	byPos  map[pos]string
	byPath map[string]pos
}

func newIndex() *index {
	return &index{byPos: map[pos]string{}, byPath: map[string]pos{}}
}

func (ix *index) record(n ast.Node, path string) {
	if n == nil {
		return
	}
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return
	}
	p := pos{t.Position.Line, t.Position.Column}
	if _, ok := ix.byPos[p]; !ok {
		ix.byPos[p] = path
	}
	if _, ok := ix.byPath[path]; !ok {
		ix.byPath[path] = p
	}
}

// walk indexes the tree under n, whose field path is path. It also checks
// durations, because go-yaml reports a bad one without its position.
func (ix *index) walk(n ast.Node, path string, depth int) *Error {
	if depth > maxDepth {
		return &Error{Line: line(n), Column: column(n), Field: path, Msg: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, v := range n.Values {
			if err := ix.walk(v, path, depth+1); err != nil {
				return err
			}
		}
	case *ast.MappingValueNode:
		if n.Key == nil || n.Key.IsMergeKey() {
			return ix.walk(n.Value, path, depth+1)
		}
		child := n.Key.GetToken().Value
		if path != "" {
			child = path + "." + child
		}
		ix.record(n.Key, child)
		ix.record(n.Value, child)
		if s, ok := n.Value.(*ast.StringNode); ok && typeAt(child) == durationType {
			if _, err := time.ParseDuration(s.Value); err != nil {
				return &Error{Line: line(s), Column: column(s), Field: child, Msg: "want a duration such as 30s or 1m30s"}
			}
		}
		return ix.walk(n.Value, child, depth+1)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			p := fmt.Sprintf("%s[%d]", path, i)
			ix.record(v, p)
			if err := ix.walk(v, p, depth+1); err != nil {
				return err
			}
		}
	case *ast.AnchorNode:
		ix.record(n.Value, path)
		return ix.walk(n.Value, path, depth+1)
	case *ast.TagNode:
		ix.record(n.Value, path)
		return ix.walk(n.Value, path, depth+1)
	}
	return nil
}

// locate returns the position of path, or of its nearest ancestor that
// appears in the file.
func (ix *index) locate(path string) pos {
	for {
		if p, ok := ix.byPath[path]; ok {
			return p
		}
		if path == "" {
			return pos{}
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

// problem is a validation failure at a field.
type problem struct {
	field string
	msg   string
}

// first returns the problem that comes first in the file.
func (ix *index) first(name string, probs []problem) *Error {
	errs := make([]*Error, len(probs))
	for i, p := range probs {
		at := ix.locate(p.field)
		errs[i] = &Error{File: name, Line: at.line, Column: at.col, Field: p.field, Msg: p.msg}
	}
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return errs[0]
}
