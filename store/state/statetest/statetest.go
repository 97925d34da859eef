// Package statetest is the conformance suite every state.Store passes.
// A store's own test calls Run with a function that opens an empty store
// (and registers its cleanup with t).
package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/store/state"
)

// Run runs the suite. open is called once per subtest and must return an
// empty store.
func Run(t *testing.T, open func(t *testing.T) state.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s state.Store)
	}{
		{"Ping", testPing},
		{"Conversations", testConversations},
		{"ConversationOrder", testConversationOrder},
		{"OwnerIsolation", testOwnerIsolation},
		{"MessagesRoundTrip", testMessagesRoundTrip},
		{"AppendSeq", testAppendSeq},
		{"AppendAtomic", testAppendAtomic},
		{"AppendConcurrent", testAppendConcurrent},
		{"DeleteConversation", testDeleteConversation},
		{"Keys", testKeys},
		{"RevokeKey", testRevokeKey},
		{"CreateKeyConcurrent", testCreateKeyConcurrent},
		{"Usage", testUsage},
		{"UsageBatch", testUsageBatch},
		{"Canceled", testCanceled},
		{"EvalRuns", testEvalRuns},
		{"EvalRunInvalid", testEvalRunInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, open(t)) })
	}
}

// base is a fixed past time, at the microsecond precision stores keep.
var base = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func testPing(t *testing.T, s state.Store) {
	must(t, s.Ping(t.Context()))
}

func testConversations(t *testing.T, s state.Store) {
	ctx := t.Context()
	c := state.Conversation{ID: state.NewID(), Owner: "k1", Title: "Trip", Model: "claude", Collection: "docs",
		CreatedAt: base, UpdatedAt: base.Add(time.Second)}
	must(t, s.CreateConversation(ctx, c))
	got, err := s.Conversation(ctx, "k1", c.ID)
	must(t, err)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("Conversation = %+v, want %+v", got, c)
	}
	wantErr(t, "create with a taken id", s.CreateConversation(ctx, state.Conversation{ID: c.ID, Owner: "k1"}), state.ErrConflict)
	wantErr(t, "create with a taken id by another owner", s.CreateConversation(ctx, state.Conversation{ID: c.ID, Owner: "k2"}), state.ErrConflict)
	for _, bad := range []state.Conversation{{Owner: "k1"}, {ID: "x", Title: "nul\x00"}, {ID: "y", Title: "bad \xff utf-8"}} {
		if err := s.CreateConversation(ctx, bad); err == nil {
			t.Fatalf("create %+v: no error", bad)
		}
	}
	if cs, _ := s.Conversations(ctx, "", 0); len(cs) != 0 {
		t.Fatalf("refused conversations were stored: %+v", cs)
	}
	_, err = s.Conversation(ctx, "k1", "missing")
	wantErr(t, "get missing", err, state.ErrNotFound)

	// Times are set by the store when zero.
	before := time.Now().Add(-time.Second)
	d := state.Conversation{ID: state.NewID(), Owner: "k1"}
	must(t, s.CreateConversation(ctx, d))
	got, err = s.Conversation(ctx, "k1", d.ID)
	must(t, err)
	if got.CreatedAt.Before(before) || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Fatalf("store-set times: created %v updated %v, want now and equal", got.CreatedAt, got.UpdatedAt)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}
}

