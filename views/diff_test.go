package views_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/views"
)

func renderDiff(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, c.Render(context.Background(), &buf))
	d, err := goquery.NewDocumentFromReader(&buf)
	require.NoError(t, err)
	return d
}

func TestJSONDiffTable(t *testing.T) {
	t.Parallel()
	entries, err := models.DiffJSON(
		[]byte(`{"url":"http://a","timeout":30,"headers":{"X":"<script>alert(1)</script>"},"old":true}`),
		[]byte(`{"url":"http://a","timeout":60,"headers":{},"new":[1]}`))
	require.NoError(t, err)
	d := renderDiff(t, views.JSONDiffTable(entries))

	require.Zero(t, d.Find(`[data-testid="diff-empty"]`).Length())
	rows := d.Find(`[data-testid="diff-row"]`)
	var got [][2]string
	rows.Each(func(_ int, s *goquery.Selection) {
		got = append(got, [2]string{s.AttrOr("data-path", ""), s.AttrOr("data-op", "")})
	})
	require.Equal(t, [][2]string{
		{"headers.X", "removed"}, {"new[0]", "added"}, {"old", "removed"}, {"timeout", "changed"}, {"url", "unchanged"},
	}, got)

	removed := rows.Eq(0)
	require.Contains(t, removed.AttrOr("class", ""), "bg-red-50")
	require.Equal(t, `"<script>alert(1)</script>"`, removed.Find(`[data-testid="diff-old"] code`).Text(), "shown as text")
	require.Zero(t, d.Find("script").Length(), "never as markup")
	require.Equal(t, "—", removed.Find(`[data-testid="diff-new"]`).Text(), "absent side")
	require.Equal(t, "removed", removed.Find(`[data-testid="diff-op"]`).Text())

	require.Contains(t, rows.Eq(1).AttrOr("class", ""), "bg-green-50")
	changed := rows.Eq(3)
	require.Contains(t, changed.AttrOr("class", ""), "bg-amber-50")
	require.Equal(t, "30", changed.Find(`[data-testid="diff-old"]`).Text())
	require.Equal(t, "60", changed.Find(`[data-testid="diff-new"]`).Text())
	require.Zero(t, rows.Eq(4).Find(`[data-testid="diff-op"]`).Length(), "unchanged rows carry no badge")

	d = renderDiff(t, views.JSONDiffTable(models.Changes(entries)))
	require.Equal(t, 4, d.Find(`[data-testid="diff-row"]`).Length())
}

func TestJSONDiffTableRootAndEmpty(t *testing.T) {
	t.Parallel()
	d := renderDiff(t, views.JSONDiffTable([]models.DiffEntry{{Op: models.DiffAdded, New: []byte(`5`)}}))
	require.Contains(t, d.Find(`[data-testid="diff-row"] td`).First().Text(), "(root)")

	for _, entries := range [][]models.DiffEntry{nil, {{Path: "a", Op: models.DiffUnchanged, Old: []byte(`1`), New: []byte(`1`)}}} {
		d := renderDiff(t, views.JSONDiffTable(entries))
		require.Equal(t, 1, d.Find(`[data-testid="diff-empty"]`).Length())
		require.Zero(t, d.Find(`[data-testid="diff-row"]`).Length())
	}
}

func diffTestLines(t *testing.T) []models.DiffLine {
	t.Helper()
	lines, err := models.DiffLines(
		[]byte(`{"a":1,"b":"<b>bold</b>","c":3}`),
		[]byte(`{"a":1,"b":"<i>x</i>","c":3,"d":4}`))
	require.NoError(t, err)
	return lines
}

func TestLineDiffUnified(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{views.LineDiffUnified, "", "bogus"} {
		d := renderDiff(t, views.LineDiff(diffTestLines(t), mode))
		require.Equal(t, views.LineDiffUnified, d.Find(`[data-testid="line-diff"]`).AttrOr("data-mode", ""), mode)
		var got []string
		d.Find(`[data-testid="diff-line"]`).Each(func(_ int, s *goquery.Selection) {
			got = append(got, s.AttrOr("data-op", "")+"|"+
				s.Find(`[data-testid="old-no"]`).Text()+"|"+
				s.Find(`[data-testid="new-no"]`).Text()+"|"+
				s.Find(`[data-testid="marker"]`).Text()+"|"+
				s.Find(`[data-testid="text"]`).Text())
		})
		require.Equal(t, []string{
			"unchanged|1|1| |{",
			"unchanged|2|2| |  \"a\": 1,",
			"removed|3||-|  \"b\": \"<b>bold</b>\",",
			"removed|4||-|  \"c\": 3",
			"added||3|+|  \"b\": \"<i>x</i>\",",
			"added||4|+|  \"c\": 3,",
			"added||5|+|  \"d\": 4",
			"unchanged|5|6| |}",
		}, got)
		require.Zero(t, d.Find("b, i").Length(), "line text is never markup")
		require.Contains(t, d.Find(`[data-op="added"]`).First().AttrOr("class", ""), "bg-green-50")
		require.Contains(t, d.Find(`[data-op="removed"]`).First().AttrOr("class", ""), "bg-red-50")
	}
}

func TestLineDiffSplit(t *testing.T) {
	t.Parallel()
	d := renderDiff(t, views.LineDiff(diffTestLines(t), views.LineDiffSplit))
	require.Equal(t, views.LineDiffSplit, d.Find(`[data-testid="line-diff"]`).AttrOr("data-mode", ""))
	var got []string
	d.Find(`[data-testid="diff-line"]`).Each(func(_ int, s *goquery.Selection) {
		got = append(got, s.AttrOr("data-op", "")+"|"+
			s.Find(`[data-testid="old-no"]`).Text()+"|"+
			s.Find(`[data-testid="old-text"]`).Text()+"|"+
			s.Find(`[data-testid="new-no"]`).Text()+"|"+
			s.Find(`[data-testid="new-text"]`).Text())
	})
	require.Equal(t, []string{
		"unchanged|1|{|1|{",
		"unchanged|2|  \"a\": 1,|2|  \"a\": 1,",
		"changed|3|  \"b\": \"<b>bold</b>\",|3|  \"b\": \"<i>x</i>\",",
		"changed|4|  \"c\": 3|4|  \"c\": 3,",
		"added|||5|  \"d\": 4",
		"unchanged|5|}|6|}",
	}, got)
	require.Zero(t, d.Find("b, i").Length(), "line text is never markup")
	changed := d.Find(`[data-op="changed"]`).First()
	require.Contains(t, changed.Find(`[data-testid="old-text"]`).AttrOr("class", ""), "bg-red-50")
	require.Contains(t, changed.Find(`[data-testid="new-text"]`).AttrOr("class", ""), "bg-green-50")
	require.Contains(t, d.Find(`[data-op="added"] [data-testid="old-text"]`).AttrOr("class", ""), "bg-slate-50", "missing half is greyed")
}

func TestLineDiffEmpty(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{views.LineDiffUnified, views.LineDiffSplit} {
		d := renderDiff(t, views.LineDiff(nil, mode))
		require.Equal(t, 1, d.Find(`[data-testid="line-diff-empty"]`).Length())
		require.Zero(t, d.Find(`[data-testid="line-diff"]`).Length())
	}
}
