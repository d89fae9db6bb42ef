package registry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// grantAll is a realm that grants every scope asked (the hub's policy is
// measured in hub/api): what is left is the registry and its token checks.
func grantAll(is *Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var acc []Access
		for _, sc := range r.URL.Query()["scope"] {
			for _, f := range strings.Fields(sc) {
				if a, err := ParseScope(f); err == nil {
					acc = append(acc, a)
				}
			}
		}
		tok, _, _ := is.Issue("bench", acc, time.Now())
		json.NewEncoder(w).Encode(map[string]string{"token": tok})
	})
}

// BenchmarkPushPull pushes and pulls a one-layer 16 MiB image through the
// embedded registry with token auth, over loopback.
func BenchmarkPushPull(b *testing.B) {
	is, _ := NewIssuer("ote-hub", "ote-registry", []byte(strings.Repeat("k", 32)), time.Minute)
	emb, err := StartEmbedded(context.Background(), EmbeddedOptions{Listen: "127.0.0.1:0", Dir: b.TempDir(), Issuer: is, Token: grantAll(is), Secret: "s"})
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Shutdown(context.Background())
	const size = 16 << 20
	b.SetBytes(2 * size)
	for i := 0; i < b.N; i++ {
		img, err := random.Image(size, 1)
		if err != nil {
			b.Fatal(err)
		}
		ref, _ := name.NewTag(emb.Host()+"/bench/app:v1", name.Insecure)
		if err := remote.Write(ref, img, remote.WithAuth(authn.Anonymous)); err != nil {
			b.Fatal(err)
		}
		got, err := remote.Image(ref, remote.WithAuth(authn.Anonymous))
		if err != nil {
			b.Fatal(err)
		}
		layers, _ := got.Layers()
		rc, err := layers[0].Compressed()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}
