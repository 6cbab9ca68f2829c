// Package apiclient is a Go client for the Codex-32 JSON API (/api/v1),
// generated with oapi-codegen from handlers/openapi/openapi.yaml — the same
// document the server is tested against. Regenerate with `make generate`.
//
//	c, err := apiclient.NewClientWithResponses("https://codex32.example.com",
//		apiclient.WithRequestEditorFn(apiclient.BearerAuth(key)))
//	bots, err := c.ListBotsWithResponse(ctx, &apiclient.ListBotsParams{})
package apiclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../handlers/openapi/openapi.yaml
