package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider/openai"
	"github.com/keelai/keel/server"
	"github.com/keelai/keel/store/state"
)

// The mock must be a real OpenAI-compatible upstream, or the benchmark
// measures keel's error path: keel's own OpenAI adapter (openai-go
// underneath) reads it, plain and streamed.
func TestMockSpeaksOpenAI(t *testing.T) {
	mock := httptest.NewServer(mockHandler())
	defer mock.Close()
	m := openai.New(openai.Options{BaseURL: mock.URL + "/v1", APIKey: "k"}).Model("gpt-bench")
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}

	resp, err := m.Generate(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Text(); got != "Hello from the mock upstream." || resp.Usage.OutputTokens != 6 {
		t.Errorf("plain: text %q, usage %+v", got, resp.Usage)
	}

	resp, err = llm.Collect(m.Stream(t.Context(), req))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Text(); got != "Hello from the mock." || resp.Usage.OutputTokens != 4 {
		t.Errorf("streamed: text %q, usage %+v", got, resp.Usage)
	}
}

// newKeel is keel's server in front of the mock, in process, with a key, as
// the benchmark's child runs it.
func newKeel(t testing.TB) (keelURL, apiKey string) {
	mock := httptest.NewServer(mockHandler())
	t.Cleanup(mock.Close)
	cfg, err := config.Parse("keel.yaml", []byte(`providers:
  mock: {type: openai, base_url: `+mock.URL+`/v1, api_key: k}
models:
  bench: {provider: mock, model: gpt-bench}
storage:
  data: `+t.TempDir()+`
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := server.OpenState(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	secret, k := state.GenerateKey()
	k.Name = "bench"
	if err := st.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Options{Config: cfg, State: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h := httptest.NewServer(srv.Handler())
	t.Cleanup(h.Close)
	return h.URL, secret
}

// The load generator counts only whole, successful answers, through keel
// as well as direct, and stops at the first failure.
func TestRunThroughKeel(t *testing.T) {
	url, key := newKeel(t)
	tg := target{Name: "keel", URL: url + "/v1/chat/completions", Key: key, Model: "bench"}
	for _, stream := range []bool{false, true} {
		r, err := run(t.Context(), newClient(4), tg, phase{Stream: stream, Conc: 4, N: 40})
		if err != nil {
			t.Fatalf("stream=%v: %v", stream, err)
		}
		if r.Requests != 40 || len(r.Lat) != 40 || r.quantile(.5) <= 0 {
			t.Errorf("stream=%v: %d requests, %d latencies, p50 %v", stream, r.Requests, len(r.Lat), r.quantile(.5))
		}
	}

	bad := tg
	bad.Key = "keel_not-a-key"
	_, err := run(t.Context(), newClient(1), bad, phase{Conc: 2, N: 10})
	if err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Errorf("a refused key: err = %v, want status 401", err)
	}
	bad = tg
	bad.Model = "no-such-model"
	if _, err := run(t.Context(), newClient(1), bad, phase{Duration: time.Minute, Conc: 1}); err == nil {
		t.Error("an unknown model: no error")
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (keel (serve) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 1000 200\n"
	got, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 325 * clockTick; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "4242 keel S 1", "1 (k) S 1 2 3 4 5 6 7 8 9 10 x 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestFigures(t *testing.T) {
	r := result{Requests: 4, Elapsed: 2 * time.Second, CPU: 400 * time.Microsecond,
		Lat: []time.Duration{1, 2, 3, 100}}
	if r.perSec() != 2 || r.cpuPerReq() != 100*time.Microsecond || r.quantile(.5) != 2 || r.quantile(.99) != 3 || r.quantile(1) != 100 {
		t.Errorf("perSec %v cpuPerReq %v p50 %v p99 %v", r.perSec(), r.cpuPerReq(), r.quantile(.5), r.quantile(.99))
	}
	rs := []result{{Requests: 3, Elapsed: time.Second}, {Requests: 1, Elapsed: time.Second}, {Requests: 2, Elapsed: time.Second}}
	if got := medianOf(rs, result.perSec); got != 2 {
		t.Errorf("median of 3 = %v", got)
	}
	if got := medianOf(rs[:2], result.perSec); got != 2 {
		t.Errorf("median of 2 = %v", got)
	}
	for v, want := range map[float64]string{7: "7", 1234: "1 234", -11108: "-11 108", 1234567: "1 234 567"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}

// BenchmarkKeel is keel's handler in front of the mock, all in this
// process: quicker to run than the harness, and profilable with
// -cpuprofile, but it shares CPU accounting with the client and the mock.
//
//	go test ./bench/gateway -run XXX -bench Keel -cpuprofile cpu.out
func BenchmarkKeel(b *testing.B) {
	url, key := newKeel(b)
	for _, stream := range []bool{false, true} {
		name := "plain"
		if stream {
			name = "stream"
		}
		b.Run(name, func(b *testing.B) {
			tg := target{Name: "keel", URL: url + "/v1/chat/completions", Key: key, Model: "bench"}
			c := newClient(16)
			defer c.CloseIdleConnections()
			body := requestBody(tg.Model, stream)
			b.SetParallelism(8) // 16 workers on 2 cores, as the harness's c=16
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var buf bytes.Buffer
				for pb.Next() {
					if err := do(context.Background(), c, tg, body, stream, &buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
