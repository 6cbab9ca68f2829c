// Package promnames lists what PromQL expressions, Grafana dashboards and
// Prometheus rule files refer to — metric names (FromPromQL, FromDashboard,
// FromRules), and the selectors' label matchers and grouping labels (Parse) —
// so that a test fails when a shipped dashboard or alert names a metric, a
// label or a label value the application does not expose (Missing).
//
// It is a tokenizer, not a PromQL parser: it knows enough of the grammar to
// tell a metric name from a function, an aggregation, a keyword, a label name,
// a string or a duration, which is all these checks need. Syntax is checked
// by promtool (deploy/observability/check.sh).
package promnames

import (
	"slices"
	"strconv"
	"strings"
)

// keywords are the identifiers that are never metric names when they stand
// alone: binary set operators, modifiers and the number literals Inf and NaN.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true,
	"offset": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true,
	"inf": true, "nan": true,
}

// aggregations may be followed by "by (…)" or "without (…)" before their
// parenthesis, so they are not recognisable by a following "(" alone.
var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true,
	"stddev": true, "stdvar": true, "count": true, "count_values": true,
	"bottomk": true, "topk": true, "quantile": true, "limitk": true,
	"limit_ratio": true,
}

// labelLists are the keywords whose parenthesised list holds label names.
var labelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true,
}

// FromPromQL returns the metric names expr refers to, sorted and without
// duplicates, as written (a histogram's "_bucket" suffix is kept; see
// BaseName). It also understands Grafana's template syntax: $var, ${var},
// [$__rate_interval], and the variable query functions label_values(),
// query_result(), label_names() and metrics().
func FromPromQL(expr string) []string {
	return Parse(expr).Names
}

// Matcher is one label matcher of a selector: Op is =, !=, =~ or !~ and Value
// the unquoted string.
type Matcher struct {
	Label, Op, Value string
}

// Selector is one vector selector: the metric it names (empty for a selector
// without a name, such as {job="x"}) and its label matchers.
type Selector struct {
	Metric   string
	Matchers []Matcher
}

// Query is what an expression refers to.
type Query struct {
	// Names are the metric names, sorted, without duplicates (FromPromQL).
	Names []string
	// Selectors are the vector selectors in the order they appear.
	Selectors []Selector
	// Grouping are the label names of by, without, on, ignoring,
	// group_left and group_right lists, sorted, without duplicates.
	Grouping []string
}

// Parse returns the metric names, selectors and grouping labels of expr.
func Parse(expr string) Query {
	c := newCollector()
	scan(expr, c)
	return c.query()
}

type collector struct {
	names     map[string]bool
	grouping  map[string]bool
	selectors []Selector
}

func newCollector() *collector {
	return &collector{names: map[string]bool{}, grouping: map[string]bool{}}
}

func (c *collector) query() Query {
	return Query{Names: sortedSet(c.names), Selectors: c.selectors, Grouping: sortedSet(c.grouping)}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// BaseName strips the series suffix of a classic histogram or summary
// ("_bucket", "_sum", "_count"), giving the metric family name that /metrics
// declares in its # TYPE line.
func BaseName(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, s); ok && b != "" {
			return b
		}
	}
	return name
}

// Missing returns the names in referenced that /metrics does not expose.
// exposed maps each metric family name, as a # TYPE line declares it, to its
// type ("counter", "gauge", "histogram", "summary", "untyped"); a scrape parsed
// with expfmt gives it directly. A histogram's series are its _bucket, _sum
// and _count (the bare family name selects nothing for a classic histogram); a
// summary's are its _sum, _count and the bare name with quantile labels.
func Missing(referenced []string, exposed map[string]string) []string {
	var out []string
	for _, r := range referenced {
		if !exposes(r, exposed) {
			out = append(out, r)
		}
	}
	return out
}

