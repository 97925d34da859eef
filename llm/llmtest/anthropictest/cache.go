package anthropictest

import (
	"crypto/sha256"
	"encoding/json"
	"maps"

	"github.com/keelai/keel/llm"
)

// EnableCache makes the emulator keep a prompt cache as the Messages API
// does, so that tests see cache writes and reads arise from the
// breakpoints a request carries rather than from scripted usage.
//
// Every cache_control marker (on a tool, a system block or a content
// block) ends a prefix: everything before it in the API's order — tools,
// then system, then messages. A request reads the longest of its prefixes
// that an earlier request wrote (cache_read_input_tokens), writes the
// prefix of its last marker when that is longer (cache_creation, at the
// marker's TTL), and pays the rest as input_tokens. A prefix shorter than
// minTokens (CountTokens' measure) is never cached, as the API ignores
// breakpoints below the model's minimum. Entries never expire here.
//
// With the cache enabled, the input classes of every answer's usage —
// echoed or scripted — come from the simulation; output tokens are kept.
func (s *Server) EnableCache(minTokens int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cacheMin = minTokens
	s.cache = map[[32]byte]bool{}
}

// cacheUsage returns resp with its input usage replaced by the simulated
// cache's accounting of body, or resp itself when the cache is off.
func (s *Server) cacheUsage(resp *llm.Response, body []byte) *llm.Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		return resp
	}
	blocks := prefixBlocks(body)
	total, read, written, oneHour := 0, 0, 0, false
	var lastMark = -1
	prefix := make([]int, len(blocks)) // tokens up to and including block i
	for i, b := range blocks {
		total += b.tokens
		prefix[i] = total
		if b.mark {
			lastMark = i
		}
	}
	h := sha256.New()
	for i, b := range blocks {
		h.Write(b.canon)
		if !b.mark || prefix[i] < s.cacheMin {
			continue
		}
		var key [32]byte
		copy(key[:], h.Sum(nil))
		if s.cache[key] {
			read = prefix[i]
			continue
		}
		if i == lastMark {
			written = prefix[i] - read
			oneHour = b.ttl == "1h"
		}
		s.cache[key] = true
	}
	out := *resp
	out.Usage.InputTokens = total - read - written
	out.Usage.CacheReadTokens = read
	out.Usage.CacheWriteTokens, out.Usage.CacheWrite1hTokens = written, 0
	if oneHour {
		out.Usage.CacheWriteTokens, out.Usage.CacheWrite1hTokens = 0, written
	}
	return &out
}

// block is one cacheable unit of a request's prefix.
type block struct {
	canon  []byte // canonical JSON, cache_control left out
	tokens int
	mark   bool
	ttl    string
}

// prefixBlocks lists a Messages request's blocks in cache order: tools,
// system blocks, then each message's content blocks (a message's role and
// its 3-token overhead go with its first block).
func prefixBlocks(body []byte) []block {
	var v struct {
		Tools    []map[string]any `json:"tools"`
		System   any              `json:"system"`
		Messages []struct {
			Role    string `json:"role"`
			Content any    `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var out []block
	add := func(prefix string, raw any, extra int) {
		b := block{tokens: words(raw) + extra}
		if m, ok := raw.(map[string]any); ok {
			if cc, ok := m["cache_control"].(map[string]any); ok {
				b.mark = true
				b.ttl, _ = cc["ttl"].(string)
				m = maps.Clone(m)
				delete(m, "cache_control")
				raw = m
			}
		}
		canon, _ := json.Marshal(raw) // map keys sorted: canonical
		b.canon = append([]byte(prefix), canon...)
		out = append(out, b)
	}
	for _, t := range v.Tools {
		add("tool:", t, 0)
	}
	switch sys := v.System.(type) {
	case string:
		add("system:", sys, 0)
	case []any:
		for _, b := range sys {
			add("system:", b, 0)
		}
	}
	for _, m := range v.Messages {
		switch c := m.Content.(type) {
		case string:
			add(m.Role+":", c, 3)
		case []any:
			for i, b := range c {
				extra := 0
				if i == 0 {
					extra = 3
				}
				add(m.Role+":", b, extra)
			}
		}
	}
	return out
}
