package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/structured"
)

// Grader grades one output of one case. A grade's Score is in [0, 1]. A
// grader that cannot grade (its judge failed, its embedder is down) returns
// an error: the case is recorded as errored and fails the gate; an error is
// never turned into a score.
type Grader interface {
	Name() string
	Grade(ctx context.Context, c *Case, out *Output) (Grade, error)
}

// Grade is a grader's verdict on one output.
type Grade struct {
	Score  float64 `json:"score"`
	Pass   bool    `json:"pass"`
	Reason string  `json:"reason,omitempty"`
}

// GraderSpec is a grader as a suite declares it. Type chooses the grader;
// which other fields apply depends on it (see docs/evaluation.md).
type GraderSpec struct {
	Type string `yaml:"type" json:"type"`
	// Name tells two graders of one type apart (default: Type).
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Value is the expected text, substring or pattern; empty means the
	// case's Expected. Values lists several (contains: all; not_contains:
	// none).
	Value      string   `yaml:"value,omitempty" json:"value,omitempty"`
	Values     []string `yaml:"values,omitempty" json:"values,omitempty"`
	IgnoreCase bool     `yaml:"ignore_case,omitempty" json:"ignore_case,omitempty"`
	// Schema (inline) or SchemaFile is the JSON Schema of json_schema.
	Schema     any    `yaml:"schema,omitempty" json:"schema,omitempty"`
	SchemaFile string `yaml:"schema_file,omitempty" json:"schema_file,omitempty"`
	// Path is json_path's dotted path (items.0.name); Equals the value
	// it must hold (default: the case's Expected, compared as text).
	Path   string `yaml:"path,omitempty" json:"path,omitempty"`
	Equals any    `yaml:"equals,omitempty" json:"equals,omitempty"`
	// Tolerance is numeric's allowed difference, relative to the expected
	// value when Relative.
	Tolerance float64 `yaml:"tolerance,omitempty" json:"tolerance,omitempty"`
	Relative  bool    `yaml:"relative,omitempty" json:"relative,omitempty"`
	// Min and Max bound length (in Unit: chars, the default, or words).
	Min  *int   `yaml:"min,omitempty" json:"min,omitempty"`
	Max  *int   `yaml:"max,omitempty" json:"max,omitempty"`
	Unit string `yaml:"unit,omitempty" json:"unit,omitempty"`
	// MaxUSD and MaxMS are the cost and latency ceilings of one case.
	MaxUSD float64 `yaml:"max_usd,omitempty" json:"max_usd,omitempty"`
	MaxMS  int64   `yaml:"max_ms,omitempty" json:"max_ms,omitempty"`
	// Threshold is the least score that passes (similarity, judges,
	// recall, citation precision); see each grader's default.
	Threshold *float64 `yaml:"threshold,omitempty" json:"threshold,omitempty"`
	// Rubric, Scale and Model configure a judge: what to judge by, the
	// top of its 1..Scale scale (default 5) and the judge model (default:
	// the runner's judge model).
	Rubric string `yaml:"rubric,omitempty" json:"rubric,omitempty"`
	Scale  int    `yaml:"scale,omitempty" json:"scale,omitempty"`
	Model  string `yaml:"model,omitempty" json:"model,omitempty"`
	// K is recall's cutoff (default: the target's rag.k).
	K int `yaml:"k,omitempty" json:"k,omitempty"`
	// Extract makes json, json_schema and json_path read the JSON inside
	// chatter or a code fence (structured.Extract) instead of the whole
	// output.
	Extract bool `yaml:"extract,omitempty" json:"extract,omitempty"`
}

// Grader types.
const (
	TypeExact             = "exact"
	TypeContains          = "contains"
	TypeNotContains       = "not_contains"
	TypeRegex             = "regex"
	TypeJSON              = "json"
	TypeJSONSchema        = "json_schema"
	TypeJSONPath          = "json_path"
	TypeNumeric           = "numeric"
	TypeLength            = "length"
	TypeCost              = "cost"
	TypeLatency           = "latency"
	TypeSimilarity        = "similarity"
	TypeJudge             = "judge"
	TypeRecall            = "recall"
	TypeCitationPrecision = "citation_precision"
	TypeFaithfulness      = "faithfulness"
)

