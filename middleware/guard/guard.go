// Package guard checks the untrusted parts of a request (user input,
// retrieved text, tool output) for prompt-injection patterns and over-long
// input. It flags what it finds in callinfo, where logging and metrics
// report it, and can be set to refuse the call instead.
//
//	m = guard.New(guard.Options{MaxInputBytes: 200_000})(m)
//
// Patterns catch the common, lazy attacks and the forged delimiters that try
// to close Keel's; they are a tripwire for monitoring, not a proof of
// safety. The defence that holds is structural: untrusted text goes inside
// delimiters it cannot forge, never into the system prompt.
package guard

import (
	"context"
	"fmt"
	"iter"
	"regexp"
	"slices"
	"strings"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Rule is a named pattern.
type Rule struct {
	Name    string
	Pattern *regexp.Regexp
	// Keywords, when set, are lower-case strings of which the text must
	// contain one for Pattern to be tried. Go's case-insensitive
	// alternations cost tens of microseconds on every part; a substring
	// scan rules most text out for a fraction of that.
	Keywords []string
}

func (r Rule) match(text, lower string) bool {
	if len(r.Keywords) > 0 && !slices.ContainsFunc(r.Keywords, func(k string) bool { return strings.Contains(lower, k) }) {
		return false
	}
	return r.Pattern.MatchString(text)
}

// DefaultRules returns the built-in rules.
func DefaultRules() []Rule {
	return []Rule{
		{"ignore_instructions", regexp.MustCompile(`(?i)\b(ignore|disregard|forget|override|bypass)\s+(all\s+|any\s+|the\s+|of\s+)*(previous|prior|above|earlier|preceding|your|system)\s+(instructions?|prompts?|rules|directions|guidelines|context)`),
			[]string{"ignore", "disregard", "forget", "override", "bypass"}},
		{"role_override", regexp.MustCompile(`(?i)\b(you\s+are\s+now\s+(a|an|in|the|my)\b|from\s+now\s+on,?\s+you\s+(are|will)\b|developer\s+mode|jailbr(oken|eak)|\bDAN\s+mode\b|act\s+as\s+an?\s+(unrestricted|unfiltered|uncensored))`),
			[]string{"now", "mode", "jailbr", "act"}},
		{"prompt_leak", regexp.MustCompile(`(?i)\b(reveal|show|print|repeat|output|leak|tell\s+me)\s+(me\s+)?(your|the)\s+(full\s+|entire\s+|hidden\s+)?(system\s+|initial\s+)?(prompt|instructions)`),
			[]string{"prompt", "instructions"}},
		{"forged_delimiter", regexp.MustCompile(`(?i)(</?\s*(system|assistant|instructions?|untrusted|user_input|document)\s*>|<\|im_(start|end)\|>|\[/?INST\]|<<\s*/?SYS\s*>>|(?m:^)\s*#{2,}\s*(system|instructions?)\b)`),
			[]string{"<", "[inst", "[/inst", "##"}},
		{"markdown_exfiltration", regexp.MustCompile(`(?i)!\[[^\]]*\]\(\s*https?://[^)\s]*\?[^)\s]*=`),
			[]string{"](http"}},
	}
}

// Mode says what the guard does when a rule matches.
type Mode uint8

// Modes.
const (
	// Flag records the match and lets the call through.
	Flag Mode = iota
	// Refuse fails the call with a content_filter *llm.Error before it is
	// sent.
	Refuse
)

// Options configures New.
type Options struct {
	Mode Mode
	// Rules replaces DefaultRules when not nil.
	Rules []Rule
	// MaxInputBytes, when positive, flags (or refuses) a call whose
	// untrusted text exceeds it, as the rule "too_long".
	MaxInputBytes int
	// All checks the whole conversation on every call. By default only the
	// parts after the last assistant turn are checked: earlier ones were
	// checked when they were new, and re-flagging them on every turn of an
	// agent loop would drown the signal.
	All bool
}

// Finding is one match in a request.
type Finding struct {
	Rule string
	// Message and Part locate the match in req.Messages.
	Message, Part int
}

// Violation is the cause of a refusal.
type Violation struct {
	Findings []Finding
}

func (v *Violation) Error() string {
	f := v.Findings[0]
	s := fmt.Sprintf("guard: rule %s matched untrusted input in message %d part %d", f.Rule, f.Message, f.Part)
	if len(v.Findings) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(v.Findings)-1)
	}
	return s
}

// Check returns the findings in req's untrusted parts.
func Check(req *llm.Request, opts Options) []Finding {
	rules := opts.Rules
	if rules == nil {
		rules = DefaultRules()
	}
	first := 0
	if !opts.All {
		for i := len(req.Messages) - 1; i >= 0; i-- {
			if req.Messages[i].Role == llm.RoleAssistant {
				first = i + 1
				break
			}
		}
	}
	var found []Finding
	size := 0
	var seen uint64 // bit i: rule i already found; later rules are not deduplicated

	for i := first; i < len(req.Messages); i++ {
		msg := req.Messages[i]
		if msg.Role != llm.RoleUser {
			continue
		}
		for j, p := range msg.Parts {
			text := untrustedText(p)
			size += len(text)
			if text == "" {
				continue
			}
			lower := strings.ToLower(text)
			for k, r := range rules {
				bit := uint64(1) << min(k, 63)
				if seen&bit == 0 && r.match(text, lower) {
					if k < 63 {
						seen |= bit
					}
					found = append(found, Finding{Rule: r.Name, Message: i, Part: j})
				}
			}
		}
	}
	if opts.MaxInputBytes > 0 && size > opts.MaxInputBytes {
		found = append(found, Finding{Rule: "too_long", Message: -1, Part: -1})
	}
	return found
}

func untrustedText(p llm.Part) string {
	switch p := p.(type) {
	case llm.Text:
		return p.Text
	case llm.Document:
		if strings.HasPrefix(p.MediaType, "text/") {
			return string(p.Data)
		}
	case llm.ToolResult:
		var b strings.Builder
		for _, c := range p.Content {
			b.WriteString(untrustedText(c))
			b.WriteByte('\n')
		}
		return b.String()
	}
	return ""
}

// New returns the guard middleware.
func New(opts Options) llm.Middleware {
	if opts.Rules == nil {
		opts.Rules = DefaultRules()
	}
	return func(next llm.Model) llm.Model {
		check := func(ctx context.Context, req *llm.Request) error {
			found := Check(req, opts)
			if len(found) == 0 {
				return nil
			}
			callinfo.From(ctx).Update(func(r *callinfo.Record) {
				for _, f := range found {
					r.Flags = append(r.Flags, f.Rule)
				}
			})
			if opts.Mode != Refuse {
				return nil
			}
			v := &Violation{Findings: found}
			return &llm.Error{Kind: llm.KindContentFilter, Provider: "keel", Message: v.Error(), Err: v}
		}
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				if err := check(ctx, req); err != nil {
					return nil, err
				}
				return next.Generate(ctx, req)
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					if err := check(ctx, req); err != nil {
						yield(llm.Event{}, err)
						return
					}
					for ev, err := range next.Stream(ctx, req) {
						if !yield(ev, err) || err != nil {
							return
						}
					}
				}
			},
		}
	}
}
