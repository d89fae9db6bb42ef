package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/secrets"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

func withProxies(p api.Proxies) option { return func(c *api.Config) { c.Proxies = p } }

// login as a client behind a proxy that names it in X-Real-IP.
func proxiedLogin(t *testing.T, h *hub, client, user, pw string) int {
	t.Helper()
	b, _ := json.Marshal(loginBody(user, pw))
	req, _ := http.NewRequest("POST", h.url+"/v1/authorization", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Real-IP", client)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Behind a trusted proxy every client has its own address: one client's
// failures throttle it, not the others behind the same proxy, and the trail
// names the client.
func TestClientsBehindATrustedProxy(t *testing.T) {
	clk := newFakeClock()
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withLogin(testLoginLimits(clk)),
		withProxies(api.Proxies{Trusted: []string{"127.0.0.0/8"}}))
	for range 3 {
		if st := proxiedLogin(t, h, "192.0.2.10", adminName, "Guess-pass1"); st != 401 {
			t.Fatalf("guess: %d", st)
		}
	}
	if st := proxiedLogin(t, h, "192.0.2.10", adminName, "Guess-pass1"); st != 429 {
		t.Fatalf("the failing client is not throttled: %d", st)
	}
	if st := proxiedLogin(t, h, "192.0.2.11", adminName, adminPass); st != 200 {
		t.Fatalf("another client behind the same proxy: %d", st)
	}
	root := h.login(adminName, adminPass) // the proxy itself, no header
	h.expect(422, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{}, "clusterLabel": "x"})
	b, _ := json.Marshal(map[string]any{"clusterName": []string{}, "clusterLabel": "y"})
	req, _ := http.NewRequest("POST", h.url+"/v1/cluster/label", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+root)
	req.Header.Set("X-Real-IP", "2001:db8::7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	entries, _, _ := h.trail(root, url.Values{"action": {"cluster.label.add"}})
	if len(entries) != 2 || entries[0].Address != "2001:db8::7" || entries[1].Address != "127.0.0.1" {
		t.Fatalf("trail addresses: %+v", entries)
	}
}

// Without trusted proxies the header is the client's word and is ignored:
// a guesser cannot pick a fresh address per guess.
func TestProxyHeaderIgnoredFromUntrustedPeers(t *testing.T) {
	clk := newFakeClock()
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withLogin(testLoginLimits(clk)))
	for i := range 3 {
		if st := proxiedLogin(t, h, "192.0.2."+string(rune('1'+i)), adminName, "Guess-pass1"); st != 401 {
			t.Fatalf("guess %d: %d", i, st)
		}
	}
	if st := proxiedLogin(t, h, "192.0.2.99", adminName, "Guess-pass1"); st != 429 {
		t.Fatalf("a spoofed header gave a fresh address: %d", st)
	}
}

func TestBadTrustedProxy(t *testing.T) {
	sealer, _ := secrets.New([]byte("test-secret-key-0123456789abcdef"))
	_, err := api.New(api.Config{Sealer: sealer, Proxies: api.Proxies{Trusted: []string{"ingress"}}})
	if err == nil {
		t.Fatal("a proxy that is no address was accepted")
	}
}
