package anthropic

import (
	"github.com/go-json-experiment/json/jsontext"

	"github.com/keelai/keel/internal/lenientjson"
)

// Answers are decoded into these types of Keel's own with lenientjson
// rather than into the SDK's (see that package for why): a message, and
// the events of a stream. They list what Keel reads.

type wireMessage struct {
	ID           lenientjson.String `json:"id"`
	Content      []wireBlock        `json:"content"`
	StopReason   lenientjson.String `json:"stop_reason"`
	StopSequence lenientjson.String `json:"stop_sequence"`
	Usage        wireUsage          `json:"usage"`
}

// wireBlock is a content block, whole in a message or as a stream's
// content_block_start shows it.
type wireBlock struct {
	Type      lenientjson.String `json:"type"`
	Text      lenientjson.String `json:"text"`
	Thinking  lenientjson.String `json:"thinking"`
	Signature lenientjson.String `json:"signature"`
	Data      lenientjson.String `json:"data"` // redacted_thinking
	ID        lenientjson.String `json:"id"`
	Name      lenientjson.String `json:"name"`
	Input     jsontext.Value     `json:"input"`
}

type wireUsage struct {
	InputTokens              lenientjson.Int `json:"input_tokens"`
	OutputTokens             lenientjson.Int `json:"output_tokens"`
	CacheReadInputTokens     lenientjson.Int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens lenientjson.Int `json:"cache_creation_input_tokens"`
	// CacheCreation splits the cache writes by lifetime; nil when absent.
	CacheCreation *struct {
		Ephemeral5m lenientjson.Int `json:"ephemeral_5m_input_tokens"`
		Ephemeral1h lenientjson.Int `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
}

// mergeInto adds u to s, the split by lifetime too when it is there.
func (u *wireUsage) mergeInto(s *usageState) {
	s.merge(int64(u.InputTokens), int64(u.OutputTokens), int64(u.CacheReadInputTokens), int64(u.CacheCreationInputTokens))
	if c := u.CacheCreation; c != nil {
		s.mergeSplit(int64(c.Ephemeral5m), int64(c.Ephemeral1h))
	}
}

// wireEvent is any event of a stream; which fields are set depends on its
// type.
type wireEvent struct {
	Type         lenientjson.String `json:"type"`
	Message      wireMessage        `json:"message"`       // message_start
	Index        int64              `json:"index"`         // content_block_*
	ContentBlock wireBlock          `json:"content_block"` // content_block_start
	Delta        struct {
		// content_block_delta
		Type        lenientjson.String `json:"type"`
		Text        lenientjson.String `json:"text"`
		Thinking    lenientjson.String `json:"thinking"`
		Signature   lenientjson.String `json:"signature"`
		PartialJSON lenientjson.String `json:"partial_json"`
		// message_delta
		StopReason   lenientjson.String `json:"stop_reason"`
		StopSequence lenientjson.String `json:"stop_sequence"`
	} `json:"delta"`
	Usage wireUsage `json:"usage"` // message_delta
}

// UnmarshalJSON implements json.Unmarshaler for the SDK's stream, which
// decodes each event's data with encoding/json into the type it is given.
func (e *wireEvent) UnmarshalJSON(data []byte) error {
	type plain wireEvent // without this method
	return lenientjson.Unmarshal(data, (*plain)(e))
}