// GraderTypes lists every grader type.
func GraderTypes() []string {
	return []string{TypeExact, TypeContains, TypeNotContains, TypeRegex, TypeJSON, TypeJSONSchema, TypeJSONPath,
		TypeNumeric, TypeLength, TypeCost, TypeLatency, TypeSimilarity, TypeJudge, TypeRecall,
		TypeCitationPrecision, TypeFaithfulness}
}

func (g *GraderSpec) name() string {
	if g.Name != "" {
		return g.Name
	}
	return g.Type
}

// threshold returns the spec's threshold or def.
func (g *GraderSpec) threshold(def float64) float64 {
	if g.Threshold != nil {
		return *g.Threshold
	}
	return def
}

// check validates the spec on its own and against the target.
func (g *GraderSpec) check(t Target) error {
	if g.Threshold != nil && (*g.Threshold < 0 || *g.Threshold > 1) {
		return fmt.Errorf("threshold %v is not in [0, 1]", *g.Threshold)
	}
	switch g.Type {
	case TypeExact, TypeContains, TypeNotContains, TypeJSON, TypeSimilarity:
	case TypeRegex:
		pats := g.patterns()
		if len(pats) == 0 {
			return errors.New("value: required (the pattern)")
		}
		for _, p := range pats {
			if _, err := regexp.Compile(p); err != nil {
				return fmt.Errorf("value: %w", err)
			}
		}
	case TypeJSONSchema:
		if (g.Schema == nil) == (g.SchemaFile == "") {
			return errors.New("give one of schema and schema_file")
		}
	case TypeJSONPath:
		if g.Path == "" {
			return errors.New("path: required")
		}
	case TypeNumeric:
		if g.Tolerance < 0 {
			return errors.New("tolerance: negative")
		}
	case TypeLength:
		if g.Min == nil && g.Max == nil {
			return errors.New("give min, max or both")
		}
		if g.Min != nil && g.Max != nil && *g.Min > *g.Max {
			return fmt.Errorf("min %d is above max %d", *g.Min, *g.Max)
		}
		if g.Unit != "" && g.Unit != "chars" && g.Unit != "words" {
			return fmt.Errorf("unit %q: want chars or words", g.Unit)
		}
	case TypeCost:
		if g.MaxUSD <= 0 {
			return errors.New("max_usd: required and positive")
		}
	case TypeLatency:
		if g.MaxMS <= 0 {
			return errors.New("max_ms: required and positive")
		}
	case TypeJudge:
		if strings.TrimSpace(g.Rubric) == "" {
			return errors.New("rubric: required")
		}
	case TypeRecall, TypeCitationPrecision, TypeFaithfulness:
		if t.RAG == nil {
			return errors.New("needs a rag target")
		}
		if g.Type != TypeRecall && !t.RAG.Answer {
			return errors.New("needs an answer (rag.answer: true)")
		}
	case "":
		return fmt.Errorf("type: required (want one of %s)", strings.Join(GraderTypes(), ", "))
	default:
		return fmt.Errorf("unknown type (want one of %s)", strings.Join(GraderTypes(), ", "))
	}
	if g.Scale != 0 && (g.Scale < 2 || g.Scale > 100) {
		return fmt.Errorf("scale %d: want 2 to 100", g.Scale)
	}
	if g.K < 0 {
		return fmt.Errorf("k %d is negative", g.K)
	}
	return nil
}

// checkCase says what a case lacks for this grader.
func (g *GraderSpec) checkCase(c *Case) error {
	switch g.Type {
	case TypeExact, TypeContains, TypeNotContains, TypeSimilarity, TypeNumeric:
		if len(g.patterns()) == 0 && c.Expected == "" {
			return errors.New("needs expected (or the grader's value)")
		}
		if g.Type == TypeNumeric {
			want := g.Value
			if want == "" {
				want = c.Expected
			}
			if _, err := strconv.ParseFloat(strings.TrimSpace(want), 64); err != nil {
				return fmt.Errorf("expected %q is not a number", want)
			}
		}
	case TypeJSONPath:
		if g.Equals == nil && c.Expected == "" {
			return errors.New("needs expected (or the grader's equals)")
		}
	case TypeRecall, TypeCitationPrecision:
		if len(c.Gold) == 0 {
			return errors.New("needs gold document ids")
		}
	}
	return nil
}

