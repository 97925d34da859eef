package eval

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints a run for a terminal: one line per case and repeat, then
// the per-grader summary and, when cmp is set, the comparison.
func WriteTable(w io.Writer, r *Result, cmp *Comparison) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var names []string
	for _, g := range r.Summary.Graders {
		names = append(names, g.Name)
	}
	fmt.Fprintf(tw, "CASE\tREPEAT\tSCORE\tPASS\t%s\tCOST\tMS\tNOTE\n", strings.Join(upper(names), "\t"))
	for _, c := range r.Cases {
		score, pass := fmt.Sprintf("%.3f", c.Score), yesNo(c.Passed)
		if c.Error != "" {
			score, pass = "error", "no"
		}
		cols := make([]string, len(names))
		for i := range names {
			cols[i] = "-"
			if i < len(c.Grades) {
				if g := c.Grades[i]; g.Error != "" {
					cols[i] = "error"
				} else {
					cols[i] = fmt.Sprintf("%.2f", g.Score)
				}
			}
		}
		note := c.Error
		if note == "" {
			for _, g := range c.Grades {
				if !g.Pass {
					note = g.Grader + ": " + g.Reason
					break
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", c.CaseID, c.Repeat, score, pass, strings.Join(cols, "\t"),
			c.Cost, c.LatencyMS, clip(oneLine(note)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := r.Summary
	fmt.Fprintf(w, "\nrun %s  suite %s  %s\n", r.ID, r.Suite, s.Target)
	latency := fmt.Sprintf("latency p50 %d ms p95 %d ms", s.LatencyMS.P50, s.LatencyMS.P95)
	if s.Batch {
		latency = "run as a batch (batch prices, no latency)"
	}
	fmt.Fprintf(w, "%d cases x %d repeats: %d passed (%.1f%%), %d errors, mean score %.3f, cost %s, %s, %d cache hits\n",
		s.Cases, s.Repeats, s.Passed, 100*s.PassRate, s.Errors, s.MeanScore, s.Cost, latency, s.CacheHits)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GRADER\tTYPE\tMEAN\tPASS RATE\tERRORS\tTHRESHOLD")
	for _, g := range s.Graders {
		th := "-"
		if v, ok := s.Thresh.Mean[g.Name]; ok {
			th = fmt.Sprintf("%.3f", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%d\t%s\n", g.Name, g.Type, g.Mean, g.PassRate, g.Errors, th)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cmp != nil {
		WriteComparison(w, cmp)
	}
	return nil
}

// WriteComparison prints a comparison's aggregate in a few lines.
func WriteComparison(w io.Writer, c *Comparison) {
	fmt.Fprintf(w, "\n%s vs %s over %d paired cases: %d wins, %d losses, %d ties\n", c.RunB, c.RunA, len(c.Cases), c.Wins, c.Losses, c.Ties)
	if c.Pairwise {
		fmt.Fprintf(w, "pairwise judge's preference for %s (each pair judged in both orders): mean %+.3f, 95%% CI [%+.3f, %+.3f] (paired bootstrap, %d resamples)\n",
			c.RunB, c.MeanDiff, c.CI.Low, c.CI.High, c.CI.Resamples)
	} else {
		fmt.Fprintf(w, "mean score %.3f -> %.3f, difference %+.3f, 95%% CI [%+.3f, %+.3f] (paired bootstrap, %d resamples)\n",
			c.MeanA, c.MeanB, c.MeanDiff, c.CI.Low, c.CI.High, c.CI.Resamples)
	}
	if len(c.OnlyA)+len(c.OnlyB) > 0 {
		fmt.Fprintf(w, "not paired (missing or errored): %d in %s, %d in %s\n", len(c.OnlyA), c.RunA, len(c.OnlyB), c.RunB)
	}
}

func upper(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToUpper(s)
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Report is the JSON form of a run with its gate and comparison.
type Report struct {
	*Result
	Comparison *Comparison `json:"comparison,omitempty"`
	// Failures are the gate's missed thresholds; empty means it passed.
	Failures []string `json:"failures"`
}

// WriteJSON writes the run, its comparison (when set) and its gate as one
// indented JSON document.
func WriteJSON(w io.Writer, r *Result, cmp *Comparison) error {
	fails := r.Gate(cmp)
	if fails == nil {
		fails = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Report{Result: r, Comparison: cmp, Failures: fails})
}

// The JUnit XML elements, as the common schema (Jenkins' and Ant's
// junit-10.xsd) defines them: testsuites > testsuite > testcase, with
// failure and error elements carrying message and type attributes.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string          `xml:"name,attr"`
	Tests     int             `xml:"tests,attr"`
	Failures  int             `xml:"failures,attr"`
	Errors    int             `xml:"errors,attr"`
	Skipped   int             `xml:"skipped,attr"`
	Time      string          `xml:"time,attr"`
	Timestamp string          `xml:"timestamp,attr"`
	ID        int             `xml:"id,attr"`
	Package   string          `xml:"package,attr"`
	Hostname  string          `xml:"hostname,attr"`
	Props     *junitProps     `xml:"properties,omitempty"`
	Cases     []junitTestCase `xml:"testcase"`
	SystemOut string          `xml:"system-out"`
	SystemErr string          `xml:"system-err"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the run as JUnit XML: one testcase per case, repeat and
// grader (classname the suite and case, name the grader and repeat); a
// failed grade is a failure carrying the grader's reason, a grader or target
// error is an error. The gate's failures, if any, are one more testcase
// named "gate", so a CI that reads only JUnit still fails the build.
func WriteJUnit(w io.Writer, r *Result, cmp *Comparison) error {
	ts := junitSuite{Name: r.Suite, Timestamp: r.CreatedAt.UTC().Format("2006-01-02T15:04:05"), Package: "keel.eval", Hostname: "localhost"}
	ts.Props = &junitProps{Props: []junitProp{{"run", r.ID}, {"target", r.Summary.Target}}}
	var totalMS int64
	for _, c := range r.Cases {
		totalMS += c.LatencyMS
		class := r.Suite + "." + c.CaseID
		t := seconds(c.LatencyMS)
		if len(c.Grades) == 0 {
			// The target failed (or never ran): one errored testcase stands
			// for the case.
			ts.Cases = append(ts.Cases, junitTestCase{Name: fmt.Sprintf("target#%d", c.Repeat), ClassName: class, Time: t,
				Error: &junitProblem{Message: clip(oneLine(c.Error)), Type: "error", Text: c.Error}})
			continue
		}
		for _, g := range c.Grades {
			tc := junitTestCase{Name: fmt.Sprintf("%s#%d", g.Grader, c.Repeat), ClassName: class, Time: t}
			switch {
			case g.Error != "":
				tc.Error = &junitProblem{Message: clip(oneLine(g.Error)), Type: "error", Text: g.Error}
			case !g.Pass:
				tc.Failure = &junitProblem{Message: clip(oneLine(g.Reason)), Type: "failure",
					Text: fmt.Sprintf("score %.3f\n%s\noutput: %s", g.Score, g.Reason, c.Detail.Output)}
			}
			ts.Cases = append(ts.Cases, tc)
		}
	}
	if fails := r.Gate(cmp); len(fails) > 0 {
		ts.Cases = append(ts.Cases, junitTestCase{Name: "gate", ClassName: r.Suite, Time: "0",
			Failure: &junitProblem{Message: clip(fails[0]), Type: "gate", Text: strings.Join(fails, "\n")}})
	} else {
		ts.Cases = append(ts.Cases, junitTestCase{Name: "gate", ClassName: r.Suite, Time: "0"})
	}
	for _, tc := range ts.Cases {
		ts.Tests++
		if tc.Failure != nil {
			ts.Failures++
		}
		if tc.Error != nil {
			ts.Errors++
		}
	}
	ts.Time = seconds(totalMS)
	doc := junitSuites{Name: r.Suite, Tests: ts.Tests, Failures: ts.Failures, Errors: ts.Errors, Time: ts.Time, Suites: []junitSuite{ts}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }
