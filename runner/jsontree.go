package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// jsonKind is the type of a JSON value.
type jsonKind int

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

// jnode is a JSON value that remembers where it started in the source, so
// validation errors can point at a line and column. encoding/json's decoders
// forget positions and silently accept duplicate keys, hence this tree.
type jnode struct {
	kind    jsonKind
	off     int // byte offset of the value's first character
	str     string
	num     json.Number
	b       bool
	items   []*jnode
	members []jmember
}

type jmember struct {
	key    string
	keyOff int
	val    *jnode
}

// jsonDoc is a parsed config with its text, for turning offsets into lines.
type jsonDoc struct {
	raw  []byte
	root *jnode
}

// parseJSONDoc parses raw strictly: one value, no trailing data, no duplicate
// keys. Syntax errors stop parsing; duplicate keys are collected and the first
// occurrence wins.
func parseJSONDoc(raw []byte) (*jsonDoc, []FieldError) {
	doc := &jsonDoc{raw: raw}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, []FieldError{{Message: "config is empty; expected a JSON object"}}
	}
	// Unmarshal checks the whole text before decoding, so its SyntaxError
	// offset is exact; the token walk below can then assume valid JSON.
	var probe any
	if err := json.Unmarshal(raw, &probe); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			fe := doc.errAt("", int(se.Offset)-1, "invalid JSON: %s", se.Error())
			return nil, []FieldError{fe}
		}
		return nil, []FieldError{{Message: "invalid JSON: " + err.Error()}}
	}
	p := &treeParser{doc: doc, dec: json.NewDecoder(bytes.NewReader(raw))}
	p.dec.UseNumber()
	root, err := p.value("")
	if err != nil {
		// Unreachable for text that Unmarshal accepted; kept so a decoder
		// difference surfaces as a user-visible error rather than a panic.
		return nil, []FieldError{{Message: "invalid JSON: " + err.Error()}}
	}
	doc.root = root
	return doc, p.errs
}

type treeParser struct {
	doc  *jsonDoc
	dec  *json.Decoder
	errs []FieldError
}

// next returns the next token and the offset where it starts. InputOffset is
// the end of the previous token; separators and space lie in between.
func (p *treeParser) next() (json.Token, int, error) {
	start := int(p.dec.InputOffset())
	tok, err := p.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, fmt.Errorf("read token: %w", err)
	}
	raw := p.doc.raw
	for start < len(raw) && isSeparator(raw[start]) {
		start++
	}
	return tok, start, nil
}

func isSeparator(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ':'
}

func (p *treeParser) value(path string) (*jnode, error) {
	tok, off, err := p.next()
	if err != nil {
		return nil, err
	}
	return p.valueFrom(tok, off, path)
}

func (p *treeParser) valueFrom(tok json.Token, off int, path string) (*jnode, error) {
	n := &jnode{off: off}
	switch t := tok.(type) {
	case nil:
		n.kind = jsonNull
	case bool:
		n.kind, n.b = jsonBool, t
	case json.Number:
		n.kind, n.num = jsonNumber, t
	case string:
		n.kind, n.str = jsonString, t
	case json.Delim:
		switch t {
		case '[':
			n.kind = jsonArray
			return n, p.array(n, path)
		case '{':
			n.kind = jsonObject
			return n, p.object(n, path)
		}
		return nil, fmt.Errorf("unexpected %q at offset %d", rune(t), off)
	default:
		return nil, fmt.Errorf("unexpected token %T at offset %d", tok, off)
	}
	return n, nil
}

func (p *treeParser) array(n *jnode, path string) error {
	for {
		tok, off, err := p.next()
		if err != nil {
			return err
		}
		if tok == json.Delim(']') {
			return nil
		}
		item, err := p.valueFrom(tok, off, indexPath(path, len(n.items)))
		if err != nil {
			return err
		}
		n.items = append(n.items, item)
	}
}

func (p *treeParser) object(n *jnode, path string) error {
	seen := map[string]bool{}
	for {
		tok, keyOff, err := p.next()
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			return nil
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key at offset %d is %T", keyOff, tok)
		}
		val, err := p.value(keyPath(path, key))
		if err != nil {
			return err
		}
		if seen[key] {
			p.errs = append(p.errs, p.doc.errAt(keyPath(path, key), keyOff, "duplicate key %q", key))
			continue
		}
		seen[key] = true
		n.members = append(n.members, jmember{key: key, keyOff: keyOff, val: val})
	}
}

// errAt builds a FieldError at a byte offset of the document; a negative
// offset means "no position".
func (d *jsonDoc) errAt(path string, off int, format string, args ...any) FieldError {
	fe := FieldError{Path: path, Message: fmt.Sprintf(format, args...)}
	if off >= 0 && d != nil {
		fe.Line, fe.Column = lineColumn(d.raw, off)
	}
	return fe
}

// lineColumn turns a byte offset into a 1-based line and a 1-based column
// counted in characters, as an editor shows them.
func lineColumn(raw []byte, off int) (int, int) {
	off = min(max(off, 0), len(raw))
	before := raw[:off]
	line := 1 + bytes.Count(before, []byte("\n"))
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[lineStart:])
}

func keyPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}
