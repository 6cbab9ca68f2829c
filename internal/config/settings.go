package config

import (
	"fmt"
	"io"
	"reflect"
	"text/tabwriter"
)

// Settings lists every environment variable Config reads, in declaration order.
func Settings() []Setting {
	t := reflect.TypeFor[Config]()
	out := make([]Setting, 0, t.NumField())
	for f := range t.Fields() {
		name := f.Tag.Get("env")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, Setting{Name: name, Field: f.Name, Default: f.Tag.Get("envDefault"), Help: f.Tag.Get("help")})
	}
	return out
}

// WriteHelp prints the settings as an aligned table.
func WriteHelp(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  SETTING\tDEFAULT\tMEANING")
	for _, s := range Settings() {
		def := s.Default
		if def == "" {
			def = "-"
		}
		_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, def, s.Help)
	}
	_ = tw.Flush()
	_, _ = fmt.Fprintln(w, "\n  Settings may also be put in a .env file in the working directory; real environment variables win.")
}
