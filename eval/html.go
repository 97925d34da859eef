package eval

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
)

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"mul100": func(x float64) float64 { return 100 * x },
}).Parse(reportTemplate))

// The charts are SVG drawn by the template from geometry computed here, so
// the report is one self-contained file: no script, no CDN, nothing to load.
const (
	chartW   = 640.0
	chartH   = 160.0
	chartPad = 28.0
	maxBars  = 400 // per chart; a larger run shows its first maxBars entries
)

type svgBar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type svgChart struct {
	Title   string
	W, H    float64
	Bars    []svgBar
	Axis    []svgTick
	Note    string
	ZeroY   float64 // the baseline's y, for charts with negative values
	CI      *svgBar // the confidence interval band, if any
	Legend  string
	Caption string
}

type svgTick struct {
	Y     float64
	Label string
}

type htmlView struct {
	R        *Result
	Cmp      *Comparison
	Failures []string
	Dist     []svgChart
	Cost     svgChart
	Latency  svgChart
	Diff     *svgChart
}

// WriteHTML writes a self-contained HTML report of the run: summary, gate,
// score distributions per grader, cost and latency per case, the case table
// and, when cmp is set, B − A per case with the confidence interval.
func WriteHTML(w io.Writer, r *Result, cmp *Comparison) error {
	v := htmlView{R: r, Cmp: cmp, Failures: r.Gate(cmp)}
	for i, g := range r.Summary.Graders {
		v.Dist = append(v.Dist, distChart(r, i, g.Name))
	}
	v.Cost = caseChart(r, "Cost per case (USD)", func(c CaseResult) float64 { return c.Cost.Float() }, func(x float64) string { return fmt.Sprintf("$%.4g", x) })
	v.Latency = caseChart(r, "Latency per case (ms)", func(c CaseResult) float64 { return float64(c.LatencyMS) }, func(x float64) string { return fmt.Sprintf("%.0f ms", x) })
	if cmp != nil && len(cmp.Cases) > 0 {
		d := diffChart(cmp)
		v.Diff = &d
	}
	return reportTmpl.Execute(w, v)
}

// distChart is a histogram of one grader's scores in ten bins.
func distChart(r *Result, gi int, name string) svgChart {
	const bins = 10
	var counts [bins]int
	n := 0
	for _, c := range r.Cases {
		if gi >= len(c.Grades) || c.Grades[gi].Error != "" {
			continue
		}
		b := int(c.Grades[gi].Score * bins)
		counts[min(max(b, 0), bins-1)]++
		n++
	}
	ch := svgChart{Title: "Scores: " + name, W: chartW, H: chartH, Caption: fmt.Sprintf("%d graded outputs in ten bins from 0 to 1", n)}
	top := 1
	for _, c := range counts {
		top = max(top, c)
	}
	plotH := chartH - 2*chartPad
	bw := (chartW - 2*chartPad) / bins
	for i, c := range counts {
		h := plotH * float64(c) / float64(top)
		ch.Bars = append(ch.Bars, svgBar{X: chartPad + float64(i)*bw + 1, Y: chartH - chartPad - h, W: bw - 2, H: h, Class: "bar",
			Title: fmt.Sprintf("%.1f–%.1f: %d", float64(i)/bins, float64(i+1)/bins, c)})
	}
	ch.Axis = []svgTick{{Y: chartH - chartPad, Label: "0"}, {Y: chartPad, Label: fmt.Sprint(top)}}
	return ch
}

// caseChart draws one bar per case and repeat.
func caseChart(r *Result, title string, val func(CaseResult) float64, label func(float64) string) svgChart {
	cs := r.Cases
	ch := svgChart{Title: title, W: chartW, H: chartH}
	if len(cs) > maxBars {
		ch.Note = fmt.Sprintf("first %d of %d", maxBars, len(cs))
		cs = cs[:maxBars]
	}
	top := 0.0
	for _, c := range cs {
		top = math.Max(top, val(c))
	}
	plotH := chartH - 2*chartPad
	bw := (chartW - 2*chartPad) / float64(max(len(cs), 1))
	for i, c := range cs {
		h := 0.0
		if top > 0 {
			h = plotH * val(c) / top
		}
		class := "bar"
		if c.Error != "" {
			class = "bar err"
		}
		ch.Bars = append(ch.Bars, svgBar{X: chartPad + float64(i)*bw, Y: chartH - chartPad - h, W: math.Max(bw-1, 0.5), H: h, Class: class,
			Title: fmt.Sprintf("%s #%d: %s", c.CaseID, c.Repeat, label(val(c)))})
	}
	ch.Axis = []svgTick{{Y: chartH - chartPad, Label: label(0)}, {Y: chartPad, Label: label(top)}}
	return ch
}

// diffChart draws B − A per paired case around a zero line, with the mean's
// confidence interval as a band.
func diffChart(c *Comparison) svgChart {
	ds := c.Cases
	ch := svgChart{Title: fmt.Sprintf("%s − %s per case", c.RunB, c.RunA), W: chartW, H: chartH}
	if len(ds) > maxBars {
		ch.Note = fmt.Sprintf("first %d of %d", maxBars, len(ds))
		ds = ds[:maxBars]
	}
	top := 1e-9
	for _, d := range ds {
		top = math.Max(top, math.Abs(d.Diff))
	}
	top = math.Max(top, math.Max(math.Abs(c.CI.Low), math.Abs(c.CI.High)))
	half := (chartH - 2*chartPad) / 2
	zero := chartPad + half
	y := func(v float64) float64 { return zero - half*v/top }
	bw := (chartW - 2*chartPad) / float64(max(len(ds), 1))
	for i, d := range ds {
		class := "bar tie"
		switch {
		case d.Diff > tieEps:
			class = "bar win"
		case d.Diff < -tieEps:
			class = "bar loss"
		}
		h := math.Abs(y(d.Diff) - zero)
		y0 := math.Min(y(d.Diff), zero)
		if h < 1 {
			// A tie still shows as a sliver, so every case is visible.
			h, y0 = 1, zero-0.5
		}
		ch.Bars = append(ch.Bars, svgBar{X: chartPad + float64(i)*bw, Y: y0, W: math.Max(bw-1, 0.5), H: h, Class: class,
			Title: fmt.Sprintf("%s: %.3f → %.3f (%+.3f)", d.CaseID, d.A, d.B, d.Diff)})
	}
	ch.ZeroY = zero
	lo, hi := y(c.CI.High), y(c.CI.Low)
	ch.CI = &svgBar{X: chartPad, Y: lo, W: chartW - 2*chartPad, H: math.Max(hi-lo, 1), Class: "ci",
		Title: fmt.Sprintf("mean %+.3f, 95%% CI [%+.3f, %+.3f]", c.MeanDiff, c.CI.Low, c.CI.High)}
	ch.Axis = []svgTick{{Y: chartPad, Label: fmt.Sprintf("%+.2f", top)}, {Y: zero, Label: "0"}, {Y: chartH - chartPad, Label: fmt.Sprintf("%+.2f", -top)}}
	ch.Caption = fmt.Sprintf("%d wins, %d losses, %d ties; mean %+.3f, 95%% CI [%+.3f, %+.3f] (shaded)", c.Wins, c.Losses, c.Ties, c.MeanDiff, c.CI.Low, c.CI.High)
	return ch
}
