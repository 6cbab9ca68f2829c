package models

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Postgres cannot store a NUL character in text, nor \u0000 in jsonb;
// SQLite can. Both databases get the same rule: text loses its NULs (each
// becomes U+FFFD), JSON is refused on the way in (HasNULEscape) and mended
// on the way out (WithoutNUL), so nothing a script prints can fail the
// transaction that records it and the results batched with it.

const nulReplacement = "\uFFFD"

// msgJSONNUL refuses JSON to be stored with a \u0000 (configs, schedule
// inputs), from whichever door it came in.
const msgJSONNUL = `has a NUL character (\u0000) in a string, which cannot be stored`

// TextWithoutNUL replaces each NUL in s with U+FFFD.
func TextWithoutNUL(s string) string {
	if !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(s, "\x00", nulReplacement)
}

// HasNULEscape reports whether the JSON text raw has a \u0000 escape (one
// not itself escaped, as in "\\u0000", which is a backslash and "u0000").
func HasNULEscape(raw []byte) bool {
	for i := 0; ; {
		k := bytes.Index(raw[i:], []byte(`u0000`))
		if k < 0 {
			return false
		}
		at := i + k
		n := 0
		for j := at - 1; j >= 0 && raw[j] == '\\'; j-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
		i = at + 1
	}
}

// WithoutNUL returns raw with every NUL in its strings (values and keys)
// replaced by U+FFFD; raw itself when it has none, or when it is not valid
// JSON (the caller's validation says so).
func WithoutNUL(raw json.RawMessage) json.RawMessage {
	if !HasNULEscape(raw) {
		return raw
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return raw
	}
	out, err := json.Marshal(mendNUL(v))
	if err != nil {
		return raw
	}
	return out
}

func mendNUL(v any) any {
	switch t := v.(type) {
	case string:
		return TextWithoutNUL(t)
	case []any:
		for i := range t {
			t[i] = mendNUL(t[i])
		}
		return t
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[TextWithoutNUL(k)] = mendNUL(x)
		}
		return m
	}
	return v
}
