package eval

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keelai/keel/internal/testenv"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware"
)

// sampleRun runs a small judged suite where one case fails a grader and one
// judge call fails, so reports show passes, failures and errors.
func sampleRun(t *testing.T) *Result {
	t.Helper()
	s := mustParse(t, `
name: sample
target: {model: fake/echo, input: "{{.q}}", temperature: 0}
concurrency: 1
cases:
  - {id: short, vars: {q: "yes & <no>"}}
  - {id: long, vars: {q: "a rather long answer that goes on"}}
  - {id: mid, vars: {q: "medium answer"}}
graders:
  - type: length
    max: 20
  - type: judge
    rubric: Is it polite?
thresholds:
  pass_rate: 0.9
`)
	judge := llmtest.NewModel("fake/judge",
		llmtest.Text(`{"reason":"polite","score":5}`),
		llmtest.Text(`{"reason":"curt","score":2}`),
		llmtest.Fail(llm.KindServer),
	)
	open := stacked(t, middleware.StackOptions{}, echo())
	res, err := Run(t.Context(), s, Options{Env: Env{JudgeModel: "fake/judge", Model: func(n string) (llm.Model, error) {
		if n == "fake/judge" {
			return judge, nil
		}
		return open(n)
	}}, ID: "run1", Now: func() time.Time { return time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// junitRules is the structure of the common JUnit schema (Jenkins' and
// Ant's junit-10.xsd): which children each element may have, which
// attributes it must have, and which it may have.
var junitRules = map[string]struct {
	children, required, optional []string
}{
	"testsuites": {[]string{"testsuite"}, nil, []string{"name", "time", "tests", "failures", "errors"}},
	"testsuite": {[]string{"testsuite", "properties", "testcase", "system-out", "system-err"},
		[]string{"name", "tests", "failures", "errors"},
		[]string{"group", "time", "skipped", "timestamp", "hostname", "id", "package", "file", "log", "url"}},
	"properties": {[]string{"property"}, nil, nil},
	"property":   {nil, []string{"name", "value"}, nil},
	"testcase": {[]string{"skipped", "error", "failure", "rerunFailure", "rerunError", "flakyFailure", "flakyError", "system-out", "system-err"},
		[]string{"name"}, []string{"time", "classname", "group"}},
	"failure":    {nil, nil, []string{"type", "message"}},
	"error":      {nil, nil, []string{"type", "message"}},
	"skipped":    {nil, nil, []string{"type", "message"}},
	"system-out": {nil, nil, nil},
	"system-err": {nil, nil, nil},
}

// surefireTime is the schema's SUREFIRE_TIME pattern for time attributes.
var surefireTime = regexp.MustCompile(`^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$`)

type xmlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []xmlNode  `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (n *xmlNode) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func checkJUnit(t *testing.T, n *xmlNode, path string) {
	t.Helper()
	name := n.XMLName.Local
	rule, ok := junitRules[name]
	if !ok {
		t.Errorf("%s: element <%s> is not in the schema", path, name)
		return
	}
	for _, a := range rule.required {
		if _, ok := n.attr(a); !ok {
			t.Errorf("%s: <%s> lacks the required attribute %s", path, name, a)
		}
	}
	for _, a := range n.Attrs {
		if !slices.Contains(rule.required, a.Name.Local) && !slices.Contains(rule.optional, a.Name.Local) {
			t.Errorf("%s: <%s> has attribute %s, which the schema does not allow", path, name, a.Name.Local)
		}
		if a.Name.Local == "time" && (name == "testsuite" || name == "testsuites") && !surefireTime.MatchString(a.Value) {
			t.Errorf("%s: time %q does not match SUREFIRE_TIME", path, a.Value)
		}
	}
	if rule.children == nil && len(n.Children) > 0 {
		t.Errorf("%s: <%s> must have no child elements", path, name)
	}
	for i, c := range n.Children {
		if !slices.Contains(rule.children, c.XMLName.Local) {
			t.Errorf("%s: <%s> may not contain <%s>", path, name, c.XMLName.Local)
		}
		checkJUnit(t, &n.Children[i], fmt.Sprintf("%s/%s[%d]", path, c.XMLName.Local, i))
	}
}

func TestJUnitValidates(t *testing.T) {
	res := sampleRun(t)
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, res, nil); err != nil {
		t.Fatal(err)
	}
	var root xmlNode
	if err := xml.Unmarshal(buf.Bytes(), &root); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	if root.XMLName.Local != "testsuites" {
		t.Fatalf("root <%s>", root.XMLName.Local)
	}
	checkJUnit(t, &root, "testsuites")

	// One testcase per case × grader (3 × 2) plus the gate; the counts
	// agree with the elements.
	suite := root.Children[0]
	var cases, failures, errors int
	for _, c := range suite.Children {
		if c.XMLName.Local != "testcase" {
			continue
		}
		cases++
		for _, p := range c.Children {
			switch p.XMLName.Local {
			case "failure":
				failures++
				if m, _ := p.attr("message"); m == "" {
					t.Error("a failure without a message")
				}
			case "error":
				errors++
			}
		}
	}
	if cases != 7 {
		t.Fatalf("%d testcases, want 7", cases)
	}
	for attr, want := range map[string]int{"tests": cases, "failures": failures, "errors": errors} {
		if got, _ := suite.attr(attr); got != fmt.Sprint(want) {
			t.Errorf("testsuite %s=%s, want %d", attr, got, want)
		}
	}
	// long fails length and judge (curt); mid's judge errored; the gate fails.
	if failures != 3 || errors != 1 {
		t.Errorf("%d failures and %d errors, want 3 and 1\n%s", failures, errors, buf.String())
	}
	if !strings.Contains(buf.String(), "2/5: curt") {
		t.Error("the failure does not carry the grader's reason")
	}
}

func TestTableAndJSON(t *testing.T) {
	res := sampleRun(t)
	var tab bytes.Buffer
	if err := WriteTable(&tab, res, Compare(res, res)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CASE", "LENGTH", "JUDGE", "error", "3 cases x 1 repeats: 1 passed", "0 wins, 0 losses, 2 ties"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, res, nil); err != nil {
		t.Fatal(err)
	}
	var back struct {
		ID       string   `json:"id"`
		Failures []string `json:"failures"`
		Cases    []struct {
			Error string `json:"error"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != "run1" || len(back.Failures) != 2 || back.Cases[2].Error == "" {
		t.Fatalf("JSON %s", js.String())
	}
}

// TestHTMLReportInChromium opens the report in headless Chromium, takes a
// screenshot and checks every chart's bars are drawn with a size.
func TestHTMLReportInChromium(t *testing.T) {
	chrome := testenv.Service(t, testenv.Chrome)
	res := sampleRun(t)
	for i := range res.Cases {
		// Fakes answer in no time; give the latency chart something to draw.
		res.Cases[i].LatencyMS = int64(120 * (i + 1))
	}
	base := *res
	base.ID = "run0"
	base.Cases = append([]CaseResult(nil), res.Cases...)
	for i := range base.Cases {
		base.Cases[i].Score = 0.5
		base.Cases[i].Error = ""
	}
	cmp := Compare(&base, res)
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	if err := WriteHTML(&buf, res, cmp); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<script") || strings.Contains(buf.String(), "http://") && !strings.Contains(buf.String(), "http://www.w3.org/2000/svg") {
		t.Fatal("the report is not self-contained")
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	actx, cancel := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")), chromedp.WindowSize(1200, 900))
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitReady("svg rect.bar")); err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatal(err)
	}
	// FullScreenshot gives a JPEG at quality < 100; decode whichever came.
	if len(shot) < 1000 {
		t.Fatalf("screenshot of %d bytes", len(shot))
	}
	if img, err := png.Decode(bytes.NewReader(shot)); err == nil && img.Bounds().Dx() < 100 {
		t.Fatalf("screenshot %v", img.Bounds())
	}
	if err := os.WriteFile(filepath.Join(dir, "report.png"), shot, 0o600); err != nil {
		t.Fatal(err)
	}

	type chart struct {
		Title  string  `json:"title"`
		Bars   int     `json:"bars"`
		Drawn  int     `json:"drawn"`
		Width  float64 `json:"width"`
		Height float64 `json:"height"`
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]chart](`[...document.querySelectorAll("figure.chart")].map(f => {
		const svg = f.querySelector("svg").getBoundingClientRect();
		const bars = [...f.querySelectorAll("rect.bar")];
		const drawn = bars.filter(r => { const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; });
		return {title: f.querySelector("figcaption b").textContent, bars: bars.length, drawn: drawn.length, width: svg.width, height: svg.height};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	// Two score histograms, cost, latency, and A vs B.
	if len(charts) != 5 {
		t.Fatalf("%d charts: %+v", len(charts), charts)
	}
	for _, c := range charts {
		if c.Width < 100 || c.Height < 20 || c.Drawn == 0 {
			t.Errorf("chart %q is not drawn: %+v", c.Title, c)
		}
	}
	hist := charts[0]
	if hist.Bars != 10 {
		t.Errorf("histogram has %d bins", hist.Bars)
	}
	if last := charts[4]; !strings.Contains(last.Title, "run1 − run0") || last.Drawn != last.Bars {
		t.Errorf("A vs B chart %+v", last)
	}
}
