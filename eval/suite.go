package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/keelai/keel/llm"
)

// Suite is an evaluation suite: what is evaluated, on which cases, graded how,
// and the bar a run must clear.
type Suite struct {
	// Name identifies the suite; runs are listed by it.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Target      Target `yaml:"target" json:"target"`
	// Cases are given inline, or in CasesFile (JSONL, one case a line,
	// relative to the suite file), or both (inline first).
	Cases     []Case `yaml:"cases,omitempty" json:"cases,omitempty"`
	CasesFile string `yaml:"cases_file,omitempty" json:"cases_file,omitempty"`
	// Graders grade every case, in order.
	Graders    []GraderSpec `yaml:"graders" json:"graders"`
	Thresholds Thresholds   `yaml:"thresholds,omitempty" json:"thresholds,omitempty"`
	// Repeats runs every case this many times (default 1): sampled models
	// vary, and a suite should see how much.
	Repeats int `yaml:"repeats,omitempty" json:"repeats,omitempty"`
	// Concurrency bounds the cases run at once (default 4).
	Concurrency int `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
	// MaxCost stops the run (in US dollars) once its model calls, judges
	// included, would exceed it; 0 means no cap.
	MaxCost float64 `yaml:"max_cost,omitempty" json:"max_cost,omitempty"`

	// Dir is the folder of the suite file; relative paths are resolved
	// against it.
	Dir string `yaml:"-" json:"-"`
	// File is where the suite was read from, for messages.
	File string `yaml:"-" json:"-"`
}

// Target says what a case runs against. Exactly one of Prompt, Model (alone,
// with System and Input), RAG or Agent describes it.
type Target struct {
	// Prompt is a prompt file's name@version (or name for the latest)
	// in Prompts, a folder relative to the suite. Model, when set,
	// overrides the prompt's own model.
	Prompt  string `yaml:"prompt,omitempty" json:"prompt,omitempty"`
	Prompts string `yaml:"prompts,omitempty" json:"prompts,omitempty"`
	// Model is the model's name (provider/model or an alias).
	Model string `yaml:"model,omitempty" json:"model,omitempty"`
	// System is the system prompt of a model or agent target.
	System string `yaml:"system,omitempty" json:"system,omitempty"`
	// Input is the Go template of the user message (or the RAG query)
	// over the case's vars; default "{{.input}}".
	Input       string   `yaml:"input,omitempty" json:"input,omitempty"`
	Temperature *float64 `yaml:"temperature,omitempty" json:"temperature,omitempty"`
	MaxTokens   int      `yaml:"max_tokens,omitempty" json:"max_tokens,omitempty"`
	RAG         *RAG     `yaml:"rag,omitempty" json:"rag,omitempty"`
	Agent       *Agent   `yaml:"agent,omitempty" json:"agent,omitempty"`
}

// RAG evaluates retrieval from a collection, and the grounded answer when
// Answer is set (with the target's Model).
type RAG struct {
	Collection string `yaml:"collection" json:"collection"`
	// K is how many documents are retrieved (default 10).
	K int `yaml:"k,omitempty" json:"k,omitempty"`
	// Mode is lexical, vector or hybrid (default: the store's).
	Mode   string `yaml:"mode,omitempty" json:"mode,omitempty"`
	Answer bool   `yaml:"answer,omitempty" json:"answer,omitempty"`
}

// Agent evaluates the tool loop with the named tools of the caller's
// registry, on the target's Model and System.
type Agent struct {
	Tools    []string `yaml:"tools,omitempty" json:"tools,omitempty"`
	MaxSteps int      `yaml:"max_steps,omitempty" json:"max_steps,omitempty"`
}

// Case is one input and what is expected of its output.
type Case struct {
	ID string `yaml:"id" json:"id"`
	// Vars fill the target's templates.
	Vars map[string]any `yaml:"vars,omitempty" json:"vars,omitempty"`
	// Expected is the reference answer graders compare with when they are
	// given no value of their own (exact, similarity, numeric, judges).
	Expected string `yaml:"expected,omitempty" json:"expected,omitempty"`
	// Gold lists the relevant document ids (recall@k, citation precision).
	Gold []string `yaml:"gold,omitempty" json:"gold,omitempty"`
}

// Thresholds are the bar of a run: a run that misses one fails the gate.
type Thresholds struct {
	// PassRate is the least fraction of cases (and repeats) that pass
	// every grader.
	PassRate *float64 `yaml:"pass_rate,omitempty" json:"pass_rate,omitempty"`
	// Mean is the least mean score of each named grader.
	Mean map[string]float64 `yaml:"mean,omitempty" json:"mean,omitempty"`
	// MaxRegression is how far the mean case score may fall below a
	// baseline run (--compare) before the gate fails; the fall must also
	// be measured, not noise: the upper end of its 95% interval below zero.
	MaxRegression *float64 `yaml:"max_regression,omitempty" json:"max_regression,omitempty"`
}

// FileError is a mistake in a suite or cases file, with its place.
type FileError struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// LoadSuite reads a suite file and its cases file, if it names one.
func LoadSuite(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseSuite(path, data)
	if err != nil {
		return nil, err
	}
	if s.CasesFile != "" {
		p := s.resolve(s.CasesFile)
		f, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: cases_file: %w", path, err)
		}
		cs, err := ParseCases(p, f)
		if err != nil {
			return nil, err
		}
		s.Cases = append(s.Cases, cs...)
		if err := s.checkCases(p, nil); err != nil {
			return nil, err
		}
	}
	if len(s.Cases) == 0 {
		return nil, &FileError{File: path, Msg: "no cases (give cases: or cases_file:)"}
	}
	return s, nil
}

// ParseSuite decodes a suite strictly: an unknown field, a wrong type or a
// missing requirement is an error naming the file and line. Cases named by
// CasesFile are not read (LoadSuite reads them).
func ParseSuite(file string, data []byte) (*Suite, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(file, err)
	}
	for _, d := range f.Docs {
		if err := checkNodes(file, d.Body, 0); err != nil {
			return nil, err
		}
	}
	s := &Suite{File: file, Dir: filepath.Dir(file)}
	if err := decode(file, data, s); err != nil {
		return nil, err
	}
	at := func(path string) int { return lineOf(f, path) }
	fail := func(path, format string, args ...any) error {
		return &FileError{File: file, Line: at(path), Msg: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(s.Name) == "" {
		return nil, fail("$", "name: required")
	}
	if err := s.Target.check(func(field, format string, args ...any) error {
		return fail("$.target"+field, "target"+field+": "+format, args...)
	}); err != nil {
		return nil, err
	}
	if len(s.Graders) == 0 {
		return nil, fail("$", "graders: at least one is required")
	}
	names := map[string]bool{}
	for i, g := range s.Graders {
		p := fmt.Sprintf("$.graders[%d]", i)
		if err := g.check(s.Target); err != nil {
			return nil, fail(p, "graders[%d] (%s): %v", i, g.Type, err)
		}
		if names[g.name()] {
			return nil, fail(p, "graders[%d]: name %q is used twice (give one a name:)", i, g.name())
		}
		names[g.name()] = true
	}
	for name, v := range s.Thresholds.Mean {
		if !names[name] {
			return nil, fail("$.thresholds.mean", "thresholds.mean: no grader is named %q", name)
		}
		if v < 0 || v > 1 {
			return nil, fail("$.thresholds.mean", "thresholds.mean.%s: %v is not in [0, 1]", name, v)
		}
	}
	if r := s.Thresholds.PassRate; r != nil && (*r < 0 || *r > 1) {
		return nil, fail("$.thresholds.pass_rate", "thresholds.pass_rate: %v is not in [0, 1]", *r)
	}
	if r := s.Thresholds.MaxRegression; r != nil && (*r < 0 || *r > 1) {
		return nil, fail("$.thresholds.max_regression", "thresholds.max_regression: %v is not in [0, 1]", *r)
	}
	if s.Repeats < 0 || s.Repeats > 100 {
		return nil, fail("$.repeats", "repeats: %d is not in [1, 100]", s.Repeats)
	}
	if s.Concurrency < 0 {
		return nil, fail("$.concurrency", "concurrency: %d is negative", s.Concurrency)
	}
	if s.MaxCost < 0 {
		return nil, fail("$.max_cost", "max_cost: %v is negative", s.MaxCost)
	}
	if err := s.checkCases(file, f); err != nil {
		return nil, err
	}
	return s, nil
}

// checkCases checks ids are present and unique and that cases carry what the
// graders need.
func (s *Suite) checkCases(file string, f *ast.File) error {
	seen := map[string]bool{}
	for i, c := range s.Cases {
		line := 0
		if f != nil {
			line = lineOf(f, fmt.Sprintf("$.cases[%d]", i))
		}
		bad := func(format string, args ...any) error {
			return &FileError{File: file, Line: line, Msg: fmt.Sprintf("case %q: ", c.ID) + fmt.Sprintf(format, args...)}
		}
		if c.ID == "" {
			return &FileError{File: file, Line: line, Msg: fmt.Sprintf("cases[%d]: id: required", i)}
		}
		if seen[c.ID] {
			return bad("id is used twice")
		}
		seen[c.ID] = true
		for _, g := range s.Graders {
			if err := g.checkCase(&c); err != nil {
				return bad("grader %s: %v", g.name(), err)
			}
		}
	}
	return nil
}

func (s *Suite) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.Dir, p)
}

// repeats returns the effective repeat count.
func (s *Suite) repeats() int { return max(s.Repeats, 1) }

// ParseCases decodes JSONL cases, one object a line (blank lines skipped),
// strictly: an unknown field is an error naming the line.
func ParseCases(file string, data []byte) ([]Case, error) {
	var out []Case
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var c Case
		if err := dec.Decode(&c); err != nil {
			return nil, &FileError{File: file, Line: line, Msg: llm.Redact(err.Error())}
		}
		if dec.More() {
			return nil, &FileError{File: file, Line: line, Msg: "more than one JSON value on the line"}
		}
		if c.ID == "" {
			return nil, &FileError{File: file, Line: line, Msg: "id: required"}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

func (t *Target) check(fail func(field, format string, args ...any) error) error {
	kinds := 0
	if t.Prompt != "" {
		kinds++
	}
	if t.RAG != nil {
		kinds++
	}
	if t.Agent != nil {
		kinds++
	}
	switch {
	case kinds > 1:
		return fail("", "give one of prompt, rag or agent")
	case kinds == 0 && t.Model == "":
		return fail("", "give prompt, model, rag or agent")
	}
	if t.Prompt != "" && t.Prompts == "" {
		return fail(".prompts", "required with prompt (the folder of the prompt files)")
	}
	if t.Prompt != "" && (t.System != "" || t.Input != "") {
		return fail("", "system and input come from the prompt file; remove them")
	}
	if r := t.RAG; r != nil {
		if r.Collection == "" {
			return fail(".rag.collection", "required")
		}
		if r.K < 0 {
			return fail(".rag.k", "%d is negative", r.K)
		}
		if r.Answer && t.Model == "" {
			return fail(".model", "required to answer (rag.answer: true)")
		}
	}
	if a := t.Agent; a != nil {
		if t.Model == "" {
			return fail(".model", "required for an agent")
		}
		if a.MaxSteps < 0 {
			return fail(".agent.max_steps", "%d is negative", a.MaxSteps)
		}
	}
	if t.Input != "" {
		if _, err := parseInput(t.Input); err != nil {
			return fail(".input", "%v", err)
		}
	}
	return nil
}

// maxDepth bounds the nesting of a suite file; real suites nest a few levels.
const maxDepth = 32

// checkNodes refuses what a suite never needs and the decoder mishandles:
// application tags (go-yaml v1.19.2 panics on a tagged sequence such as
// "graders: !x 0") and absurd nesting.
func checkNodes(file string, n ast.Node, depth int) error {
	if n == nil {
		return nil
	}
	at := func(n ast.Node) int {
		if tok := n.GetToken(); tok != nil && tok.Position != nil {
			return tok.Position.Line
		}
		return 0
	}
	if depth > maxDepth {
		return &FileError{File: file, Line: at(n), Msg: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	switch n := n.(type) {
	case *ast.TagNode:
		return &FileError{File: file, Line: at(n), Msg: fmt.Sprintf("YAML tag %s: suites take plain values", n.Start.Value)}
	case *ast.MappingNode:
		for _, v := range n.Values {
			if err := checkNodes(file, v, depth+1); err != nil {
				return err
			}
		}
	case *ast.MappingValueNode:
		if err := checkNodes(file, n.Key, depth+1); err != nil {
			return err
		}
		return checkNodes(file, n.Value, depth+1)
	case *ast.SequenceNode:
		for _, v := range n.Values {
			if err := checkNodes(file, v, depth+1); err != nil {
				return err
			}
		}
	case *ast.AnchorNode:
		return checkNodes(file, n.Value, depth+1)
	}
	return nil
}

// decode decodes strictly. A panic inside the decoder (a bug of the
// library on some malformed input) becomes an error naming the file, since a
// suite may come from anywhere.
func decode(file string, data []byte, s *Suite) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &FileError{File: file, Msg: fmt.Sprintf("the YAML decoder failed on this file (%v)", p)}
		}
	}()
	if err := yaml.UnmarshalWithOptions(data, s, yaml.Strict()); err != nil {
		return yamlError(file, err)
	}
	return nil
}

// yamlError keeps go-yaml's message and position but not its rendering,
// which quotes source lines.
func yamlError(file string, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &FileError{File: file, Msg: llm.Redact(err.Error())}
	}
	e := &FileError{File: file, Msg: llm.Redact(ye.GetMessage())}
	if tok := ye.GetToken(); tok != nil && tok.Position != nil {
		e.Line = tok.Position.Line
	}
	return e
}

// lineOf returns the line of the node at a YAML path, or of its nearest
// ancestor that exists, or 0.
func lineOf(f *ast.File, path string) int {
	for path != "" {
		if p, err := yaml.PathString(path); err == nil {
			if n, err := p.FilterFile(f); err == nil && n != nil {
				if tok := n.GetToken(); tok != nil && tok.Position != nil {
					return tok.Position.Line
				}
			}
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			break
		}
		path = path[:i]
	}
	return 0
}
