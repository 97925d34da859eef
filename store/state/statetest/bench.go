package statetest

import (
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/store/state"
)

// Benchmark measures the calls on the server's hot path: appending a
// turn (a user and an assistant message), looking a key up by hash, and
// recording usage in the batches the server's ledger writes (ns/op is per
// record). open must return an empty store.
func Benchmark(b *testing.B, open func(b *testing.B) state.Store) {
	b.Run("AppendMessages", func(b *testing.B) {
		s := open(b)
		ctx := b.Context()
		c := state.Conversation{ID: state.NewID(), Owner: "k"}
		if err := s.CreateConversation(ctx, c); err != nil {
			b.Fatal(err)
		}
		turn := []state.Message{
			{Message: llm.UserText("What is the capital of France?")},
			{Message: llm.AssistantText("Paris."), Model: "anthropic/claude-haiku-4-5",
				Usage: llm.Usage{InputTokens: 12, OutputTokens: 3}, Cost: 30_000, LatencyMS: 310},
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.AppendMessages(ctx, "k", c.ID, turn...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("KeyByHash", func(b *testing.B) {
		s := open(b)
		ctx := b.Context()
		var hashes []string
		for i := range 100 {
			_, k := state.GenerateKey()
			k.Name = k.ID
			if err := s.CreateKey(ctx, k); err != nil {
				b.Fatal(err)
			}
			if i%10 == 0 {
				hashes = append(hashes, k.Hash)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.KeyByHash(ctx, hashes[i%len(hashes)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("RecordUsage", func(b *testing.B) {
		s := open(b)
		ctx := b.Context()
		const batch = 256 // the server's ledger batch
		recs := make([]state.UsageRecord, batch)
		for i := range recs {
			recs[i] = state.UsageRecord{KeyID: "k", Model: "openai/gpt-5-mini",
				Usage: llm.Usage{InputTokens: 12, OutputTokens: 6}, Cost: 30_000, LatencyMS: 3}
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if n%batch == 0 {
				if err := s.RecordUsage(ctx, recs...); err != nil {
					b.Fatal(err)
				}
			}
			n++
		}
	})
}