func (g *GraderSpec) patterns() []string {
	if g.Value != "" {
		return append([]string{g.Value}, g.Values...)
	}
	return g.Values
}

// expected returns what the grader compares with: its own values, else the
// case's Expected.
func (g *GraderSpec) expected(c *Case) []string {
	if p := g.patterns(); len(p) > 0 {
		return p
	}
	return []string{c.Expected}
}

// Deps gives graders what they call: judge models and an embedder.
type Deps struct {
	// Model opens a model by name (judges).
	Model func(name string) (llm.Model, error)
	// JudgeModel is the judge used when a grader names none.
	JudgeModel string
	// Embedder embeds texts for the similarity grader.
	Embedder func() (rag.Embedder, error)
	// Dir resolves relative file names (schema_file).
	Dir string
	// K is the RAG target's k, recall's default cutoff.
	K int
}

// NewGrader builds the grader a spec describes.
func NewGrader(spec GraderSpec, deps Deps) (Grader, error) {
	if err := spec.check(Target{RAG: &RAG{Answer: true}}); err != nil {
		return nil, fmt.Errorf("grader %s: %w", spec.name(), err)
	}
	base := named{spec.name()}
	switch spec.Type {
	case TypeExact:
		return &exact{base, spec}, nil
	case TypeContains, TypeNotContains:
		return &contains{base, spec, spec.Type == TypeNotContains}, nil
	case TypeRegex:
		var res []*regexp.Regexp
		for _, p := range spec.patterns() {
			if spec.IgnoreCase {
				p = "(?i)" + p
			}
			res = append(res, regexp.MustCompile(p)) // checked above
		}
		return &regex{base, res}, nil
	case TypeJSON:
		return &validJSON{base, spec.Extract}, nil
	case TypeJSONSchema:
		raw, err := schemaJSON(spec, deps.Dir)
		if err != nil {
			return nil, fmt.Errorf("grader %s: %w", spec.name(), err)
		}
		s, err := structured.NewSchema(raw)
		if err != nil {
			return nil, fmt.Errorf("grader %s: schema: %w", spec.name(), err)
		}
		return &jsonSchema{base, s, spec.Extract}, nil
	case TypeJSONPath:
		return &jsonPath{base, spec}, nil
	case TypeNumeric:
		return &numeric{base, spec}, nil
	case TypeLength:
		return &length{base, spec}, nil
	case TypeCost:
		return &ceiling{base, spec.MaxUSD, "cost", func(o *Output) float64 { return o.Cost.Float() }, "$%.6f"}, nil
	case TypeLatency:
		return &ceiling{base, float64(spec.MaxMS), "latency", func(o *Output) float64 { return float64(o.Latency.Milliseconds()) }, "%.0f ms"}, nil
	case TypeSimilarity:
		if deps.Embedder == nil {
			return nil, fmt.Errorf("grader %s: no embedder configured", spec.name())
		}
		e, err := deps.Embedder()
		if err != nil {
			return nil, fmt.Errorf("grader %s: %w", spec.name(), err)
		}
		return &similarity{base, spec, e}, nil
	case TypeJudge, TypeFaithfulness:
		m, err := judgeModel(spec, deps)
		if err != nil {
			return nil, err
		}
		return newJudge(base, spec, m), nil
	case TypeRecall:
		k := spec.K
		if k == 0 {
			k = deps.K
		}
		if k == 0 {
			k = defaultK
		}
		return &recall{base, k, spec.threshold(1)}, nil
	case TypeCitationPrecision:
		return &citationPrecision{base, spec.threshold(1)}, nil
	}
	return nil, fmt.Errorf("grader %s: unknown type %q", spec.name(), spec.Type)
}

