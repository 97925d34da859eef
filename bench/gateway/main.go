// Command gateway measures what `keel serve` adds in front of a model:
// latency, throughput, CPU and memory, side by side with a direct call to
// the same upstream, in one run.
//
//	go run ./bench/gateway                       # 3 repetitions, medians
//	go run ./bench/gateway -reps 1 -duration 2s  # a quick look
//	go run ./bench/gateway -perf /tmp/keel.perf  # and a CPU profile of keel under load
//
// Three processes take part, so that each one's CPU and memory are its own:
//
//   - the mock upstream, this program re-executed with -mode mock: a
//     minimal OpenAI-compatible /v1/chat/completions answering a fixed
//     small JSON body, or a seven-event SSE stream;
//   - keel serve, built from this tree into a temporary folder and run
//     with a keel.yaml whose alias "bench" points an OpenAI-type provider
//     at the mock. An API key made by `keel keys create` is sent with each
//     request, so authentication, the per-key limiter and budget checks,
//     routing (alias to provider/model), the middleware stack, Prometheus
//     metrics, the usage ledger and the JSON access log (to a file) all run
//     as in production;
//   - the load generator, this process: net/http with keep-alive, N workers
//     each sending one request after another.
//
// For each repetition, each mode (plain, streamed) and each concurrency,
// the targets (direct, keel, and -peer when given) run one after another,
// so they see the same machine conditions. Concurrency 1 sends -n requests
// and reports latency to the last byte (p50, p99); concurrency -c runs for
// -duration and reports requests per second. Every answer is checked
// (status 200 and a whole body, [DONE] for streams); the first failure
// stops the run.
//
// CPU per request is the target process's utime+stime over the
// concurrency -c phase (from /proc/PID/stat before and after it) divided by
// the requests answered in it. Peak memory is VmHWM from /proc/PID/status
// at the end, with the resident set split into anonymous memory (heap,
// stacks) and file pages (the executable's code and read-only data: shared,
// clean, droppable); keel's is also read once it has started, before any
// request. Both need Linux.
//
// -peer measures another gateway the same way: start it in front of the
// mock (fix the mock's address with -mock-addr), and give the URL of its
// chat completions endpoint, the model name it routes to the mock, and
// optionally its key and process id.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keelai/keel/bench/internal/procmem"
)

type options struct {
	reps     int
	n        int
	conc     int
	duration time.Duration
	warmup   int
	keelBin  string
	mockAddr string
	perf     string
	keep     bool
	peer     target
}

func main() {
	log.SetFlags(0)
	var o options
	mode := flag.String("mode", "", "internal: mock runs the mock upstream")
	flag.IntVar(&o.reps, "reps", 3, "repetitions; figures are their medians")
	flag.IntVar(&o.n, "n", 2000, "requests per concurrency-1 (latency) phase")
	flag.IntVar(&o.conc, "c", 16, "workers in the throughput phase")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each throughput phase")
	flag.IntVar(&o.warmup, "warmup", 300, "requests per target and mode before measuring")
	flag.StringVar(&o.keelBin, "keel", "", "a keel binary to run (default: build ./cmd/keel)")
	flag.StringVar(&o.mockAddr, "mock-addr", "127.0.0.1:0", "where the mock upstream listens")
	flag.StringVar(&o.perf, "perf", "", "after measuring, record keel with perf(1) under load into `FILE`")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (keel.yaml, state, access log)")
	flag.StringVar(&o.peer.URL, "peer", "", "another gateway's chat completions `URL`, in front of the mock")
	flag.StringVar(&o.peer.Model, "peer-model", "openai/gpt-bench", "the model name -peer routes to the mock")
	flag.StringVar(&o.peer.Key, "peer-key", "", "bearer token for -peer")
	flag.IntVar(&o.peer.PID, "peer-pid", 0, "-peer's process id, for its CPU and memory")
	flag.StringVar(&o.peer.Name, "peer-name", "peer", "-peer's column heading")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch *mode {
	case "mock":
		err = runMock(o.mockAddr)
	case "":
		err = bench(ctx, o)
	default:
		err = fmt.Errorf("-mode %q: want mock or nothing", *mode)
	}
	if err != nil {
		log.Fatalf("gateway: %v", err)
	}
}

