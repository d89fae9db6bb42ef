package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/test/fault"
)

// TestFaults breaks links, processes and the hub while work is in flight
// and checks, cluster by cluster, in each edge's kube-apiserver and in the
// hub's API, that everything converged and nothing was applied twice.
// Three edge sites (test/fault) share one hub; the last reaches it through
// a fault proxy. The scenarios run in order on the same bed, each leaving
// it converged and every cluster ready.
func TestFaults(t *testing.T) {
	b := newFaultBed(t, bedOptions{edges: 3, proxied: 1})
	h := b.h
	ns := h.approveBusiness(b.root, "faulty")
	admin := h.login("faulty", "Pw-faulty9")
	greetings := map[string]string{"1.0": "hello", "1.1": "bonjour", "1.2": "hola", "1.3": "ciao", "1.4": "hej"}
	for i, v := range []string{"1.0", "1.1", "1.2", "1.3", "1.4"} {
		h.uploadChart(admin, "hello", v, chartArchive(t, fmt.Sprintf("0.%d.0", i+1), greetings[v]))
	}
	b.labelNodes("edge")
	id := b.deployChart(admin, "hello", "1.0")
	for _, e := range b.edges {
		eventually(t, 60*time.Second, "hello 1.0 in "+e.name, func() bool { return e.greeting(ns) == "hello" })
	}
	revs := 1 // Helm revisions every edge has of release hello

	// converged waits until every edge shows version's greeting and the
	// deployment succeeded, then checks each edge has exactly the Helm
	// revisions it should: one per version applied, the newest deployed.
	converged := func(t *testing.T, version string) {
		t.Helper()
		for _, e := range b.edges {
			eventually(t, 90*time.Second, version+" in "+e.name, func() bool { return e.greeting(ns) == greetings[version] })
		}
		eventually(t, 30*time.Second, "deployment success at the hub", func() bool {
			d := h.deploy(admin, id)
			return d.Status == 5 && d.Version == version
		})
		for _, e := range b.edges {
			got := e.revisions(t, ns, "hello")
			want := make([]string, revs)
			for i := range want {
				want[i] = fmt.Sprintf("%d:superseded", i+1)
			}
			want[revs-1] = fmt.Sprintf("%d:deployed", revs)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: Helm revisions %v, want %v (none twice)", e.name, got, want)
			}
		}
		eventually(t, 60*time.Second, "every cluster ready", b.allReady)
	}
	upgrade := func(version string) {
		h.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", id), admin, map[string]any{"version": version, "comment": "fault"})
		revs++
	}
	// notReadyWithin waits for e to be shown not ready, and says how long
	// after since that took.
	notReadyWithin := func(t *testing.T, e *edge, since time.Time) time.Duration {
		t.Helper()
		eventually(t, 4*b.hb+10*time.Second, e.name+" shown not ready", func() bool { return !b.ready(e) })
		return time.Since(since)
	}

	ok := t.Run("link cut both ways in the middle of a fan-out", func(t *testing.T) {
		e := b.edges[0]
		cut := time.Now()
		e.site.Cut(t, fault.Both)
		upgrade("1.1")
		for _, other := range b.edges[1:] {
			eventually(t, 60*time.Second, "1.1 in "+other.name, func() bool { return other.greeting(ns) == "bonjour" })
		}
		took := notReadyWithin(t, e, cut)
		t.Logf("%s shown not ready %v after the cut (heartbeat %v)", e.name, took.Round(time.Millisecond), b.hb)
		// The positive signals are in (the others have 1.1; the hub has
		// let go of edge-0's session): edge-0 must not have it.
		if g := e.greeting(ns); g != "hello" {
			t.Fatalf("%s has %q while cut off", e.name, g)
		}
		eventually(t, 10*time.Second, "three heartbeat periods of cut", func() bool { return time.Since(cut) >= 3*b.hb })
		if b.ready(e) {
			t.Fatalf("%s shown ready while cut off", e.name)
		}
		e.site.Heal(t)
		converged(t, "1.1")
		b.checkGoroutines("a cut both ways")
	})

	for _, c := range []struct {
		name string
		dir  fault.Direction
	}{{"hub to agent only", fault.ToSite}, {"agent to hub only", fault.FromSite}} {
		if !ok {
			return
		}
		ok = t.Run("one-way cut, "+c.name, func(t *testing.T) {
			e := b.edges[1]
			before := strings.Count(e.agent.logs(), "connected to the hub")
			downs := e.agent.downs()
			cut := time.Now()
			e.site.Cut(t, c.dir)
			took := notReadyWithin(t, e, cut)
			// Both ends see it: the agent's reads time out too (it hears
			// no ping, or its pings get no pong), and it dials again.
			eventually(t, 10*time.Second, "the agent seeing its tunnel down", func() bool { return e.agent.downs() > downs })
			t.Logf("cut %s: shown not ready after %v (heartbeat %v; window %v)", c.dir, took.Round(time.Millisecond), b.hb, 3*b.hb)
			if took > 3*b.hb+3*time.Second {
				t.Fatalf("a one-way cut detected after %v, beyond the ready window of %v", took, 3*b.hb)
			}
			upgrade(map[fault.Direction]string{fault.ToSite: "1.2", fault.FromSite: "1.3"}[c.dir])
			e.site.Heal(t)
			eventually(t, 60*time.Second, "a new session", func() bool { return strings.Count(e.agent.logs(), "connected to the hub") > before })
			converged(t, map[fault.Direction]string{fault.ToSite: "1.2", fault.FromSite: "1.3"}[c.dir])
			b.checkGoroutines("a one-way cut")
		})
	}
	if !ok {
		return
	}

	ok = t.Run("half-open connection", func(t *testing.T) {
		// The proxy keeps both TCP connections established and carries
		// nothing: no FIN, no RST, ever. Only the heartbeat can tell.
		e := b.edges[2]
		before := strings.Count(e.agent.logs(), "connected to the hub")
		downs := e.agent.downs()
		cut := time.Now()
		e.proxy.BlackHole(t)
		took := notReadyWithin(t, e, cut)
		eventually(t, 10*time.Second, "the agent seeing its tunnel down", func() bool { return e.agent.downs() > downs })
		t.Logf("half-open: shown not ready after %v", took.Round(time.Millisecond))
		if took > 3*b.hb+3*time.Second {
			t.Fatalf("a half-open connection detected after %v, beyond the ready window of %v", took, 3*b.hb)
		}
		upgrade("1.4")
		e.proxy.Clear(t)
		eventually(t, 60*time.Second, "a new session", func() bool { return strings.Count(e.agent.logs(), "connected to the hub") > before })
		converged(t, "1.4")
		b.checkGoroutines("a half-open connection")
	})
	if !ok {
		return
	}

	ok = t.Run("a slow link to one cluster does not slow the others", func(t *testing.T) {
		// 700ms each way (a round trip of 1.4s, inside the ready window
		// of 3s) and 4 KB/s: every exchange with edge-2 (the push, the
		// chart's download, the status) takes seconds.
		// A new chart of some 16 KB compressed is downloaded through it.
		big := make([]byte, 16<<10)
		rand.Read(big)
		greetings["1.5"] = hex.EncodeToString(big)
		h.uploadChart(admin, "hello", "1.5", chartArchive(t, "0.6.0", greetings["1.5"]))
		slow := b.edges[2]
		slow.proxy.Latency(t, 700*time.Millisecond)
		slow.proxy.Bandwidth(t, 4)
		defer slow.proxy.Clear(t)
		start := time.Now()
		upgrade("1.5")
		var fast time.Duration
		for _, e := range b.edges[:2] {
			eventually(t, 60*time.Second, "1.5 in "+e.name, func() bool { return e.greeting(ns) == greetings["1.5"] })
		}
		fast = time.Since(start)
		// The others have it; the slow one is still on its way, and
		// connected all along.
		if g := slow.greeting(ns); g == greetings["1.5"] {
			t.Fatalf("the slow edge had the upgrade as soon as the fast ones (%v): the link was not slow", fast)
		}
		for slow.greeting(ns) != greetings["1.5"] {
			if !b.ready(slow) {
				t.Fatalf("the slow edge was shown not ready: a slow link is not a broken one")
			}
			if time.Since(start) > 90*time.Second {
				t.Fatal("the slow edge never got the upgrade")
			}
			<-time.After(100 * time.Millisecond) // the sampling period of readiness
		}
		t.Logf("upgrade applied by the fast edges after %v, by the slow one after %v", fast.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		slow.proxy.Clear(t)
		converged(t, "1.5")
		b.checkGoroutines("a slow link")
	})
	if !ok {
		return
	}

	ok = t.Run("hub paused for three heartbeat periods", func(t *testing.T) {
		// SIGSTOP: the hub's sockets stay open and nothing answers, as
		// in a long stall (swap, a stuck disk). The agents give up on it
		// after their read timeout and dial again; once it continues,
		// they are back and what was written meanwhile is applied.
		before := make([]int, len(b.edges))
		downs := make([]int, len(b.edges))
		for i, e := range b.edges {
			before[i] = strings.Count(e.agent.logs(), "connected to the hub")
			downs[i] = e.agent.downs()
		}
		paused := time.Now()
		h.pause()
		for i, e := range b.edges {
			eventually(t, 4*b.hb+10*time.Second, e.name+" giving up on the paused hub", func() bool {
				return e.agent.downs() > downs[i]
			})
		}
		eventually(t, 10*time.Second, "three heartbeat periods of pause", func() bool { return time.Since(paused) >= 3*b.hb })
		h.resume()
		t.Logf("hub paused for %v", time.Since(paused).Round(time.Millisecond))
		upgrade("1.1")
		for i, e := range b.edges {
			eventually(t, 60*time.Second, e.name+"'s new session", func() bool { return strings.Count(e.agent.logs(), "connected to the hub") > before[i] })
		}
		converged(t, "1.1")
		b.checkGoroutines("a paused hub")
	})
	if !ok {
		return
	}

	ok = t.Run("agent killed in the middle of a Helm install", func(t *testing.T) {
		e := b.edges[0]
		h.uploadChart(admin, "gated", "1.0", gatedChart(t))
		var d deployView
		d.ID = b.deployTo(admin, "gated", "1.0", e.name)
		var first string // the first install's hook Pod
		eventually(t, 60*time.Second, "the install waiting on its hook", func() bool {
			p, err := e.cs.CoreV1().Pods(ns).Get(context.Background(), "gated-gate", metav1.GetOptions{})
			if err == nil {
				first = string(p.UID)
			}
			return err == nil
		})
		if got := e.revisions(t, ns, "gated"); !slices.Equal(got, []string{"1:pending-install"}) {
			t.Fatalf("before the kill, Helm revisions %v", got)
		}
		e.agent.kill()
		b.startAgent(e)
		// The restarted agent finds the release pending and installs it
		// afresh: a new hook Pod waits.
		eventually(t, 60*time.Second, "the new install waiting on its hook", func() bool {
			p, err := e.cs.CoreV1().Pods(ns).Get(context.Background(), "gated-gate", metav1.GetOptions{})
			return err == nil && string(p.UID) != first && p.Status.Phase == corev1.PodPending
		})
		finishPod(t, e.cs, ns, "gated-gate", corev1.PodSucceeded)
		eventually(t, 60*time.Second, "release installed", func() bool {
			cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "gated-config", metav1.GetOptions{})
			return err == nil && cm.Data["installed"] == "yes"
		})
		eventually(t, 30*time.Second, "deployment success", func() bool { return h.deploy(admin, d.ID).Status == 5 })
		if got := e.revisions(t, ns, "gated"); !slices.Equal(got, []string{"1:deployed"}) {
			t.Fatalf("after the restart, Helm revisions %v, want one, deployed", got)
		}
		if !strings.Contains(e.agent.logs(), "release left pending by an interrupted operation") {
			t.Fatal("the restarted agent did not say it recovered the release")
		}
		eventually(t, 60*time.Second, "every cluster ready", b.allReady)
	})
	if !ok {
		return
	}

	for _, point := range []string{"deploy-audited", "node-label-added"} {
		if !ok {
			return
		}
		ok = t.Run("hub killed between the commit and the push: "+point, func(t *testing.T) {
			b.h.stop()
			h = b.startHub([]string{"OTE_CRASH_AT=committed:" + point})
			b.root = h.login("admin", "Root-pass1")
			admin = h.login("faulty", "Pw-faulty9")
			eventually(t, 60*time.Second, "every cluster back", b.allReady)
			switch point {
			case "deploy-audited":
				b.hubCrashOnAudit(t, admin, ns)
			case "node-label-added":
				b.hubCrashOnLabel(t)
			}
			h = b.h
		})
	}
}