func judgeModel(spec GraderSpec, deps Deps) (llm.Model, error) {
	name := spec.Model
	if name == "" {
		name = deps.JudgeModel
	}
	if name == "" {
		return nil, fmt.Errorf("grader %s: no judge model (set model: on the grader or the runner's judge model)", spec.name())
	}
	if deps.Model == nil {
		return nil, fmt.Errorf("grader %s: no way to open the judge model %s", spec.name(), name)
	}
	m, err := deps.Model(name)
	if err != nil {
		return nil, fmt.Errorf("grader %s: judge model: %w", spec.name(), err)
	}
	return m, nil
}

func schemaJSON(spec GraderSpec, dir string) (json.RawMessage, error) {
	if spec.SchemaFile != "" {
		p := spec.SchemaFile
		if dir != "" && !strings.HasPrefix(p, "/") {
			p = dir + "/" + p
		}
		return os.ReadFile(p)
	}
	b, err := json.Marshal(jsonable(spec.Schema))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return b, nil
}

// jsonable turns YAML-decoded maps (map[string]any already with goccy, but
// map[any]any from some paths) into values encoding/json accepts.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = jsonable(x)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonable(x)
		}
		return out
	}
	return v
}

type named struct{ name string }

func (n named) Name() string { return n.name }

func passFail(ok bool, reason string) Grade {
	if ok {
		return Grade{Score: 1, Pass: true, Reason: reason}
	}
	return Grade{Score: 0, Pass: false, Reason: reason}
}

