package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// RenderMode says where a rendered template goes, and so how the values it
// inserts are escaped.
type RenderMode int

const (
	// RenderText inserts string values as they are and every other value
	// (number, boolean, null, object, array) as its compact JSON. For
	// prompts and other plain text.
	RenderText RenderMode = iota
	// RenderURL escapes each value for the part of the URL it lands in,
	// judged from the template's literal text around it: in the user-info
	// (before the host's "@") every byte but RFC 3986's unreserved ones is
	// percent-encoded; in the host and port only letters, digits, '.', '-'
	// and '_' may be inserted (anything else is an error, so an input cannot
	// move the request to another host); in the path url.PathEscape applies
	// ("/" becomes %2F, and a whole "." or ".." segment is encoded so it
	// cannot climb the path); in the query and fragment url.QueryEscape.
	RenderURL
	// RenderHeader is RenderText that refuses a value containing a line
	// break or other control character (tab excepted), which could forge
	// further headers.
	RenderHeader
	// RenderJSONBody keeps a JSON template valid whatever the values hold:
	// a reference inside a string literal inserts the value's text (as
	// RenderText) JSON-escaped without quotes; a reference outside any
	// string literal inserts the value's JSON (a string quoted, an object as
	// the input wrote it, a missing field as null).
	RenderJSONBody
)

func (m RenderMode) String() string {
	switch m {
	case RenderText:
		return "text"
	case RenderURL:
		return "URL"
	case RenderHeader:
		return "header"
	case RenderJSONBody:
		return "JSON body"
	}
	return "RenderMode(" + strconv.Itoa(int(m)) + ")"
}

// RenderTemplate replaces the {{input.a.b}} and {{secret.NAME}} references in
// tmpl, escaping each value for mode (see the RenderMode constants).
//
// Input paths walk objects by key and arrays by index ({{input.items.0.id}}).
// A path the input does not have is not an error, as in Mustache: it inserts
// nothing, or null outside a JSON body's strings. A secret that is not in
// secrets is always an error. Input that is not valid JSON is an error; empty
// input counts as null; invalid UTF-8 in its strings becomes U+FFFD.
func RenderTemplate(tmpl string, mode RenderMode, input json.RawMessage, secrets map[string]string) (string, error) {
	r, err := newRenderer(input, secrets)
	if err != nil {
		return "", err
	}
	return r.render(tmpl, mode)
}

// secretNotSet is the error for a referenced secret that does not exist.
func secretNotSet(name string) error {
	return fmt.Errorf("secret %s is not set; an admin can add it under Admin → Secrets", name)
}

// renderer renders several templates over one parsed input and remembers the
// input paths that were missing, for the run's logs.
type renderer struct {
	input   json.RawMessage
	secrets map[string]string
	cache   map[string]json.RawMessage // resolved input paths; nil value: missing
	missing []string
}

func newRenderer(input json.RawMessage, secrets map[string]string) (*renderer, error) {
	trimmed := bytes.TrimSpace(input)
	if len(trimmed) == 0 {
		trimmed = []byte("null")
	}
	if !json.Valid(trimmed) {
		return nil, errors.New("the input is not valid JSON")
	}
	// encoding/json accepts invalid UTF-8 in strings; inserted raw, it would
	// make a body no JSON parser accepts.
	trimmed = bytes.ToValidUTF8(trimmed, []byte("\uFFFD"))
	return &renderer{input: trimmed, secrets: secrets, cache: map[string]json.RawMessage{}}, nil
}

// tmplPart is a piece of a template: literal text, or one reference.
type tmplPart struct {
	text string
	ref  string // "input.a.b" or "secret.NAME"; "" for text
}

// splitTemplate cuts s into text and references by the rules of
// TemplateRefs, which it runs first so a bad template fails the same way.
func splitTemplate(s string) ([]tmplPart, error) {
	if _, err := TemplateRefs(s); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	var parts []tmplPart
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			parts = append(parts, tmplPart{text: s[i:]})
			break
		}
		start := i + j
		for start+2 < len(s) && s[start+2] == '{' {
			start++
		}
		end := strings.Index(s[start+2:], "}}") // found: TemplateRefs passed
		ref, _ := parseRef(s[start+2 : start+2+end])
		if start > i {
			parts = append(parts, tmplPart{text: s[i:start]})
		}
		parts = append(parts, tmplPart{ref: ref})
		i = start + 2 + end + 2
	}
	return parts, nil
}

// value is what a reference resolves to.
type value struct {
	raw     json.RawMessage // the value's JSON; nil when missing
	missing bool
}

// text is the value as RenderText inserts it.
func (v value) text() string {
	if v.missing {
		return ""
	}
	if v.raw[0] == '"' {
		var s string
		_ = json.Unmarshal(v.raw, &s) // valid: it came from a valid document
		return s
	}
	return string(v.raw)
}

// json is the value as a JSON value.
func (v value) json() string {
	if v.missing {
		return "null"
	}
	return string(v.raw)
}

func (r *renderer) resolve(ref string) (value, error) {
	if name, ok := strings.CutPrefix(ref, "secret."); ok {
		s, ok := r.secrets[name]
		if !ok {
			return value{}, secretNotSet(name)
		}
		return value{raw: quoteJSON(s)}, nil
	}
	path := strings.TrimPrefix(ref, "input.")
	raw := r.lookup(path)
	if raw == nil {
		if !slices.Contains(r.missing, path) {
			r.missing = append(r.missing, path)
		}
		return value{missing: true}, nil
	}
	return value{raw: raw}, nil
}

