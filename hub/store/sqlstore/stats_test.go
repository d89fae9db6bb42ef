package sqlstore_test

import (
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

// TestPlatformStats: the figures of the hub's /metrics follow clusters,
// desired items (per cluster and for every cluster) and acknowledgements.
func TestPlatformStats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		stats := func() *store.PlatformStats {
			t.Helper()
			st, err := s.PlatformStats(c, time.Now().Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		if st := stats(); st.ClustersReady+st.ClustersNotReady+st.Unacknowledged+st.AuditsPending != 0 || !st.OldestUnacknowledged.IsZero() {
			t.Fatalf("an empty store: %+v", st)
		}
		a, _ := s.JoinCluster(c, "a", []byte("ha"))
		b, _ := s.JoinCluster(c, "b", []byte("hb"))
		must(t, s.ClusterConnected(c, a.ID, "s1", "v1", time.Now()))
		must(t, s.ReplaceNodes(c, a.ID, []store.Node{{Name: "n1"}}))
		before := time.Now().Add(-time.Second)
		must(t, s.AddNodeLabel(c, "a", []string{"n1"}, "gpu"))
		st := stats()
		if st.ClustersReady != 1 || st.ClustersNotReady != 1 || st.Unacknowledged != 1 {
			t.Fatalf("one label for a: %+v", st)
		}
		if st.OldestUnacknowledged.Before(before) || st.OldestUnacknowledged.After(time.Now().Add(time.Second)) {
			t.Fatalf("oldest unacknowledged %v, written just after %v", st.OldestUnacknowledged, before)
		}
		items, _ := s.DesiredSince(c, a.ID, 0, 10)
		must(t, s.SaveItemStatuses(c, []store.ItemStatus{{ClusterID: a.ID, Kind: items[0].Kind, Name: items[0].Name, Revision: items[0].Revision, State: "applied", UpdatedAt: time.Now()}}))
		if st := stats(); st.Unacknowledged != 0 || !st.OldestUnacknowledged.IsZero() {
			t.Fatalf("after a acknowledged its label: %+v", st)
		}

		// A namespace is wanted in both clusters: each acknowledges it.
		owner := newUser(t, s, "o", func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
		biz := &store.Business{Name: "biz", UserID: owner.ID, Introduce: "i", Objective: "o", Scale: "s"}
		must(t, s.CreateBusiness(c, biz))
		if _, err := s.AuditBusiness(c, biz.ID, store.BusinessApproved, "", ""); err != nil {
			t.Fatal(err)
		}
		if st := stats(); st.Unacknowledged != 2 {
			t.Fatalf("a namespace for both clusters: %d unacknowledged, want 2", st.Unacknowledged)
		}
		ns, _ := s.DesiredSince(c, b.ID, 0, 10)
		must(t, s.SaveItemStatuses(c, []store.ItemStatus{{ClusterID: b.ID, Kind: ns[0].Kind, Name: ns[0].Name, Revision: ns[0].Revision, State: "applied", UpdatedAt: time.Now()}}))
		if st := stats(); st.Unacknowledged != 1 {
			t.Fatalf("b acknowledged the namespace: %d unacknowledged, want 1 (a's)", st.Unacknowledged)
		}
	})
}
