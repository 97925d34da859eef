package prompt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/Masterminds/semver/v3"
	"github.com/goccy/go-yaml"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Ext is the file name extension of prompt files.
const Ext = ".prompt"

// maxFileSize bounds one prompt file; a prompt larger than this is a
// mistake (a data file saved with the wrong name), not a prompt.
const maxFileSize = 1 << 20

// Prompt is one version of a prompt template. It is immutable once parsed
// and safe for concurrent use.
type Prompt struct {
	// Name identifies the prompt; several versions may share it.
	Name string
	// Version is the prompt's semantic version, as written in the file.
	Version string
	// Description says what the prompt is for.
	Description string
	// Model is the model the prompt was written for (`provider/model` or an
	// alias); empty when any will do. Rendering does not choose a model:
	// the caller does, usually with this as the default.
	Model string
	// Temperature and MaxTokens are copied into rendered requests.
	Temperature *float64
	MaxTokens   int
	// Output is the structured-output schema, nil when the answer is text.
	Output *llm.OutputSchema
	// System and Body are the template sources of the system prompt and
	// of the user message.
	System, Body string
	// Hash is a short hash of the whole file: two files with the same
	// name and version but different text have different hashes.
	Hash string
	// File is where the prompt was loaded from, for messages.
	File string

	semver *semver.Version
	system *template.Template
	body   *template.Template
	vars   []string
}

// Error is a problem with a prompt file, or with the variables given to
// render one.
type Error struct {
	File  string // the prompt file
	Line  int    // 1-based line in the file; 0 when not known
	Field string // front-matter field, when the problem is in one
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	return b.String()
}