// clip shortens text quoted in reasons.
func clip(s string) string {
	const n = 80
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

type exact struct {
	named
	spec GraderSpec
}

func (g *exact) Grade(_ context.Context, c *Case, out *Output) (Grade, error) {
	got := strings.TrimSpace(out.Text)
	for _, want := range g.spec.expected(c) {
		want = strings.TrimSpace(want)
		if got == want || (g.spec.IgnoreCase && strings.EqualFold(got, want)) {
			return passFail(true, "equal"), nil
		}
	}
	return passFail(false, fmt.Sprintf("got %q, want %q", clip(got), clip(g.spec.expected(c)[0]))), nil
}

type contains struct {
	named
	spec GraderSpec
	not  bool
}

func (g *contains) Grade(_ context.Context, c *Case, out *Output) (Grade, error) {
	text := out.Text
	if g.spec.IgnoreCase {
		text = strings.ToLower(text)
	}
	wants := g.spec.expected(c)
	found := 0
	var first string
	for _, w := range wants {
		s := w
		if g.spec.IgnoreCase {
			s = strings.ToLower(w)
		}
		if strings.Contains(text, s) {
			found++
		} else if !g.not && first == "" {
			first = w
		}
		if g.not && strings.Contains(text, s) && first == "" {
			first = w
		}
	}
	if g.not {
		score := 1 - float64(found)/float64(len(wants))
		if found == 0 {
			return Grade{Score: score, Pass: true, Reason: "none present"}, nil
		}
		return Grade{Score: score, Reason: fmt.Sprintf("contains %q", clip(first))}, nil
	}
	score := float64(found) / float64(len(wants))
	if found == len(wants) {
		return Grade{Score: score, Pass: true, Reason: "all present"}, nil
	}
	return Grade{Score: score, Reason: fmt.Sprintf("missing %q", clip(first))}, nil
}

type regex struct {
	named
	res []*regexp.Regexp
}

func (g *regex) Grade(_ context.Context, _ *Case, out *Output) (Grade, error) {
	for _, re := range g.res {
		if !re.MatchString(out.Text) {
			return passFail(false, fmt.Sprintf("no match for /%s/", re)), nil
		}
	}
	return passFail(true, "matches"), nil
}

func outputJSON(text string, extract bool) []byte {
	if extract {
		return []byte(structured.Extract(text))
	}
	return []byte(strings.TrimSpace(text))
}

type validJSON struct {
	named
	extract bool
}

func (g *validJSON) Grade(_ context.Context, _ *Case, out *Output) (Grade, error) {
	b := outputJSON(out.Text, g.extract)
	if json.Valid(b) {
		return passFail(true, "valid JSON"), nil
	}
	var v any
	err := json.Unmarshal(b, &v)
	return passFail(false, "not JSON: "+err.Error()), nil
}

type jsonSchema struct {
	named
	schema  *structured.Schema
	extract bool
}

func (g *jsonSchema) Grade(_ context.Context, _ *Case, out *Output) (Grade, error) {
	if err := g.schema.Validate(outputJSON(out.Text, g.extract)); err != nil {
		return passFail(false, clip(err.Error())), nil
	}
	return passFail(true, "conforms"), nil
}

type jsonPath struct {
	named
	spec GraderSpec
}

func (g *jsonPath) Grade(_ context.Context, c *Case, out *Output) (Grade, error) {
	var doc any
	if err := json.Unmarshal(outputJSON(out.Text, g.spec.Extract), &doc); err != nil {
		return passFail(false, "not JSON: "+err.Error()), nil
	}
	got, err := lookupPath(doc, g.spec.Path)
	if err != nil {
		return passFail(false, err.Error()), nil
	}
	if g.spec.Equals == nil {
		s, ok := got.(string)
		if !ok {
			b, _ := json.Marshal(got)
			s = string(b)
		}
		return passFail(s == c.Expected, fmt.Sprintf("%s = %q, want %q", g.spec.Path, clip(s), clip(c.Expected))), nil
	}
	want := jsonable(g.spec.Equals)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	// Compare as decoded JSON so that 1 and 1.0 (YAML ints, JSON floats)
	// are equal.
	var gv, wv any
	_ = json.Unmarshal(gb, &gv)
	_ = json.Unmarshal(wb, &wv)
	ok := fmt.Sprint(gv) == fmt.Sprint(wv) && string(mustCanon(gv)) == string(mustCanon(wv))
	return passFail(ok, fmt.Sprintf("%s = %s, want %s", g.spec.Path, clip(string(gb)), clip(string(wb)))), nil
}

func mustCanon(v any) []byte {
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	return b
}

// lookupPath follows a dotted path (a.b.0.c; a[0] works too) through decoded
// JSON. It is written here because the one rule needed (object keys and
// array indexes) does not justify a JSONPath dependency.
func lookupPath(doc any, path string) (any, error) {
	p := strings.NewReplacer("[", ".", "]", "").Replace(strings.TrimPrefix(strings.TrimPrefix(path, "$"), "."))
	cur := doc
	walked := "$"
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			continue
		}
		switch v := cur.(type) {
		case map[string]any:
			x, ok := v[seg]
			if !ok {
				return nil, fmt.Errorf("%s has no key %q", walked, seg)
			}
			cur = x
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return nil, fmt.Errorf("%s has no index %s (length %d)", walked, seg, len(v))
			}
			cur = v[i]
		default:
			return nil, fmt.Errorf("%s is not an object or array", walked)
		}
		walked += "." + seg
	}
	return cur, nil
}

type numeric struct {
	named
	spec GraderSpec
}

var numberRE = regexp.MustCompile(`[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`)

func (g *numeric) Grade(_ context.Context, c *Case, out *Output) (Grade, error) {
	want, _ := strconv.ParseFloat(strings.TrimSpace(g.spec.expected(c)[0]), 64) // checked by checkCase
	m := numberRE.FindString(out.Text)
	if m == "" {
		return passFail(false, "no number in the output"), nil
	}
	got, err := strconv.ParseFloat(strings.ReplaceAll(m, ",", ""), 64)
	if err != nil {
		return passFail(false, fmt.Sprintf("%q is not a number", m)), nil
	}
	tol := g.spec.Tolerance
	if g.spec.Relative {
		tol *= math.Abs(want)
	}
	d := math.Abs(got - want)
	return passFail(d <= tol, fmt.Sprintf("got %g, want %g ± %g", got, want, tol)), nil
}

type length struct {
	named
	spec GraderSpec
}

