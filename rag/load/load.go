// Package load turns files into rag.Documents: plain text, Markdown (YAML
// front matter and headings), HTML (the main text), PDF (pure-Go text
// extraction) and JSONL (one document a line, `id` or `_id`, `title`,
// `text`, other fields as metadata), and folders of them, recursively, with
// include and exclude globs.
//
// Every failure names the file (and the line, for JSONL); nothing is
// half-loaded: Path returns documents only when every file loaded.
//
//	docs, err := load.Path(ctx, "./docs", load.Options{Exclude: []string{"**/drafts/**"}})
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/keelai/keel/rag"
)

// DefaultMaxFileSize is the largest file loaded unless Options say
// otherwise: bigger files are refused with an error rather than read into
// memory whole.
const DefaultMaxFileSize = 64 << 20

// Options configure loading.
type Options struct {
	// Include, when not empty, loads only files whose path relative to the
	// root (slash-separated) matches one of these globs; `**` matches any
	// number of folders. A pattern without a slash also matches the base
	// name ("*.md").
	Include []string
	// Exclude skips files (and whole folders) matching any of these globs,
	// with the same rules. Hidden files and folders (".git") are always
	// skipped in folder walks.
	Exclude []string
	// MaxFileSize refuses bigger files; 0 means DefaultMaxFileSize.
	MaxFileSize int64
	// OnFile, when set, is called after each file is loaded (for progress
	// bars).
	OnFile func(path string, docs int)
}

// Error is a failure to load a file, naming it and, when known, the line.
type Error struct {
	Path string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return e.Path + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errors that callers may test for with errors.Is.
var (
	ErrEmpty    = errors.New("empty file")
	ErrBinary   = errors.New("binary file: not UTF-8 text")
	ErrTooLarge = errors.New("file too large")
	ErrNoText   = errors.New("no extractable text")
)

// Kinds of file, by extension.
const (
	KindText     = "text"
	KindMarkdown = "markdown"
	KindHTML     = "html"
	KindPDF      = "pdf"
	KindJSONL    = "jsonl"
)

// KindOf returns the loader for a file name by its extension, or "" when
// the extension is not one Keel loads.
func KindOf(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".txt", ".text", ".rst", ".adoc", ".org":
		return KindText
	case ".md", ".markdown", ".mdx":
		return KindMarkdown
	case ".html", ".htm", ".xhtml":
		return KindHTML
	case ".pdf":
		return KindPDF
	case ".jsonl", ".ndjson":
		return KindJSONL
	}
	return ""
}

// Path loads a file or, recursively, a folder. Document ids are paths
// relative to root (slash-separated), or, for a single file, its base name;
// JSONL records keep their own ids. Every file error is reported (joined)
// and no documents are returned unless all files loaded.
func Path(ctx context.Context, root string, opts Options) ([]rag.Document, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, &Error{Path: root, Err: unwrapPathError(err)}
	}
	if !info.IsDir() {
		docs, err := File(ctx, root, filepath.Base(root), opts)
		if err == nil && opts.OnFile != nil {
			opts.OnFile(root, len(docs))
		}
		return docs, err
	}
	files, err := Walk(ctx, root, opts)
	if err != nil {
		return nil, err
	}
	var docs []rag.Document
	var errs []error
	for _, rel := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		d, err := File(ctx, p, rel, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		docs = append(docs, d...)
		if opts.OnFile != nil {
			opts.OnFile(p, len(d))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return docs, nil
}

// Walk lists the loadable files under root, as slash-separated paths
// relative to it, in lexical order: files with a known extension (see
// KindOf) that pass the include and exclude globs.
func Walk(ctx context.Context, root string, opts Options) ([]string, error) {
	for _, g := range slices.Concat(opts.Include, opts.Exclude) {
		if !doublestar.ValidatePattern(g) {
			return nil, fmt.Errorf("glob %q: invalid pattern", g)
		}
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return &Error{Path: p, Err: unwrapPathError(err)}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".") || matchAny(opts.Exclude, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if KindOf(rel) == "" || (len(opts.Include) > 0 && !matchAny(opts.Include, rel)) {
			return nil
		}
		files = append(files, rel)
		return nil
	})
	return files, err
}

func matchAny(globs []string, rel string) bool {
	for _, g := range globs {
		if ok, _ := doublestar.Match(g, rel); ok {
			return true
		}
		if !strings.Contains(g, "/") {
			if ok, _ := doublestar.Match(g, path.Base(rel)); ok {
				return true
			}
		}
	}
	return false
}

// File loads one file as the documents it holds (one, or one per JSONL
// line). id is the document id (JSONL records use their own). A file with
// an unknown extension is loaded as plain text if it is UTF-8 text.
func File(ctx context.Context, p, id string, opts Options) ([]rag.Document, error) {
	data, err := readLimited(p, opts.maxSize())
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var doc rag.Document
	switch KindOf(p) {
	case KindJSONL:
		return JSONL(p, data)
	case KindPDF:
		doc, err = PDF(data)
	case KindMarkdown:
		doc, err = Markdown(data)
	case KindHTML:
		doc, err = HTML(data)
	default:
		doc, err = Text(data)
	}
	if err != nil {
		var le *Error
		if errors.As(err, &le) {
			le.Path = p
			return nil, le
		}
		return nil, &Error{Path: p, Err: err}
	}
	doc.ID, doc.Source = id, p
	if doc.Title == "" {
		doc.Title = strings.TrimSuffix(path.Base(filepath.ToSlash(id)), path.Ext(id))
	}
	doc.Hash = doc.ContentHash()
	return []rag.Document{doc}, nil
}

func (o Options) maxSize() int64 {
	if o.MaxFileSize > 0 {
		return o.MaxFileSize
	}
	return DefaultMaxFileSize
}

// readLimited reads a whole file, refusing one bigger than limit before
// reading it.
func readLimited(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, &Error{Path: p, Err: unwrapPathError(err)}
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > limit {
		return nil, &Error{Path: p, Err: fmt.Errorf("%w: %s, the limit is %s", ErrTooLarge, size(info.Size()), size(limit))}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &Error{Path: p, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &Error{Path: p, Err: fmt.Errorf("%w: more than %s", ErrTooLarge, size(limit))}
	}
	return data, nil
}

func size(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// unwrapPathError drops the *fs.PathError wrapper, whose path Error repeats.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkText rejects empty and binary content.
func checkText(data []byte) error {
	if len(strings.TrimSpace(string(data))) == 0 {
		return ErrEmpty
	}
	head := data[:min(len(data), 8192)]
	if slices.Contains(head, 0) || !utf8.Valid(data) {
		return ErrBinary
	}
	return nil
}

// Text loads plain text: the text as it is (a UTF-8 byte order mark
// removed, line endings normalised to \n).
func Text(data []byte) (rag.Document, error) {
	if err := checkText(data); err != nil {
		return rag.Document{}, err
	}
	return rag.Document{Text: normalise(string(data))}, nil
}

func normalise(s string) string {
	s = strings.TrimPrefix(s, "\uFEFF")
	if strings.Contains(s, "\r") {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return s
}
