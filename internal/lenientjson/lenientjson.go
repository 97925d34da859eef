// Package lenientjson decodes the answers of model APIs into Keel's own
// small types, as leniently as the official SDKs do, and much faster.
//
// The SDKs' decoders are reflective and keep every field's raw JSON for
// their .JSON metadata: decoding a short completion was the largest
// allocation of a gateway request (bench/gateway). The adapters still let
// the SDKs build, send and classify requests; they decode the bodies of
// successful answers with Unmarshal into types that list only what Keel
// reads, using String and Int where a compatible server may send an
// unexpected shape.
package lenientjson

import (
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/keelai/keel/llm"
)

// options are lenient where a server may be sloppy: repeated member names
// and invalid UTF-8 (mangled into U+FFFD, as encoding/json does) do not
// fail an answer. Unknown members are ignored.
var options = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// Unmarshal decodes data into v.
func Unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v, options)
}

// DecodeAnswer decodes the body of a provider's successful answer into v.
// A failure is an *llm.Error naming provider: a body cut short is the
// connection's (llm.KindNetwork, wrapping llm.ErrIncomplete, so that it
// is retried), anything else a malformed answer (llm.KindServer).
func DecodeAnswer(provider string, body []byte, v any) error {
	err := Unmarshal(body, v)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &llm.Error{Kind: llm.KindNetwork, Provider: provider,
			Message: llm.ErrIncomplete.Error() + ": " + err.Error(), Err: fmt.Errorf("%w: %w", llm.ErrIncomplete, err)}
	}
	return &llm.Error{Kind: llm.KindServer, Provider: provider, Message: "malformed response: " + llm.Redact(err.Error()), Err: err}
}

// String is a string that reads null, and any value that is neither a
// string nor an array, as empty; an array of content parts
// ({"type":"text","text":…}, as a few servers send for content) reads as
// their texts joined.
type String string

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (s *String) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*s = String(tok.String())
		return nil
	case '[':
		var parts []struct {
			Text String `json:"text"`
		}
		if err := json.UnmarshalDecode(dec, &parts); err != nil {
			return err
		}
		var b []byte
		for _, p := range parts {
			b = append(b, p.Text...)
		}
		*s = String(b)
		return nil
	}
	*s = ""
	return dec.SkipValue()
}

// Int is a count: a number (a fractional one truncated), or 0 for null
// and any other value.
type Int int64

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (n *Int) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '0' {
		*n = 0
		return dec.SkipValue()
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	*n = Int(tok.Float())
	return nil
}
