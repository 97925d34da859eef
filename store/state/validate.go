package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/keelai/keel/llm"
)

// The Validate methods are what every Store checks before it writes, so
// that bad input is refused with the same clear error, and nothing
// written, whichever database is behind it.

// Validate checks a conversation before it is created.
func (c Conversation) Validate() error {
	if c.ID == "" {
		return errors.New("conversation: empty id")
	}
	return nil
}

// Validate checks a message before it is appended.
func (m Message) Validate() error {
	if r := m.Message.Role; r != llm.RoleUser && r != llm.RoleAssistant {
		return fmt.Errorf("role %q: want %q or %q", r, llm.RoleUser, llm.RoleAssistant)
	}
	if len(m.Citations) > 0 && !json.Valid(m.Citations) {
		return errors.New("citations: not valid JSON")
	}
	if m.LatencyMS < 0 {
		return fmt.Errorf("latency_ms %d: negative", m.LatencyMS)
	}
	return nil
}

// Validate checks a key before it is created.
func (k Key) Validate() error {
	switch {
	case k.ID == "":
		return errors.New("key: empty id")
	case k.Hash == "":
		return fmt.Errorf("key %q: empty hash", k.ID)
	case k.RPM < 0:
		return fmt.Errorf("key %q: rpm %d is negative", k.ID, k.RPM)
	case k.Budget < 0:
		return fmt.Errorf("key %q: budget %s is negative", k.ID, k.Budget)
	}
	return nil
}

// Validate checks a run and its cases before they are saved. A score
// must be a number: an errored case says so in Error, it does not hide
// as NaN in an average.
func (r EvalRun) Validate() error {
	if r.ID == "" {
		return errors.New("eval run: empty id")
	}
	if len(r.Summary) > 0 && !json.Valid(r.Summary) {
		return fmt.Errorf("eval run %q: summary is not valid JSON", r.ID)
	}
	for i, c := range r.Cases {
		if math.IsNaN(c.Score) || math.IsInf(c.Score, 0) {
			return fmt.Errorf("eval run %q case %d (%s): score %v is not a finite number", r.ID, i, c.CaseID, c.Score)
		}
		if len(c.Data) > 0 && !json.Valid(c.Data) {
			return fmt.Errorf("eval run %q case %d (%s): data is not valid JSON", r.ID, i, c.CaseID)
		}
	}
	return nil
}
