package views

import (
	"bytes"
	"encoding/json"
	"strings"
)

// jsonToken is a piece of pretty-printed JSON with its highlight class.
type jsonToken struct {
	Class, Text string
}

// jsonLines pretty-prints raw JSON (2-space indent) and splits it into
// lines of highlighted tokens. Invalid JSON is returned as plain text.
func jsonLines(raw []byte) [][]jsonToken {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	var out [][]jsonToken
	for _, line := range strings.Split(buf.String(), "\n") {
		out = append(out, tokenizeJSONLine(line))
	}
	return out
}

func tokenizeJSONLine(line string) []jsonToken {
	var toks []jsonToken
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			if j < len(line) {
				j++
			}
			class := "text-green-700 dark:text-green-300" // a string value
			rest := strings.TrimLeft(line[j:], " ")
			if strings.HasPrefix(rest, ":") {
				class = "text-brand-700 dark:text-brand-100" // a key
			}
			toks = append(toks, jsonToken{class, line[i:j]})
			i = j
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(line) && strings.IndexByte("0123456789.eE+-", line[j]) >= 0 {
				j++
			}
			toks = append(toks, jsonToken{"text-amber-700 dark:text-amber-300", line[i:j]})
			i = j
		case strings.HasPrefix(line[i:], "true"), strings.HasPrefix(line[i:], "false"), strings.HasPrefix(line[i:], "null"):
			n := 4
			if line[i] == 'f' {
				n = 5
			}
			toks = append(toks, jsonToken{"text-purple-700 dark:text-purple-300", line[i : i+n]})
			i += n
		default:
			j := i + 1
			for j < len(line) && line[j] != '"' && line[j] != '-' && (line[j] < '0' || line[j] > '9') && line[j] != 't' && line[j] != 'f' && line[j] != 'n' {
				j++
			}
			toks = append(toks, jsonToken{"text-slate-500", line[i:j]})
			i = j
		}
	}
	return toks
}