func testConversationOrder(t *testing.T, s state.Store) {
	ctx := t.Context()
	var ids []string
	for i := range 4 {
		c := state.Conversation{ID: state.NewID(), Owner: "", Title: fmt.Sprint(i), CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		must(t, s.CreateConversation(ctx, c))
		ids = append(ids, c.ID)
	}
	list := func(limit int) []string {
		t.Helper()
		cs, err := s.Conversations(ctx, "", limit)
		must(t, err)
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	if got, want := list(0), []string{ids[3], ids[2], ids[1], ids[0]}; !slices.Equal(got, want) {
		t.Fatalf("Conversations = %v, want newest first %v", got, want)
	}
	// Appending makes the oldest the most recently updated.
	must(t, s.AppendMessages(ctx, "", ids[0], state.Message{Message: llm.UserText("hi")}))
	if got, want := list(0), []string{ids[0], ids[3], ids[2], ids[1]}; !slices.Equal(got, want) {
		t.Fatalf("after append: Conversations = %v, want %v", got, want)
	}
	if got, want := list(2), []string{ids[0], ids[3]}; !slices.Equal(got, want) {
		t.Fatalf("limit 2: Conversations = %v, want %v", got, want)
	}
	if cs, err := s.Conversations(ctx, "nobody", 0); err != nil || len(cs) != 0 {
		t.Fatalf("another owner's list = %v, %v; want empty", cs, err)
	}
}

func testOwnerIsolation(t *testing.T, s state.Store) {
	ctx := t.Context()
	c := state.Conversation{ID: state.NewID(), Owner: "alice", CreatedAt: base}
	must(t, s.CreateConversation(ctx, c))
	must(t, s.AppendMessages(ctx, "alice", c.ID, state.Message{Message: llm.UserText("secret plan")}))
	for _, owner := range []string{"bob", ""} {
		_, err := s.Conversation(ctx, owner, c.ID)
		wantErr(t, owner+" gets", err, state.ErrNotFound)
		_, err = s.Messages(ctx, owner, c.ID)
		wantErr(t, owner+" reads messages", err, state.ErrNotFound)
		wantErr(t, owner+" appends", s.AppendMessages(ctx, owner, c.ID, state.Message{Message: llm.UserText("x")}), state.ErrNotFound)
		wantErr(t, owner+" appends nothing", s.AppendMessages(ctx, owner, c.ID), state.ErrNotFound)
		wantErr(t, owner+" deletes", s.DeleteConversation(ctx, owner, c.ID), state.ErrNotFound)
		cs, err := s.Conversations(ctx, owner, 0)
		must(t, err)
		if len(cs) != 0 {
			t.Fatalf("%s lists %v", owner, cs)
		}
	}
	got, err := s.Conversation(ctx, "alice", c.ID)
	must(t, err)
	if !got.UpdatedAt.After(base) {
		t.Fatal("alice's conversation lost its update")
	}
	ms, err := s.Messages(ctx, "alice", c.ID)
	must(t, err)
	if len(ms) != 1 || ms[0].Message.Text() != "secret plan" {
		t.Fatalf("alice's messages changed by others: %+v", ms)
	}
}

// richMessages uses every part type and field the llm JSON form carries.
func richMessages() []state.Message {
	ttl := &llm.CacheControl{TTL: llm.CacheTTL1h}
	return []state.Message{
		{
			Message: llm.User(
				llm.Text{Text: "What's in this image? ünïcödé ✓ \"quoted\"\n\ttab", Cache: &llm.CacheControl{}},
				llm.Image{MediaType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff}},
				llm.Image{URL: "https://example.com/cat.jpg", Cache: ttl},
				llm.Document{MediaType: "application/pdf", Data: []byte("%PDF-1.7"), Title: "Spec"},
			),
			CreatedAt: base,
		},
		{
			Message: llm.Assistant(
				llm.Thinking{Text: "The user wants weather.", Signature: "EqQBCkgIARABGAIiQL+sig/=="},
				llm.Thinking{Redacted: "EmwKAhgBEgy3redacted=="},
				llm.Text{Text: "Let me check."},
				// Keys out of order and nested: stored as written, not normalised.
				llm.ToolCall{ID: "toolu_01", Name: "weather", Input: json.RawMessage(`{"z":1,"city":"Paris","a":[1,2.50,{"b":null}]}`),
					Signature: "gemini-thought-sig", Cache: &llm.CacheControl{}},
			),
			Model:     "anthropic/claude-sonnet-4-5",
			Usage:     llm.Usage{InputTokens: 120, OutputTokens: 45, CacheReadTokens: 1000, CacheWriteTokens: 20, CacheWrite1hTokens: 3},
			Cost:      cost.USD(123_456),
			LatencyMS: 842,
			Citations: json.RawMessage(`[{"doc":"d1","chunk":3,"score":0.75}]`),
			CreatedAt: base.Add(time.Second),
		},
		{
			Message: llm.User(
				llm.ToolResult{CallID: "toolu_01", Name: "weather", Content: []llm.Part{
					llm.Text{Text: "18°C, cloudy"},
					llm.Image{MediaType: "image/jpeg", Data: []byte{1, 2, 3}},
				}, Cache: &llm.CacheControl{}},
				llm.ToolResult{CallID: "toolu_02", Content: []llm.Part{llm.Text{Text: "boom"}}, IsError: true},
			),
			CreatedAt: base.Add(2 * time.Second),
		},
		{Message: llm.AssistantText(""), Model: "m", CreatedAt: base.Add(3 * time.Second)},
	}
}

func testMessagesRoundTrip(t *testing.T, s state.Store) {
	ctx := t.Context()
	c := state.Conversation{ID: state.NewID(), Owner: "k", Model: "old", CreatedAt: base}
	must(t, s.CreateConversation(ctx, c))
	want := richMessages()
	must(t, s.AppendMessages(ctx, "k", c.ID, want...))
	got, err := s.Messages(ctx, "k", c.ID)
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		want[i].Seq = i + 1
		if !reflect.DeepEqual(got[i], want[i]) {
			g, _ := json.Marshal(got[i])
			w, _ := json.Marshal(want[i])
			t.Errorf("message %d:\n got %s\nwant %s\n(%#v)", i, g, w, got[i])
		}
	}
	// The conversation now names the last model used.
	cv, err := s.Conversation(ctx, "k", c.ID)
	must(t, err)
	if cv.Model != "m" {
		t.Errorf("conversation model = %q, want the last message's %q", cv.Model, "m")
	}
	// Messages with no time get the store's.
	before := time.Now().Add(-time.Second)
	must(t, s.AppendMessages(ctx, "k", c.ID, state.Message{Message: llm.UserText("now")}))
	got, err = s.Messages(ctx, "k", c.ID)
	must(t, err)
	if last := got[len(got)-1]; last.CreatedAt.Before(before) || last.Model != "" || last.Citations != nil {
		t.Errorf("store-set message: %+v", last)
	}
	if cv2, _ := s.Conversation(ctx, "k", c.ID); cv2.Model != "m" {
		t.Errorf("a user turn without model changed the conversation model to %q", cv2.Model)
	}
}

