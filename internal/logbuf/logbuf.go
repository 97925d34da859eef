// Package logbuf buffers a log's writes so that a server writing a record
// or two per request does not make a write(2) for each: records are copied
// into memory and written out by one goroutine, at most Interval apart and
// as soon as a batch fills. Under load the gateway's access and model-call
// records cost two system calls per request this way saved; a record
// reaches the log at most Interval late, and Close writes what is left.
//
// zap's zapcore.BufferedWriteSyncer does the same; this is the few lines
// of it Keel needs, without taking zap for a slog program.
package logbuf

import (
	"io"
	"sync"
	"time"
)

const (
	// Interval is the longest a record waits in memory.
	Interval = 100 * time.Millisecond
	// batch: past this many bytes waiting, they are written at once.
	batch = 64 << 10
	// limit: past this many bytes waiting (the destination is slower than
	// the records come), writers wait for the write rather than grow the
	// buffer: records are never dropped.
	limit = 4 << 20
)

// Writer is a buffered io.Writer safe for concurrent use. Every Write
// must be followed, eventually, by Close.
type Writer struct {
	dst io.Writer

	out sync.Mutex // held while writing to dst; serialises flushes

	mu      sync.Mutex
	buf     []byte
	err     error // the first write error, returned by Close
	closed  bool
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

// New returns a Writer writing to dst and starts its flushing goroutine,
// which Close stops.
func New(dst io.Writer) *Writer {
	w := &Writer{dst: dst, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go w.run()
	return w
}

// Write copies p into the buffer. It writes through to dst, in the
// caller's goroutine, only when the buffer is over its limit or the Writer
// is closed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.flush(p)
	}
	w.buf = append(w.buf, p...)
	n := len(w.buf)
	w.mu.Unlock()
	switch {
	case n >= limit:
		w.flush(nil)
	case n >= batch:
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (w *Writer) run() {
	defer close(w.stopped)
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.kick:
		}
		w.flush(nil)
	}
}

// flush writes what is buffered, then tail. Records keep arriving in a
// fresh buffer while the write is under way.
func (w *Writer) flush(tail []byte) (int, error) {
	w.out.Lock()
	defer w.out.Unlock()
	w.mu.Lock()
	b := w.buf
	w.buf = nil
	w.mu.Unlock()
	var err error
	if len(b) > 0 {
		_, err = w.dst.Write(b)
	}
	n := 0
	if err == nil && len(tail) > 0 {
		n, err = w.dst.Write(tail)
	}
	w.mu.Lock()
	if err != nil && w.err == nil {
		w.err = err
	}
	if w.buf == nil && cap(b) <= 2*batch {
		w.buf = b[:0] // reuse it, unless a burst made it large
	}
	w.mu.Unlock()
	return n, err
}

// Close writes what is buffered, stops the flushing goroutine and returns
// the first error writing to dst met. Writes after Close go straight to
// dst.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.stopped
	w.flush(nil)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
