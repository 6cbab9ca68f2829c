package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// DiffOp says what happened to one value (DiffEntry) or one line (DiffLine).
type DiffOp string

const (
	DiffAdded     DiffOp = "added"
	DiffRemoved   DiffOp = "removed"
	DiffChanged   DiffOp = "changed"
	DiffUnchanged DiffOp = "unchanged"
)

// DiffEntry is one leaf of a structured JSON diff. Old is nil for added
// values and New is nil for removed ones; both hold compact JSON with sorted
// keys, numbers as written.
type DiffEntry struct {
	Path string
	Op   DiffOp
	Old  json.RawMessage
	New  json.RawMessage
}

// DisplayPath is Path, with the document root shown as "(root)".
func (e DiffEntry) DisplayPath() string {
	if e.Path == "" {
		return "(root)"
	}
	return e.Path
}

// DiffLine is one line of a line diff. OldNo and NewNo are 1-based; the side
// a line is absent from has 0.
type DiffLine struct {
	Op    DiffOp
	OldNo int
	NewNo int
	Text  string
}

// MaxDiffLines bounds the line diff: above it on either side the documents are
// shown as a whole-file replacement, so a huge config cannot make a page
// request spend quadratic time.
const MaxDiffLines = 5000

// DiffJSON compares two JSON documents value by value. Objects are compared
// key by key in sorted order, arrays index by index. Every leaf appears once,
// unchanged ones included; added or removed subtrees are listed leaf by leaf.
// An empty or null document stands for "nothing", so diffing against it lists
// the other side as wholly added or removed.
func DiffJSON(oldRaw, newRaw []byte) ([]DiffEntry, error) {
	oldV, oldOK, err := parseDiffDoc(oldRaw)
	if err != nil {
		return nil, fmt.Errorf("jsondiff: old document: %w", err)
	}
	newV, newOK, err := parseDiffDoc(newRaw)
	if err != nil {
		return nil, fmt.Errorf("jsondiff: new document: %w", err)
	}
	d := &jsonDiffer{entries: []DiffEntry{}}
	switch {
	case oldOK && newOK:
		d.compare("", oldV, newV)
	case oldOK:
		d.side(DiffRemoved, "", oldV)
	case newOK:
		d.side(DiffAdded, "", newV)
	}
	if d.err != nil {
		return nil, fmt.Errorf("jsondiff: encode: %w", d.err)
	}
	return d.entries, nil
}

// Changes keeps the entries that are not DiffUnchanged.
func Changes(entries []DiffEntry) []DiffEntry {
	out := make([]DiffEntry, 0, len(entries))
	for _, e := range entries {
		if e.Op != DiffUnchanged {
			out = append(out, e)
		}
	}
	return out
}

// DiffLines is the line diff of both documents pretty-printed (sorted keys,
// two-space indent), every line included. An empty or null document has no
// lines.
func DiffLines(oldRaw, newRaw []byte) ([]DiffLine, error) {
	a, err := prettyLines(oldRaw)
	if err != nil {
		return nil, fmt.Errorf("jsondiff: old document: %w", err)
	}
	b, err := prettyLines(newRaw)
	if err != nil {
		return nil, fmt.Errorf("jsondiff: new document: %w", err)
	}
	return lineDiff(a, b), nil
}

// UnifiedDiff renders DiffLines like `diff -u`: ---/+++ headers, @@ hunks and
// three lines of context. Identical documents give "".
func UnifiedDiff(oldRaw, newRaw []byte, oldLabel, newLabel string) (string, error) {
	lines, err := DiffLines(oldRaw, newRaw)
	if err != nil {
		return "", err
	}
	hunks := diffHunks(lines, 3)
	if len(hunks) == 0 {
		return "", nil
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", oldLabel, newLabel)
	for _, h := range hunks {
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(h.oldStart, h.oldCount), hunkRange(h.newStart, h.newCount))
		for _, l := range lines[h.from:h.to] {
			switch l.Op {
			case DiffAdded:
				sb.WriteByte('+')
			case DiffRemoved:
				sb.WriteByte('-')
			default:
				sb.WriteByte(' ')
			}
			sb.WriteString(l.Text)
			sb.WriteByte('\n')
		}
	}
	return sb.String(), nil
}

// parseDiffDoc decodes one whole document; ok is false for empty input or a
// bare null.
func parseDiffDoc(raw []byte) (v any, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false, errors.New("unexpected data after the JSON value")
	}
	return v, v != nil, nil
}

type jsonDiffer struct {
	entries []DiffEntry
	err     error
}