func seqs(t *testing.T, s state.Store, owner, id string) []int {
	t.Helper()
	ms, err := s.Messages(t.Context(), owner, id)
	must(t, err)
	var out []int
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func testAppendSeq(t *testing.T, s state.Store) {
	ctx := t.Context()
	a := state.Conversation{ID: state.NewID(), CreatedAt: base}
	b := state.Conversation{ID: state.NewID(), CreatedAt: base}
	must(t, s.CreateConversation(ctx, a))
	must(t, s.CreateConversation(ctx, b))
	msg := func(text string) state.Message { return state.Message{Message: llm.UserText(text), Seq: 99} }
	must(t, s.AppendMessages(ctx, "", a.ID, msg("1"), msg("2")))
	must(t, s.AppendMessages(ctx, "", b.ID, msg("b1")))
	beforeEmpty, err := s.Conversation(ctx, "", a.ID)
	must(t, err)
	must(t, s.AppendMessages(ctx, "", a.ID))
	if afterEmpty, err := s.Conversation(ctx, "", a.ID); err != nil || !afterEmpty.UpdatedAt.Equal(beforeEmpty.UpdatedAt) {
		t.Fatalf("appending nothing changed the conversation: %+v, %v (was %+v)", afterEmpty, err, beforeEmpty)
	}
	must(t, s.AppendMessages(ctx, "", a.ID, msg("3")))
	must(t, s.AppendMessages(ctx, "", a.ID, msg("4"), msg("5"), msg("6")))
	if got, want := seqs(t, s, "", a.ID), []int{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("seqs = %v, want %v", got, want)
	}
	ms, err := s.Messages(ctx, "", a.ID)
	must(t, err)
	for i, m := range ms {
		if m.Message.Text() != fmt.Sprint(i+1) {
			t.Fatalf("message %d is %q", i, m.Message.Text())
		}
	}
	if got, want := seqs(t, s, "", b.ID), []int{1}; !slices.Equal(got, want) {
		t.Fatalf("other conversation's seqs = %v, want %v", got, want)
	}
	empty := state.Conversation{ID: state.NewID()}
	must(t, s.CreateConversation(ctx, empty))
	if ms, err := s.Messages(ctx, "", empty.ID); err != nil || len(ms) != 0 {
		t.Fatalf("empty conversation: %v, %v", ms, err)
	}
}

func testAppendAtomic(t *testing.T, s state.Store) {
	ctx := t.Context()
	c := state.Conversation{ID: state.NewID(), Owner: "k", CreatedAt: base}
	must(t, s.CreateConversation(ctx, c))
	must(t, s.AppendMessages(ctx, "k", c.ID, state.Message{Message: llm.UserText("first")}))
	before, err := s.Conversation(ctx, "k", c.ID)
	must(t, err)
	bad := [][]state.Message{
		{{Message: llm.UserText("ok")}, {Message: llm.Message{Role: "system", Parts: []llm.Part{llm.Text{Text: "no"}}}}},
		{{Message: llm.UserText("ok")}, {Message: llm.AssistantText("x"), Citations: json.RawMessage(`{"oops"`)}},
		{{Message: llm.UserText("ok")}, {Message: llm.AssistantText("x"), LatencyMS: -1}},
	}
	for i, msgs := range bad {
		if err := s.AppendMessages(ctx, "k", c.ID, msgs...); err == nil {
			t.Fatalf("bad append %d: no error", i)
		}
	}
	if got, want := seqs(t, s, "k", c.ID), []int{1}; !slices.Equal(got, want) {
		t.Fatalf("after failed appends: seqs = %v, want %v", got, want)
	}
	after, err := s.Conversation(ctx, "k", c.ID)
	must(t, err)
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("failed appends changed the conversation: %+v, was %+v", after, before)
	}
	// A missing conversation is not created by appending to it.
	missing := state.NewID()
	wantErr(t, "append to a missing conversation", s.AppendMessages(ctx, "k", missing, state.Message{Message: llm.UserText("x")}), state.ErrNotFound)
	_, err = s.Conversation(ctx, "k", missing)
	wantErr(t, "get the missing conversation after appending", err, state.ErrNotFound)
	_, err = s.Messages(ctx, "k", missing)
	wantErr(t, "messages of a missing conversation", err, state.ErrNotFound)
}