// lookup finds an input path, compacted; nil when the input lacks it.
// Objects keep the input's key order and numbers their written form.
func (r *renderer) lookup(path string) json.RawMessage {
	if raw, ok := r.cache[path]; ok {
		return raw
	}
	parent, seg := r.input, path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		parent, seg = r.lookup(path[:i]), path[i+1:]
	}
	var found json.RawMessage
	switch {
	case parent == nil:
	case parent[0] == '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(parent, &m) == nil {
			found = m[seg]
		}
	case parent[0] == '[':
		var a []json.RawMessage
		if n, err := strconv.Atoi(seg); err == nil && n >= 0 && seg == strconv.Itoa(n) && json.Unmarshal(parent, &a) == nil && n < len(a) {
			found = a[n]
		}
	}
	if found != nil {
		var b bytes.Buffer
		if json.Compact(&b, found) == nil {
			found = b.Bytes()
		}
	}
	r.cache[path] = found
	return found
}

func (r *renderer) render(tmpl string, mode RenderMode) (string, error) {
	parts, err := splitTemplate(tmpl)
	if err != nil {
		return "", err
	}
	var esc func(i int, v value, ref string) (string, error)
	switch mode {
	case RenderText:
		esc = func(_ int, v value, _ string) (string, error) { return v.text(), nil }
	case RenderHeader:
		esc = escapeHeader
	case RenderURL:
		esc = urlEscaper(parts)
	case RenderJSONBody:
		esc = jsonEscaper(parts)
	default:
		return "", fmt.Errorf("unknown render mode %d", int(mode))
	}
	var b strings.Builder
	for i, p := range parts {
		if p.ref == "" {
			b.WriteString(p.text)
			continue
		}
		v, err := r.resolve(p.ref)
		if err != nil {
			return "", err
		}
		s, err := esc(i, v, p.ref)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func escapeHeader(_ int, v value, ref string) (string, error) {
	s := v.text()
	if strings.ContainsFunc(s, func(r rune) bool { return r != '\t' && (r < 0x20 || r == 0x7f) }) {
		// The value may be a secret: name the reference, never the value.
		return "", fmt.Errorf("{{%s}} holds a line break or control character, which a header value cannot contain", ref)
	}
	return s, nil
}

// URL components a reference can land in.
const (
	urlScheme = iota
	urlUserinfo
	urlHost
	urlPath
	urlQuery
	urlFragment
)

// urlEscaper works out, from the template's literal text, which component
// of the URL each reference is in. References contain none of ":/?#@", so
// the literal text alone decides.
func urlEscaper(parts []tmplPart) func(int, value, string) (string, error) {
	// lit is the template with every reference as one NUL byte.
	var lit []byte
	refAt := map[int]int{} // part index → offset in lit
	for i, p := range parts {
		if p.ref != "" {
			refAt[i] = len(lit)
			lit = append(lit, 0)
			continue
		}
		lit = append(lit, p.text...)
	}
	s := string(lit)
	n := len(s)
	authStart, authEnd, at, pathEnd, queryEnd := 0, 0, -1, n, n
	if k := strings.Index(s, "://"); k >= 0 {
		authStart = k + 3
		authEnd = n
		if e := strings.IndexAny(s[authStart:], "/?#"); e >= 0 {
			authEnd = authStart + e
		}
		if a := strings.LastIndexByte(s[authStart:authEnd], '@'); a >= 0 {
			at = authStart + a
		}
	}
	if q := strings.IndexAny(s[authEnd:], "?#"); q >= 0 {
		pathEnd = authEnd + q
	}
	if f := strings.IndexByte(s[authEnd:], '#'); f >= 0 {
		queryEnd = authEnd + f
	}
	component := func(off int) int {
		switch {
		case off < authStart:
			return urlScheme
		case off < at:
			return urlUserinfo
		case off < authEnd:
			return urlHost
		case off < pathEnd:
			return urlPath
		case off < queryEnd:
			return urlQuery
		}
		return urlFragment
	}
	return func(i int, v value, ref string) (string, error) {
		t := v.text()
		switch component(refAt[i]) {
		case urlHost:
			if strings.ContainsFunc(t, func(r rune) bool {
				return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '.' && r != '-' && r != '_'
			}) {
				return "", fmt.Errorf("{{%s}} is in the URL's host, where only letters, digits, '.', '-' and '_' may be inserted", ref)
			}
			return t, nil
		case urlPath:
			if t == "." || t == ".." {
				return strings.Repeat("%2E", len(t)), nil
			}
			return url.PathEscape(t), nil
		case urlQuery, urlFragment:
			return url.QueryEscape(t), nil
		}
		return escapeUnreserved(t), nil
	}
}

// escapeUnreserved percent-encodes every byte but RFC 3986's unreserved
// characters, which is safe in any part of a URL.
func escapeUnreserved(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// jsonEscaper decides for each reference whether it sits inside a JSON
// string literal of the template, following the literal text's quotes and
// backslash escapes. An inserted value never changes that state: inside a
// string it is escaped, outside it is a whole JSON value.
func jsonEscaper(parts []tmplPart) func(int, value, string) (string, error) {
	inString := make(map[int]bool)
	in, escaped := false, false
	for i, p := range parts {
		if p.ref != "" {
			inString[i] = in
			escaped = false
			continue
		}
		for j := 0; j < len(p.text); j++ {
			c := p.text[j]
			switch {
			case !in:
				in = c == '"'
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				in = false
			}
		}
	}
	return func(i int, v value, _ string) (string, error) {
		if inString[i] {
			q := quoteJSON(v.text())
			return string(q[1 : len(q)-1]), nil
		}
		return v.json(), nil
	}
}

// quoteJSON is s as a JSON string, without HTML escaping so the text stays
// as the input wrote it.
func quoteJSON(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
