package sqlstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

func TestJoinCluster(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		a, err := s.JoinCluster(c, "edge-1", []byte("h1"))
		if err != nil || a.ID == 0 || string(a.CredentialHash) != "h1" {
			t.Fatalf("join: %+v %v", a, err)
		}
		// The agent never connected: a second join replaces the credential.
		b, err := s.JoinCluster(c, "edge-1", []byte("h2"))
		if err != nil || b.ID != a.ID || string(b.CredentialHash) != "h2" {
			t.Fatalf("re-join before connecting: %+v %v", b, err)
		}
		now := time.Now()
		if err := s.ClusterConnected(c, a.ID, "s1", "v1", now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.JoinCluster(c, "edge-1", []byte("h3")); !errors.Is(err, store.ErrClusterJoined) {
			t.Fatalf("join of a connected cluster: %v", err)
		}
		got, _ := s.ClusterByName(c, "edge-1")
		if string(got.CredentialHash) != "h2" || !got.Online || got.Session != "s1" || got.FirstConnectedAt.IsZero() {
			t.Fatalf("after refused join: %+v", got)
		}
		// A stale session's disconnect does not take a newer session offline.
		s.ClusterConnected(c, a.ID, "s2", "v1", now)
		s.ClusterDisconnected(c, a.ID, "s1", now)
		if got, _ := s.ClusterByName(c, "edge-1"); !got.Online {
			t.Fatal("old session's disconnect marked the cluster offline")
		}
		s.ClusterDisconnected(c, a.ID, "s2", now)
		if got, _ := s.ClusterByName(c, "edge-1"); got.Online {
			t.Fatal("still online after its session ended")
		}
		later := now.Add(time.Minute)
		if err := s.TouchClusters(c, []uint64{a.ID}, later); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ClusterByName(c, "edge-1"); got.LastSeen.Unix() != later.Unix() {
			t.Fatalf("last seen %v, want %v", got.LastSeen, later)
		}
		if _, err := s.ClusterByName(c, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing cluster: %v", err)
		}
	})
}

func TestClusterLabelsAndNodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		var ids []uint64
		for _, n := range []string{"c1", "c2", "c3"} {
			cl, _ := s.JoinCluster(c, n, []byte("h"))
			ids = append(ids, cl.ID)
		}
		if err := s.AddClusterLabel(c, []string{"c1", "c2", "nope"}, "east"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("label with a missing cluster: %v", err)
		}
		if names, _ := s.ClusterLabelNames(c); len(names) != 0 {
			t.Fatalf("refused label was partly applied: %v", names)
		}
		must(t, s.AddClusterLabel(c, []string{"c1", "c2"}, "east"))
		must(t, s.AddClusterLabel(c, []string{"c1", "c1"}, "east")) // idempotent
		must(t, s.AddClusterLabel(c, []string{"c3"}, "west"))
		if names, _ := s.ClusterLabelNames(c); fmt.Sprint(names) != "[east west]" {
			t.Fatalf("label names %v", names)
		}
		east, total, err := s.ListClusters(c, store.ClusterQuery{Label: "east"})
		if err != nil || total != 2 || east[0].Name != "c1" || fmt.Sprint(east[0].Labels) != "[east]" {
			t.Fatalf("east clusters: %+v %d %v", east, total, err)
		}
		must(t, s.RemoveClusterLabel(c, []string{"c1"}, "east"))
		if _, total, _ := s.ListClusters(c, store.ClusterQuery{Label: "east"}); total != 1 {
			t.Fatalf("after removal %d east clusters", total)
		}
		labels, total, _ := s.ClusterLabels(c, "c3", store.Page{})
		if total != 1 || labels[0].Name != "west" || labels[0].CreatedAt.IsZero() {
			t.Fatalf("labels of c3: %+v", labels)
		}

		n := func(name string, ready bool) store.Node {
			return store.Node{Name: name, OperatingSystem: "linux", CPU: 4, Memory: 8 << 30, Disk: 100 << 30, Ready: ready, IP: "10.0.0.1"}
		}
		must(t, s.ReplaceNodes(c, ids[0], []store.Node{n("a", true), n("b", false), n("c", true)}))
		must(t, s.ReplaceNodes(c, ids[1], []store.Node{n("a", true)}))
		must(t, s.ReplaceNodes(c, ids[0], []store.Node{n("a", true), n("b", true)})) // c is gone
		must(t, s.UpdateNodes(c, ids[0], []store.Node{n("d", true)}, []string{"a"}))
		nodes, total, err := s.ListNodes(c, store.NodeQuery{ClusterName: "c1"})
		if err != nil || total != 2 || nodes[0].Name != "b" || nodes[1].Name != "d" || nodes[0].ClusterName != "c1" || nodes[0].Memory != 8<<30 {
			t.Fatalf("nodes of c1: %+v %d %v", nodes, total, err)
		}
		all, total, _ := s.ListNodes(c, store.NodeQuery{Page: store.Page{Limit: 2}})
		if total != 3 || len(all) != 2 {
			t.Fatalf("all nodes page: %d of %d", len(all), total)
		}
		cls, _, _ := s.ListClusters(c, store.ClusterQuery{})
		if cls[0].NodeCount != 2 || cls[0].ReadyNodeCount != 2 || cls[2].NodeCount != 0 {
			t.Fatalf("node counts %+v", cls)
		}
		// Ready nodes count only in clusters heard from recently and online.
		now := time.Now()
		must(t, s.ClusterConnected(c, ids[0], "s", "v", now))
		ready, _ := s.CountReadyNodes(c, store.NodeQuery{}, now.Add(-time.Minute))
		if ready != 2 {
			t.Fatalf("ready nodes %d, want the 2 of the online cluster", ready)
		}
		if ready, _ := s.CountReadyNodes(c, store.NodeQuery{}, now.Add(time.Minute)); ready != 0 {
			t.Fatalf("stale cluster's nodes counted ready: %d", ready)
		}
	})
}