func testAppendConcurrent(t *testing.T, s state.Store) {
	ctx := t.Context()
	c := state.Conversation{ID: state.NewID(), Owner: "k", CreatedAt: base}
	must(t, s.CreateConversation(ctx, c))
	const writers, each = 50, 2
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			var msgs []state.Message
			for i := range each {
				msgs = append(msgs, state.Message{Message: llm.UserText(fmt.Sprintf("%d/%d", w, i))})
			}
			errs <- s.AppendMessages(ctx, "k", c.ID, msgs...)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	ms, err := s.Messages(ctx, "k", c.ID)
	must(t, err)
	if len(ms) != writers*each {
		t.Fatalf("%d messages, want %d", len(ms), writers*each)
	}
	seen := map[string]int{}
	for i, m := range ms {
		if m.Seq != i+1 {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
		seen[m.Message.Text()] = m.Seq
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct messages, want %d", len(seen), writers*each)
	}
	// Each append's messages are adjacent and in order.
	for w := range writers {
		first, second := seen[fmt.Sprintf("%d/0", w)], seen[fmt.Sprintf("%d/1", w)]
		if second != first+1 {
			t.Fatalf("writer %d's messages have seqs %d and %d, want adjacent", w, first, second)
		}
	}
}

func testDeleteConversation(t *testing.T, s state.Store) {
	ctx := t.Context()
	c := state.Conversation{ID: state.NewID(), Owner: "k", CreatedAt: base}
	keep := state.Conversation{ID: state.NewID(), Owner: "k", CreatedAt: base}
	must(t, s.CreateConversation(ctx, c))
	must(t, s.CreateConversation(ctx, keep))
	must(t, s.AppendMessages(ctx, "k", c.ID, richMessages()...))
	must(t, s.AppendMessages(ctx, "k", keep.ID, state.Message{Message: llm.UserText("stay")}))
	must(t, s.DeleteConversation(ctx, "k", c.ID))
	_, err := s.Conversation(ctx, "k", c.ID)
	wantErr(t, "get deleted", err, state.ErrNotFound)
	_, err = s.Messages(ctx, "k", c.ID)
	wantErr(t, "messages of deleted", err, state.ErrNotFound)
	wantErr(t, "delete again", s.DeleteConversation(ctx, "k", c.ID), state.ErrNotFound)
	// The id can be used again, starting from seq 1: no messages linger.
	must(t, s.CreateConversation(ctx, state.Conversation{ID: c.ID, Owner: "k"}))
	must(t, s.AppendMessages(ctx, "k", c.ID, state.Message{Message: llm.UserText("again")}))
	if got, want := seqs(t, s, "k", c.ID), []int{1}; !slices.Equal(got, want) {
		t.Fatalf("recreated conversation seqs = %v, want %v", got, want)
	}
	if got := seqs(t, s, "k", keep.ID); !slices.Equal(got, []int{1}) {
		t.Fatalf("the other conversation's messages = %v", got)
	}
}

func testKeys(t *testing.T, s state.Store) {
	ctx := t.Context()
	var keys []state.Key
	for i, name := range []string{"ci", "alice", "bob"} {
		_, k := state.GenerateKey()
		k.Name = name
		k.RPM = 60 * i
		k.Budget = cost.Dollars(float64(i) * 2.5)
		k.CreatedAt = base.Add(time.Duration(3-i) * time.Hour) // created in reverse order
		must(t, s.CreateKey(ctx, k))
		keys = append(keys, k)
	}
	secret, k := state.GenerateKey()
	k.Name = "dave"
	must(t, s.CreateKey(ctx, k))
	got, err := s.KeyByHash(ctx, state.HashKey(secret))
	must(t, err)
	if got.ID != k.ID || got.Name != "dave" || got.Prefix != k.Prefix || got.RevokedAt != nil || got.CreatedAt.IsZero() {
		t.Fatalf("KeyByHash = %+v, want %+v with a creation time", got, k)
	}
	for _, k := range keys {
		got, err := s.KeyByHash(ctx, k.Hash)
		must(t, err)
		if !reflect.DeepEqual(got, k) {
			t.Fatalf("KeyByHash = %+v, want %+v", got, k)
		}
	}
	_, err = s.KeyByHash(ctx, state.HashKey("keel_wrong"))
	wantErr(t, "unknown hash", err, state.ErrNotFound)

	list, err := s.Keys(ctx)
	must(t, err)
	var names []string
	for _, k := range list {
		names = append(names, k.Name)
	}
	if want := []string{"bob", "alice", "ci", "dave"}; !slices.Equal(names, want) {
		t.Fatalf("Keys = %v, want oldest first %v", names, want)
	}

	_, dup := state.GenerateKey()
	dup.Name = "alice"
	wantErr(t, "taken name", s.CreateKey(ctx, dup), state.ErrConflict)
	_, dup = state.GenerateKey()
	dup.ID = keys[0].ID
	dup.Name = "new"
	wantErr(t, "taken id", s.CreateKey(ctx, dup), state.ErrConflict)
	_, dup = state.GenerateKey()
	dup.Hash = keys[0].Hash
	dup.Name = "new"
	wantErr(t, "taken hash", s.CreateKey(ctx, dup), state.ErrConflict)
	if err := s.CreateKey(ctx, state.Key{ID: state.NewID(), Name: "nohash"}); err == nil {
		t.Fatal("key without a hash: no error")
	}
	if list2, _ := s.Keys(ctx); len(list2) != len(list) {
		t.Fatalf("refused keys were stored: %d keys, want %d", len(list2), len(list))
	}
}

func testRevokeKey(t *testing.T, s state.Store) {
	ctx := t.Context()
	mk := func(name string) state.Key {
		_, k := state.GenerateKey()
		k.Name = name
		must(t, s.CreateKey(ctx, k))
		return k
	}
	a, b, c := mk("a"), mk("b"), mk("c")
	before := time.Now().Add(-time.Second)
	must(t, s.RevokeKey(ctx, a.ID))
	must(t, s.RevokeKey(ctx, "b"))
	ga, err := s.KeyByHash(ctx, a.Hash)
	must(t, err)
	gb, err := s.KeyByHash(ctx, b.Hash)
	must(t, err)
	gc, err := s.KeyByHash(ctx, c.Hash)
	must(t, err)
	if ga.RevokedAt == nil || ga.RevokedAt.Before(before) || gb.RevokedAt == nil || gc.RevokedAt != nil {
		t.Fatalf("revoked: a %v, b %v, c %v; want a and b only", ga.RevokedAt, gb.RevokedAt, gc.RevokedAt)
	}
	// Revoking again keeps the first time.
	must(t, s.RevokeKey(ctx, "a"))
	ga2, err := s.KeyByHash(ctx, a.Hash)
	must(t, err)
	if !ga2.RevokedAt.Equal(*ga.RevokedAt) {
		t.Fatalf("second revoke moved RevokedAt from %v to %v", ga.RevokedAt, ga2.RevokedAt)
	}
	// A key named like another's id: the id wins, one key is revoked.
	d := mk(c.ID)
	must(t, s.RevokeKey(ctx, c.ID))
	gc, err = s.KeyByHash(ctx, c.Hash)
	must(t, err)
	gd, err := s.KeyByHash(ctx, d.Hash)
	must(t, err)
	if gc.RevokedAt == nil || gd.RevokedAt != nil {
		t.Fatalf("revoking %q: by id %v, by name %v; want only the id's key revoked", c.ID, gc.RevokedAt, gd.RevokedAt)
	}
	wantErr(t, "revoke unknown", s.RevokeKey(ctx, "zzz"), state.ErrNotFound)
	wantErr(t, "revoke empty", s.RevokeKey(ctx, ""), state.ErrNotFound)
	list, err := s.Keys(ctx)
	must(t, err)
	if len(list) != 4 {
		t.Fatalf("Keys after revoking = %d keys, want 4 (revoked ones included)", len(list))
	}
}

func testUsage(t *testing.T, s state.Store) {
	ctx := t.Context()
	day1 := time.Date(2026, 5, 1, 23, 59, 59, 0, time.UTC)
	day2 := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	u := func(in, out int) llm.Usage {
		return llm.Usage{InputTokens: in, OutputTokens: out, CacheReadTokens: 1, CacheWriteTokens: 2, CacheWrite1hTokens: 3}
	}
	recs := []state.UsageRecord{
		{Time: day1, KeyID: "k1", Model: "gpt", Usage: u(10, 1), Cost: 100, LatencyMS: 5},
		{Time: day1.Add(-time.Hour), KeyID: "k1", Model: "gpt", Usage: u(20, 2), Cost: 200, ErrorKind: "rate_limit"},
		{Time: day1, KeyID: "k1", Model: "claude", Usage: u(30, 3), Cost: 300},
		{Time: day1, KeyID: "k2", Model: "gpt", Usage: u(40, 4), Cost: 400},
		// A later time zone's evening is the next UTC day.
		{Time: day2.In(time.FixedZone("EST", -5*3600)), KeyID: "k1", Model: "gpt", Usage: u(50, 5), Cost: 500},
	}
	must(t, s.RecordUsage(ctx, recs...))
	must(t, s.RecordUsage(ctx))
	// row is what the ledger sums to: u's cache classes count 1, 2 and 3
	// tokens a call.
	row := func(day, key, model string, calls, errs, in, out int, c cost.USD) state.UsageRow {
		return state.UsageRow{Day: day, KeyID: key, Model: model, Calls: calls, Errors: errs, Cost: c,
			Usage: llm.Usage{InputTokens: in, OutputTokens: out, CacheReadTokens: calls, CacheWriteTokens: 2 * calls, CacheWrite1hTokens: 3 * calls}}
	}
	all := []state.UsageRow{
		row("2026-05-01", "k1", "claude", 1, 0, 30, 3, 300),
		row("2026-05-01", "k1", "gpt", 2, 1, 30, 3, 300),
		row("2026-05-01", "k2", "gpt", 1, 0, 40, 4, 400),
		row("2026-05-02", "k1", "gpt", 1, 0, 50, 5, 500),
	}
	cases := []struct {
		name string
		f    state.UsageFilter
		want []state.UsageRow
	}{
		{"all", state.UsageFilter{}, all},
		{"key", state.UsageFilter{KeyID: "k2"}, all[2:3]},
		{"model", state.UsageFilter{Model: "gpt"}, []state.UsageRow{all[1], all[2], all[3]}},
		{"since", state.UsageFilter{Since: day2}, all[3:]},
		{"until", state.UsageFilter{Until: day2}, all[:3]},
		{"window", state.UsageFilter{Since: day1.Add(-30 * time.Minute), Until: day2, KeyID: "k1", Model: "gpt"},
			[]state.UsageRow{row("2026-05-01", "k1", "gpt", 1, 0, 10, 1, 100)}},
		{"none", state.UsageFilter{KeyID: "nobody"}, nil},
	}
	for _, tc := range cases {
		got, err := s.Usage(ctx, tc.f)
		must(t, err)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Usage =\n %+v\nwant\n %+v", tc.name, got, tc.want)
		}
	}
	// A record naming a model no database holds as text is cleaned, not
	// refused: it must not keep a batch from the ledger.
	must(t, s.RecordUsage(ctx, state.UsageRecord{Time: day2.Add(48 * time.Hour), KeyID: "k\xff", Model: "bad\x00", Cost: 7}))
	got, err := s.Usage(ctx, state.UsageFilter{Since: day2.Add(48 * time.Hour)})
	must(t, err)
	if len(got) != 1 || got[0].KeyID != "k\uFFFD" || got[0].Model != "bad\uFFFD" || got[0].Cost != 7 {
		t.Fatalf("cleaned record = %+v", got)
	}
}

