package eval

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSuiteErrorsNameFileAndLine(t *testing.T) {
	const head = "name: s\ntarget:\n  model: fake/m\n"
	cases := map[string]struct {
		yaml string
		want string // substring of the error, which starts with suite.yaml:LINE:
	}{
		"unknown top field":    {"name: s\ntarget:\n  model: fake/m\ngradrs: []\n", "suite.yaml:4:"},
		"unknown target field": {"name: s\ntarget:\n  model: fake/m\n  modle: x\ngraders: [{type: json}]\ncases: [{id: a}]\n", "suite.yaml:4:"},
		"wrong type":           {head + "repeats: three\ngraders: [{type: json}]\ncases: [{id: a}]\n", "suite.yaml:4:"},
		"no name":              {"target:\n  model: fake/m\ngraders: [{type: json}]\ncases: [{id: a}]\n", "name: required"},
		"unknown grader": {head + "graders:\n  - type: json\n  - type: exactly\ncases: [{id: a}]\n",
			"suite.yaml:6: graders[1] (exactly): unknown type"},
		"bad regex": {head + "graders:\n  - type: regex\n    value: '('\ncases: [{id: a}]\n", "suite.yaml:5: graders[0] (regex): value:"},
		"two targets": {"name: s\ntarget:\n  prompt: p\n  prompts: dir\n  rag: {collection: c}\ngraders: [{type: json}]\ncases: [{id: a}]\n",
			"suite.yaml:3: target: give one of prompt, rag or agent"},
		"threshold names no grader": {head + "graders: [{type: json}]\nthresholds:\n  mean: {jsn: 0.5}\ncases: [{id: a}]\n",
			`suite.yaml:6: thresholds.mean: no grader is named "jsn"`},
		"duplicate case":      {head + "graders: [{type: json}]\ncases:\n  - id: a\n  - id: a\n", `suite.yaml:7: case "a": id is used twice`},
		"case lacks expected": {head + "graders: [{type: exact}]\ncases:\n  - id: a\n", `suite.yaml:6: case "a": grader exact: needs expected`},
		"recall without rag":  {head + "graders: [{type: recall}]\ncases: [{id: a, gold: [d]}]\n", "needs a rag target"},
		"duplicate grader":    {head + "graders: [{type: json}, {type: json}]\ncases: [{id: a}]\n", `name "json" is used twice`},
		"pass rate range":     {head + "graders: [{type: json}]\nthresholds: {pass_rate: 2}\ncases: [{id: a}]\n", "pass_rate: 2 is not in [0, 1]"},
		"bad input template":  {"name: s\ntarget:\n  model: fake/m\n  input: '{{.x'\ngraders: [{type: json}]\ncases: [{id: a}]\n", "suite.yaml:4: target.input:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSuite("suite.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FileError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadSuiteWithJSONLCases(t *testing.T) {
	dir := t.TempDir()
	suite := "name: s\ntarget: {model: fake/m}\ncases_file: cases.jsonl\ncases: [{id: inline, expected: x}]\ngraders: [{type: exact}]\n"
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(suite), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(body string) {
		if err := os.WriteFile(filepath.Join(dir, "cases.jsonl"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"id":"a","vars":{"input":"hi"},"expected":"hi"}` + "\n\n" + `{"id":"b","vars":{"input":"yo"},"expected":"yo"}` + "\n")
	s, err := LoadSuite(filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range s.Cases {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, ","); got != "inline,a,b" {
		t.Fatalf("cases %s, want inline,a,b", got)
	}

	for body, want := range map[string]string{
		`{"id":"a","expected":"x"}` + "\n" + `{"id":"b","expectd":"x"}`: "cases.jsonl:2: json: unknown field",
		`{"id":"a","expected":"x"}` + "\n" + `{"expected":"x"}`:         "cases.jsonl:2: id: required",
		`{"id":"a"}`:                           `case "a": grader exact: needs expected`,
		`{"id":"a","expected":"x"} {"id":"b"}`: "cases.jsonl:1: more than one JSON value",
		`{"id":"inline","expected":"x"}`:       "id is used twice",
	} {
		write(body)
		_, err := LoadSuite(filepath.Join(dir, "s.yaml"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("cases %q: error %v, want %q", body, err, want)
		}
	}
}

func FuzzParseSuite(f *testing.F) {
	f.Add([]byte("name: s\ntarget: {model: fake/m}\ngraders: [{type: contains, value: x}]\ncases: [{id: a}]\n"))
	f.Add([]byte("name: s\ntarget: {rag: {collection: c, k: 5}}\ngraders: [{type: recall}]\ncases: [{id: a, gold: [d1]}]\nthresholds: {mean: {recall: 0.5}}\n"))
	f.Add([]byte("name: s\ntarget: {prompt: p@1.0.0, prompts: dir}\ngraders: [{type: length, min: 1, max: 0}]\n"))
	f.Add([]byte("graders:\n  - type: json_schema\n    schema: {type: object}\n"))
	f.Add([]byte("- [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSuite("f.yaml", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FileError: %v", err, err)
			}
			return
		}
		if s.Name == "" || len(s.Graders) == 0 {
			t.Fatalf("accepted a suite without name or graders: %+v", s)
		}
	})
}

func FuzzParseCases(f *testing.F) {
	f.Add([]byte(`{"id":"a","vars":{"x":1},"expected":"y","gold":["d"]}` + "\n"))
	f.Add([]byte("\n\n{\"id\":\"\"}\n"))
	f.Add([]byte(`{"id":"a"} 1`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := ParseCases("c.jsonl", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) && !strings.HasPrefix(err.Error(), "c.jsonl: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, c := range cs {
			if c.ID == "" {
				t.Fatal("accepted a case without id")
			}
		}
	})
}
