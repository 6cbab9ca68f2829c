package apiclient

import (
	"context"
	"net/http"
)

// BearerAuth sends an API key (c32_…) with every request:
// apiclient.WithRequestEditorFn(apiclient.BearerAuth(key)).
func BearerAuth(key string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	}
}
