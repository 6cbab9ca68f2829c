package handlers_test

import (
	"encoding/base64"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

type userPageJSON struct {
	Items []struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"items"`
	Next *string `json:"next_cursor"`
}

// TestAPIUsersPaging walks GET /api/v1/users in pages of 3. Several users
// share a created_at, across a page boundary, so the id tie-break is what
// keeps rows from repeating or going missing.
func TestAPIUsersPaging(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	admin, key := apiUserKey(t, a, models.RoleAdmin)
	users := []*models.User{admin}
	for range 7 {
		users = append(users, testutil.CreateUser(t, a.DB, models.RoleUser))
	}
	// created_at: the admin oldest; then 2, 3 (ties spanning page 1 and 2)
	// and 2 users to a minute.
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	minutes := []int{-60, 3, 3, 2, 2, 2, 1, 1}
	for i, u := range users {
		u.CreatedAt = base.Add(time.Duration(minutes[i]) * time.Minute)
		_, err := a.DB.Bun.NewUpdate().Model((*models.User)(nil)).Set("created_at = ?", u.CreatedAt).Where("id = ?", u.ID).Exec(bg)
		require.NoError(t, err)
	}
	want := make([]*models.User, len(users))
	copy(want, users)
	sort.Slice(want, func(i, j int) bool {
		if !want[i].CreatedAt.Equal(want[j].CreatedAt) {
			return want[i].CreatedAt.After(want[j].CreatedAt)
		}
		return want[i].ID.String() > want[j].ID.String()
	})

	page := func(query string) userPageJSON {
		t.Helper()
		r := api.get("/api/v1/users?"+query, key)
		require.Equal(t, s200, r.StatusCode, "%s", r.Body)
		var p userPageJSON
		r.decode(t, &p)
		return p
	}

	var got []string
	var sizes []int
	var cursors []string
	q := "limit=3"
	for {
		p := page(q)
		sizes = append(sizes, len(p.Items))
		for _, it := range p.Items {
			got = append(got, it.ID)
		}
		if p.Next == nil {
			break
		}
		require.NotEmpty(t, p.Items, "a page with a next cursor has rows")
		cursors = append(cursors, *p.Next)
		q = "limit=3&cursor=" + url.QueryEscape(*p.Next)
		require.Less(t, len(sizes), 10, "paging does not end")
	}
	require.Equal(t, []int{3, 3, 2}, sizes)
	wantIDs := make([]string, len(want))
	for i, u := range want {
		wantIDs[i] = u.ID.String()
	}
	require.Equal(t, wantIDs, got, "every user once, newest first, ties by id")

	// One page of everything is the same order (the default limit, 50, holds them).
	all := page("")
	require.Nil(t, all.Next)
	require.Len(t, all.Items, len(users))
	for i, it := range all.Items {
		require.Equal(t, wantIDs[i], it.ID)
	}

	// A user created after page 1 was read does not disturb the pages
	// after it: the cursor is a position, not an offset.
	newer := testutil.CreateUser(t, a.DB, models.RoleViewer)
	_, err := a.DB.Bun.NewUpdate().Model((*models.User)(nil)).Set("created_at = ?", base.Add(time.Hour)).Where("id = ?", newer.ID).Exec(bg)
	require.NoError(t, err)
	p2 := page("limit=3&cursor=" + url.QueryEscape(cursors[0]))
	require.Len(t, p2.Items, 3)
	for i, it := range p2.Items {
		require.Equal(t, wantIDs[3+i], it.ID)
	}
	require.Equal(t, newer.ID.String(), page("limit=1").Items[0].ID, "and page 1 now starts with it")

	// The search pages too.
	p := page("limit=1&q=" + url.QueryEscape(users[1].Email))
	require.Len(t, p.Items, 1)
	require.Nil(t, p.Next)
}

func TestAPIUsersPagingRefusals(t *testing.T) {
	t.Parallel()
	a := testutil.NewApp(t)
	api := newAPITester(t, a)
	_, key := apiUserKey(t, a, models.RoleAdmin)
	for _, c := range []struct{ query, field string }{
		{"cursor=" + url.QueryEscape("not a cursor!"), "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("[1,2]")), "cursor"},
		// A well-formed cursor without the time a users cursor holds (a
		// bot list's name-sorted cursor, say).
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"i":"01890a5d-ac96-774b-bcce-b302099a8057","n":"x"}`)), "cursor"},
		{"limit=0", "limit"},
		{"limit=201", "limit"},
		{"limit=ten", "limit"},
	} {
		r := api.send(apiReq{method: "GET", path: "/api/v1/users?" + c.query, key: key, off: c.field == "limit"}) // limits outside the schema break the contract
		require.Equal(t, s400, r.StatusCode, "%s: %s", c.query, r.Body)
		require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
		p := r.problem(t)
		require.Len(t, p.Errors, 1, c.query)
		require.Equal(t, c.field, p.Errors[0].Field, c.query)
	}
	// The largest page is allowed.
	r := api.get("/api/v1/users?limit=200", key)
	require.Equal(t, s200, r.StatusCode)
}