func exposes(name string, exposed map[string]string) bool {
	if t, ok := exposed[name]; ok && t != "histogram" {
		return true
	}
	base := BaseName(name)
	if base == name {
		return false
	}
	switch exposed[base] {
	case "histogram":
		return true
	case "summary":
		return !strings.HasSuffix(name, "_bucket")
	}
	return false
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipString returns the index just past the string literal starting at i
// (quote is s[i]: ", ' or `). Backslash escapes apply except in raw strings.
func skipString(s string, i int) int {
	q := s[i]
	i++
	for i < len(s) {
		switch {
		case s[i] == '\\' && q != '`':
			i += 2
		case s[i] == q:
			return i + 1
		default:
			i++
		}
	}
	return len(s)
}

// matching returns the index of the bracket closing the one at open, skipping
// strings and nested brackets of the same kind; len(s) when unbalanced.
func matching(s string, open int) int {
	o, c := s[open], map[byte]byte{'(': ')', '[': ']', '{': '}'}[s[open]]
	depth := 0
	for i := open; i < len(s); {
		switch s[i] {
		case '"', '\'', '`':
			i = skipString(s, i)
			continue
		case o:
			depth++
		case c:
			depth--
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return len(s)
}

func skipSpace(s string, i int) int {
	for i < len(s) {
		if isSpace(s[i]) {
			i++
			continue
		}
		if s[i] == '#' { // a comment runs to the end of the line
			for i < len(s) && s[i] != '\n' {
				i++
			}
			continue
		}
		break
	}
	return i
}

// splitArgs splits the text between a call's parentheses at its top-level
// commas.
func splitArgs(s string) []string {
	var args []string
	depth, start := 0, 0
	for i := 0; i < len(s); {
		switch s[i] {
		case '"', '\'', '`':
			i = skipString(s, i)
			continue
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				args = append(args, s[start:i])
				start = i + 1
			}
		}
		i++
	}
	if strings.TrimSpace(s[start:]) != "" || len(args) > 0 {
		args = append(args, s[start:])
	}
	return args
}

func scan(s string, c *collector) {
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case isSpace(ch) || ch == '#':
			i = skipSpace(s, i)
		case ch == '"' || ch == '\'' || ch == '`':
			i = skipString(s, i)
		case ch == '{': // a selector without a metric name before it
			end := matching(s, i)
			c.selector("", s[i+1:min(end, len(s))])
			i = end + 1
		case ch == '[': // range or subquery: durations and Grafana variables only
			i = matching(s, i) + 1
		case ch == '$': // Grafana variable: $name or ${name…}
			i++
			if i < len(s) && s[i] == '{' {
				i = matching(s, i) + 1
				continue
			}
			for i < len(s) && isIdentPart(s[i]) {
				i++
			}
		case isDigit(ch) || (ch == '.' && i+1 < len(s) && isDigit(s[i+1])):
			// Numbers and durations: 0.95, 1e-3, 0x1f, 5m, 1h30m.
			for i < len(s) {
				if isIdentPart(s[i]) || s[i] == '.' {
					i++
					continue
				}
				if (s[i] == '-' || s[i] == '+') && (s[i-1] == 'e' || s[i-1] == 'E') && !strings.HasPrefix(strings.ToLower(s[:i]), "0x") {
					i++
					continue
				}
				break
			}
		case isIdentStart(ch):
			j := i
			for j < len(s) && isIdentPart(s[j]) {
				j++
			}
			word := s[i:j]
			k := skipSpace(s, j)
			lower := strings.ToLower(word)
			switch {
			// Keywords and aggregations are case-insensitive in PromQL;
			// function names are not.
			case labelLists[lower] && k < len(s) && s[k] == '(':
				end := matching(s, k) // a list of label names
				for _, l := range splitArgs(s[k+1 : min(end, len(s))]) {
					if l = strings.TrimSpace(l); l != "" {
						c.grouping[l] = true
					}
				}
				i = end + 1
			case keywords[lower]:
				i = j
			case aggregations[lower] && (k >= len(s) || s[k] == '(' || hasKeyword(s[k:], "by") || hasKeyword(s[k:], "without")):
				i = j
			case k < len(s) && s[k] == '(':
				i = call(s, word, k, c)
			case k < len(s) && s[k] == '{':
				c.names[word] = true
				end := matching(s, k)
				c.selector(word, s[k+1:min(end, len(s))])
				i = end + 1
			default:
				c.names[word] = true
				c.selectors = append(c.selectors, Selector{Metric: word})
				i = j
			}
		default:
			i++
		}
	}
}

// hasKeyword reports whether s starts with the keyword kw (any case) followed
// by something that cannot continue an identifier.
func hasKeyword(s, kw string) bool {
	return len(s) >= len(kw) && strings.EqualFold(s[:len(kw)], kw) && (len(s) == len(kw) || !isIdentPart(s[len(kw)]))
}

// call handles a function call whose "(" is at open and returns the index past
// its ")". Most functions' arguments are expressions and are scanned as usual;
// Grafana's variable query functions take label names and regexes too.
func call(s, fn string, open int, c *collector) int {
	end := matching(s, open)
	inner := s[open+1 : min(end, len(s))]
	switch fn {
	case "label_values":
		// label_values(label) or label_values(expr, label).
		if args := splitArgs(inner); len(args) >= 2 {
			scan(strings.Join(args[:len(args)-1], ","), c)
		}
	case "label_names", "metrics":
		// label_names() and metrics(regex) name no particular metric.
	default: // query_result(expr) and every PromQL function
		scan(inner, c)
	}
	return end + 1
}

// selector records a selector with the matchers between its braces. A
// selector without a name before its braces names a metric only by an
// equality matcher on __name__; a regex or negative one names none.
func (c *collector) selector(metric, inner string) {
	sel := Selector{Metric: metric}
	for _, m := range splitArgs(inner) {
		mt, ok := parseMatcher(m)
		if !ok {
			continue
		}
		if mt.Label == "__name__" && metric == "" {
			if mt.Op == "=" {
				sel.Metric = mt.Value
				c.names[mt.Value] = true
			}
			continue
		}
		sel.Matchers = append(sel.Matchers, mt)
	}
	c.selectors = append(c.selectors, sel)
}

// parseMatcher reads label op "value".
func parseMatcher(m string) (Matcher, bool) {
	m = strings.TrimSpace(m)
	j := 0
	for j < len(m) && isIdentPart(m[j]) {
		j++
	}
	if j == 0 {
		return Matcher{}, false
	}
	label, rest := m[:j], strings.TrimSpace(m[j:])
	var op string
	for _, o := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" {
		return Matcher{}, false
	}
	v, ok := unquote(strings.TrimSpace(rest[len(op):]))
	if !ok {
		return Matcher{}, false
	}
	return Matcher{Label: label, Op: op, Value: v}, true
}

// unquote reads a PromQL string literal: "…" or '…' with Go escapes, or `…`.
func unquote(v string) (string, bool) {
	if len(v) < 2 || v[len(v)-1] != v[0] {
		return "", false
	}
	switch v[0] {
	case '`':
		return v[1 : len(v)-1], true
	case '"':
		u, err := strconv.Unquote(v)
		return u, err == nil
	case '\'':
		u, err := strconv.Unquote(`"` + strings.ReplaceAll(strings.ReplaceAll(v[1:len(v)-1], `\'`, `'`), `"`, `\"`) + `"`)
		return u, err == nil
	}
	return "", false
}
