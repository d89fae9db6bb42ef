package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
	"github.com/ote-stack/ote/protocol"
)

func (h *hub) agentGet(cluster, cred string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.url+protocol.TunnelPath, nil)
	req.Header.Set(protocol.HeaderCluster, cluster)
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := h.httpClient().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// 200 wrong agent credentials from one address: 10 are checked (401), the
// rest answered 429 with Retry-After, and the log has one line for them,
// with the count, until a minute has passed.
func TestAgentAuthFailuresThrottledAndLoggedOnce(t *testing.T) {
	clk := newFakeClock()
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withLogin(testLoginLimits(clk)))
	cred := h.join("edge-1")
	bad := h.from("127.0.6.1")
	statuses := map[int]int{}
	for i := range 200 {
		cluster := "edge-1"
		if i%2 == 1 {
			cluster = "edge-9" // unknown clusters count alike
		}
		resp := bad.agentGet(cluster, "otec_wrong-credential")
		statuses[resp.StatusCode]++
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if statuses[401] != 10 || statuses[429] != 190 {
		t.Fatalf("statuses %v, want 10 401 and 190 429", statuses)
	}
	lines := func() int { return strings.Count(h.logs.String(), "agent authentication failed") }
	if n := lines(); n != 1 {
		t.Fatalf("%d log lines for one address's failures, want 1:\n%s", n, h.logs.String())
	}
	// Joins with a wrong bootstrap token count against the same address.
	if r := bad.joinAs("wrong-token", "edge-2"); r.Status != 429 {
		t.Fatalf("join from the throttled address: %d", r.Status)
	}
	// The real agent elsewhere is not affected.
	if resp := h.from("127.0.6.2").agentGet("edge-1", cred); resp.StatusCode != 426 {
		t.Fatalf("right credential from another address: %d, want 426 (authenticated, not an upgrade)", resp.StatusCode)
	}
	// A minute later: one failure more is checked, and its line counts the
	// failures held back.
	clk.Advance(time.Minute)
	if resp := bad.agentGet("edge-1", "otec_wrong-credential"); resp.StatusCode != 401 {
		t.Fatalf("after a minute: %d", resp.StatusCode)
	}
	if n := lines(); n != 2 || !strings.Contains(h.logs.String(), "failures=10") {
		t.Fatalf("%d lines; want the second to count 10 failures:\n%s", n, h.logs.String())
	}
	if strings.Contains(h.logs.String(), "otec_wrong-credential") || strings.Contains(h.logs.String(), cred) {
		t.Fatal("a credential appears in the log")
	}
}

// A bad node is refused and reported once; the rest of the inventory is
// kept, in snapshots and deltas alike.
func TestInventoryValidatedOnTheHub(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	root := h.login(adminName, adminPass)
	a, _, _ := h.connect("edge-1", h.join("edge-1"), 0)
	long := strings.Repeat("n", 10000)
	inv := &protocol.Inventory{Full: true, Nodes: []protocol.Node{
		{Name: "good-1", CPU: 4, Memory: 8 << 30, IP: "10.0.0.1", Ready: true},
		{Name: long, CPU: 4},
		{Name: "negative", Memory: -1},
		{Name: "bad-ip", IP: "10.0.0.300"},
		{Name: "good-2", CPU: 2},
	}}
	for range 3 {
		a.send(&protocol.Message{Kind: protocol.KindInventory, Inventory: inv})
	}
	a.send(&protocol.Message{Kind: protocol.KindInventory, Inventory: &protocol.Inventory{Nodes: []protocol.Node{{Name: "good-3"}, {Name: "Bad_Name"}}, Removed: []string{long}}})
	var nodes []map[string]any
	h.waitFor("the valid nodes", func() bool {
		h.expect(200, "GET", "/v1/node?clusterName=edge-1", root, nil).into(t, &nodes)
		return len(nodes) == 3
	})
	for _, n := range nodes {
		if name := n["nodeName"].(string); !strings.HasPrefix(name, "good-") {
			t.Fatalf("stored node %q", name)
		}
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "node refused"); n != 4 {
		t.Fatalf("%d lines for 4 bad nodes sent 3 times (and one once), want 4:\n%s", n, logs)
	}
	if strings.Contains(logs, strings.Repeat("n", 100)) {
		t.Fatal("the 10,000-character name is in the log unclipped")
	}
}

// A fleet behind one address reconnecting at once (after a hub restart) is
// not refused: only failures count, and nothing is reserved before the
// credential is checked.
func TestAgentsBehindOneAddressReconnectAtOnce(t *testing.T) {
	clk := newFakeClock()
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withLogin(testLoginLimits(clk)))
	limits := testLoginLimits(clk)
	n := 4 * limits.IPBurst
	creds := make([]string, n)
	for i := range creds {
		creds[i] = h.join(fmt.Sprintf("edge-%d", i))
	}
	nat := h.from("127.0.7.1")
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range creds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- nat.agentGet(fmt.Sprintf("edge-%d", i), creds[i]).StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 426 { // authenticated, not an upgrade
			t.Fatalf("an agent with its right credential behind a shared address: %d", st)
		}
	}
}
