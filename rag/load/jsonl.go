package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keelai/keel/rag"
)

// JSONL loads one document per line of a JSON Lines file: `id` or `_id`
// (a string or a number) is the document id, `title` and `text` (or
// `contents`) are what they say, and every other field becomes metadata.
// Blank lines are skipped. The first bad line fails the whole file, with
// its line number, so that a collection never holds half a file.
func JSONL(source string, data []byte) ([]rag.Document, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{Path: source, Err: ErrEmpty}
	}
	if bytes.IndexByte(data[:min(len(data), 8192)], 0) >= 0 {
		return nil, &Error{Path: source, Err: ErrBinary}
	}
	var docs []rag.Document
	seen := map[string]int{}
	line := 0
	for rest := data; len(rest) > 0; {
		var raw []byte
		raw, rest, _ = bytes.Cut(rest, []byte("\n"))
		line++
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		d, err := record(raw)
		if err != nil {
			return nil, &Error{Path: source, Line: line, Err: err}
		}
		if first, dup := seen[d.ID]; dup {
			return nil, &Error{Path: source, Line: line, Err: fmt.Errorf("id %q repeats line %d", d.ID, first)}
		}
		seen[d.ID] = line
		d.Source = source + ":" + strconv.Itoa(line)
		d.Hash = d.ContentHash()
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return nil, &Error{Path: source, Err: ErrEmpty}
	}
	return docs, nil
}

func record(raw []byte) (rag.Document, error) {
	if !utf8.Valid(raw) {
		return rag.Document{}, errors.New("not UTF-8 text")
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return rag.Document{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return rag.Document{}, errors.New("invalid JSON: more than one value on the line")
	}
	if fields == nil {
		return rag.Document{}, errors.New("want a JSON object, got null")
	}
	var d rag.Document
	idKey := "id"
	if _, ok := fields["id"]; !ok {
		idKey = "_id"
	}
	idRaw, ok := fields[idKey]
	if !ok {
		return d, errors.New(`no "id" or "_id" field`)
	}
	id, err := scalar(idRaw)
	if err != nil || strings.TrimSpace(id) == "" {
		return d, fmt.Errorf("field %q: want a non-empty string or number", idKey)
	}
	d.ID = id
	delete(fields, idKey)
	textKey := "text"
	if _, ok := fields["text"]; !ok {
		textKey = "contents"
	}
	if err := stringField(fields, textKey, &d.Text); err != nil {
		return d, err
	}
	if strings.TrimSpace(d.Text) == "" {
		if err := stringField(fields, "title", &d.Title); err != nil || d.Title == "" {
			return d, errors.New(`no "text" field (or it is empty)`)
		}
	}
	if err := stringField(fields, "title", &d.Title); err != nil {
		return d, err
	}
	delete(fields, textKey)
	delete(fields, "title")
	if len(fields) > 0 {
		d.Metadata = make(map[string]string, len(fields))
		for k, v := range fields {
			s, err := scalar(v)
			if err != nil {
				s = string(v) // objects and arrays stay JSON
			}
			d.Metadata[k] = s
		}
	}
	d.Text = normalise(d.Text)
	return d, nil
}

// stringField reads an optional string field.
func stringField(fields map[string]json.RawMessage, key string, dst *string) error {
	v, ok := fields[key]
	if !ok || string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("field %q: want a string", key)
	}
	return nil
}

// scalar returns a JSON string's value, or a number's or boolean's text.
func scalar(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", errors.New("empty")
	}
	switch v[0] {
	case '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case '{', '[', 'n':
		return "", errors.New("not a scalar")
	}
	return string(v), nil
}
