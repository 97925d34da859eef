package ahead

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keelai/keel/llm"
)

func text(s string) llm.Event { return llm.Event{Kind: llm.EventText, Text: s} }

// eventually polls cond until it holds; the deadline only bounds a broken
// implementation, it measures nothing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

func TestOrderAndWaiting(t *testing.T) {
	release := make(chan struct{})
	s := Start(t.Context(), func(ctx context.Context) iter.Seq2[llm.Event, error] {
		return func(yield func(llm.Event, error) bool) {
			if !yield(text("a"), nil) || !yield(text("b"), nil) {
				return
			}
			<-release
			yield(llm.Event{Kind: llm.EventDone, Response: &llm.Response{}}, nil)
		}
	})
	var got []string
	for ev, err := range s.All() {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Text {
		case "a":
			eventually(t, "b waiting behind a", s.Waiting)
		case "b":
			if s.Waiting() {
				t.Error("Waiting after b, with the stream blocked")
			}
			close(release)
		}
		got = append(got, ev.Text)
		if ev.Kind == llm.EventDone {
			got[len(got)-1] = "done"
		}
	}
	if want := []string{"a", "b", "done"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("events %q, want %q", got, want)
	}
}

// A loop left before the end cancels the stream, and the reading goroutine
// (and so the stream's own clean-up) is over when the loop is.
func TestEarlyExitCancels(t *testing.T) {
	var cleaned, canceled bool
	s := Start(t.Context(), func(ctx context.Context) iter.Seq2[llm.Event, error] {
		return func(yield func(llm.Event, error) bool) {
			defer func() { cleaned = true }()
			if !yield(text("a"), nil) {
				return
			}
			<-ctx.Done() // a stalled upstream: only cancellation ends it
			canceled = true
			yield(llm.Event{}, ctx.Err())
		}
	})
	for range s.All() {
		break
	}
	if !cleaned || !canceled {
		t.Errorf("after the loop: cleaned up %v, cancelled %v; want both", cleaned, canceled)
	}
}

// After the final event or an error the stream finishes on its own, not
// cancelled: the middleware that records the call runs after its last
// yield, with the request's context intact.
func TestEndIsNotCancelled(t *testing.T) {
	for name, last := range map[string]item{
		"done":  {ev: llm.Event{Kind: llm.EventDone, Response: &llm.Response{}}},
		"error": {err: errors.New("upstream: 500")},
	} {
		t.Run(name, func(t *testing.T) {
			var after error = errors.New("stream code after the last event never ran")
			var more bool
			s := Start(t.Context(), func(ctx context.Context) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					if !yield(text("a"), nil) {
						return
					}
					more = yield(last.ev, last.err)
					after = ctx.Err()
				}
			})
			n := 0
			for _, err := range s.All() {
				n++
				if err != nil {
					break
				}
			}
			if n != 2 {
				t.Errorf("%d events, want 2", n)
			}
			if after != nil {
				t.Errorf("after its last event the stream saw %v, want an uncancelled context", after)
			}
			if more {
				t.Error("the stream was asked for more after its last event")
			}
		})
	}
}

func TestParentCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := Start(ctx, func(ctx context.Context) iter.Seq2[llm.Event, error] {
		return func(yield func(llm.Event, error) bool) {
			<-ctx.Done()
			yield(llm.Event{}, ctx.Err())
		}
	})
	cancel()
	var got error
	for _, err := range s.All() {
		got = err
	}
	if !errors.Is(got, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", got)
	}
}

// A panic in the stream is raised again in the goroutine that ranges over
// it, where the server recovers it, instead of ending the process.
func TestPanicReachesConsumer(t *testing.T) {
	for name, value := range map[string]any{"value": "boom", "abort": http.ErrAbortHandler} {
		t.Run(name, func(t *testing.T) {
			s := Start(t.Context(), func(ctx context.Context) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					if yield(text("a"), nil) {
						panic(value)
					}
				}
			})
			var got any
			func() {
				defer func() { got = recover() }()
				for range s.All() {
				}
			}()
			switch want := value.(type) {
			case error:
				if got != want {
					t.Errorf("recovered %v, want %v itself", got, want)
				}
			default:
				p, ok := got.(*streamPanic)
				if !ok || p.value != value || !strings.Contains(p.Error(), "ahead_test.go") {
					t.Errorf("recovered %#v, want a streamPanic of %v with the stream's stack", got, value)
				}
			}
		})
	}
}
