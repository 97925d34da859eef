package callinfo_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/keelai/keel/middleware/callinfo"
)

func ExampleEnsure() {
	ctx, info := callinfo.Ensure(context.Background())
	// ... a model call with ctx; inner middleware record what they learn:
	callinfo.From(ctx).AddAttempt()
	callinfo.From(ctx).Update(func(r *callinfo.Record) { r.Model = "openai/gpt-4.1-mini"; r.Fallbacks = 1 })
	rec := info.Record()
	fmt.Println(rec.Attempts, rec.Model, rec.Fallbacks)
	// Output: 1 openai/gpt-4.1-mini 1
}

func TestEnsureKeepsTheCallersInfo(t *testing.T) {
	ctx, a := callinfo.Ensure(t.Context())
	ctx2, b := callinfo.Ensure(ctx)
	if a != b || ctx2 != ctx {
		t.Error("Ensure replaced the Info already in the context")
	}
	if callinfo.From(t.Context()) != nil {
		t.Error("From found an Info in a bare context")
	}
	var nothing *callinfo.Info
	nothing.AddAttempt() // a middleware used without a reporter must not crash
	if nothing.Record().Attempts != 0 {
		t.Error("nil Info recorded something")
	}
}

func TestConcurrentUpdates(t *testing.T) {
	_, info := callinfo.Ensure(t.Context())
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			info.AddAttempt()
			info.Update(func(r *callinfo.Record) { r.Flags = append(r.Flags, "x") })
			_ = info.Record()
		})
	}
	wg.Wait()
	if r := info.Record(); r.Attempts != 50 || len(r.Flags) != 50 {
		t.Errorf("record %d attempts, %d flags", r.Attempts, len(r.Flags))
	}
}
