package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
)

// TestEveryMutationWritesExactlyOneAuditRow posts to every state-changing
// route of the matrix as an admin: a change writes exactly one audit row, a
// refused or invalid request writes none (a 403 writes its access.denied).
func TestEveryMutationWritesExactlyOneAuditRow(t *testing.T) {
	t.Parallel()
	for _, rc := range routeCases() {
		if rc.method != http.MethodPost {
			continue
		}
		t.Run(rc.title(), func(t *testing.T) {
			t.Parallel()
			a := testutil.NewApp(t) // its own database: counts are exact
			e := newMatrixEnv(t, a, asAdmin)
			path := rc.route
			if rc.path != nil {
				path = rc.path(e)
			}
			var form url.Values
			if rc.form != nil {
				form = rc.form(e)
			}
			before := countRows(t, a, "audit_logs", "")
			resp := e.c.Post(path, form)
			require.Equal(t, rc.want[asAdmin], resp.StatusCode, resp.Body)
			added := countRows(t, a, "audit_logs", "") - before
			switch resp.StatusCode {
			case http.StatusSeeOther, http.StatusCreated, http.StatusOK, http.StatusAccepted:
				// 202: a webhook call's execution (bot.execute).
				require.Equal(t, 1, added, "a change writes one audit row")
			case http.StatusForbidden:
				require.Equal(t, 1, added, "a refusal is recorded")
			default:
				require.Zero(t, added, "nothing changed, nothing recorded")
			}
		})
	}
}