// downs is how many times the agent has seen its tunnel go down.
func (p *proc) downs() int { return strings.Count(p.logs(), "tunnel down; reconnecting") }

// deployTo deploys app at version to one cluster (through a cluster
// label of its own).
func (b *faultBed) deployTo(tok, app, version, cluster string) uint64 {
	b.t.Helper()
	b.h.must(200, "POST", "/v1/cluster/label", b.root, map[string]any{"clusterName": []string{cluster}, "clusterLabel": "only-" + cluster})
	var d deployView
	json.Unmarshal(b.h.must(200, "POST", "/v1/deploy", tok, map[string]any{"deployName": app, "appName": app, "version": version, "cluster": "only-" + cluster, "comment": "one cluster"}).Data, &d)
	return d.ID
}

// waitCrash waits for the hub to die at its crash point, and starts it
// again as it was.
func (b *faultBed) waitCrash(t *testing.T) {
	t.Helper()
	select {
	case <-b.h.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the hub did not crash at its crash point")
	}
	if !strings.Contains(b.h.logs(), "crashpoint: committed:") {
		t.Fatalf("the hub died elsewhere than its crash point:\n%s", tailOf(b.h.logs(), 3000))
	}
	b.startHub(nil)
	b.root = b.h.login("admin", "Root-pass1")
}

