package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one thing to measure: the mock itself, keel in front of it, or
// a peer gateway in front of it.
type target struct {
	Name  string
	URL   string // the chat completions endpoint
	Key   string // sent as a bearer token when set
	Model string
	PID   int // for CPU and memory; 0 when unknown
}

// phase is one measurement: Conc workers, each sending one request after
// another, for N requests in all or until Duration has passed.
type phase struct {
	Stream   bool
	Conc     int
	N        int
	Duration time.Duration
}

type result struct {
	Requests int
	Elapsed  time.Duration
	Lat      []time.Duration // sorted
	CPU      time.Duration   // the target process's CPU during the phase; 0 when unknown
}

func (r result) perSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r result) quantile(q float64) time.Duration {
	if len(r.Lat) == 0 {
		return 0
	}
	i := int(q * float64(len(r.Lat)-1))
	return r.Lat[i]
}

func (r result) cpuPerReq() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// newClient is a keep-alive client with enough idle connections for every
// worker, so no phase measures connection setup.
func newClient(conc int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        2 * conc,
		MaxIdleConnsPerHost: 2 * conc,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
}

func requestBody(model string, stream bool) []byte {
	s := ""
	if stream {
		s = `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16%s}`, model, s)
}

var (
	wantAnswer = []byte(`"content":"Hello`)
	wantDone   = []byte("data: [DONE]")
)

// do sends one request and checks that a whole, successful answer came
// back: a benchmark that counted fast errors would flatter the gateway.
func do(ctx context.Context, c *http.Client, t target, body []byte, stream bool, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.Key != "" {
		req.Header.Set("Authorization", "Bearer "+t.Key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return fmt.Errorf("%s: reading the answer: %w", t.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d: %.300s", t.Name, resp.StatusCode, buf.Bytes())
	}
	want := wantAnswer
	if stream {
		want = wantDone
	}
	if !bytes.Contains(buf.Bytes(), want) {
		return fmt.Errorf("%s: answer lacks %s: %.300s", t.Name, want, buf.Bytes())
	}
	return nil
}

// run measures one phase against one target. The first error stops it:
// figures from a run with failures are not worth reporting.
func run(ctx context.Context, c *http.Client, t target, p phase) (result, error) {
	body := requestBody(t.Model, p.Stream)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if p.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, p.Duration, errPhaseOver)
		defer stop()
	}
	var (
		issued atomic.Int64
		mu     sync.Mutex
		lat    []time.Duration
		wg     sync.WaitGroup
	)
	cpu0, cpuErr := cpuOf(t.PID)
	start := time.Now()
	for range p.Conc {
		wg.Go(func() {
			var buf bytes.Buffer
			mine := make([]time.Duration, 0, 1024)
			for ctx.Err() == nil && (p.N == 0 || issued.Add(1) <= int64(p.N)) {
				t0 := time.Now()
				err := do(ctx, c, t, body, p.Stream, &buf)
				if ctx.Err() != nil {
					break // the phase ended mid-request: neither a result nor a failure
				}
				if err != nil {
					cancel(err)
					break
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, errPhaseOver) {
		return result{}, err
	}
	cpu1, err := cpuOf(t.PID)
	if err = errors.Join(cpuErr, err); err != nil {
		return result{}, err
	}
	slices.Sort(lat)
	return result{Requests: len(lat), Elapsed: elapsed, Lat: lat, CPU: cpu1 - cpu0}, nil
}

var errPhaseOver = errors.New("phase over")

func cpuOf(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	return cpuTime(pid)
}

// warm warms a target up (connections, the server's lazily built model
// stack, the Go runtime's heap) before anything is measured.
func warm(ctx context.Context, t target, stream bool, n int) error {
	c := newClient(1)
	defer c.CloseIdleConnections()
	var buf bytes.Buffer
	body := requestBody(t.Model, stream)
	for range n {
		if err := do(ctx, c, t, body, stream, &buf); err != nil {
			return err
		}
	}
	return nil
}
