package console

import (
	"regexp"
	"strings"
	"testing"
)

// TestAssetsReferToAssets: every script, style sheet and module import of
// the console names an embedded asset, and each has its media type, so a
// renamed file cannot leave the page asking for one the hub does not serve.
func TestAssetsReferToAssets(t *testing.T) {
	page := string(Index().Body)
	if page == "" || !strings.HasPrefix(Index().Type, "text/html") {
		t.Fatalf("no page: %q", Index().Type)
	}
	refs := regexp.MustCompile(`(?:src|href)="/console/([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 2 {
		t.Fatalf("the page loads %d assets", len(refs))
	}
	for _, r := range refs {
		if _, ok := Lookup(r[1]); !ok {
			t.Errorf("index.html loads /console/%s, which is not embedded", r[1])
		}
	}
	imports := regexp.MustCompile(`(?m)^import .* from '\./([^']+)';$`)
	for _, name := range Names() {
		a, _ := Lookup(name)
		if a.Type == "" || a.ETag == "" {
			t.Errorf("%s: type %q, etag %q", name, a.Type, a.ETag)
		}
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		if !strings.HasPrefix(a.Type, "text/javascript") {
			t.Errorf("%s is served as %s", name, a.Type)
		}
		for _, m := range imports.FindAllStringSubmatch(string(a.Body), -1) {
			if _, ok := Lookup(m[1]); !ok {
				t.Errorf("%s imports ./%s, which is not embedded", name, m[1])
			}
		}
		// Nothing may write API data into the page as HTML.
		if strings.Contains(string(a.Body), "innerHTML") || strings.Contains(string(a.Body), "insertAdjacentHTML") {
			t.Errorf("%s writes HTML: the console builds every node with ui.js's h()", name)
		}
	}
	if _, ok := Lookup("index.html"); ok {
		t.Error("the page is served under /console/ too")
	}
}