// hubCrashOnAudit: a general user's deployment is approved; the hub dies
// right after the approval is committed, before it pushes anything. Once
// restarted, the deployment reaches its cluster, once.
func (b *faultBed) hubCrashOnAudit(t *testing.T, admin, ns string) {
	h := b.h
	e := b.edges[1]
	h.must(200, "POST", "/v1/admin/user", admin, map[string]any{"user": "dev", "password": "Dev-pass1", "phone": "13800000000", "isAdmin": false, "realName": "Dev"})
	dev := h.login("dev", "Dev-pass1")
	app := containerApp("1.0")
	h.must(200, "POST", "/v1/app", dev, app)
	id := b.deployTo(dev, "web", "1.0", e.name)
	// Approving commits, then the hub dies: the request gets no answer.
	var audits []struct {
		ID       uint64 `json:"id"`
		DeployID uint64 `json:"deployId"`
		Status   int    `json:"status"`
	}
	json.Unmarshal(h.must(200, "GET", "/v1/admin/deploy?pageSize=100", admin, nil).Data, &audits)
	var audit uint64
	for _, a := range audits {
		if a.DeployID == id && a.Status == 0 {
			audit = a.ID
		}
	}
	if audit == 0 {
		t.Fatalf("no pending audit request for deployment %d", id)
	}
	if _, err := h.try("PUT", "/v1/admin/deploy", admin, map[string]any{"id": audit, "status": 1, "comment": "approved, then the crash"}); err == nil {
		t.Fatal("the approval was answered: the hub did not crash after the commit")
	}
	b.waitCrash(t)
	h = b.h
	admin = h.login("faulty", "Pw-faulty9")
	eventually(t, 60*time.Second, "web 1.0 in "+e.name, func() bool { return deploymentImage(e.cs, ns, "web") == "registry.example.com/web:1.0" })
	if d := h.deploy(admin, id); d.Status == 0 || d.Status == 2 {
		t.Fatalf("after the crash, the deployment's status is %d: the approval was lost", d.Status)
	}
	for _, other := range b.edges {
		if other != e && deploymentImage(other.cs, ns, "web") != "" {
			t.Fatalf("web reached %s", other.name)
		}
	}
	eventually(t, 60*time.Second, "every cluster ready", b.allReady)
	b.checkGoroutines("a hub crash after an approval")
}

// hubCrashOnLabel: a node label is committed and the hub dies before the
// push; restarted, the label reaches the Kubernetes Node.
func (b *faultBed) hubCrashOnLabel(t *testing.T) {
	e := b.edges[2]
	if _, err := b.h.try("POST", "/v1/node/label", b.root, map[string]any{"clusterName": e.name, "nodeName": []string{"node-1"}, "nodeLabel": "after-crash"}); err == nil {
		t.Fatal("the label change was answered: the hub did not crash after the commit")
	}
	b.waitCrash(t)
	eventually(t, 60*time.Second, "the label on "+e.name+"'s node", func() bool {
		v, ok := nodeLabel(e.cs, "node-1", "after-crash")
		return ok && v == "true"
	})
	eventually(t, 60*time.Second, "every cluster ready", b.allReady)
	b.checkGoroutines("a hub crash after a label change")
}