func (d *jsonDiffer) compare(path string, a, b any) {
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok && (len(av) > 0 || len(bv) > 0) {
			d.compareObjects(path, av, bv)
			return
		}
	case []any:
		if bv, ok := b.([]any); ok && (len(av) > 0 || len(bv) > 0) {
			d.compareArrays(path, av, bv)
			return
		}
	}
	op := DiffChanged
	if jsonEqual(a, b) {
		op = DiffUnchanged
	}
	d.add(DiffEntry{Path: path, Op: op, Old: d.encode(a), New: d.encode(b)})
}

func (d *jsonDiffer) compareObjects(path string, a, b map[string]any) {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		av, inA := a[k]
		bv, inB := b[k]
		p := keyPath(path, k)
		switch {
		case inA && inB:
			d.compare(p, av, bv)
		case inA:
			d.side(DiffRemoved, p, av)
		default:
			d.side(DiffAdded, p, bv)
		}
	}
}

func (d *jsonDiffer) compareArrays(path string, a, b []any) {
	for i := 0; i < len(a) || i < len(b); i++ {
		p := indexPath(path, i)
		switch {
		case i < len(a) && i < len(b):
			d.compare(p, a[i], b[i])
		case i < len(a):
			d.side(DiffRemoved, p, a[i])
		default:
			d.side(DiffAdded, p, b[i])
		}
	}
}

// side lists a subtree present on one side only, leaf by leaf; empty
// containers are leaves.
func (d *jsonDiffer) side(op DiffOp, path string, v any) {
	switch tv := v.(type) {
	case map[string]any:
		if len(tv) > 0 {
			keys := make([]string, 0, len(tv))
			for k := range tv {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				d.side(op, keyPath(path, k), tv[k])
			}
			return
		}
	case []any:
		if len(tv) > 0 {
			for i, e := range tv {
				d.side(op, indexPath(path, i), e)
			}
			return
		}
	}
	e := DiffEntry{Path: path, Op: op}
	if op == DiffAdded {
		e.New = d.encode(v)
	} else {
		e.Old = d.encode(v)
	}
	d.add(e)
}

func (d *jsonDiffer) add(e DiffEntry) { d.entries = append(d.entries, e) }

func (d *jsonDiffer) encode(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Values are shown to people (and escaped by templ), not embedded in HTML raw.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		if d.err == nil {
			d.err = err
		}
		return nil
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
}

// jsonEqual compares decoded scalars (and empty containers) by value.
func jsonEqual(a, b any) bool {
	switch av := a.(type) {
	case nil:
		return b == nil
	case bool:
		bv, ok := b.(bool)
		return ok && av == bv
	case string:
		bv, ok := b.(string)
		return ok && av == bv
	case json.Number:
		bv, ok := b.(json.Number)
		return ok && numbersEqual(string(av), string(bv))
	case map[string]any:
		bv, ok := b.(map[string]any)
		return ok && len(av) == 0 && len(bv) == 0
	case []any:
		bv, ok := b.([]any)
		return ok && len(av) == 0 && len(bv) == 0
	}
	return false
}

// decimal is a JSON number normalised to ±digits×10^exp, with no leading or
// trailing zeros in digits; zero is the zero value whatever its sign.
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// numbersEqual compares JSON numbers exactly by value (1 == 1.0 == 1e0), without
// float rounding and without big-number arithmetic a hostile exponent could abuse.
func numbersEqual(a, b string) bool {
	if a == b {
		return true
	}
	da, okA := parseDecimal(a)
	db, okB := parseDecimal(b)
	return okA && okB && da == db
}

func parseDecimal(s string) (decimal, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1<<40 || e < -(1<<40) {
			return decimal{}, false
		}
		exp, s = e, s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	exp -= len(frac)
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return decimal{}, true
	}
	trimmed := strings.TrimRight(digits, "0")
	return decimal{neg: neg, digits: trimmed, exp: exp + len(digits) - len(trimmed)}, true
}

