package state

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
)

func TestUsageRecordClean(t *testing.T) {
	r := UsageRecord{KeyID: "k\x00", Model: "gpt-\xff", ErrorKind: "server", Cost: 3}
	got := r.Clean()
	if got.KeyID != "k\uFFFD" || got.Model != "gpt-\uFFFD" || got.ErrorKind != "server" || got.Cost != 3 {
		t.Fatalf("Clean = %+v", got)
	}
}

func TestGenerateKey(t *testing.T) {
	secret, k := GenerateKey()
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) != len(KeyPrefix)+52 {
		t.Fatalf("secret %q: want %s and 52 base32 characters", secret[:8], KeyPrefix)
	}
	if k.Hash != HashKey(secret) || !strings.HasPrefix(secret, k.Prefix) || len(k.Prefix) != len(KeyPrefix)+6 {
		t.Fatalf("key %+v does not match its secret", k)
	}
	if strings.Contains(k.Hash, secret[len(KeyPrefix):]) {
		t.Fatal("the hash contains the secret")
	}
	other, k2 := GenerateKey()
	if other == secret || k2.ID == k.ID || len(k.ID) != 26 {
		t.Fatal("two keys alike, or an id of the wrong length")
	}
}

func TestValidate(t *testing.T) {
	nan := math.NaN()
	ok := []interface{ Validate() error }{
		Conversation{ID: "c", Title: "ünïcode ✓"},
		Message{Message: llm.UserText("hi"), Citations: json.RawMessage(`[]`)},
		Key{ID: "k", Hash: "h", Name: "ci"},
		Key{ID: "k", Hash: "h"},
		EvalRun{ID: "r", Cases: []EvalCase{{Score: 0.5, Data: json.RawMessage(`{}`)}}},
	}
	for _, v := range ok {
		if err := v.Validate(); err != nil {
			t.Errorf("%+v: %v", v, err)
		}
	}
	bad := []struct {
		v    interface{ Validate() error }
		want string
	}{
		{Conversation{}, "empty id"},
		{Conversation{ID: "c", Title: "a\x00b"}, "title: contains a NUL"},
		{Conversation{ID: "c", Collection: "\xff"}, "collection: not valid UTF-8"},
		{Message{Message: llm.Message{Role: "system"}}, `role "system"`},
		{Message{Message: llm.UserText("x"), Citations: json.RawMessage(`[`)}, "citations"},
		{Message{Message: llm.UserText("x"), LatencyMS: -1}, "latency_ms"},
		{Key{Hash: "h"}, "empty id"},
		{Key{ID: "k"}, "empty hash"},
		{Key{ID: "k", Hash: "h", RPM: -1}, "rpm"},
		{Key{ID: "k", Hash: "h", Budget: -1}, "budget"},
		{Key{ID: "k", Hash: "h", Name: "a\x00"}, "name: contains a NUL"},
		{EvalRun{}, "empty id"},
		{EvalRun{ID: "r", Summary: json.RawMessage(`{`)}, "summary"},
		{EvalRun{ID: "r", Cases: []EvalCase{{CaseID: "q1", Score: nan}}}, "case 0 (q1): score NaN"},
		{EvalRun{ID: "r", Cases: []EvalCase{{Score: math.Inf(1)}}}, "not a finite number"},
		{EvalRun{ID: "r", Cases: []EvalCase{{Data: json.RawMessage(`x`)}}}, "data is not valid JSON"},
	}
	for _, tc := range bad {
		err := tc.v.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want one saying %q", tc.v, err, tc.want)
		}
	}
}
