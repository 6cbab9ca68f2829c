package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/handlers/openapi"
	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/web"
)

// The contract: every API request the tests send and every response they
// get is checked against handlers/openapi/openapi.yaml (as the server
// serves it, in JSON). A handler that answers a status, a field or a header
// the document does not describe fails the test that made the request, so
// the document cannot drift from the code.

type contract struct {
	// mu serialises validation: libopenapi renders schemas lazily into a
	// model shared by all the parallel tests, which is not safe at once.
	mu        sync.Mutex
	validator validator.Validator
	schemas   schema_validation.SchemaValidator
	named     map[string]*base.Schema // schemas tests check values against (checkSchema)
	// operations is every "METHOD /path/{param}" the document describes,
	// with the query parameters it declares.
	operations map[string]map[string]bool
}

type docParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	spec, err := openapi.JSON()
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, err
	}
	// Every object the API answers has additionalProperties: false, so an
	// undocumented field fails plain validation; strict mode would also flag
	// the free-form values (configs, inputs, audit values).
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("contract: %v", errs)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, err
	}
	named := map[string]*base.Schema{}
	for _, name := range []string{"Problem", "AuditEntry"} {
		proxy := m.Model.Components.Schemas.GetOrZero(name)
		if proxy == nil {
			return nil, fmt.Errorf("contract: no %s schema", name)
		}
		named[name] = proxy.Schema()
	}
	var raw struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]docParam `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(spec, &raw); err != nil {
		return nil, err
	}
	queryParams := func(list json.RawMessage) []string {
		var ps []docParam
		_ = json.Unmarshal(list, &ps)
		var names []string
		for _, p := range ps {
			if p.Ref != "" {
				p = raw.Components.Parameters[p.Ref[strings.LastIndex(p.Ref, "/")+1:]]
			}
			if p.In == "query" {
				names = append(names, p.Name)
			}
		}
		return names
	}
	ops := map[string]map[string]bool{}
	for path, item := range raw.Paths {
		common := queryParams(item["parameters"])
		for method, opRaw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				Parameters json.RawMessage `json:"parameters"`
			}
			if err := json.Unmarshal(opRaw, &op); err != nil {
				return nil, err
			}
			q := map[string]bool{}
			for _, n := range append(common, queryParams(op.Parameters)...) {
				q[n] = true
			}
			ops[strings.ToUpper(method)+" "+path] = q
		}
	}
	return &contract{validator: v, schemas: schema_validation.NewSchemaValidator(config.WithFormatAssertions()), named: named, operations: ops}, nil
})

func theContract(tb testing.TB) *contract {
	tb.Helper()
	c, err := loadContract()
	require.NoError(tb, err)
	return c
}

// offContract marks a request that breaks the contract on purpose (a
// malformed body, no key, an unknown path): its response is still checked.
type offContractKey struct{}

func offContract(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), offContractKey{}, true))
}

// contractTransport checks each request and response against the contract
// around next (the app in memory, or a real connection).
type contractTransport struct {
	t    testing.TB
	next http.RoundTripper
}

func (ct contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := theContract(ct.t)
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	clone := func() *http.Request {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		r.ContentLength = int64(len(reqBody))
		return r
	}
	what := req.Method + " " + req.URL.RequestURI()
	if req.Context().Value(offContractKey{}) == nil {
		if ok, errs := c.checkRequest(clone()); !ok {
			ct.t.Errorf("contract: the request %s does not match openapi.yaml:\n%s", what, report(errs))
		}
		if declared := c.operation(req); declared != nil {
			for name := range req.URL.Query() {
				if !declared[name] {
					ct.t.Errorf("contract: the request %s uses the query parameter %q, which openapi.yaml does not declare", what, name)
				}
			}
		}
	}
	resp, err := ct.next.RoundTrip(clone())
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	c.checkResponse(ct.t, what, clone(), resp, respBody)
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	return resp, nil
}

// report lists validation errors, one a line, with the schema failures.
func report(errs []*liberrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  - " + e.Message)
		if e.Reason != "" {
			b.WriteString(": " + e.Reason)
		}
		for _, f := range e.SchemaValidationErrors {
			b.WriteString("\n      " + f.Error())
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (c *contract) checkResponse(tb testing.TB, what string, req *http.Request, resp *http.Response, body []byte) {
	tb.Helper()
	isAPI := strings.HasPrefix(req.URL.Path, "/api/")
	if isAPI && resp.StatusCode >= 400 {
		// Every /api error, documented operation or not, is a problem.
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			tb.Errorf("contract: %s answered %d with Content-Type %q, not application/problem+json", what, resp.StatusCode, ct)
		} else if ok, errs := c.checkSchema("Problem", body); !ok {
			tb.Errorf("contract: %s answered %d with a body that is not a Problem:\n%s\n%s", what, resp.StatusCode, report(errs), body)
		}
		var p web.Problem
		if json.Unmarshal(body, &p) == nil {
			if p.Status != resp.StatusCode {
				tb.Errorf("contract: %s: the problem's status %d is not the response's %d", what, p.Status, resp.StatusCode)
			}
			if !strings.HasPrefix(p.Type, web.ProblemBase) {
				tb.Errorf("contract: %s: problem type %q is not under %s", what, p.Type, web.ProblemBase)
			}
		}
	}
	if !c.describes(req) {
		// Outside the document only refusals may answer (unless the test
		// added the route itself, off the contract).
		if isAPI && req.Context().Value(offContractKey{}) == nil && resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusUnauthorized {
			tb.Errorf("contract: %s is not in openapi.yaml but answered %d", what, resp.StatusCode)
		}
		return
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	c.mu.Lock()
	ok, errs := c.validator.ValidateHttpResponse(req, resp)
	c.mu.Unlock()
	if !ok {
		tb.Errorf("contract: the response %d to %s does not match openapi.yaml:\n%s\n%s", resp.StatusCode, what, report(errs), truncate(body, 2000))
	}
}

func (c *contract) checkRequest(req *http.Request) (bool, []*liberrors.ValidationError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.validator.ValidateHttpRequestSync(req)
}

// checkSchema validates a JSON value against a named schema of the document.
func (c *contract) checkSchema(name string, value []byte) (bool, []*liberrors.ValidationError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.schemas.ValidateSchemaBytes(c.named[name], value)
}

// describes reports whether the document has the request's operation.
func (c *contract) describes(req *http.Request) bool { return c.operation(req) != nil }

// operation is the declared query parameters of the request's operation
// (nil when the document does not have it).
func (c *contract) operation(req *http.Request) map[string]bool {
	segs := strings.Split(req.URL.Path, "/")
	for op, query := range c.operations {
		method, path, _ := strings.Cut(op, " ")
		if method != req.Method {
			continue
		}
		tpl := strings.Split(path, "/")
		if len(tpl) != len(segs) {
			continue
		}
		match := true
		for i := range tpl {
			if tpl[i] != segs[i] && !strings.HasPrefix(tpl[i], "{") {
				match = false
				break
			}
		}
		if match {
			return query
		}
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// appTransport sends requests to the app in memory.
type appTransport struct{ a *testutil.App }

func (at appTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return at.a.Fiber.Test(req, -1)
}

// apiTester drives /api with the contract checked on every call.
type apiTester struct {
	t      testing.TB
	client *http.Client
}

func newAPITester(tb testing.TB, a *testutil.App) *apiTester {
	tb.Helper()
	return &apiTester{t: tb, client: &http.Client{Transport: contractTransport{t: tb, next: appTransport{a}}}}
}

type apiResp struct {
	*http.Response
	Body []byte
}

func (r *apiResp) decode(tb testing.TB, v any) {
	tb.Helper()
	require.NoError(tb, json.Unmarshal(r.Body, v), "%s", r.Body)
}

func (r *apiResp) problem(tb testing.TB) web.Problem {
	tb.Helper()
	var p web.Problem
	r.decode(tb, &p)
	return p
}

func (r *apiResp) object(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	r.decode(tb, &m)
	return m
}

// apiReq is one request to send.
type apiReq struct {
	method, path, key string
	body              any // nil, []byte or string as is, anything else as JSON
	header            http.Header
	off               bool // breaks the contract on purpose
}

func (at *apiTester) send(r apiReq) *apiResp {
	at.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(at.t, err)
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(at.t.Context(), r.method, "http://codex32.test"+r.path, body)
	require.NoError(at.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.off {
		req = offContract(req)
	}
	resp, err := at.client.Do(req)
	require.NoError(at.t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(at.t, err)
	return &apiResp{Response: resp, Body: raw}
}

func (at *apiTester) get(path, key string) *apiResp {
	at.t.Helper()
	return at.send(apiReq{method: http.MethodGet, path: path, key: key})
}

func (at *apiTester) post(path, key string, body any) *apiResp {
	at.t.Helper()
	return at.send(apiReq{method: http.MethodPost, path: path, key: key, body: body})
}

func (at *apiTester) patch(path, key string, body any) *apiResp {
	at.t.Helper()
	return at.send(apiReq{method: http.MethodPatch, path: path, key: key, body: body})
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	c := theContract(t)
	c.mu.Lock()
	ok, errs := c.validator.ValidateDocument()
	c.mu.Unlock()
	require.True(t, ok, "openapi.yaml is not a valid OpenAPI 3.1 document:\n%s", report(errs))

	// Served as written, publicly.
	a := testutil.NewApp(t)
	resp := newAPITester(t, a).get("/api/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	want, err := openapi.JSON()
	require.NoError(t, err)
	require.Equal(t, string(want), string(resp.Body))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(resp.Body, &doc))
	require.Equal(t, "3.1.0", doc["openapi"])
}

// TestOpenAPICoversRoutes fails when a route under /api/v1 is missing from
// the document, or the document describes a route the app does not have.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	c := theContract(t)
	a := testutil.NewApp(t)
	registered := map[string]bool{}
	for _, r := range a.Fiber.GetRoutes(true) {
		if r.Method == http.MethodHead || !strings.HasPrefix(r.Path, "/api/v1/") {
			continue
		}
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		key := r.Method + " " + strings.Join(segs, "/")
		registered[key] = true
		if c.operations[key] == nil {
			t.Errorf("route %s is not in handlers/openapi/openapi.yaml: document it", key)
		}
	}
	var extra []string
	for op := range c.operations {
		if !registered[op] {
			extra = append(extra, op)
		}
	}
	sort.Strings(extra)
	require.Empty(t, extra, "openapi.yaml describes operations the app does not register")
	require.Greater(t, len(registered), 20)
}
