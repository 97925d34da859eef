package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Messages and parts have a stable JSON form so that conversations can be
// stored, recorded by fakes and hashed by caches:
//
//	{"role":"user","parts":[{"type":"text","text":"hi"}]}
//
// The form is Keel's own, not any provider's wire format.

// jsonPart is the union of every part's fields; Type says which are in use.
type jsonPart struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	MediaType string          `json:"media_type,omitempty"`
	Data      []byte          `json:"data,omitempty"`
	URL       string          `json:"url,omitempty"`
	Title     string          `json:"title,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Signature string          `json:"signature,omitempty"`
	Redacted  string          `json:"redacted,omitempty"`
	CallID    string          `json:"call_id,omitempty"`
	Content   []jsonPart      `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	Cache     *CacheControl   `json:"cache,omitempty"`
}

type jsonMessage struct {
	Role  Role       `json:"role"`
	Parts []jsonPart `json:"parts"`
}

// MarshalJSON encodes the message in Keel's JSON form.
func (m Message) MarshalJSON() ([]byte, error) {
	parts, err := toJSONParts(m.Parts)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jsonMessage{Role: m.Role, Parts: parts})
}

// UnmarshalJSON decodes Keel's JSON form. An unknown part type is an error.
func (m *Message) UnmarshalJSON(b []byte) error {
	var jm jsonMessage
	if err := json.Unmarshal(b, &jm); err != nil {
		return err
	}
	parts, err := fromJSONParts(jm.Parts)
	if err != nil {
		return err
	}
	*m = Message{Role: jm.Role, Parts: parts}
	return nil
}

// MarshalParts encodes parts in Keel's JSON form (a JSON array).
func MarshalParts(parts []Part) ([]byte, error) {
	jp, err := toJSONParts(parts)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jp)
}

// UnmarshalParts decodes a JSON array written by MarshalParts.
func UnmarshalParts(b []byte) ([]Part, error) {
	var jp []jsonPart
	if err := json.Unmarshal(b, &jp); err != nil {
		return nil, err
	}
	return fromJSONParts(jp)
}

func toJSONParts(parts []Part) ([]jsonPart, error) {
	out := make([]jsonPart, 0, len(parts))
	for i, p := range parts {
		var j jsonPart
		switch p := p.(type) {
		case Text:
			j = jsonPart{Text: p.Text, Cache: p.Cache}
		case Image:
			j = jsonPart{MediaType: p.MediaType, Data: p.Data, URL: p.URL, Cache: p.Cache}
		case Document:
			j = jsonPart{MediaType: p.MediaType, Data: p.Data, URL: p.URL, Title: p.Title, Cache: p.Cache}
		case ToolCall:
			j = jsonPart{ID: p.ID, Name: p.Name, Input: p.Input, Signature: p.Signature, Cache: p.Cache}
		case ToolResult:
			content, err := toJSONParts(p.Content)
			if err != nil {
				return nil, fmt.Errorf("part %d: %w", i, err)
			}
			j = jsonPart{CallID: p.CallID, Name: p.Name, Content: content, IsError: p.IsError, Cache: p.Cache}
		case Thinking:
			j = jsonPart{Text: p.Text, Signature: p.Signature, Redacted: p.Redacted}
		default:
			return nil, fmt.Errorf("part %d: unknown part type %T", i, p)
		}
		j.Type = p.kind()
		out = append(out, j)
	}
	return out, nil
}

func fromJSONParts(parts []jsonPart) ([]Part, error) {
	out := make([]Part, 0, len(parts))
	for i, j := range parts {
		var p Part
		switch j.Type {
		case "text":
			p = Text{Text: j.Text, Cache: j.Cache}
		case "image":
			p = Image{MediaType: j.MediaType, Data: j.Data, URL: j.URL, Cache: j.Cache}
		case "document":
			p = Document{MediaType: j.MediaType, Data: j.Data, URL: j.URL, Title: j.Title, Cache: j.Cache}
		case "tool_call":
			p = ToolCall{ID: j.ID, Name: j.Name, Input: compact(j.Input), Signature: j.Signature, Cache: j.Cache}
		case "tool_result":
			content, err := fromJSONParts(j.Content)
			if err != nil {
				return nil, fmt.Errorf("part %d: %w", i, err)
			}
			p = ToolResult{CallID: j.CallID, Name: j.Name, Content: content, IsError: j.IsError, Cache: j.Cache}
		case "thinking":
			p = Thinking{Text: j.Text, Signature: j.Signature, Redacted: j.Redacted}
		default:
			return nil, fmt.Errorf("part %d: unknown part type %q", i, j.Type)
		}
		out = append(out, p)
	}
	return out, nil
}

// compact removes insignificant space from tool input so that decoded
// messages have one canonical form (caches hash them).
func compact(raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw // already validated by the decoder; unreachable
	}
	return b.Bytes()
}
