package runner

import (
	"fmt"
	"strings"
)

// FieldError is one problem with a submitted bot config.
//
// Path names the field the way a person would ("headers.Authorization",
// "expected_status[1]"); it is "" for problems with the document as a whole.
// Line and Column are 1-based and point into the submitted JSON text where the
// offending key or value starts (Column counts characters, not bytes); both
// are 0 when there is no such place, e.g. for a missing field.
//
// One exception: for errors inside a script's JavaScript (Path "source",
// InScript true), Line and Column point into the script itself, because the
// whole script is usually a single JSON string on one line of the config.
type FieldError struct {
	Path     string `json:"path"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Message  string `json:"message"`
	InScript bool   `json:"in_script,omitempty"`
}

func (e FieldError) String() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	// A script error's message already says where in the script it is.
	if e.Line > 0 && !e.InScript {
		fmt.Fprintf(&b, " (line %d, column %d)", e.Line, e.Column)
	}
	return b.String()
}

// ConfigError lists every user mistake found in a config: duplicate keys,
// then unknown fields, then each field's problems in the order of the kind's
// schema (a missing required field included).
type ConfigError struct {
	Errors []FieldError `json:"errors"`
}

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.String()
	}
	return "invalid config: " + strings.Join(parts, "; ")
}

// ByPath groups the messages by field path, for showing them next to form
// fields. Several problems with one field are joined with "; ".
func (e *ConfigError) ByPath() map[string]string {
	out := make(map[string]string, len(e.Errors))
	for _, fe := range e.Errors {
		if prev, ok := out[fe.Path]; ok {
			out[fe.Path] = prev + "; " + fe.Message
			continue
		}
		out[fe.Path] = fe.Message
	}
	return out
}
