package api

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/keelai/keel/store/state"
)

// memState is a small in-memory state.Store for the API's tests: owner
// scoping, seq assignment and all-or-none appends as the contract says.
// Keys and eval runs are not used by the API and fail loudly.
type memState struct {
	mu    sync.Mutex
	convs map[string]state.Conversation
	msgs  map[string][]state.Message
	usage []state.UsageRecord
	// failAppend makes AppendMessages fail (a store that went away).
	failAppend error
}

func newMemState() *memState {
	return &memState{convs: map[string]state.Conversation{}, msgs: map[string][]state.Message{}}
}

var errUnused = fmt.Errorf("memState: not used by the API")

func (s *memState) CreateConversation(_ context.Context, c state.Conversation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.convs[c.ID]; ok {
		return state.ErrConflict
	}
	now := time.Now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	s.convs[c.ID] = c
	return nil
}

func (s *memState) conv(owner, id string) (state.Conversation, error) {
	c, ok := s.convs[id]
	if !ok || c.Owner != owner {
		return state.Conversation{}, fmt.Errorf("conversation %q: %w", id, state.ErrNotFound)
	}
	return c, nil
}

func (s *memState) Conversation(_ context.Context, owner, id string) (state.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conv(owner, id)
}

func (s *memState) Conversations(_ context.Context, owner string, limit int) ([]state.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []state.Conversation
	for _, c := range s.convs {
		if c.Owner == owner {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b state.Conversation) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *memState) DeleteConversation(_ context.Context, owner, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.conv(owner, id); err != nil {
		return err
	}
	delete(s.convs, id)
	delete(s.msgs, id)
	return nil
}

func (s *memState) AppendMessages(_ context.Context, owner, id string, msgs ...state.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAppend != nil {
		return s.failAppend
	}
	c, err := s.conv(owner, id)
	if err != nil {
		return err
	}
	seq := len(s.msgs[id])
	now := time.Now().UTC()
	for _, m := range msgs {
		seq++
		m.Seq, m.CreatedAt = seq, now
		s.msgs[id] = append(s.msgs[id], m)
	}
	c.UpdatedAt = now
	s.convs[id] = c
	return nil
}

func (s *memState) Messages(_ context.Context, owner, id string) ([]state.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.conv(owner, id); err != nil {
		return nil, err
	}
	return slices.Clone(s.msgs[id]), nil
}

func (s *memState) RecordUsage(_ context.Context, recs ...state.UsageRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage = append(s.usage, recs...)
	return nil
}

func (s *memState) Usage(_ context.Context, f state.UsageFilter) ([]state.UsageRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := map[[3]string]*state.UsageRow{}
	var out []*state.UsageRow
	for _, r := range s.usage {
		switch {
		case f.KeyID != "" && r.KeyID != f.KeyID, f.Model != "" && r.Model != f.Model,
			!f.Since.IsZero() && r.Time.Before(f.Since), !f.Until.IsZero() && !r.Time.Before(f.Until):
			continue
		}
		day := r.Time.UTC().Format(time.DateOnly)
		k := [3]string{day, r.KeyID, r.Model}
		row := idx[k]
		if row == nil {
			row = &state.UsageRow{Day: day, KeyID: r.KeyID, Model: r.Model}
			idx[k] = row
			out = append(out, row)
		}
		row.Calls++
		if r.ErrorKind != "" {
			row.Errors++
		}
		row.Usage = row.Usage.Add(r.Usage)
		row.Cost += r.Cost
	}
	slices.SortFunc(out, func(a, b *state.UsageRow) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Model, b.Model))
	})
	rows := make([]state.UsageRow, len(out))
	for i, r := range out {
		rows[i] = *r
	}
	return rows, nil
}

func (s *memState) CreateKey(context.Context, state.Key) error { return errUnused }
func (s *memState) KeyByHash(context.Context, string) (state.Key, error) {
	return state.Key{}, errUnused
}
func (s *memState) Keys(context.Context) ([]state.Key, error)        { return nil, errUnused }
func (s *memState) RevokeKey(context.Context, string) error          { return errUnused }
func (s *memState) SaveEvalRun(context.Context, state.EvalRun) error { return errUnused }
func (s *memState) EvalRun(context.Context, string) (state.EvalRun, error) {
	return state.EvalRun{}, errUnused
}
func (s *memState) EvalRuns(context.Context, string, int) ([]state.EvalRun, error) {
	return nil, errUnused
}
func (s *memState) Ping(context.Context) error { return nil }
func (s *memState) Close() error               { return nil }