func bench(ctx context.Context, o options) error {
	if o.reps < 1 || o.n < 1 || o.conc < 1 || o.duration <= 0 {
		return errors.New("-reps, -n, -c and -duration must be positive")
	}
	dir, err := os.MkdirTemp("", "keel-gwbench-")
	if err != nil {
		return err
	}
	if o.keep {
		log.Printf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	mock, mockAddr, err := startChild(ctx, exec.Command(self, "-mode", "mock", "-mock-addr", o.mockAddr), os.Stderr, "mock listening on ")
	if err != nil {
		return fmt.Errorf("mock: %w", err)
	}
	defer stopChild(mock)
	log.Printf("mock upstream on %s (pid %d)", mockAddr, mock.Process.Pid)

	k, err := startKeel(ctx, o.keelBin, dir, mockAddr)
	if err != nil {
		return err
	}
	defer stopChild(k.cmd)
	idle, err := procmem.Of(k.cmd.Process.Pid)
	if err != nil {
		return err
	}

	targets := []target{
		{Name: "direct", URL: "http://" + mockAddr + "/v1/chat/completions", Model: "gpt-bench", PID: mock.Process.Pid},
		{Name: "keel", URL: k.url + "/v1/chat/completions", Key: k.key, Model: "bench", PID: k.cmd.Process.Pid},
	}
	if o.peer.URL != "" {
		targets = append(targets, o.peer)
	}
	for _, t := range targets {
		for _, stream := range []bool{false, true} {
			if err := warm(ctx, t, stream, o.warmup); err != nil {
				return fmt.Errorf("warming up: %w", err)
			}
		}
	}

	load, _ := os.ReadFile("/proc/loadavg")
	log.Printf("load before: %s", strings.TrimSpace(string(load)))
	start := time.Now()
	res := map[key][]result{}
	for rep := range o.reps {
		for _, stream := range []bool{false, true} {
			for _, p := range []phase{{Stream: stream, Conc: 1, N: o.n}, {Stream: stream, Conc: o.conc, Duration: o.duration}} {
				for _, t := range targets {
					c := newClient(p.Conc)
					r, err := run(ctx, c, t, p)
					c.CloseIdleConnections()
					if err != nil {
						return err
					}
					res[key{t.Name, stream, p.Conc}] = append(res[key{t.Name, stream, p.Conc}], r)
					log.Printf("rep %d %-6s stream=%-5v c=%-2d  %6d req  %8.0f req/s  p50 %v  p99 %v  cpu/req %v",
						rep+1, t.Name, stream, p.Conc, r.Requests, r.perSec(), r.quantile(.5), r.quantile(.99), r.cpuPerReq())
				}
			}
		}
	}
	took := time.Since(start)
	load, _ = os.ReadFile("/proc/loadavg")
	log.Printf("load after: %s", strings.TrimSpace(string(load)))

	mem := map[string]procmem.Memory{}
	for _, t := range targets {
		if t.PID != 0 {
			if mem[t.Name], err = procmem.Of(t.PID); err != nil {
				return err
			}
		}
	}
	check, err := k.check(ctx)
	if err != nil {
		return err
	}

	if o.perf != "" {
		if err := record(ctx, o, targets[1]); err != nil {
			return err
		}
	}

	report(os.Stdout, o, targets, res, mem, idle, took, check)
	return nil
}

type key struct {
	target string
	stream bool
	conc   int
}

// keel is the keel serve child.
type keel struct {
	cmd      *exec.Cmd
	url, key string
	logFile  string
}

func startKeel(ctx context.Context, bin, dir, mockAddr string) (*keel, error) {
	if bin == "" {
		bin = filepath.Join(dir, "keel")
		log.Printf("building ./cmd/keel")
		b := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/keel")
		b.Dir, b.Stdout, b.Stderr = moduleRoot(), os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return nil, fmt.Errorf("building keel (-keel BINARY runs one built beforehand): %w", err)
		}
	}
	cfg := filepath.Join(dir, "keel.yaml")
	yaml := fmt.Sprintf(`providers:
  mock:
    type: openai
    base_url: http://%s/v1
    api_key: bench-upstream-key
models:
  bench:
    provider: mock
    model: gpt-bench
storage:
  data: %s
`, mockAddr, filepath.Join(dir, "data"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	// A clean environment: no provider keys or KEEL_ settings of the
	// caller's may change what is measured.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "KEEL_CONFIG=" + cfg}

	create := exec.CommandContext(ctx, bin, "keys", "create", "--name", "bench")
	create.Env, create.Stderr = env, os.Stderr
	out, err := create.Output()
	if err != nil {
		return nil, fmt.Errorf("keel keys create: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	apiKey := strings.TrimSpace(lines[len(lines)-1])

	logFile := filepath.Join(dir, "access.log")
	lf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer lf.Close() // the child has its own descriptor
	serve := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	serve.Env = env
	cmd, addr, err := startChild(ctx, serve, lf, "keel serve: listening on ")
	if err != nil {
		return nil, fmt.Errorf("keel serve: %w", err)
	}
	k := &keel{cmd: cmd, url: addr, key: apiKey, logFile: logFile}
	if err := waitReady(ctx, k.url+"/readyz"); err != nil {
		stopChild(cmd)
		return nil, err
	}
	log.Printf("keel serve on %s (pid %d)", k.url, cmd.Process.Pid)
	return k, nil
}

// check confirms from keel's own records that the measured requests went
// the whole way: counted by the metrics, and logged one record each.
func (k *keel) check(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var ok, llm float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		val := func() float64 {
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return f
		}
		switch {
		case strings.HasPrefix(line, "keel_http_requests_total{") && strings.Contains(line, `code="200"`) && strings.Contains(line, "/v1/chat/completions"):
			ok += val()
		case strings.HasPrefix(line, "keel_llm_requests_total{"):
			llm += val()
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	f, err := os.Open(k.logFile)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var records int
	sc = bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"msg":"http request"`) {
			records++
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if ok == 0 || llm == 0 || records == 0 {
		return "", fmt.Errorf("keel recorded nothing: %v chat completions answered 200, %v model calls, %d access-log records", ok, llm, records)
	}
	return fmt.Sprintf("keel's own records: %.0f chat completions answered 200 (keel_http_requests_total), %.0f model calls (keel_llm_requests_total), %d access-log records.", ok, llm, records), nil
}

// record profiles keel with perf(1) while the throughput phase runs
// again, non-streamed. perf samples the process from outside, so the
// keel binary measured is the one profiled, with nothing added to it.
func record(ctx context.Context, o options, t target) error {
	sec := max(int(o.duration/time.Second), 1)
	p := exec.CommandContext(ctx, "perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(t.PID), "-o", o.perf, "--", "sleep", strconv.Itoa(sec))
	p.Stdout, p.Stderr = os.Stderr, os.Stderr
	if err := p.Start(); err != nil {
		return fmt.Errorf("perf: %w", err)
	}
	c := newClient(o.conc)
	_, err := run(ctx, c, t, phase{Conc: o.conc, Duration: time.Duration(sec) * time.Second})
	c.CloseIdleConnections()
	if err := errors.Join(err, p.Wait()); err != nil {
		return fmt.Errorf("perf: %w", err)
	}
	log.Printf("profile in %s: perf report -i %s --no-children --sort symbol", o.perf, o.perf)
	return nil
}

// startChild starts cmd with its stderr to errOut and waits for the line
// on its stdout that starts with prefix; the rest of that line (an
// address) is returned.
func startChild(ctx context.Context, cmd *exec.Cmd, errOut io.Writer, prefix string) (*exec.Cmd, string, error) {
	cmd.Stderr = errOut
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				found <- strings.TrimSpace(s)
				break
			}
		}
		close(found)
		io.Copy(io.Discard, out) // a child blocked on a full pipe would stall
	}()
	select {
	case addr, ok := <-found:
		if ok {
			return cmd, addr, nil
		}
		err = errors.New("exited before announcing its address")
	case <-time.After(time.Minute):
		err = errors.New("no address announced within a minute")
	case <-ctx.Done():
		err = ctx.Err()
	}
	stopChild(cmd)
	return nil, "", err
}

func stopChild(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", url, cmp.Or(ctx.Err(), err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// moduleRoot is the folder of keel's go.mod, so that the build works from
// any working directory inside the module.
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
		return filepath.Dir(gomod)
	}
	return "."
}

func medianOf(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
