package models

import "fmt"

// MaxJSONDepth is how deep the JSON of an execution's input or output may
// nest (arrays and objects inside each other; a scalar is depth 0, `[]` is
// 1). Both databases must store what the engine accepts, or a request
// answers 500 and a result can never be written: SQLite's json_valid (the
// CHECK on every JSON column) fails past 1,000 levels, and Postgres parses
// json and jsonb recursively, within max_stack_depth (about 10,000 levels
// at its default of 2 MB, far fewer if an operator lowers it). 512 is well
// inside both, and leaves room for the few levels a value gains when it is
// wrapped in an API answer or the sandbox protocol.
const MaxJSONDepth = 512

// JSONDepth returns how deep the JSON text raw nests. It does not validate
// raw: for text that is not JSON the answer is only an estimate.
func JSONDepth(raw []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// JSONTooDeep says why raw cannot be stored ("nests deeper than 512
// levels"), or "" when its depth is within MaxJSONDepth. Every way in
// (API, pages, webhooks, schedules) and the engine's result path ask it.
func JSONTooDeep(raw []byte) string {
	if d := JSONDepth(raw); d > MaxJSONDepth {
		return fmt.Sprintf("nests deeper than %d levels (%d)", MaxJSONDepth, d)
	}
	return ""
}
