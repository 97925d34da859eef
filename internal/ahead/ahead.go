// Package ahead reads a model's stream on a goroutine of its own, a few
// events ahead of the loop that writes them out, so that the loop can tell
// whether the next event is already waiting.
//
// The gateway's SSE writers use it to flush only when nothing else is
// ready: each flush is a write(2), and under load an upstream's events
// arrive several at a time (one read brings them all), so sending them in
// one flush saves most of those system calls without holding back an event
// that has nothing behind it. An idle server flushes every event at once,
// as it would without this package.
package ahead

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"runtime/debug"

	"github.com/keelai/keel/llm"
)

// depth is how many events a Stream reads ahead of its consumer: more than
// one upstream read brings.
const depth = 16

type item struct {
	ev  llm.Event
	err error
}

// Stream is a model's stream being read ahead. Range over All once.
type Stream struct {
	ch     chan item
	quit   chan struct{} // closed when the consumer has left
	cancel context.CancelFunc
	ended  bool // the consumer has had the final event or an error
	// panicked is what the stream panicked with, set before ch is closed.
	panicked any
}

// Start calls open with a context derived from ctx and ranges over the
// stream it returns on a new goroutine, up to 16 events ahead. The reading
// stops after the final event (llm.EventDone) or an error, exactly as a
// loop that returns on them stops it.
func Start(ctx context.Context, open func(context.Context) iter.Seq2[llm.Event, error]) *Stream {
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{ch: make(chan item, depth), quit: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.ch)
		defer func() {
			// A panic belongs to the handler that ranges over All, where
			// net/http (or the server's own recovery) answers it; here it
			// would end the process.
			if v := recover(); v != nil {
				s.panicked = v
				if v != http.ErrAbortHandler {
					s.panicked = &streamPanic{value: v, stack: debug.Stack()}
				}
			}
		}()
		for ev, err := range open(ctx) {
			select {
			case s.ch <- item{ev, err}:
			case <-s.quit:
				return
			}
			if err != nil || ev.Kind == llm.EventDone {
				return
			}
		}
	}()
	return s
}

// All yields the stream's events in order. When the loop over it ends, the
// reading goroutine has returned: after the final event or an error it is
// left to finish, as the stream's own code (the middleware recording the
// call) expects; a loop left earlier, say because the client has gone,
// cancels the stream first.
func (s *Stream) All() iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		defer s.stop()
		for it := range s.ch {
			s.ended = it.err != nil || it.ev.Kind == llm.EventDone
			if !yield(it.ev, it.err) {
				return
			}
		}
		s.ended = true
	}
}

// Waiting reports whether the next event has already been read, so a
// writer can leave its flush to the event after it.
func (s *Stream) Waiting() bool { return len(s.ch) > 0 }

// stop waits for the reading goroutine to return, cancelling the stream
// first unless it has ended on its own, and raises again a panic of the
// stream's.
func (s *Stream) stop() {
	close(s.quit)
	if !s.ended {
		s.cancel()
	}
	for range s.ch {
	}
	s.cancel()
	if s.panicked != nil {
		panic(s.panicked)
	}
}

// streamPanic carries a panic from the reading goroutine, with its stack,
// which the goroutine that raises it again does not have.
type streamPanic struct {
	value any
	stack []byte
}

func (p *streamPanic) Error() string {
	return fmt.Sprintf("%v (in the stream read ahead)\n%s", p.value, p.stack)
}
