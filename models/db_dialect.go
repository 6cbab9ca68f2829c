package models

import (
	"bytes"

	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
)

// Bun (v1.3.0) writes every jsonb-typed value through its dialect's
// AppendJSON, which turns a JSON "\u0000" escape into the text \u0000 —
// and, since a change that stopped it from consuming the byte after a
// backslash, also turns an escaped backslash followed by the text u0000
// ("\\u0000": a backslash, then "u0000") into a backslash and a NUL
// escape. Postgres then refuses the statement ("unsupported Unicode escape
// sequence") and SQLite stores a different value. Our dialects write that
// backslash as \u005c first, the same JSON value, which Bun leaves alone.
// (NULs themselves never reach Bun: inputs with one are refused, results
// are mended — see nul.go.)

type pgDialect struct{ *pgdialect.Dialect }

func (d pgDialect) AppendJSON(b, jsonb []byte) []byte {
	return d.Dialect.AppendJSON(b, escapeBackslashBeforeU0000(jsonb))
}

type sqliteDialect struct{ *sqlitedialect.Dialect }

func (d sqliteDialect) AppendJSON(b, jsonb []byte) []byte {
	return d.Dialect.AppendJSON(b, escapeBackslashBeforeU0000(jsonb))
}

// escapeBackslashBeforeU0000 rewrites each escaped backslash (\\) that is
// followed by the text u0000 as \u005c.
func escapeBackslashBeforeU0000(j []byte) []byte {
	if !bytes.Contains(j, []byte(`\\u0000`)) {
		return j
	}
	out := make([]byte, 0, len(j)+8)
	for i := 0; i < len(j); i++ {
		if j[i] != '\\' || i+1 >= len(j) {
			out = append(out, j[i])
			continue
		}
		if j[i+1] == '\\' && bytes.HasPrefix(j[i+2:], []byte("u0000")) {
			out = append(out, `\u005c`...)
		} else {
			out = append(out, j[i], j[i+1]) // any other escape, as is
		}
		i++
	}
	return out
}