func testEvalRuns(t *testing.T, s state.Store) {
	ctx := t.Context()
	run := func(id, suite string, at time.Time, n int) state.EvalRun {
		r := state.EvalRun{ID: id, Suite: suite, CreatedAt: at, Summary: json.RawMessage(`{"pass_rate":0.5,"n":` + fmt.Sprint(n) + `}`)}
		for i := range n {
			r.Cases = append(r.Cases, state.EvalCase{
				CaseID: fmt.Sprintf("case-%d", n-i), Repeat: i % 2, Model: "m", PromptVersion: "qa@3+abc123",
				Score: float64(i) / 4, Passed: i%2 == 0, Cost: cost.USD(10 * i), LatencyMS: int64(i),
				Data: json.RawMessage(`{"output":"x` + fmt.Sprint(i) + `"}`),
			})
		}
		return r
	}
	r1 := run("r1", "qa", base, 3)
	r1.Cases[1].Error = "provider: rate limited"
	r1.Cases[2].Data = nil
	r2 := run("r2", "rag", base.Add(time.Hour), 1)
	r3 := run("r3", "qa", base.Add(2*time.Hour), 0)
	r3.Summary = nil
	for _, r := range []state.EvalRun{r1, r2, r3} {
		must(t, s.SaveEvalRun(ctx, r))
	}
	got, err := s.EvalRun(ctx, "r1")
	must(t, err)
	if !reflect.DeepEqual(got, r1) {
		t.Fatalf("EvalRun = %+v\nwant %+v", got, r1)
	}
	got, err = s.EvalRun(ctx, "r3")
	must(t, err)
	if got.Summary != nil || len(got.Cases) != 0 {
		t.Fatalf("empty run came back as %+v", got)
	}
	_, err = s.EvalRun(ctx, "nope")
	wantErr(t, "missing run", err, state.ErrNotFound)

	// Saving again replaces the run's summary and cases, and keeps its
	// creation time when the new save leaves it zero.
	r1b := run("r1", "qa", time.Time{}, 2)
	must(t, s.SaveEvalRun(ctx, r1b))
	got, err = s.EvalRun(ctx, "r1")
	must(t, err)
	r1b.CreatedAt = base
	if !reflect.DeepEqual(got, r1b) {
		t.Fatalf("replaced EvalRun = %+v\nwant %+v", got, r1b)
	}

	ids := func(suite string, limit int) []string {
		t.Helper()
		rs, err := s.EvalRuns(ctx, suite, limit)
		must(t, err)
		var out []string
		for _, r := range rs {
			if r.Cases != nil {
				t.Fatalf("EvalRuns returned cases for %s", r.ID)
			}
			out = append(out, r.ID)
		}
		return out
	}
	if got, want := ids("", 0), []string{"r3", "r2", "r1"}; !slices.Equal(got, want) {
		t.Fatalf("EvalRuns = %v, want newest first %v", got, want)
	}
	if got, want := ids("qa", 0), []string{"r3", "r1"}; !slices.Equal(got, want) {
		t.Fatalf("EvalRuns(qa) = %v, want %v", got, want)
	}
	if got, want := ids("", 1), []string{"r3"}; !slices.Equal(got, want) {
		t.Fatalf("EvalRuns limit 1 = %v, want %v", got, want)
	}
	rs, err := s.EvalRuns(ctx, "rag", 0)
	must(t, err)
	if len(rs) != 1 || string(rs[0].Summary) != string(r2.Summary) || !rs[0].CreatedAt.Equal(r2.CreatedAt) {
		t.Fatalf("EvalRuns(rag) = %+v", rs)
	}

	// A run saved with no time gets the store's.
	before := time.Now().Add(-time.Second)
	must(t, s.SaveEvalRun(ctx, state.EvalRun{ID: "r4", Suite: "qa"}))
	r4, err := s.EvalRun(ctx, "r4")
	must(t, err)
	if r4.CreatedAt.Before(before) {
		t.Fatalf("store-set run time %v", r4.CreatedAt)
	}
}

