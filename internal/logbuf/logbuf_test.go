package logbuf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink is a destination that records what it got, in order.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	err    error
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	s.writes++
	return s.buf.Write(p)
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestEveryRecordArrivesWholeAndInOrder(t *testing.T) {
	dst := &sink{}
	w := New(dst)
	const writers, records = 8, 5000 // 8×5000×~20 B: several batches, past the limit
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range records {
				fmt.Fprintf(w, "w%d r%07d %s\n", g, i, strings.Repeat("x", i%50))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	lines := strings.Split(strings.TrimSuffix(dst.String(), "\n"), "\n")
	if len(lines) != writers*records {
		t.Fatalf("%d lines, want %d", len(lines), writers*records)
	}
	for _, line := range lines {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(line, "w%d r%d %s", &g, &i, &pad); err != nil && i%50 != 0 {
			t.Fatalf("line %q: %v", line, err)
		}
		if i != next[g] || len(pad) != i%50 {
			t.Fatalf("line %q: want record %d of writer %d", line, next[g], g)
		}
		next[g]++
	}
	if dst.writes >= writers*records/10 {
		t.Errorf("%d writes for %d records: not buffered", dst.writes, writers*records)
	}
}

func TestRecordsArriveWithoutClose(t *testing.T) {
	dst := &sink{}
	w := New(dst)
	defer w.Close()
	w.Write([]byte("one\n"))
	// No bound on when, only that it happens: the machine may be slow.
	deadline := time.Now().Add(30 * time.Second)
	for dst.String() != "one\n" {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the destination has %q", dst.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWritesAfterCloseGoStraightThrough(t *testing.T) {
	dst := &sink{}
	w := New(dst)
	w.Write([]byte("a\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write([]byte("b\n")); n != 2 || err != nil {
		t.Fatalf("Write after Close = %d, %v", n, err)
	}
	if got := dst.String(); got != "a\nb\n" {
		t.Errorf("got %q", got)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseReportsTheWriteError(t *testing.T) {
	broken := errors.New("disk full")
	dst := &sink{err: broken}
	w := New(dst)
	w.Write([]byte("lost\n"))
	if err := w.Close(); !errors.Is(err, broken) {
		t.Errorf("Close = %v, want %v", err, broken)
	}
}
