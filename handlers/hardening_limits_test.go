package handlers_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/web"
)

// sendRaw writes a request as is over a real connection (the server's
// refusals of oversized requests happen there, before any handler) and
// reads the answer.
func sendRaw(t *testing.T, base, method, path, head string) (*http.Response, []byte) {
	t.Helper()
	conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	_, err = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: codex32.test\r\n%s\r\n", method, path, head)
	require.NoError(t, err)
	req, _ := http.NewRequestWithContext(t.Context(), method, base+path, nil)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// Oversized headers (431) and bodies over the server's 4 MiB (413) are
// refused by the server itself; on /api and /hooks the answer is still a
// problem, elsewhere the error page.
func TestOversizedRequestsAnswerProblemsToPrograms(t *testing.T) {
	t.Parallel()
	a, _, u := signedIn(t, models.RoleUser)
	_, key := apiUserKey(t, a, models.RoleUser)
	_, sec := hookOf(t, a, execBot(t, a, u, "hooked", models.BotActive), false, 0)
	hook := "/hooks/" + sec.Token
	base := a.Serve(t)

	bigHeader := "X-Padding: " + strings.Repeat("p", 8<<10) + "\r\n"
	bigBody := fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", 5<<20) // announced, never sent
	for _, tc := range []struct {
		method, path, head string
		status             int
		slug               string
	}{
		{"GET", "/api/v1/me", "Authorization: Bearer " + key + "\r\n" + bigHeader, http.StatusRequestHeaderFieldsTooLarge, "headers-too-large"},
		{"POST", hook, bigHeader, http.StatusRequestHeaderFieldsTooLarge, "headers-too-large"},
		{"POST", hook, bigBody, http.StatusRequestEntityTooLarge, "payload-too-large"},
	} {
		what := tc.method + " " + strings.Replace(tc.path, sec.Token, "<token>", 1)
		resp, body := sendRaw(t, base, tc.method, tc.path, tc.head)
		require.Equal(t, tc.status, resp.StatusCode, "%s: %s", what, body)
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), "%s: %s", what, body)
		var p web.Problem
		require.NoError(t, json.Unmarshal(body, &p), what)
		require.Equal(t, web.ProblemType(tc.slug), p.Type, what)
		require.Equal(t, tc.status, p.Status, what)
		require.NotContains(t, string(body), sec.Token, "%s: the token is not echoed", what)
		if strings.HasPrefix(tc.path, "/api/") {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, base+tc.path, nil)
			theContract(t).checkResponse(t, what, req, resp, body)
		}
	}

	// Pages keep the error page.
	for _, tc := range []struct {
		method, path, head string
		status             int
	}{
		{"GET", "/bots", bigHeader, http.StatusRequestHeaderFieldsTooLarge},
		{"POST", "/login", strings.Replace(bigBody, "application/json", "application/x-www-form-urlencoded", 1), http.StatusRequestEntityTooLarge},
	} {
		resp, body := sendRaw(t, base, tc.method, tc.path, tc.head)
		require.Equal(t, tc.status, resp.StatusCode, "%s %s", tc.method, tc.path)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html", "%s %s: %s", tc.method, tc.path, body)
		require.Contains(t, string(body), `data-testid="error-status">`+fmt.Sprint(tc.status), tc.path)
	}
}
