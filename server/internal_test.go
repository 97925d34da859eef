package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keelai/keel/middleware/ratelimit"
	"github.com/keelai/keel/store/state"
)

func TestPanicBecomes500(t *testing.T) {
	var logs bytes.Buffer
	obs, err := newObserver(prometheus.NewRegistry(), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := obs.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom with sk-ant-api03-" + strings.Repeat("x", 40))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/x", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"internal server error"`) {
		t.Errorf("response = %d %s", rec.Code, rec.Body)
	}
	l := logs.String()
	if !strings.Contains(l, "panic serving request") || !strings.Contains(l, "boom") || !strings.Contains(l, `"status":500`) {
		t.Errorf("logs = %s", l)
	}
	if strings.Contains(l, strings.Repeat("x", 40)) {
		t.Errorf("the panic's secret reached the log")
	}
}

func TestConcurrencyBoundPerKey(t *testing.T) {
	a := newAuthenticator(nil, ratelimit.NewMemoryKeyLimiter(nil), 2, time.Second, clockwork.NewRealClock(), slog.New(slog.DiscardHandler))
	k := state.Key{ID: "k1"}
	r1, err := a.admit(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := a.admit(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.admit(context.Background(), k); err == nil || !strings.Contains(err.Error(), "in flight") {
		t.Errorf("third concurrent request admitted: %v", err)
	}
	if _, err := a.admit(context.Background(), state.Key{ID: "k2"}); err != nil {
		t.Errorf("another key refused: %v", err)
	}
	r1()
	r3, err := a.admit(context.Background(), k)
	if err != nil {
		t.Errorf("after a release: %v", err)
	}
	r2()
	r3()
	if len(a.active) != 1 { // k2's slot is still held
		t.Errorf("active = %v", a.active)
	}
}

func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "0.0.0.0:8080": false, "[::]:80": false, "192.168.1.2:80": false,
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := isLoopbackAddr(a); got != want {
			t.Errorf("isLoopbackAddr(%s) = %v", addr, got)
		}
	}
}
