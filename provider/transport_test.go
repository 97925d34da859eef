package provider

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// countingConn counts the writes made on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// sdkBody is a body as the official SDKs send it: bytes in a wrapper
// type net/http does not know, with GetBody set.
type sdkBody struct{ io.ReadCloser }

func TestRequestsGoOutInOneWrite(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
	}))
	defer srv.Close()

	var writes atomic.Int64
	rt := pooledTransport()
	ow := rt.(oneWrite)
	ow.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return countingConn{c, &writes}, err
	}
	client := &http.Client{Transport: ow}
	defer client.CloseIdleConnections()

	payload := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	for _, tt := range []struct {
		name      string
		getBody   bool
		maxWrites int64
	}{
		{"an SDK's body with GetBody: one write", true, 1},
		// Without GetBody the body cannot be had again: net/http flushes
		// the headers first, as it must for a body it does not know.
		{"a body without GetBody: left alone", false, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = int64(len(payload))
			req.Body = sdkBody{io.NopCloser(bytes.NewReader(payload))}
			if tt.getBody {
				req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }
			}
			before := writes.Load()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if n := writes.Load() - before; n != tt.maxWrites {
				t.Errorf("%d writes, want %d", n, tt.maxWrites)
			}
			if got.Load() != string(payload) {
				t.Errorf("server got %q", got.Load())
			}
		})
	}
}
