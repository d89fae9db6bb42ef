package registry

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testIssuer(t *testing.T) *Issuer {
	t.Helper()
	is, err := NewIssuer("ote-hub", "ote-registry", []byte(strings.Repeat("k", 32)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string]Access{
		"repository:alpha/web:pull,push":      {Type: "repository", Name: "alpha/web", Actions: []string{"pull", "push"}},
		"repository:alpha/web:pull,pull":      {Type: "repository", Name: "alpha/web", Actions: []string{"pull"}},
		"registry:catalog:*":                  {Type: "registry", Name: "catalog", Actions: []string{"*"}},
		"repository(plugin):alpha/web:pull":   {Type: "repository", Name: "alpha/web", Actions: []string{"pull"}},
		"repository:host:5000/alpha/web:pull": {Type: "repository", Name: "host:5000/alpha/web", Actions: []string{"pull"}},
	} {
		got, err := ParseScope(in)
		if err != nil || got.Type != want.Type || got.Name != want.Name || !slices.Equal(got.Actions, want.Actions) {
			t.Errorf("ParseScope(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "repository", "repository:alpha", "repository::pull"} {
		if _, err := ParseScope(bad); err == nil {
			t.Errorf("ParseScope(%q) accepted", bad)
		}
	}
}

func TestIssuerTokens(t *testing.T) {
	is := testIssuer(t)
	// The kid is the RFC 7638 thumbprint of the key in the JWKS.
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(is.JWKS(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s %v", is.JWKS(), err)
	}
	k := set.Keys[0]
	x, _ := base64.RawURLEncoding.DecodeString(k["x"])
	if k["kid"] != is.KeyID() || k["kty"] != "OKP" || k["crv"] != "Ed25519" || len(x) != ed25519.PublicKeySize || thumbprint(x) != is.KeyID() {
		t.Fatalf("jwk %v", k)
	}
	// Same seed, same key (replicas); another seed, another key.
	again := testIssuer(t)
	other, _ := NewIssuer("ote-hub", "ote-registry", []byte(strings.Repeat("x", 32)), time.Minute)
	if again.KeyID() != is.KeyID() || other.KeyID() == is.KeyID() {
		t.Fatal("key derivation")
	}

	want := []Access{{Type: "repository", Name: "alpha/web", Actions: []string{"pull"}}}
	tok, exp, err := is.Issue("alice", want, time.Now())
	if err != nil || time.Until(exp) > time.Minute || time.Until(exp) < 50*time.Second {
		t.Fatalf("issue: %v exp %v", err, exp)
	}
	sub, acc, err := is.Verify(tok)
	if err != nil || sub != "alice" || len(acc) != 1 || acc[0].Name != "alpha/web" {
		t.Fatalf("verify: %q %+v %v", sub, acc, err)
	}
	if _, _, err := other.Verify(tok); err == nil {
		t.Fatal("another key verified the token")
	}
	old, _, _ := is.Issue("alice", want, time.Now().Add(-time.Hour))
	if _, _, err := is.Verify(old); err == nil {
		t.Fatal("expired token verified")
	}
	if _, err := NewIssuer("a", "b", []byte("short"), 0); err == nil {
		t.Fatal("short seed accepted")
	}
}

func TestManifestPath(t *testing.T) {
	for in, want := range map[string][2]string{
		"/v2/alpha/web/manifests/v1":             {"alpha/web", "v1"},
		"/v2/alpha/a/b/manifests/sha256:abc":     {"alpha/a/b", "sha256:abc"},
		"/v2/alpha/manifests/x/manifests/latest": {"alpha/manifests/x", "latest"},
	} {
		n, r, ok := manifestPath(in)
		if !ok || n != want[0] || r != want[1] {
			t.Errorf("manifestPath(%q) = %q %q %v", in, n, r, ok)
		}
	}
	for _, in := range []string{"/v2/", "/v2/alpha/web/blobs/sha256:a", "/v2/alpha/web/manifests/", "/other/a/manifests/b"} {
		if _, _, ok := manifestPath(in); ok {
			t.Errorf("manifestPath(%q) matched", in)
		}
	}
}

// The client retries a registry's 5xx and gives its last answer; a registry
// that is not there is an *Error with status 0.
func TestClientRetriesAndErrors(t *testing.T) {
	is := testIssuer(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every call carries a token for exactly what it needs.
		_, acc, err := is.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil || len(acc) != 1 || acc[0].Name != "alpha/web" {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		want := map[string]string{http.MethodGet: "pull", http.MethodHead: "pull", http.MethodDelete: "delete"}[r.Method]
		if !slices.Equal(acc[0].Actions, []string{want}) {
			http.Error(w, "wrong scope", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/v2/alpha/web/tags/list":
			if calls.Add(1) < 3 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			if r.URL.Query().Get("last") == "" {
				w.Header().Set("Link", `</v2/alpha/web/tags/list?last=b&n=2>; rel="next"`)
				json.NewEncoder(w).Encode(map[string]any{"tags": []string{"a", "b"}})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"tags": []string{"c"}})
		case "/v2/alpha/web/manifests/v9":
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"disk on fire"}]}`))
		}
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, is, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.http.RetryWaitMin, c.http.RetryWaitMax = time.Millisecond, 5*time.Millisecond
	ctx := context.Background()
	tags, err := c.Tags(ctx, "alpha/web")
	if err != nil || !slices.Equal(tags, []string{"a", "b", "c"}) || calls.Load() != 4 {
		t.Fatalf("tags %v %v after %d calls", tags, err, calls.Load())
	}
	if _, err := c.Digest(ctx, "alpha/web", "v9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing manifest: %v", err)
	}
	var re *Error
	if _, err := c.Digest(ctx, "alpha/web", "v1"); !errors.As(err, &re) || re.Status != 500 {
		t.Fatalf("500 on HEAD: %v", err)
	}
	if err := c.DeleteManifest(ctx, "alpha/web", "v1"); !errors.As(err, &re) || re.Status != 500 || !strings.Contains(re.Msg, "disk on fire") {
		t.Fatalf("500 with a body: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	down, _ := NewClient("http://"+addr, is, time.Second)
	down.http.RetryWaitMin, down.http.RetryWaitMax = time.Millisecond, 5*time.Millisecond
	if _, err := down.Tags(ctx, "alpha/web"); !errors.As(err, &re) || re.Status != 0 {
		t.Fatalf("registry down: %v", err)
	}
	for _, bad := range []string{"", "ftp://x", "http://"} {
		if _, err := NewClient(bad, is, 0); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
}