func (g *length) Grade(_ context.Context, _ *Case, out *Output) (Grade, error) {
	unit := "chars"
	n := utf8.RuneCountInString(out.Text)
	if g.spec.Unit == "words" {
		unit, n = "words", len(strings.Fields(out.Text))
	}
	if g.spec.Min != nil && n < *g.spec.Min {
		return passFail(false, fmt.Sprintf("%d %s, want at least %d", n, unit, *g.spec.Min)), nil
	}
	if g.spec.Max != nil && n > *g.spec.Max {
		return passFail(false, fmt.Sprintf("%d %s, want at most %d", n, unit, *g.spec.Max)), nil
	}
	return passFail(true, fmt.Sprintf("%d %s", n, unit)), nil
}

// ceiling passes when a measure of the output stays at or below a limit.
type ceiling struct {
	named
	limit   float64
	what    string
	measure func(*Output) float64
	format  string
}

func (g *ceiling) Grade(_ context.Context, _ *Case, out *Output) (Grade, error) {
	v := g.measure(out)
	got, lim := fmt.Sprintf(g.format, v), fmt.Sprintf(g.format, g.limit)
	return passFail(v <= g.limit, fmt.Sprintf("%s %s, ceiling %s", g.what, got, lim)), nil
}

type similarity struct {
	named
	spec GraderSpec
	emb  rag.Embedder
}

func (g *similarity) Grade(ctx context.Context, c *Case, out *Output) (Grade, error) {
	want := g.spec.expected(c)[0]
	vecs, err := g.emb.Embed(ctx, []string{out.Text, want})
	if err != nil {
		return Grade{}, fmt.Errorf("embedding: %w", err)
	}
	if len(vecs) != 2 {
		return Grade{}, fmt.Errorf("embedding: got %d vectors for 2 texts", len(vecs))
	}
	cos, err := cosine(vecs[0], vecs[1])
	if err != nil {
		return Grade{}, err
	}
	score := math.Max(0, cos)
	th := g.spec.threshold(0.8)
	return Grade{Score: score, Pass: score >= th, Reason: fmt.Sprintf("cosine %.3f (threshold %.2f)", cos, th)}, nil
}

func cosine(a, b []float32) (float64, error) {
	if len(a) != len(b) || len(a) == 0 {
		return 0, fmt.Errorf("embedding: vectors of lengths %d and %d", len(a), len(b))
	}
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0, errors.New("embedding: a zero vector has no direction")
	}
	return dot / math.Sqrt(na*nb), nil
}

type recall struct {
	named
	k         int
	threshold float64
}

func (g *recall) Grade(_ context.Context, c *Case, out *Output) (Grade, error) {
	top := map[string]bool{}
	for i, id := range out.DocIDs {
		if i >= g.k {
			break
		}
		top[id] = true
	}
	found := 0
	var missing []string
	for _, id := range c.Gold {
		if top[id] {
			found++
		} else {
			missing = append(missing, id)
		}
	}
	score := float64(found) / float64(len(c.Gold))
	reason := fmt.Sprintf("%d of %d gold in top %d", found, len(c.Gold), g.k)
	if len(missing) > 0 {
		reason += "; missing " + clip(strings.Join(missing, ", "))
	}
	return Grade{Score: score, Pass: score >= g.threshold, Reason: reason}, nil
}

type citationPrecision struct {
	named
	threshold float64
}

func (g *citationPrecision) Grade(_ context.Context, c *Case, out *Output) (Grade, error) {
	if len(out.Cited) == 0 {
		return passFail(false, "no citations"), nil
	}
	gold := map[string]bool{}
	for _, id := range c.Gold {
		gold[id] = true
	}
	in := 0
	var outside []string
	for _, id := range out.Cited {
		if gold[id] {
			in++
		} else {
			outside = append(outside, id)
		}
	}
	// A citation that matches no source is a wrong citation too.
	score := float64(in) / float64(len(out.Cited)+out.InventedCitations)
	reason := fmt.Sprintf("%d of %d cited documents are gold", in, len(out.Cited))
	if len(outside) > 0 {
		reason += "; not gold: " + clip(strings.Join(outside, ", "))
	}
	if out.InventedCitations > 0 {
		reason += fmt.Sprintf("; %d citations match no source", out.InventedCitations)
	}
	return Grade{Score: score, Pass: score >= g.threshold, Reason: reason}, nil
}
