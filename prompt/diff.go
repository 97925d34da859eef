package prompt

import (
	"fmt"
	"strings"
)

// Diff describes how b differs from a: the front-matter fields that
// changed, then the system and body templates as a line diff ("-" for a's
// lines, "+" for b's, " " for both). It returns "" when they are the same.
func Diff(a, b *Prompt) string {
	var out strings.Builder
	field := func(name, x, y string) {
		if x != y {
			fmt.Fprintf(&out, "%s: %q -> %q\n", name, x, y)
		}
	}
	field("name", a.Name, b.Name)
	field("version", a.Version, b.Version)
	field("description", a.Description, b.Description)
	field("model", a.Model, b.Model)
	field("temperature", fmtFloat(a.Temperature), fmtFloat(b.Temperature))
	field("max_tokens", fmt.Sprint(a.MaxTokens), fmt.Sprint(b.MaxTokens))
	field("output", schemaText(a), schemaText(b))
	if a.System != b.System {
		out.WriteString("system:\n" + lineDiff(a.System, b.System))
	}
	if a.Body != b.Body {
		out.WriteString("body:\n" + lineDiff(a.Body, b.Body))
	}
	return out.String()
}

func fmtFloat(f *float64) string {
	if f == nil {
		return ""
	}
	return fmt.Sprint(*f)
}

func schemaText(p *Prompt) string {
	if p.Output == nil {
		return ""
	}
	return p.Output.Name + " " + string(p.Output.Schema)
}

// lineDiff is a longest-common-subsequence line diff. Hand-written because
// prompts are short (quadratic is fine) and the diff packages at hand would
// change versions of modules others rely on in go.mod.
func lineDiff(a, b string) string {
	x := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	y := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			out.WriteString("  " + x[i] + "\n")
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + x[i] + "\n")
			i++
		default:
			out.WriteString("+ " + y[j] + "\n")
			j++
		}
	}
	return out.String()
}
