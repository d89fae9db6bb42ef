// Package console is the hub's web console: one page, a style sheet and
// plain ES modules under assets/, embedded in the hub binary so that a hub
// at an edge site without Internet access serves it as it is. There is no
// build step: the files served are the files in this folder.
//
// The console is a client of the /v1 API like any other: it holds the
// user's token in the browser's session storage and calls the same routes
// with it, so it can do nothing the API would refuse. Screens are chosen by
// the role GET /v1/authorization reports, and a screen a role may not use
// is not rendered, whichever way it was reached.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"
)

//go:embed assets
var files embed.FS

// Asset is one file of the console.
type Asset struct {
	Body []byte
	// Type is its media type, ETag a strong validator of its content.
	Type, ETag string
}

var assets = load()

func load() map[string]Asset {
	out := map[string]Asset{}
	err := fs.WalkDir(files, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		typ := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // the machine's mime tables may lack these
		case ".js":
			typ = "text/javascript; charset=utf-8"
		case ".css":
			typ = "text/css; charset=utf-8"
		case ".html":
			typ = "text/html; charset=utf-8"
		case ".svg":
			typ = "image/svg+xml"
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, "assets/")] = Asset{Body: b, Type: typ, ETag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("console: reading the embedded assets: " + err.Error())
	}
	return out
}

// Index is the console's page, served at /.
func Index() Asset { return assets["index.html"] }

// Lookup returns the asset served at /console/<name>; the page itself is
// served only at /.
func Lookup(name string) (Asset, bool) {
	if name == "index.html" {
		return Asset{}, false
	}
	a, ok := assets[name]
	return a, ok
}

// Names lists the assets served under /console/.
func Names() []string {
	var out []string
	for n := range assets {
		if n != "index.html" {
			out = append(out, n)
		}
	}
	return out
}

// Policy is the Content-Security-Policy of the console's page: scripts,
// styles and API calls from the hub only, nothing inline, no frames.
const Policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
