package models_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

// de builds an expected entry; "" stands for an absent side.
func diffEntry(path string, op models.DiffOp, oldJSON, newJSON string) models.DiffEntry {
	e := models.DiffEntry{Path: path, Op: op}
	if oldJSON != "" {
		e.Old = json.RawMessage(oldJSON)
	}
	if newJSON != "" {
		e.New = json.RawMessage(newJSON)
	}
	return e
}

const (
	opAdd  = models.DiffAdded
	opRem  = models.DiffRemoved
	opChg  = models.DiffChanged
	opSame = models.DiffUnchanged
)

func TestDiffJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		old, new string
		want     []models.DiffEntry
	}{
		{"added key", `{"a":1}`, `{"a":1,"b":"x"}`, []models.DiffEntry{
			diffEntry("a", opSame, `1`, `1`), diffEntry("b", opAdd, "", `"x"`),
		}},
		{"removed key", `{"a":1,"b":true}`, `{"a":1}`, []models.DiffEntry{
			diffEntry("a", opSame, `1`, `1`), diffEntry("b", opRem, `true`, ""),
		}},
		{"nested change", `{"headers":{"Authorization":"Bearer a","Accept":"*/*"}}`, `{"headers":{"Accept":"*/*","Authorization":"Bearer b"}}`, []models.DiffEntry{
			diffEntry("headers.Accept", opSame, `"*/*"`, `"*/*"`),
			diffEntry("headers.Authorization", opChg, `"Bearer a"`, `"Bearer b"`),
		}},
		{"array growth", `{"expected_status":[200]}`, `{"expected_status":[200,201,{"x":1,"y":[]}]}`, []models.DiffEntry{
			diffEntry("expected_status[0]", opSame, `200`, `200`),
			diffEntry("expected_status[1]", opAdd, "", `201`),
			diffEntry("expected_status[2].x", opAdd, "", `1`),
			diffEntry("expected_status[2].y", opAdd, "", `[]`),
		}},
		{"array shrink", `{"expected_status":[200,201,202]}`, `{"expected_status":[204]}`, []models.DiffEntry{
			diffEntry("expected_status[0]", opChg, `200`, `204`),
			diffEntry("expected_status[1]", opRem, `201`, ""),
			diffEntry("expected_status[2]", opRem, `202`, ""),
		}},
		{"array from empty", `{"a":[]}`, `{"a":[1]}`, []models.DiffEntry{diffEntry("a[0]", opAdd, "", `1`)}},
		{"type changes", `{"s":"1","o":{"b":1},"n":null,"e":{}}`, `{"s":1,"o":[1],"n":false,"e":[]}`, []models.DiffEntry{
			diffEntry("e", opChg, `{}`, `[]`),
			diffEntry("n", opChg, `null`, `false`),
			diffEntry("o", opChg, `{"b":1}`, `[1]`),
			diffEntry("s", opChg, `"1"`, `1`),
		}},
		{"null to null and empty containers", `{"n":null,"o":{},"a":[]}`, `{"a":[],"n":null,"o":{}}`, []models.DiffEntry{
			diffEntry("a", opSame, `[]`, `[]`), diffEntry("n", opSame, `null`, `null`), diffEntry("o", opSame, `{}`, `{}`),
		}},
		{"null old side", `null`, `{"b":[1,{"c":true}],"a":"x"}`, []models.DiffEntry{
			diffEntry("a", opAdd, "", `"x"`), diffEntry("b[0]", opAdd, "", `1`), diffEntry("b[1].c", opAdd, "", `true`),
		}},
		{"empty new side", `{"a":{"b":1},"c":{}}`, "  \n", []models.DiffEntry{
			diffEntry("a.b", opRem, `1`, ""), diffEntry("c", opRem, `{}`, ""),
		}},
		{"both absent", ``, `null`, []models.DiffEntry{}},
		{"root scalars", `1`, `"one"`, []models.DiffEntry{diffEntry("", opChg, `1`, `"one"`)}},
		{"root scalar added", `null`, `5`, []models.DiffEntry{diffEntry("", opAdd, "", `5`)}},
		{"root array", `[1,2]`, `[1,3]`, []models.DiffEntry{diffEntry("[0]", opSame, `1`, `1`), diffEntry("[1]", opChg, `2`, `3`)}},
		{"path quoting", `{"headers":{"Content-Type":"a"},"1st":1,"a\"b":1,"":1,"_ok9":1,"ünï":1}`, `{}`, []models.DiffEntry{
			diffEntry(`[""]`, opRem, `1`, ""),
			diffEntry(`["1st"]`, opRem, `1`, ""),
			diffEntry(`_ok9`, opRem, `1`, ""),
			diffEntry(`["a\"b"]`, opRem, `1`, ""),
			diffEntry(`headers["Content-Type"]`, opRem, `"a"`, ""),
			diffEntry(`["ünï"]`, opRem, `1`, ""),
		}},
		{"values as written, HTML not escaped", `{"v":"<script>&"}`, `{"v":{"z":1,"a":1.50}}`, []models.DiffEntry{
			diffEntry("v", opChg, `"<script>&"`, `{"a":1.50,"z":1}`),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := models.DiffJSON([]byte(tc.old), []byte(tc.new))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestDiffJSONNoChanges(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, old, new string }{
		{"identical", `{"a":{"b":[1,"x",null]}}`, `{"a":{"b":[1,"x",null]}}`},
		{"key order and whitespace", `{"a":1,"b":{"c":2,"d":3}}`, "{\n \"b\": {\"d\":3, \"c\":2},\n \"a\":1}"},
		{"equal numbers", `[1, 1.0, 1e0, 10e-1, 0, -0, 0.0e5, 123.4500, 1E+2, 12345678901234567890]`,
			`[1.0, 1, 0.1E1, 1, -0.0, 0, 0, 123.45, 100, 1234567890123456789e1]`},
		{"hostile exponents", `[1e1000000000, 1e99999999999999999999]`, `[10e999999999, 1e99999999999999999999]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := models.DiffJSON([]byte(tc.old), []byte(tc.new))
			require.NoError(t, err)
			require.NotEmpty(t, got, "leaves are listed for the side-by-side view")
			require.Empty(t, models.Changes(got))
			for _, e := range got {
				require.Equal(t, models.DiffUnchanged, e.Op)
			}
		})
	}
}

func TestDiffJSONNumbersThatDiffer(t *testing.T) {
	t.Parallel()
	for _, pair := range [][2]string{
		{"1", "1.5"}, {"1", "-1"}, {"0.1", "1"}, {"100", "1e3"},
		// Equal as float64, different as written numbers.
		{"9007199254740993", "9007199254740992"},
		{"0.30000000000000004", "0.3000000000000000444"},
	} {
		got, err := models.DiffJSON([]byte(pair[0]), []byte(pair[1]))
		require.NoError(t, err)
		require.Equal(t, []models.DiffEntry{diffEntry("", opChg, pair[0], pair[1])}, got, pair)
	}
}

func TestDiffJSONInvalid(t *testing.T) {
	t.Parallel()
	_, err := models.DiffJSON([]byte(`{"a":`), []byte(`{}`))
	require.ErrorContains(t, err, "jsondiff: old document")
	_, err = models.DiffJSON([]byte(`{}`), []byte(`{} {}`))
	require.ErrorContains(t, err, "jsondiff: new document")
	_, err = models.DiffLines([]byte(`[1]x`), nil)
	require.Error(t, err)
	_, err = models.UnifiedDiff(nil, []byte(`nope`), "a", "b")
	require.Error(t, err)
}

func TestDiffChangesAndDisplayPath(t *testing.T) {
	t.Parallel()
	entries := []models.DiffEntry{
		diffEntry("a", opSame, `1`, `1`), diffEntry("b", opAdd, "", `2`), diffEntry("c", opRem, `3`, ""), diffEntry("", opChg, `4`, `5`),
	}
	require.Equal(t, entries[1:], models.Changes(entries))
	require.Empty(t, models.Changes(nil))
	require.Equal(t, "(root)", entries[3].DisplayPath())
	require.Equal(t, "b", entries[1].DisplayPath())
}

func TestDiffLines(t *testing.T) {
	t.Parallel()
	got, err := models.DiffLines([]byte(`{"url":"http://a","timeout":30}`), []byte(`{"timeout":60,"url":"http://a"}`))
	require.NoError(t, err)
	require.Equal(t, []models.DiffLine{
		{Op: opSame, OldNo: 1, NewNo: 1, Text: "{"},
		{Op: opRem, OldNo: 2, Text: `  "timeout": 30,`},
		{Op: opAdd, NewNo: 2, Text: `  "timeout": 60,`},
		{Op: opSame, OldNo: 3, NewNo: 3, Text: `  "url": "http://a"`},
		{Op: opSame, OldNo: 4, NewNo: 4, Text: "}"},
	}, got)

	got, err = models.DiffLines(nil, []byte(`{"a":"<b>"}`))
	require.NoError(t, err)
	require.Equal(t, []models.DiffLine{
		{Op: opAdd, NewNo: 1, Text: "{"},
		{Op: opAdd, NewNo: 2, Text: `  "a": "<b>"`},
		{Op: opAdd, NewNo: 3, Text: "}"},
	}, got)

	got, err = models.DiffLines([]byte("null"), []byte(""))
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestDiffUnified(t *testing.T) {
	t.Parallel()
	kv := func(m map[string]any) []byte {
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b
	}
	many := map[string]any{}
	for i := range 20 {
		many[fmt.Sprintf("k%02d", i)] = i
	}
	changed := map[string]any{}
	for k, v := range many {
		changed[k] = v
	}
	changed["k02"], changed["k17"] = 200, "x"
	delete(changed, "k10")

	// Expected texts are GNU `diff -u` output for the opSame pretty-printed files.
	cases := []struct{ name, old, new, want string }{
		{"one hunk", `{"url":"http://a","name":"bot","timeout":30}`, `{"name":"bot","timeout":60,"url":"http://a","retries":2}`, `--- v1
+++ v2
@@ -1,5 +1,6 @@
 {
   "name": "bot",
-  "timeout": 30,
+  "retries": 2,
+  "timeout": 60,
   "url": "http://a"
 }
`},
		{"two hunks", string(kv(many)), string(kv(changed)), `--- v1
+++ v2
@@ -1,7 +1,7 @@
 {
   "k00": 0,
   "k01": 1,
-  "k02": 2,
+  "k02": 200,
   "k03": 3,
   "k04": 4,
   "k05": 5,
@@ -9,14 +9,13 @@
   "k07": 7,
   "k08": 8,
   "k09": 9,
-  "k10": 10,
   "k11": 11,
   "k12": 12,
   "k13": 13,
   "k14": 14,
   "k15": 15,
   "k16": 16,
-  "k17": 17,
+  "k17": "x",
   "k18": 18,
   "k19": 19
 }
`},
		{"from nothing", `null`, `{"a":1}`, `--- v1
+++ v2
@@ -0,0 +1,3 @@
+{
+  "a": 1
+}
`},
		{"to nothing", `[true]`, ``, `--- v1
+++ v2
@@ -1,3 +0,0 @@
-[
-  true
-]
`},
		{"single lines", `5`, `6`, "--- v1\n+++ v2\n@@ -1 +1 @@\n-5\n+6\n"},
		{"identical", `{"a":[1,2]}`, `{ "a": [1, 2] }`, ""},
		{"both empty", ``, `null`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := models.UnifiedDiff([]byte(tc.old), []byte(tc.new), "v1", "v2")
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func diffNumberArray(n, changeAt int) []byte {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		v := i
		if i == changeAt {
			v = -1
		}
		fmt.Fprint(&sb, v)
	}
	sb.WriteByte(']')
	return []byte(sb.String())
}

func TestDiffLinesLargeDocuments(t *testing.T) {
	t.Parallel()
	// 4,998 elements pretty-print to 5,000 lines: still diffed line by line.
	lines, err := models.DiffLines(diffNumberArray(4998, -1), diffNumberArray(4998, 2500))
	require.NoError(t, err)
	require.Len(t, lines, 5001)
	var changed []models.DiffLine
	for _, l := range lines {
		if l.Op != models.DiffUnchanged {
			changed = append(changed, l)
		}
	}
	require.Equal(t, []models.DiffLine{
		{Op: opRem, OldNo: 2502, Text: "  2500,"},
		{Op: opAdd, NewNo: 2502, Text: "  -1,"},
	}, changed)

	// One line more on one side: a whole-file replacement.
	lines, err = models.DiffLines(diffNumberArray(4999, -1), diffNumberArray(4999, 2500))
	require.NoError(t, err)
	require.Len(t, lines, 2*5001)
	require.Equal(t, models.DiffLine{Op: opRem, OldNo: 1, Text: "["}, lines[0])
	require.Equal(t, models.DiffLine{Op: opRem, OldNo: 5001, Text: "]"}, lines[5000])
	require.Equal(t, models.DiffLine{Op: opAdd, NewNo: 1, Text: "["}, lines[5001])
	require.Equal(t, models.DiffLine{Op: opAdd, NewNo: 5001, Text: "]"}, lines[len(lines)-1])

	text, err := models.UnifiedDiff(diffNumberArray(4999, -1), diffNumberArray(10, -1), "a", "b")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(text, "--- a\n+++ b\n@@ -1,5001 +1,12 @@\n-[\n-  0,\n"), text[:60])
	require.Equal(t, 1, strings.Count(text, "@@ -"))
}

// TestDiffLinesIsAMinimalAlignment checks, on random documents, that the
// line diff rebuilds both sides and keeps a longest common subsequence.
func TestDiffLinesIsAMinimalAlignment(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	randomDoc := func() []string {
		doc := make([]string, rng.IntN(40))
		for i := range doc {
			doc[i] = string("abcd"[rng.IntN(4)])
		}
		return doc
	}
	for range 300 {
		a, b := randomDoc(), randomDoc()
		aj, err := json.Marshal(a)
		require.NoError(t, err)
		bj, err := json.Marshal(b)
		require.NoError(t, err)
		lines, err := models.DiffLines(aj, bj)
		require.NoError(t, err)

		var oldSide, newSide []string
		common := 0
		for _, l := range lines {
			if l.Op != models.DiffAdded {
				oldSide = append(oldSide, l.Text)
				require.Equal(t, len(oldSide), l.OldNo)
			}
			if l.Op != models.DiffRemoved {
				newSide = append(newSide, l.Text)
				require.Equal(t, len(newSide), l.NewNo)
			}
			if l.Op == models.DiffUnchanged {
				common++
			}
		}
		aLines, bLines := diffPretty(t, a), diffPretty(t, b)
		require.Equal(t, aLines, oldSide)
		require.Equal(t, bLines, newSide)
		require.Equal(t, diffLCSLength(aLines, bLines), common, "%s vs %s", aj, bj)
	}
}

func diffPretty(t *testing.T, v []string) []string {
	t.Helper()
	if len(v) == 0 {
		return []string{"[]"}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	return strings.Split(string(b), "\n")
}

func diffLCSLength(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				dp[i][j] = dp[i-1][j-1] + 1
			} else {
				dp[i][j] = max(dp[i-1][j], dp[i][j-1])
			}
		}
	}
	return dp[len(a)][len(b)]
}
