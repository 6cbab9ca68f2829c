package runner

import (
	"fmt"
	"regexp"
	"strings"
)

// secretNameRE is what a secret may be called: upper-case, like an
// environment variable, so a reference reads the same everywhere.
var secretNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

var (
	inputSegmentRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// strayCloseRE catches "input.x}}" typed without its opening braces,
	// without flagging the "}}" that ends nested JSON in a body template.
	strayCloseRE = regexp.MustCompile(`\b(?:input|secret)\.[\w.-]*\s*\}\}`)
)

// ValidSecretName reports whether name may name a secret.
func ValidSecretName(name string) bool { return secretNameRE.MatchString(name) }

// TemplateRefs returns the references in a template, in order of appearance,
// normalised without spaces: "input.ticket.id" for {{ input.ticket.id }},
// "secret.API_TOKEN" for {{secret.API_TOKEN}}. It fails on a namespace other
// than input and secret, a malformed name, or a "{{" left open. Single braces
// are ordinary text, so JSON bodies need no escaping; extra opening braces
// before "{{" ("{{{input.x}}}") are text too.
func TemplateRefs(s string) ([]string, error) {
	var refs []string
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			return refs, checkStrayClose(s[i:])
		}
		start := i + j
		for start+2 < len(s) && s[start+2] == '{' {
			start++
		}
		if err := checkStrayClose(s[i:start]); err != nil {
			return refs, err
		}
		end := strings.Index(s[start+2:], "}}")
		if end < 0 {
			return refs, fmt.Errorf("%q is not closed with }}", excerpt(s[start:]))
		}
		inner := s[start+2 : start+2+end]
		ref, err := parseRef(inner)
		if err != nil {
			return refs, fmt.Errorf("{{%s}}: %w", inner, err)
		}
		refs = append(refs, ref)
		i = start + 2 + end + 2
	}
	return refs, nil
}

func parseRef(inner string) (string, error) {
	ref := strings.TrimSpace(inner)
	if ref == "" {
		return "", fmt.Errorf("empty reference; use {{input.NAME}} or {{secret.NAME}}")
	}
	ns, name, hasDot := strings.Cut(ref, ".")
	switch ns {
	case "input":
		if !hasDot || name == "" {
			return "", fmt.Errorf("name a field of the input, e.g. {{input.ticket}}")
		}
		for _, seg := range strings.Split(name, ".") {
			if !inputSegmentRE.MatchString(seg) {
				return "", fmt.Errorf("%q is not a valid input path; use letters, digits, _ and - between dots", name)
			}
		}
	case "secret":
		if !hasDot || name == "" {
			return "", fmt.Errorf("name the secret, e.g. {{secret.API_TOKEN}}")
		}
		if !ValidSecretName(name) {
			return "", fmt.Errorf("%q is not a valid secret name; use A-Z, 0-9 and _, starting with a letter, at most 64 characters", name)
		}
	default:
		return "", fmt.Errorf("unknown namespace %q; use {{input.NAME}} or {{secret.NAME}}", ns)
	}
	return ref, nil
}

func checkStrayClose(text string) error {
	if m := strayCloseRE.FindString(text); m != "" {
		return fmt.Errorf("%q has }} without a matching {{", m)
	}
	return nil
}

func excerpt(s string) string {
	const n = 40
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// secretRefs returns the secret names among refs.
func secretRefs(refs []string) []string {
	var out []string
	for _, r := range refs {
		if name, ok := strings.CutPrefix(r, "secret."); ok {
			out = append(out, name)
		}
	}
	return out
}

// template validates a template string field. allowSecrets is false where a
// secret would leave the process in plain sight (prompts go to the model).
func (c *checker) template(path string, n *jnode, maxChars int, allowSecrets bool) (string, []string, bool) {
	s, ok := c.str(path, n, maxChars)
	if !ok {
		return "", nil, false
	}
	refs, err := TemplateRefs(s)
	if err != nil {
		c.at(path, n, "template: %s", err)
		return "", nil, false
	}
	if !allowSecrets {
		if names := secretRefs(refs); len(names) > 0 {
			c.at(path, n, "secrets cannot be used here ({{secret.%s}}): the text is sent to the model", names[0])
			return "", nil, false
		}
	}
	return s, refs, true
}
