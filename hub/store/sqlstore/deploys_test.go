package sqlstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

// TestDeployCountsMatchRows: the total GET /v1/deploy answers, read from
// the trigger-kept counts, is the rows' count for every combination of the
// running and editable filters, per business and for all, through the
// store's own transitions, a bulk insert, and changes and deletes made in
// SQL.
func TestDeployCountsMatchRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		yes, no := true, false
		filters := []struct {
			name     string
			running  bool
			editable *bool
			where    string
		}{
			{"all", false, nil, "1 = 1"},
			{"running", true, nil, "status IN (4, 5, 6)"},
			{"editable", false, &yes, "editable = ?"},
			{"not editable", false, &no, "editable = ?"},
			{"running editable", true, &yes, "status IN (4, 5, 6) AND editable = ?"},
			{"running not editable", true, &no, "status IN (4, 5, 6) AND editable = ?"},
		}
		var businesses []uint64
		check := func(step string) {
			t.Helper()
			for _, b := range append([]uint64{0}, businesses...) {
				for _, f := range filters {
					q := s.DB().Table("deploys")
					if b != 0 {
						q = q.Where("business_id = ?", b)
					}
					if f.editable != nil {
						q = q.Where(f.where, *f.editable)
					} else {
						q = q.Where(f.where)
					}
					var rows int64
					if err := q.Count(&rows).Error; err != nil {
						t.Fatal(err)
					}
					_, total, err := s.ListDeploys(c, store.DeployQuery{BusinessID: b, Running: f.running, Editable: f.editable, Page: store.Page{Limit: 1}})
					if err != nil || total != rows {
						t.Fatalf("%s: business %d, %s: total %d, rows %d (%v)", step, b, f.name, total, rows, err)
					}
				}
			}
		}
		check("empty")
		for i := range 2 {
			owner := newUser(t, s, fmt.Sprintf("owner%d", i), func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
			b := &store.Business{Name: fmt.Sprintf("b%d", i), UserID: owner.ID, Introduce: "i", Objective: "o", Scale: "s"}
			if err := s.CreateBusiness(c, b); err != nil {
				t.Fatal(err)
			}
			businesses = append(businesses, b.ID)
		}
		b := businesses[0]
		spec := []byte(`{"namespace":"ns","name":"web"}`)
		pending := &store.Deploy{BusinessID: b, Name: "pending", AppName: "web", Version: "1.0", CreatedBy: 1}
		must(t, s.CreateDeploy(c, pending, &store.DeployRequest{}, spec, store.Verdict{}))
		live := &store.Deploy{BusinessID: b, Name: "live", AppName: "web", Version: "1.0", CreatedBy: 1}
		must(t, s.CreateDeploy(c, live, &store.DeployRequest{}, spec, store.Verdict{Approve: true, Comment: "auto"}))
		check("created, one approved")
		must(t, s.DB().Exec("UPDATE deploys SET status = 5 WHERE id = ?", live.ID).Error)
		check("success")
		up := &store.DeployRequest{Type: store.DeployUpgrade, Version: "1.1"}
		must(t, s.RequestChange(c, live.ID, up, spec, store.Verdict{}))
		check("upgrade waits: not editable")
		if _, err := s.AuditDeploy(c, up.ID, true, "ok", spec); err != nil {
			t.Fatal(err)
		}
		check("upgrade approved: processing")
		storetest.SeedDeploys(t, s, businesses[1], 1500)
		check("bulk insert")
		must(t, s.DB().Exec("UPDATE deploys SET status = 7, editable = ? WHERE business_id = ? AND id % 3 = 0", false, businesses[1]).Error)
		must(t, s.DB().Exec("UPDATE deploys SET status = 4 WHERE business_id = ? AND id % 3 = 1", businesses[1]).Error)
		must(t, s.DB().Exec("UPDATE deploys SET comment = 'x', status = status WHERE business_id = ?", businesses[1]).Error)
		check("changes in SQL")
		del := &store.DeployRequest{Type: store.DeployDeleteReq}
		must(t, s.RequestChange(c, live.ID, del, nil, store.Verdict{Approve: true, Comment: "auto"}))
		must(t, s.DB().Exec("DELETE FROM deploys WHERE business_id = ? AND id % 5 = 0", businesses[1]).Error)
		check("deleted")
	})
}

// TestDriftKeptForTheReportersWorkloadsOnly: a change is kept once, only
// for a workload desired in the cluster that reports it, and the newest
// maxDriftKept per workload and cluster.
func TestDriftKeptForTheReportersWorkloadsOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		owner := newUser(t, s, "owner", func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
		b := &store.Business{Name: "b", UserID: owner.ID, Introduce: "i", Objective: "o", Scale: "s"}
		must(t, s.CreateBusiness(c, b))
		mine, err := s.JoinCluster(c, "mine", []byte("h1"))
		must(t, err)
		other, err := s.JoinCluster(c, "other", []byte("h2"))
		must(t, err)
		must(t, s.DB().Exec("INSERT INTO cluster_labels (cluster_id, label, created_at) VALUES (?, 'east', ?)", mine.ID, time.Now()).Error)
		d := &store.Deploy{BusinessID: b.ID, Name: "web", AppName: "web", Version: "1.0", ClusterLabel: "east", CreatedBy: 1}
		must(t, s.CreateDeploy(c, d, &store.DeployRequest{}, []byte(`{"namespace":"ns","name":"web"}`), store.Verdict{Approve: true, Comment: "auto"}))
		wn := store.Namespace(b.ID) + "/web"
		at := time.Unix(1_800_000_000, 0)
		change := func(cluster uint64, i int) store.Drift {
			return store.Drift{ClusterID: cluster, Name: wn, Object: "Deployment/web", Field: "spec.replicas", Desired: "2", Actual: "3", Manager: "kubectl", At: at.Add(time.Duration(i) * time.Second)}
		}
		if n, err := s.RecordDrift(c, []store.Drift{change(mine.ID, 0), change(mine.ID, 0), change(other.ID, 0)}); err != nil || n != 1 {
			t.Fatalf("recorded %d (%v), want 1: a repeat and another cluster's report are not kept", n, err)
		}
		var many []store.Drift
		for i := 1; i <= 60; i++ {
			many = append(many, change(mine.ID, i))
		}
		if n, err := s.RecordDrift(c, many); err != nil || n != 60 {
			t.Fatalf("recorded %d (%v), want 60", n, err)
		}
		ds, err := s.DeployDrift(c, d.ID, 1000)
		must(t, err)
		if len(ds) != 50 || ds[0].At.Unix() != at.Add(60*time.Second).Unix() || ds[0].Cluster != "mine" {
			t.Fatalf("kept %d changes, newest %v of %q; want the newest 50 of mine", len(ds), ds[0].At, ds[0].Cluster)
		}
	})
}
