package window

import (
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync"

	"github.com/keelai/keel/llm"
)

// MessageCache remembers the raw token counts of messages, and of
// requests' fixed parts (system prompt, tools, output schema), for
// OpenAICounter and Estimator. A chat server fits the same history again
// on every turn; with a cache only the new messages are BPE-encoded and
// the rest are hashed, which is far cheaper.
//
// Counts are keyed by a seeded 64-bit hash (hash/maphash) of what the
// count reads (role and parts' content, not pointers, so a message
// mutated in place is counted again) and of the encoding's name, so two
// encodings never share counts and one cache may serve several counters.
// Counts are stored before any Estimator scaling.
//
// A MessageCache is safe for concurrent use. A nil *MessageCache caches
// nothing.
type MessageCache struct {
	seed maphash.Seed
	half int // the most entries per generation

	// Two generations approximate least-recently-used eviction without a
	// list: new counts and hits go into cur; when cur is full it becomes
	// prev and the old prev, holding what nobody asked for since, is
	// dropped.
	mu        sync.Mutex
	cur, prev map[uint64]int
}

// NewMessageCache returns a cache that keeps at most n counts (n below 2
// counts as 2). Each count takes a few dozen bytes.
func NewMessageCache(n int) *MessageCache {
	return &MessageCache{seed: maphash.MakeSeed(), half: max(n/2, 1)}
}

// messageCacheSize is the cache CounterFor gives its counters: about
// twenty 200-turn conversations, well under a megabyte.
const messageCacheSize = 8192

// split is splitRequest through the cache: the fixed part's count and
// each message's, for the encoding named enc whose counter is count.
// Keys are hashed and misses counted outside the lock, so concurrent
// fits only wait for map look-ups.
func (c *MessageCache) split(enc string, count func(string) int, req *llm.Request) (fixed int, perMessage []int) {
	if c == nil {
		return splitRequest(count, req)
	}
	// Index 0 is the fixed part; i+1 is message i.
	keys := make([]uint64, len(req.Messages)+1)
	var h maphash.Hash
	h.SetSeed(c.seed)
	keys[0] = fixedKey(&h, enc, req)
	for i, m := range req.Messages {
		keys[i+1] = messageKey(&h, enc, m)
	}
	counts := make([]int, len(keys))
	missed := c.lookup(keys, counts)
	for _, i := range missed {
		if i == 0 {
			rest := *req
			rest.Messages = nil
			counts[0] = countRequest(count, &rest)
		} else {
			counts[i] = messageTokens(count, req.Messages[i-1])
		}
	}
	if len(missed) > 0 {
		c.mu.Lock()
		for _, i := range missed {
			c.put(keys[i], counts[i])
		}
		c.mu.Unlock()
	}
	return counts[0], counts[1:]
}

// lookup fills counts for the keys it knows and returns the indexes of
// the others.
func (c *MessageCache) lookup(keys []uint64, counts []int) (missed []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		if n, ok := c.cur[k]; ok {
			counts[i] = n
		} else if n, ok := c.prev[k]; ok {
			counts[i] = n
			c.put(k, n) // still in use: keep it through the next rotation
		} else {
			missed = append(missed, i)
		}
	}
	return missed
}

// put stores a count; c.mu is held.
func (c *MessageCache) put(k uint64, n int) {
	if len(c.cur) >= c.half {
		c.prev, c.cur = c.cur, nil
	}
	if c.cur == nil {
		c.cur = make(map[uint64]int)
	}
	c.cur[k] = n
}

// size returns the number of counts held, counting one held in both
// generations twice, as its memory is.
func (c *MessageCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev)
}

// Part tags of the canonical encoding hashed for keys. Every variable-
// length field is written with its length first, so the encoding of a
// message determines the message's fields that count.
const (
	tagFixed byte = iota + 1
	tagMessage
	tagText
	tagThinking
	tagToolCall
	tagToolResult
	tagImage
	tagTextDocument
	tagOtherDocument
)

// messageKey hashes everything messageTokens reads of m, and the
// encoding. It must change with countParts: a field that counting reads
// and the key leaves out would return stale counts.
func messageKey(h *maphash.Hash, enc string, m llm.Message) uint64 {
	h.Reset()
	h.WriteByte(tagMessage)
	writeString(h, enc)
	writeString(h, string(m.Role))
	hashParts(h, m.Parts)
	return h.Sum64()
}

func hashParts(h *maphash.Hash, parts []llm.Part) {
	writeInt(h, len(parts))
	for _, p := range parts {
		switch p := p.(type) {
		case llm.Text:
			h.WriteByte(tagText)
			writeString(h, p.Text)
		case llm.Thinking:
			h.WriteByte(tagThinking)
			writeString(h, p.Text)
		case llm.ToolCall:
			h.WriteByte(tagToolCall)
			writeString(h, p.Name)
			writeBytes(h, p.Input)
		case llm.ToolResult:
			h.WriteByte(tagToolResult)
			hashParts(h, p.Content)
		case llm.Image:
			// An image counts by its pixel size, which DecodeConfig reads
			// from the header: hashing its count instead of its bytes keeps
			// the key cheap for megabyte images.
			h.WriteByte(tagImage)
			writeInt(h, imageTokens(p.Data))
		case llm.Document:
			if strings.HasPrefix(p.MediaType, "text/") {
				h.WriteByte(tagTextDocument)
				writeBytes(h, p.Data)
			} else {
				// A PDF counts by its size and title only.
				h.WriteByte(tagOtherDocument)
				writeInt(h, len(p.Data))
				writeString(h, p.Title)
			}
		default:
			// countParts counts nothing for other parts, so all are alike.
			h.WriteByte(0)
		}
	}
}

// fixedKey hashes everything countRequest reads of req but its messages,
// and the encoding.
func fixedKey(h *maphash.Hash, enc string, req *llm.Request) uint64 {
	h.Reset()
	h.WriteByte(tagFixed)
	writeString(h, enc)
	writeInt(h, len(req.System))
	for _, t := range req.System {
		writeString(h, t.Text)
	}
	writeInt(h, len(req.Tools))
	for _, t := range req.Tools {
		writeString(h, t.Name)
		writeString(h, t.Description)
		writeBytes(h, t.InputSchema)
	}
	if req.Output == nil {
		writeInt(h, -1)
	} else {
		writeBytes(h, req.Output.Schema)
	}
	return h.Sum64()
}

func writeInt(h *maphash.Hash, n int) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}

func writeString(h *maphash.Hash, s string) {
	writeInt(h, len(s))
	h.WriteString(s)
}

func writeBytes(h *maphash.Hash, b []byte) {
	writeInt(h, len(b))
	h.Write(b)
}