func TestNodeLabelsBecomeDesiredItems(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		c1, _ := s.JoinCluster(c, "c1", []byte("h"))
		c2, _ := s.JoinCluster(c, "c2", []byte("h"))
		must(t, s.ReplaceNodes(c, c1.ID, []store.Node{{Name: "n1"}, {Name: "n2"}}))
		must(t, s.ReplaceNodes(c, c2.ID, []store.Node{{Name: "n1"}}))

		if err := s.AddNodeLabel(c, "c1", []string{"n1", "ghost"}, "gpu"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("label on a missing node: %v", err)
		}
		if err := s.AddNodeLabel(c, "cX", []string{"n1"}, "gpu"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("label in a missing cluster: %v", err)
		}
		if rev, _ := s.Revision(c); rev != 0 {
			t.Fatalf("refused labels wrote revision %d", rev)
		}
		must(t, s.AddNodeLabel(c, "c1", []string{"n1", "n2"}, "gpu"))
		must(t, s.AddNodeLabel(c, "c1", []string{"n1"}, "gpu")) // no new revision
		if rev, _ := s.Revision(c); rev != 2 {
			t.Fatalf("revision %d after labelling two nodes", rev)
		}
		nodes, _, _ := s.ListNodes(c, store.NodeQuery{Label: "gpu"})
		if len(nodes) != 2 || fmt.Sprint(nodes[0].Labels) != "[gpu]" {
			t.Fatalf("nodes labelled gpu: %+v", nodes)
		}
		if names, _ := s.NodeLabelNames(c, "c2"); len(names) != 0 {
			t.Fatalf("c2 labels %v", names)
		}
		if names, _ := s.NodeLabelNames(c, ""); fmt.Sprint(names) != "[gpu]" {
			t.Fatalf("all node labels %v", names)
		}

		// A namespace for all clusters.
		owner := newUser(t, s, "o", func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
		b := &store.Business{Name: "b", UserID: owner.ID, Introduce: "i", Objective: "o", Scale: "s"}
		must(t, s.CreateBusiness(c, b))
		if _, err := s.AuditBusiness(c, b.ID, store.BusinessApproved, "", ""); err != nil {
			t.Fatal(err)
		}
		must(t, s.RemoveNodeLabel(c, "c1", []string{"n2"}, "gpu", false))

		items, _ := s.DesiredSince(c, c1.ID, 0, 100)
		var got []string
		for _, it := range items {
			got = append(got, fmt.Sprintf("%d:%s/%s:%v", it.Revision, it.Kind, it.Name, it.Deleted))
		}
		want := fmt.Sprintf("[1:nodelabel/n1/gpu:false 3:namespace/ns%d:false 4:nodelabel/n2/gpu:true]", b.ID)
		if fmt.Sprint(got) != want {
			t.Fatalf("c1 items %v, want %s", got, want)
		}
		items, _ = s.DesiredSince(c, c2.ID, 0, 100)
		if len(items) != 1 || items[0].Kind != store.ItemNamespace {
			t.Fatalf("c2 items %+v", items)
		}
		items, _ = s.DesiredSince(c, c1.ID, 3, 100)
		if len(items) != 1 || items[0].Revision != 4 {
			t.Fatalf("c1 since 3: %+v", items)
		}
		tail, _ := s.DesiredTail(c, 1, 2)
		if len(tail) != 2 || tail[0].Revision != 3 || tail[1].Revision != 4 {
			t.Fatalf("tail %+v", tail)
		}
		// Removing a label that is not there writes nothing.
		must(t, s.RemoveNodeLabel(c, "c1", []string{"n2"}, "gpu", false))
		if rev, _ := s.Revision(c); rev != 4 {
			t.Fatalf("revision %d after a no-op removal", rev)
		}
	})
}