func testEvalRunInvalid(t *testing.T, s state.Store) {
	ctx := t.Context()
	good := state.EvalRun{ID: "r", Suite: "qa", CreatedAt: base, Cases: []state.EvalCase{{CaseID: "a", Score: 1}}}
	must(t, s.SaveEvalRun(ctx, good))
	nan := 0.0
	bad := []state.EvalRun{
		{ID: "", Suite: "qa"},
		{ID: "r", Suite: "qa", Cases: []state.EvalCase{{CaseID: "a", Score: nan / nan}}},
		{ID: "r", Suite: "qa", Summary: json.RawMessage(`{`)},
		{ID: "r", Suite: "qa", Cases: []state.EvalCase{{CaseID: "a", Data: json.RawMessage(`nope`)}}},
	}
	for i, r := range bad {
		if err := s.SaveEvalRun(ctx, r); err == nil {
			t.Fatalf("bad run %d saved without error", i)
		}
	}
	got, err := s.EvalRun(ctx, "r")
	must(t, err)
	if !reflect.DeepEqual(got, good) {
		t.Fatalf("refused saves changed the run: %+v", got)
	}
}

func testCreateKeyConcurrent(t *testing.T, s state.Store) {
	ctx := t.Context()
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, k := state.GenerateKey()
			k.Name = "dup"
			errs[i] = s.CreateKey(ctx, k)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, state.ErrConflict):
			t.Fatalf("concurrent create: %v, want nil or ErrConflict", err)
		}
	}
	keys, err := s.Keys(ctx)
	must(t, err)
	if ok != 1 || len(keys) != 1 {
		t.Fatalf("%d creates of one name succeeded and %d keys stored; want 1 and 1", ok, len(keys))
	}
}

