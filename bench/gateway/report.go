package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/keelai/keel/bench/internal/procmem"
)

// row is one figure of the report, taken from each target's results.
type row struct {
	label string
	unit  string
	conc  int // which phase it reads
	// rate: a throughput, compared by ratio only (a difference of
	// requests per second between a mock and a gateway means nothing).
	rate bool
	f    func(result) float64
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func rows(conc int) []row {
	return []row{
		{"latency p50, c=1", "µs", 1, false, func(r result) float64 { return us(r.quantile(.5)) }},
		{"latency p99, c=1", "µs", 1, false, func(r result) float64 { return us(r.quantile(.99)) }},
		{fmt.Sprintf("throughput, c=%d", conc), "req/s", conc, true, result.perSec},
		{fmt.Sprintf("latency p50, c=%d", conc), "µs", conc, false, func(r result) float64 { return us(r.quantile(.5)) }},
		{fmt.Sprintf("CPU per request, c=%d", conc), "µs", conc, false, func(r result) float64 { return us(r.cpuPerReq()) }},
	}
}

func report(w io.Writer, o options, targets []target, res map[key][]result, mem map[string]procmem.Memory, idle procmem.Memory, took time.Duration, check string) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\n%d repetitions (medians), %d requests per c=1 phase, %v per c=%d phase, %v in all; %d CPUs (GOMAXPROCS %d), host %s, %s.\n",
		o.reps, o.n, o.duration, o.conc, took.Round(time.Second), runtime.NumCPU(), runtime.GOMAXPROCS(0), host, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "CPU per request is the named process's own (for direct, the mock's).\n\n")

	others := targets[1:]
	for _, stream := range []bool{false, true} {
		mode := "Non-streamed"
		if stream {
			mode = "Streamed (7 SSE events)"
		}
		fmt.Fprintf(w, "**%s**\n\n| | direct |", mode)
		for _, t := range others {
			fmt.Fprintf(w, " %s | %s − direct | %s ÷ direct |", t.Name, t.Name, t.Name)
		}
		fmt.Fprintf(w, "\n|---|---:|%s\n", strings.Repeat("---:|---:|---:|", len(others)))
		for _, r := range rows(o.conc) {
			base := medianOf(res[key{"direct", stream, r.conc}], r.f)
			fmt.Fprintf(w, "| %s (%s) | %s |", r.label, r.unit, num(base))
			for _, t := range others {
				v := medianOf(res[key{t.Name, stream, r.conc}], r.f)
				if t.PID == 0 && strings.HasPrefix(r.label, "CPU") {
					fmt.Fprintf(w, " – | | |")
					continue
				}
				if r.rate {
					fmt.Fprintf(w, " %s | | %.2f× |", num(v), v/base)
					continue
				}
				fmt.Fprintf(w, " %s | %+.0f | %.2f× |", num(v), v-base, v/base)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "| memory (MB) | peak resident (VmHWM) | resident at the end | of which anonymous | of which file pages |\n|---|---:|---:|---:|---:|\n")
	for _, t := range targets {
		if m, ok := mem[t.Name]; ok {
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f |\n", t.Name, mb(m.Peak), mb(m.RSS), mb(m.Anon), mb(m.File))
		}
	}
	fmt.Fprintf(w, "\nkeel after start, before any request: %.1f MB resident, %.1f MB anonymous, %.1f MB file pages.\n%s\n\n", mb(idle.RSS), mb(idle.Anon), mb(idle.File), check)

	// The targets of issue 7, read from the non-streamed figures.
	p50 := func(name string) float64 { return medianOf(res[key{name, false, 1}], rows(o.conc)[0].f) }
	added := p50("keel") - p50("direct")
	rps := medianOf(res[key{"keel", false, o.conc}], result.perSec)
	cpu := medianOf(res[key{"keel", false, o.conc}], rows(o.conc)[4].f)
	peak := mb(mem["keel"].Peak)
	fmt.Fprintf(w, "| target | wanted | keel | |\n|---|---:|---:|---|\n")
	fmt.Fprintf(w, "| added latency p50, c=1 | ≤ 250 µs | %.0f µs | %s |\n", added, met(added <= 250))
	fmt.Fprintf(w, "| throughput, c=%d | ≥ 10,000 req/s | %s req/s | %s |\n", o.conc, num(rps), met(rps >= 10000))
	fmt.Fprintf(w, "| CPU per request | ≤ 100 µs | %.0f µs | %s |\n", cpu, met(cpu <= 100))
	fmt.Fprintf(w, "| peak resident memory | < 50 MB | %.1f MB | %s |\n", peak, met(peak < 50))
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// num prints a figure with thin grouping of thousands, as BENCHMARKS.md does.
func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