// Concurrent writers get distinct revisions, and a reader never sees a
// revision before all lower ones are visible.
func TestRevisionsAreGaplessUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		cl, _ := s.JoinCluster(c, "c", []byte("h"))
		var nodes []store.Node
		for i := 0; i < 40; i++ {
			nodes = append(nodes, store.Node{Name: fmt.Sprint("n", i)})
		}
		must(t, s.ReplaceNodes(c, cl.ID, nodes))
		stop := make(chan struct{})
		var readerErr error
		var rwg sync.WaitGroup
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				items, err := s.DesiredTail(c, 0, 1000)
				if err != nil {
					readerErr = err
					return
				}
				for i, it := range items {
					if it.Revision != uint64(i+1) {
						readerErr = fmt.Errorf("saw revision %d at position %d", it.Revision, i)
						return
					}
				}
			}
		}()
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < 40; i += 4 {
					if err := s.AddNodeLabel(c, "c", []string{fmt.Sprint("n", i)}, "l"); err != nil {
						t.Error(err)
					}
				}
			}(w)
		}
		wg.Wait()
		close(stop)
		rwg.Wait()
		if readerErr != nil {
			t.Fatal(readerErr)
		}
		items, _ := s.DesiredSince(c, cl.ID, 0, 1000)
		if len(items) != 40 || items[39].Revision != 40 {
			t.Fatalf("%d items, last revision %d", len(items), items[len(items)-1].Revision)
		}
	})
}

func TestItemStatuses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		must(t, s.SaveItemStatuses(c, []store.ItemStatus{
			{ClusterID: 1, Kind: "namespace", Name: "ns1", Revision: 5, State: "failed", Message: "quota"},
			{ClusterID: 1, Kind: "namespace", Name: "ns1", Revision: 6, State: "applied"},
			{ClusterID: 1, Kind: "namespace", Name: "ns2", Revision: 2, State: "applied"},
		}))
		must(t, s.SaveItemStatuses(c, []store.ItemStatus{{ClusterID: 1, Kind: "namespace", Name: "ns1", Revision: 4, State: "failed"}}))
		st, _ := s.ItemStatuses(c, 1)
		if len(st) != 2 || st[0].Revision != 6 || st[0].State != "applied" || st[1].Name != "ns2" {
			t.Fatalf("statuses %+v", st)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A batch of session events is applied as if one by one: the last start of a
// cluster holds, an end counts only for the session it names.
func TestRecordSessionsInOneBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		var ids []uint64
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			cl, err := s.JoinCluster(c, n, []byte("h"))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, cl.ID)
		}
		t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
		at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
		// b and d held sessions before the batch.
		must(t, s.ClusterConnected(c, ids[1], "b-old", "v1", at(0)))
		must(t, s.ClusterConnected(c, ids[3], "d-old", "v1", at(0)))
		must(t, s.RecordSessions(c, []store.SessionEvent{
			{ClusterID: ids[0], Session: "a1", Connected: true, AgentVersion: "v1", At: at(1)},
			{ClusterID: ids[0], Session: "a1", At: at(2)},                                      // a1 ends
			{ClusterID: ids[0], Session: "a2", Connected: true, AgentVersion: "v2", At: at(3)}, // a2 holds
			{ClusterID: ids[1], Session: "b-old", At: at(4)},                                   // b goes offline
			{ClusterID: ids[2], Session: "c1", Connected: true, AgentVersion: "v1", At: at(5)},
			{ClusterID: ids[2], Session: "c1", At: at(6)},                                      // c's only session ended
			{ClusterID: ids[3], Session: "d-older", At: at(7)},                                 // not d's session: no change
			{ClusterID: ids[4], Session: "e1", Connected: true, AgentVersion: "v3", At: at(8)}, // a first connection
			{ClusterID: 999999, Session: "x", Connected: true, At: at(9)},                      // deleted meanwhile
		}))
		for _, w := range []struct {
			name    string
			online  bool
			session string
			version string
			seen    int
		}{{"a", true, "a2", "v2", 3}, {"b", false, "b-old", "v1", 4}, {"c", false, "c1", "v1", 6}, {"d", true, "d-old", "v1", 0}, {"e", true, "e1", "v3", 8}} {
			got, err := s.ClusterByName(c, w.name)
			if err != nil {
				t.Fatal(err)
			}
			if got.Online != w.online || got.Session != w.session || got.AgentVersion != w.version || !got.LastSeen.Equal(at(w.seen)) || got.FirstConnectedAt.IsZero() {
				t.Errorf("cluster %s: online %v session %q version %q last seen %v first %v; want %v %q %q %v",
					w.name, got.Online, got.Session, got.AgentVersion, got.LastSeen, got.FirstConnectedAt, w.online, w.session, w.version, at(w.seen))
			}
		}
		if got, _ := s.ClusterByName(c, "b"); !got.FirstConnectedAt.Equal(at(0)) {
			t.Errorf("b's first connection moved to %v", got.FirstConnectedAt)
		}
	})
}
