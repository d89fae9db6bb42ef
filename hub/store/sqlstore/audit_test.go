package sqlstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

func TestAuditStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		rec := func(at time.Time, user string, business uint64, action string) *store.AuditEntry {
			e := &store.AuditEntry{At: at, UserID: 1, UserName: user, Role: store.RoleSysAdmin, BusinessID: business,
				Action: action, Target: "/v1/x", Detail: "{}", Status: 200, Result: "success", Address: "127.0.0.1"}
			must(t, s.RecordAudit(c, e))
			if e.ID == 0 {
				t.Fatal("no id")
			}
			return e
		}
		rec(t0, "root", 0, "user.audit")
		rec(t0.Add(time.Minute), "root", 7, "business.audit")
		rec(t0.Add(2*time.Minute), "acme", 7, "user.password.reset")
		rec(t0.Add(3*time.Minute), "beta", 8, "repository.create")
		long := rec(t0.Add(4*time.Minute), "root", 0, "cluster.label.add")
		list := func(q store.AuditQuery) string {
			es, total, err := s.ListAudit(c, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range es {
				out = append(out, e.Action)
			}
			return fmt.Sprint(total, out)
		}
		for _, tc := range []struct {
			q    store.AuditQuery
			want string
		}{
			{store.AuditQuery{}, "5 [cluster.label.add repository.create user.password.reset business.audit user.audit]"},
			{store.AuditQuery{Asc: true, Page: store.Page{Offset: 1, Limit: 2}}, "5 [business.audit user.password.reset]"},
			{store.AuditQuery{BusinessID: 7}, "2 [user.password.reset business.audit]"},
			{store.AuditQuery{UserName: "root"}, "3 [cluster.label.add business.audit user.audit]"},
			{store.AuditQuery{Action: "user."}, "2 [user.password.reset user.audit]"},
			{store.AuditQuery{Action: "user"}, "0 []"},
			{store.AuditQuery{Action: "user.audit"}, "1 [user.audit]"},
			{store.AuditQuery{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, "3 [repository.create user.password.reset business.audit]"},
		} {
			if got := list(tc.q); got != tc.want {
				t.Errorf("%+v: %s, want %s", tc.q, got, tc.want)
			}
		}
		// Over-long values are cut, not refused: the write is recorded.
		e := &store.AuditEntry{UserName: "root", Action: "image.delete", Target: strings.Repeat("é", 400), Detail: "{}", Result: strings.Repeat("x", 600)}
		must(t, s.RecordAudit(c, e))
		es, _, err := s.ListAudit(c, store.AuditQuery{Action: "image.delete"})
		if err != nil || len(es) != 1 || len(es[0].Target) > 512 || !strings.HasPrefix(es[0].Target, "éé") || len(es[0].Result) != 512 || es[0].At.IsZero() {
			t.Fatalf("long entry: %v %+v", err, es)
		}
		if !es[0].At.After(long.At) {
			t.Fatalf("default time %v not after %v", es[0].At, long.At)
		}
		// Retention: entries before the cut go, the rest stay.
		n, err := s.PruneAudit(c, t0.Add(2*time.Minute))
		if err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want 2", n, err)
		}
		if got := list(store.AuditQuery{Asc: true}); got != "4 [user.password.reset repository.create cluster.label.add image.delete]" {
			t.Fatalf("after pruning: %s", got)
		}
	})
}
