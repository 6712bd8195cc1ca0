package events

// The JSON scanner behind Parse: one validating pass (checkObject), then
// plain scans over the already valid bytes that find members and values by
// position, without decoding into maps or structs.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// readMembers sets vals[i] to the raw value of member keys[i] of obj, a
// valid JSON object (the last one when a key repeats, as encoding/json
// does). Values are capped sub-slices of obj.
func readMembers(obj []byte, keys []string, vals [][]byte) {
	var buf [16]span
	spans := buf[:len(keys)]
	memberSpans(obj, keys, spans)
	for n, sp := range spans {
		if sp.present() {
			vals[n] = sp.of(obj)
		}
	}
}

// span is the position of a value in a JSON text: [start, end). The zero
// span is no value (no JSON value of an object ends at 0).
type span struct{ start, end int }

func (sp span) present() bool { return sp.end > 0 }

// of is the value in b as a capped sub-slice, nil when absent.
func (sp span) of(b []byte) []byte {
	if !sp.present() {
		return nil
	}
	return b[sp.start:sp.end:sp.end]
}

// memberSpans is readMembers giving positions in obj instead of slices.
func memberSpans(obj []byte, keys []string, spans []span) {
	i := 1 // after '{'
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		k := i
		i = skipString(obj, i)
		key := obj[k:i]
		i = skipSpace(obj, skipSpace(obj, i)+1) // the ':'
		v := i
		i = skipValue(obj, i)
		if n := keyIndex(key, keys); n >= 0 {
			spans[n] = span{v, i}
		}
	}
}

// keyIndex returns the index of the JSON string raw in keys, or -1.
func keyIndex(raw []byte, keys []string) int {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		inner = []byte(jsonString(raw)) // rare: an escaped key
	}
	// Not slices.Index(keys, string(inner)): that conversion allocates for
	// a key over 32 bytes, while a comparison never does.
	for i, k := range keys {
		if string(inner) == k {
			return i
		}
	}
	return -1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isSpace(b[i]) {
		i++ // number, true, false, null
	}
	return i
}

// checkObject classifies b (already trimmed) as an object or an error.
func checkObject(b []byte) error {
	switch {
	case len(b) == 0:
		return fmt.Errorf("%w: empty", ErrMalformed)
	case !utf8.Valid(b):
		return fmt.Errorf("%w: not UTF-8", ErrMalformed)
	case b[0] == '{' && json.Valid(b):
		return nil
	case b[0] != '{' && json.Valid(b):
		return fmt.Errorf("%w: %s", ErrNotObject, jsonKind(b[0]))
	default:
		return malformed(json.Unmarshal(b, new(json.RawMessage)))
	}
}

// malformed wraps a decoding error without its text, which may quote body
// bytes.
func malformed(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("%w: syntax error at byte %d", ErrMalformed, se.Offset)
	}
	return fmt.Errorf("%w: cannot decode", ErrMalformed)
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// jsonSpace is the whitespace JSON allows between tokens.
const jsonSpace = " \t\n\r"

// trimSpace removes JSON whitespace around b.
func trimSpace(b []byte) []byte { return bytes.Trim(b, jsonSpace) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// jsonString returns the value of a JSON string, "" for anything else.
// raw comes from a decoded document, so it is valid JSON and UTF-8.
func jsonString(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(raw, &s) // cannot fail: a valid JSON string
	return s
}

// jsonScalar is jsonString, but keeps a JSON number as written.
func jsonScalar(raw []byte) string {
	if len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return string(raw)
	}
	return jsonString(raw)
}

// firstSpan returns the first present, non-null value of b among spans.
func firstSpan(b []byte, spans ...span) span {
	for _, sp := range spans {
		if v := sp.of(b); len(v) > 0 && string(v) != "null" {
			return sp
		}
	}
	return span{}
}
