package structured

import (
	"encoding/json"
	"strings"
)

// Extract returns the JSON value in a model's text answer: the text itself
// when it is valid JSON, else the content of the first ``` code fence that
// holds valid JSON, else the first balanced {...} or [...] that is valid JSON,
// so that chatter before and after ("Here is the JSON: ...") is dropped. It
// returns the trimmed text unchanged when it finds no JSON, so the caller's
// validation error describes what the model said.
func Extract(text string) string {
	t := strings.TrimSpace(text)
	if json.Valid([]byte(t)) {
		return t
	}
	for rest := t; ; {
		_, after, ok := strings.Cut(rest, "```")
		if !ok {
			break
		}
		body, tail, closed := strings.Cut(after, "```")
		// Drop the info string ("json") on the opening fence's line.
		if nl := strings.IndexByte(body, '\n'); nl >= 0 && !strings.ContainsAny(body[:nl], "{[") {
			body = body[nl+1:]
		}
		if b := strings.TrimSpace(body); json.Valid([]byte(b)) {
			return b
		}
		if !closed {
			break
		}
		rest = tail
	}
	for i := 0; i < len(t); i++ {
		if t[i] != '{' && t[i] != '[' {
			continue
		}
		if end := balanced(t[i:]); end > 0 && json.Valid([]byte(t[i:i+end])) {
			return t[i : i+end]
		}
	}
	return t
}

// balanced returns the length of the bracketed value s starts with, skipping
// brackets inside strings, or 0 when s ends before it closes.
func balanced(s string) int {
	depth, inString, escaped := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return 0
}