// The server batches ledger writes: a large batch is one call.
func testUsageBatch(t *testing.T, s state.Store) {
	ctx := t.Context()
	const n = 5000
	recs := make([]state.UsageRecord, n)
	for i := range recs {
		recs[i] = state.UsageRecord{Time: base.Add(time.Duration(i) * time.Millisecond), KeyID: "k", Model: "m",
			Usage: llm.Usage{InputTokens: i, OutputTokens: 1}, Cost: cost.USD(i), LatencyMS: 1}
		if i%100 == 0 {
			recs[i].ErrorKind = "server"
		}
	}
	must(t, s.RecordUsage(ctx, recs...))
	rows, err := s.Usage(ctx, state.UsageFilter{})
	must(t, err)
	want := state.UsageRow{Day: base.Format(time.DateOnly), KeyID: "k", Model: "m", Calls: n, Errors: n / 100,
		Usage: llm.Usage{InputTokens: n * (n - 1) / 2, OutputTokens: n}, Cost: cost.USD(n * (n - 1) / 2)}
	if len(rows) != 1 || !reflect.DeepEqual(rows[0], want) {
		t.Fatalf("Usage = %+v, want [%+v]", rows, want)
	}
}

// A canceled context fails the call with context.Canceled and writes
// nothing.
func testCanceled(t *testing.T, s state.Store) {
	c := state.Conversation{ID: state.NewID(), CreatedAt: base}
	must(t, s.CreateConversation(t.Context(), c))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	wantErr(t, "append with a canceled context", s.AppendMessages(ctx, "", c.ID, state.Message{Message: llm.UserText("x")}), context.Canceled)
	wantErr(t, "record usage with a canceled context", s.RecordUsage(ctx, state.UsageRecord{KeyID: "k"}), context.Canceled)
	_, err := s.Conversations(ctx, "", 0)
	wantErr(t, "list with a canceled context", err, context.Canceled)
	if got := seqs(t, s, "", c.ID); len(got) != 0 {
		t.Fatalf("a canceled append stored %v", got)
	}
	if rows, err := s.Usage(t.Context(), state.UsageFilter{}); err != nil || len(rows) != 0 {
		t.Fatalf("a canceled RecordUsage stored %v (%v)", rows, err)
	}
}
