package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/store/state"
)

const (
	// ledgerFlushEvery and ledgerBatch: records are written at least
	// every second, or as soon as this many are waiting.
	ledgerFlushEvery = time.Second
	ledgerBatch      = 256
	// ledgerBacklog bounds what is kept while the store is down; past it
	// new records are dropped (and counted) rather than growing memory.
	ledgerBacklog = 100_000
)

// ledger writes usage records to the state store in batches, from one
// goroutine it owns, so that a model call never waits on the database.
type ledger struct {
	st    state.Store
	log   *slog.Logger
	clock clockwork.Clock
	obs   *observer

	mu      sync.Mutex
	pending []state.UsageRecord
	kick    chan struct{} // a batch is full
	stop    chan struct{}
	done    chan struct{}
}

func newLedger(st state.Store, log *slog.Logger, clock clockwork.Clock, obs *observer) *ledger {
	l := &ledger{st: st, log: log, clock: clock, obs: obs,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// add queues a record; it never blocks on the store.
func (l *ledger) add(r state.UsageRecord) {
	l.mu.Lock()
	if len(l.pending) >= ledgerBacklog {
		l.mu.Unlock()
		l.obs.dropped.Inc()
		return
	}
	l.pending = append(l.pending, r)
	full := len(l.pending) >= ledgerBatch
	l.mu.Unlock()
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

func (l *ledger) run() {
	defer close(l.done)
	t := l.clock.NewTicker(ledgerFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.Chan():
		case <-l.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l.flush(ctx)
		cancel()
	}
}

// flush writes what is pending. On failure the records go back in front
// of the queue, to be tried again at the next flush.
func (l *ledger) flush(ctx context.Context) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := l.st.RecordUsage(ctx, batch...)
	if err == nil {
		return nil
	}
	l.log.Warn("usage ledger: writing failed; will retry", "records", len(batch), "err", llm.Redact(err.Error()))
	l.mu.Lock()
	defer l.mu.Unlock()
	if keep := ledgerBacklog - len(l.pending); len(batch) > keep {
		l.obs.dropped.Add(float64(len(batch) - max(keep, 0)))
		batch = batch[:max(keep, 0)]
	}
	l.pending = append(batch, l.pending...)
	return err
}

// close stops the writer and flushes what is left.
func (l *ledger) close(ctx context.Context) error {
	close(l.stop)
	<-l.done
	return l.flush(ctx)
}
