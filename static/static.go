// Package static embeds the built front-end assets (Tailwind's app.css and
// the vendored htmx) into the binary and names them by content hash, so they
// can be cached for a year and still change on every release.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

//go:embed css/app.css js/htmx.min.js js/editor.js
var files embed.FS

// FS holds the assets, keyed by path relative to /static/ (e.g. "css/app.css").
var FS fs.FS = files

var (
	hashesOnce sync.Once
	hashes     map[string]string
)

func loadHashes() {
	hashes = map[string]string{}
	_ = fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		hashes[path] = hex.EncodeToString(sum[:6])
		return nil
	})
}

// Hash returns a short content hash of an asset, or "" if it does not exist.
func Hash(path string) string {
	hashesOnce.Do(loadHashes)
	return hashes[path]
}

// URL returns the URL of an asset with its content hash as a query string,
// which the server answers with a long-lived immutable cache header.
func URL(path string) string {
	if h := Hash(path); h != "" {
		return "/static/" + path + "?v=" + h
	}
	return "/static/" + path
}