func keyPath(parent, key string) string {
	if !isIdentifier(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// prettyLines pretty-prints a document with sorted keys (encoding/json sorts
// map keys) and numbers as written.
func prettyLines(raw []byte) ([]string, error) {
	v, ok, err := parseDiffDoc(raw)
	if err != nil || !ok {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"), nil
}

// lineDiff aligns a and b on a longest common subsequence of lines, listing
// removals before additions within each changed block as diff -u does.
func lineDiff(a, b []string) []DiffLine {
	out := make([]DiffLine, 0, max(len(a), len(b)))
	var pairs []linePair
	if len(a) <= MaxDiffLines && len(b) <= MaxDiffLines {
		ai, bi := internLines(a, b)
		pairs = lcsPairs(ai, bi, 0, 0, nil)
	}
	i, j := 0, 0
	flush := func(toA, toB int) {
		for ; i < toA; i++ {
			out = append(out, DiffLine{Op: DiffRemoved, OldNo: i + 1, Text: a[i]})
		}
		for ; j < toB; j++ {
			out = append(out, DiffLine{Op: DiffAdded, NewNo: j + 1, Text: b[j]})
		}
	}
	for _, p := range pairs {
		flush(p.a, p.b)
		out = append(out, DiffLine{Op: DiffUnchanged, OldNo: i + 1, NewNo: j + 1, Text: a[i]})
		i, j = i+1, j+1
	}
	flush(len(a), len(b))
	return out
}

type linePair struct{ a, b int }

func internLines(a, b []string) (ai, bi []int32) {
	ids := make(map[string]int32, len(a))
	intern := func(lines []string) []int32 {
		out := make([]int32, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = int32(len(ids)) //nolint:gosec // G115: lineDiff interns only texts of at most MaxDiffLines lines
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	return intern(a), intern(b)
}

// lcsPairs appends the matched index pairs of a longest common subsequence of
// a and b (offset by aOff, bOff) in order. It is Hirschberg's algorithm:
// quadratic time, linear memory.
func lcsPairs(a, b []int32, aOff, bOff int, out []linePair) []linePair {
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		out = append(out, linePair{aOff, bOff})
		a, b, aOff, bOff = a[1:], b[1:], aOff+1, bOff+1
	}
	suffix := 0
	for suffix < len(a) && suffix < len(b) && a[len(a)-1-suffix] == b[len(b)-1-suffix] {
		suffix++
	}
	a, b = a[:len(a)-suffix], b[:len(b)-suffix]
	switch {
	case len(a) == 0 || len(b) == 0:
	case len(a) == 1:
		for j, x := range b {
			if x == a[0] {
				out = append(out, linePair{aOff, bOff + j})
				break
			}
		}
	default:
		mid := len(a) / 2
		fwd := lcsRow(a[:mid], b, false)
		bwd := lcsRow(a[mid:], b, true)
		best, split := int32(-1), 0
		for j := 0; j <= len(b); j++ {
			if s := fwd[j] + bwd[len(b)-j]; s > best {
				best, split = s, j
			}
		}
		out = lcsPairs(a[:mid], b[:split], aOff, bOff, out)
		out = lcsPairs(a[mid:], b[split:], aOff+mid, bOff+split, out)
	}
	for k := 0; k < suffix; k++ {
		out = append(out, linePair{aOff + len(a) + k, bOff + len(b) + k})
	}
	return out
}

// lcsRow returns row[j] = LCS length of a and the first j elements of b, or,
// reversed, of a and the last j elements of b.
func lcsRow(a, b []int32, reverse bool) []int32 {
	n := len(b)
	prev, cur := make([]int32, n+1), make([]int32, n+1)
	for ii := range a {
		x := a[ii]
		if reverse {
			x = a[len(a)-1-ii]
		}
		for j := 1; j <= n; j++ {
			y := b[j-1]
			if reverse {
				y = b[n-j]
			}
			switch {
			case x == y:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	return prev
}

type diffHunk struct {
	from, to           int // lines[from:to]
	oldStart, oldCount int
	newStart, newCount int
}

// diffHunks groups changed lines with up to context unchanged lines around
// them, merging groups whose context would touch, as diff -u does.
func diffHunks(lines []DiffLine, context int) []diffHunk {
	var hunks []diffHunk
	for i := 0; i < len(lines); {
		if lines[i].Op == DiffUnchanged {
			i++
			continue
		}
		from := max(0, i-context)
		end := i // one past the last changed line seen
		for j := i; j < len(lines); j++ {
			if lines[j].Op != DiffUnchanged {
				end = j + 1
			} else if j-end >= 2*context {
				break
			}
		}
		to := min(len(lines), end+context)
		hunks = append(hunks, newHunk(lines, from, to))
		i = to
	}
	return hunks
}

func newHunk(lines []DiffLine, from, to int) diffHunk {
	h := diffHunk{from: from, to: to}
	// Lines before the hunk on each side, for hunks that are empty on a side.
	oldBefore, newBefore := 0, 0
	for _, l := range lines[:from] {
		if l.OldNo > 0 {
			oldBefore = l.OldNo
		}
		if l.NewNo > 0 {
			newBefore = l.NewNo
		}
	}
	h.oldStart, h.newStart = oldBefore, newBefore
	for _, l := range lines[from:to] {
		if l.OldNo > 0 {
			h.oldCount++
		}
		if l.NewNo > 0 {
			h.newCount++
		}
	}
	if h.oldCount > 0 {
		h.oldStart++
	}
	if h.newCount > 0 {
		h.newStart++
	}
	return h
}

func hunkRange(start, count int) string {
	if count == 1 {
		return strconv.Itoa(start)
	}
	return strconv.Itoa(start) + "," + strconv.Itoa(count)
}
