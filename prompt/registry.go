package prompt

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Registry holds the prompts loaded from a folder, every version of each
// name. It is immutable once loaded and safe for concurrent use.
type Registry struct {
	// byName holds each name's versions, oldest first.
	byName map[string][]*Prompt
}

// LoadDir loads every *.prompt file under dir, recursively.
func LoadDir(dir string) (*Registry, error) {
	return load(os.DirFS(dir), dir)
}

// Load loads every *.prompt file in fsys (an embed.FS, for prompts
// compiled into the program), recursively.
func Load(fsys fs.FS) (*Registry, error) { return load(fsys, "") }

func load(fsys fs.FS, prefix string) (*Registry, error) {
	r := &Registry{byName: map[string][]*Prompt{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || path.Ext(p) != Ext {
			return nil
		}
		display := p
		if prefix != "" {
			display = filepath.Join(prefix, filepath.FromSlash(p))
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		pr, err := Parse(display, data)
		if err != nil {
			return err
		}
		for _, other := range r.byName[pr.Name] {
			if other.semver.Equal(pr.semver) {
				return &Error{File: display, Field: "version", Msg: fmt.Sprintf("%s is also defined in %s", pr.Ref(), other.File)}
			}
		}
		r.byName[pr.Name] = append(r.byName[pr.Name], pr)
		return nil
	})
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) && prefix != "" {
			err = fmt.Errorf("loading prompts from %s: %w", prefix, err)
		}
		return nil, err
	}
	for _, vs := range r.byName {
		slices.SortFunc(vs, func(a, b *Prompt) int { return a.semver.Compare(b.semver) })
	}
	return r, nil
}

// ErrNotFound is wrapped by the errors of Lookup for an unknown name or
// version.
var ErrNotFound = errors.New("prompt not found")

// Lookup returns the prompt ref names: "name" for its latest version by
// semver precedence (pre-releases only when there is no release), or
// "name@version" for that version.
func (r *Registry) Lookup(ref string) (*Prompt, error) {
	name, version, pinned := strings.Cut(ref, "@")
	vs := r.byName[name]
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: %q (have %s)", ErrNotFound, name, strings.Join(r.Names(), ", "))
	}
	if pinned {
		for _, p := range vs {
			if p.Version == version || p.semver.Original() == version || p.semver.String() == version {
				return p, nil
			}
		}
		versions := make([]string, len(vs))
		for i, p := range vs {
			versions[i] = p.Version
		}
		return nil, fmt.Errorf("%w: %s has no version %q (have %s)", ErrNotFound, name, version, strings.Join(versions, ", "))
	}
	for _, p := range slices.Backward(vs) {
		if p.semver.Prerelease() == "" {
			return p, nil
		}
	}
	return vs[len(vs)-1], nil
}

// Names returns the prompt names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Versions returns every version of name, oldest first.
func (r *Registry) Versions(name string) []*Prompt { return slices.Clone(r.byName[name]) }

// All returns every prompt, by name and then by version.
func (r *Registry) All() []*Prompt {
	var all []*Prompt
	for _, n := range r.Names() {
		all = append(all, r.byName[n]...)
	}
	slices.SortStableFunc(all, func(a, b *Prompt) int { return cmp.Compare(a.Name, b.Name) })
	return all
}
