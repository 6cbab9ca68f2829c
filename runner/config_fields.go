package runner

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// checker walks a parsed config and collects every problem it finds.
type checker struct {
	doc  *jsonDoc
	errs []FieldError
}

// at records a problem at a node (or at no position when n is nil).
func (c *checker) at(path string, n *jnode, format string, args ...any) {
	off := -1
	if n != nil {
		off = n.off
	}
	c.errs = append(c.errs, c.doc.errAt(path, off, format, args...))
}

// missing records a required field that is absent.
func (c *checker) missing(path string) {
	c.errs = append(c.errs, FieldError{Path: path, Message: "is required"})
}

// fields indexes an object's members by key and reports keys outside allowed,
// suggesting the right spelling when only the case differs.
func (c *checker) fields(n *jnode, path string, allowed ...string) map[string]*jnode {
	out := make(map[string]*jnode, len(n.members))
	for _, m := range n.members {
		known := false
		for _, a := range allowed {
			if m.key == a {
				known = true
				break
			}
		}
		if known {
			out[m.key] = m.val
			continue
		}
		fe := c.doc.errAt(keyPath(path, m.key), m.keyOff, "unknown field %q (allowed: %s)", m.key, strings.Join(allowed, ", "))
		for _, a := range allowed {
			if strings.EqualFold(m.key, a) {
				fe.Message = "unknown field " + strconv.Quote(m.key) + "; did you mean " + strconv.Quote(a) + "?"
				break
			}
		}
		c.errs = append(c.errs, fe)
	}
	return out
}

func (c *checker) wrongType(path string, n *jnode, want string) {
	c.at(path, n, "must be %s, not %s", want, n.kind)
}

// str reads a string no longer than maxChars characters (0: no limit).
func (c *checker) str(path string, n *jnode, maxChars int) (string, bool) {
	if n.kind != jsonString {
		c.wrongType(path, n, "a string")
		return "", false
	}
	if maxChars > 0 {
		if l := utf8.RuneCountInString(n.str); l > maxChars {
			c.at(path, n, "is %d characters long; the limit is %d", l, maxChars)
			return "", false
		}
	}
	return n.str, true
}

// number reads a number in [lo, hi].
func (c *checker) number(path string, n *jnode, lo, hi float64) (float64, bool) {
	if n.kind != jsonNumber {
		c.wrongType(path, n, "a number")
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n.num), 64)
	if err != nil || f < lo || f > hi {
		c.at(path, n, "must be between %s and %s", fmtNum(lo), fmtNum(hi))
		return 0, false
	}
	return f, true
}

// integer reads a whole number in [lo, hi]; 200.0 and 2e2 count as whole.
func (c *checker) integer(path string, n *jnode, lo, hi int) (int, bool) {
	if n.kind != jsonNumber {
		c.wrongType(path, n, "a whole number")
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n.num), 64)
	if err != nil || f != math.Trunc(f) {
		c.at(path, n, "must be a whole number")
		return 0, false
	}
	if f < float64(lo) || f > float64(hi) {
		c.at(path, n, "must be between %d and %d", lo, hi)
		return 0, false
	}
	return int(f), true
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