// frontMatter is the YAML header of a prompt file.
type frontMatter struct {
	Name        string   `yaml:"name"`
	Version     string   `yaml:"version"`
	Description string   `yaml:"description"`
	Model       string   `yaml:"model"`
	System      string   `yaml:"system"`
	Temperature *float64 `yaml:"temperature"`
	MaxTokens   int      `yaml:"max_tokens"`
	// Output is a JSON Schema written in YAML.
	Output     any    `yaml:"output"`
	OutputName string `yaml:"output_name"`
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-/]*$`)

// Parse parses the text of a prompt file; file names it in errors.
func Parse(file string, data []byte) (*Prompt, error) {
	if len(data) > maxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("larger than %d bytes", maxFileSize)}
	}
	head, body, bodyLine, err := split(data)
	if err != nil {
		return nil, &Error{File: file, Line: 1, Msg: err.Error()}
	}
	var fm frontMatter
	if err := yaml.UnmarshalWithOptions(head, &fm, yaml.Strict()); err != nil {
		return nil, yamlError(file, err)
	}
	p := &Prompt{
		Name: fm.Name, Version: fm.Version, Description: fm.Description, Model: fm.Model,
		Temperature: fm.Temperature, MaxTokens: fm.MaxTokens,
		// The newline that ends the file is not part of the message.
		System: fm.System, Body: strings.TrimSuffix(strings.TrimSuffix(string(body), "\n"), "\r"), File: file,
	}
	fieldErr := func(field, format string, args ...any) error {
		return &Error{File: file, Line: fieldLine(head, field), Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if !validName.MatchString(p.Name) {
		return nil, fieldErr("name", "%q is not a prompt name (want letters, digits, _ . - /, e.g. summarise)", p.Name)
	}
	v, err := semver.StrictNewVersion(p.Version)
	if err != nil {
		return nil, fieldErr("version", "%q is not a semantic version (want e.g. 1.2.0)", p.Version)
	}
	p.semver = v
	if p.Temperature != nil && (*p.Temperature < 0 || *p.Temperature > 2) {
		return nil, fieldErr("temperature", "%v is out of range (want 0 to 2)", *p.Temperature)
	}
	if p.MaxTokens < 0 {
		return nil, fieldErr("max_tokens", "%d is negative", p.MaxTokens)
	}
	if fm.Output != nil {
		schema, err := json.Marshal(fm.Output)
		if err != nil {
			return nil, fieldErr("output", "not a JSON Schema: %v", err)
		}
		if _, ok := fm.Output.(map[string]any); !ok {
			return nil, fieldErr("output", "want a JSON Schema object")
		}
		name := fm.OutputName
		if name == "" {
			name = "output"
		}
		p.Output = &llm.OutputSchema{Name: name, Schema: schema, Strict: true}
	} else if fm.OutputName != "" {
		return nil, fieldErr("output_name", "set without output")
	}
	if strings.TrimSpace(p.Body) == "" {
		return nil, &Error{File: file, Line: bodyLine, Msg: "the body (the user message template) is empty"}
	}
	if p.system, err = newTemplate(file, p.System, fieldLine(head, "system")); err != nil {
		return nil, &Error{File: file, Line: templateLine(err), Field: "system", Msg: templateMsg(err)}
	}
	if p.body, err = newTemplate(file, p.Body, bodyLine); err != nil {
		return nil, &Error{File: file, Line: templateLine(err), Msg: templateMsg(err)}
	}
	vars := map[string]bool{}
	collectVars(p.system.Tree.Root, vars)
	collectVars(p.body.Tree.Root, vars)
	p.vars = slices.Sorted(maps.Keys(vars))
	sum := sha256.Sum256(data)
	p.Hash = hex.EncodeToString(sum[:6])
	return p, nil
}

// split cuts a file into its front matter and body. The body starts on
// line bodyLine of the file.
func split(data []byte) (head, body []byte, bodyLine int, err error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	first, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok || strings.TrimRight(string(first), "\r ") != "---" {
		return nil, nil, 0, errors.New("want YAML front matter between --- lines at the top of the file")
	}
	line := 2
	start := rest
	for len(rest) > 0 {
		l, next, _ := bytes.Cut(rest, []byte("\n"))
		if strings.TrimRight(string(l), "\r ") == "---" {
			head = start[:len(start)-len(rest)]
			return head, next, line + 1, nil
		}
		rest = next
		line++
	}
	return nil, nil, 0, errors.New("the front matter has no closing --- line")
}

// newTemplate parses src, which starts on line first of the file. A
// leading comment holding first-1 newlines makes text/template count lines
// as the file does, so its errors name file lines; it renders nothing.
func newTemplate(name, src string, first int) (*template.Template, error) {
	if first > 1 {
		src = "{{/*" + strings.Repeat("\n", first-1) + "*/}}" + src
	}
	return template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
}

// templateLine pulls the line number out of a text/template error, whose
// text ("template: NAME:LINE: message", or "NAME:LINE:COL: executing …")
// is the only place the package reports it.
func templateLine(err error) int {
	m := lineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var lineRE = regexp.MustCompile(`:(\d+):(?:\d+:)? `)

func templateMsg(err error) string {
	s := err.Error()
	if i := lineRE.FindStringIndex(s); i != nil {
		return s[i[1]:]
	}
	return s
}

func yamlError(file string, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &Error{File: file, Msg: err.Error()}
	}
	e := &Error{File: file, Msg: ye.GetMessage()}
	if tok := ye.GetToken(); tok != nil && tok.Position != nil {
		// The front matter starts on the file's second line.
		e.Line = tok.Position.Line + 1
	}
	return e
}

// fieldLine finds the file line of a top-level front-matter key, for
// messages about its value.
func fieldLine(head []byte, field string) int {
	for i, l := range strings.Split(string(head), "\n") {
		if strings.HasPrefix(l, field+":") {
			return i + 2
		}
	}
	return 0
}

// collectVars adds the top-level variables (.name) that n uses. Inside
// range and with the dot changes meaning, so only their pipelines count.
func collectVars(n parse.Node, vars map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			collectVars(c, vars)
		}
	case *parse.ActionNode:
		collectVars(n.Pipe, vars)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			collectVars(c, vars)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			collectVars(a, vars)
		}
	case *parse.FieldNode:
		vars[n.Ident[0]] = true
	case *parse.ChainNode:
		collectVars(n.Node, vars)
	case *parse.IfNode:
		collectVars(n.Pipe, vars)
		collectVars(n.List, vars)
		collectVars(n.ElseList, vars)
	case *parse.RangeNode:
		collectVars(n.Pipe, vars)
		collectVars(n.ElseList, vars)
	case *parse.WithNode:
		collectVars(n.Pipe, vars)
		collectVars(n.ElseList, vars)
	}
}

// Ref returns "name@version", how the prompt is named in messages and on
// the command line.
func (p *Prompt) Ref() string { return p.Name + "@" + p.Version }

// VersionTag returns the value of the callinfo.TagPromptVersion tag:
// the version, "+", and the file's hash (semver build metadata).
func (p *Prompt) VersionTag() string { return p.Version + "+" + p.Hash }

// Vars returns the names of the variables the templates use, sorted.
func (p *Prompt) Vars() []string { return slices.Clone(p.vars) }

// Render executes the templates with vars and returns the request: the
// system prompt, one user message, the sampling settings, the output
// schema and the prompt tags. A variable the templates use that vars lacks
// is an *Error naming every missing one, and nothing is rendered.
func (p *Prompt) Render(vars map[string]any) (*llm.Request, error) {
	var missing []string
	for _, v := range p.vars {
		if _, ok := vars[v]; !ok {
			missing = append(missing, strconv.Quote(v))
		}
	}
	if len(missing) > 0 {
		return nil, &Error{File: p.File, Msg: fmt.Sprintf("%s: missing variable %s", p.Ref(), strings.Join(missing, ", "))}
	}
	if vars == nil {
		vars = map[string]any{}
	}
	system, err := execute(p.system, vars)
	if err != nil {
		return nil, &Error{File: p.File, Field: "system", Msg: fmt.Sprintf("%s: %s", p.Ref(), templateMsg(err))}
	}
	body, err := execute(p.body, vars)
	if err != nil {
		return nil, &Error{File: p.File, Msg: fmt.Sprintf("%s: %s", p.Ref(), templateMsg(err))}
	}
	req := &llm.Request{
		Messages:    []llm.Message{llm.UserText(body)},
		MaxTokens:   p.MaxTokens,
		Temperature: p.Temperature,
		Tags: map[string]string{
			callinfo.TagPrompt:        p.Name,
			callinfo.TagPromptVersion: p.VersionTag(),
		},
	}
	if p.Temperature != nil {
		req.Temperature = llm.Float(*p.Temperature)
	}
	if strings.TrimSpace(system) != "" {
		req.System = []llm.Text{{Text: system}}
	}
	if p.Output != nil {
		o := *p.Output
		o.Schema = slices.Clone(o.Schema)
		req.Output = &o
	}
	return req, nil
}

func execute(t *template.Template, vars map[string]any) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		return "", err
	}
	return b.String(), nil
}
