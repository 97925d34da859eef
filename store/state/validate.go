package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/keelai/keel/llm"
)

// The Validate methods are what every Store checks before it writes, so
// that bad input is refused with the same clear error, and nothing
// written, whichever database is behind it.

// checkText refuses strings a database cannot hold alike: PostgreSQL's
// text rejects NUL and invalid UTF-8, which SQLite would keep.
func checkText(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		name, v := fields[i], fields[i+1]
		if !utf8.ValidString(v) {
			return fmt.Errorf("%s: not valid UTF-8", name)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("%s: contains a NUL character", name)
		}
	}
	return nil
}

// Validate checks a conversation before it is created.
func (c Conversation) Validate() error {
	if c.ID == "" {
		return errors.New("conversation: empty id")
	}
	if err := checkText("id", c.ID, "owner", c.Owner, "title", c.Title, "model", c.Model, "collection", c.Collection); err != nil {
		return fmt.Errorf("conversation %q: %w", c.ID, err)
	}
	return nil
}

// Clean returns r with invalid UTF-8 and NULs in its strings replaced by
// U+FFFD. Stores record usage cleaned rather than refuse it: the ledger
// is written in batches and retried, and one record naming a model no
// database can hold must not keep the rest from being written.
func (r UsageRecord) Clean() UsageRecord {
	r.KeyID, r.Model, r.ErrorKind = cleanText(r.KeyID), cleanText(r.Model), cleanText(r.ErrorKind)
	return r
}

func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
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
	return checkText("model", m.Model)
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
	if err := checkText("id", k.ID, "name", k.Name, "hash", k.Hash, "prefix", k.Prefix); err != nil {
		return fmt.Errorf("key %q: %w", k.Name, err)
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
	if err := checkText("id", r.ID, "suite", r.Suite); err != nil {
		return fmt.Errorf("eval run %q: %w", r.ID, err)
	}
	if len(r.Summary) > 0 && !json.Valid(r.Summary) {
		return fmt.Errorf("eval run %q: summary is not valid JSON", r.ID)
	}
	for i, c := range r.Cases {
		if math.IsNaN(c.Score) || math.IsInf(c.Score, 0) {
			return fmt.Errorf("eval run %q case %d (%s): score %v is not a finite number", r.ID, i, c.CaseID, c.Score)
		}
		if err := checkText("case_id", c.CaseID, "model", c.Model, "prompt_version", c.PromptVersion, "error", c.Error); err != nil {
			return fmt.Errorf("eval run %q case %d: %w", r.ID, i, err)
		}
		if len(c.Data) > 0 && !json.Valid(c.Data) {
			return fmt.Errorf("eval run %q case %d (%s): data is not valid JSON", r.ID, i, c.CaseID)
		}
	}
	return nil
}
