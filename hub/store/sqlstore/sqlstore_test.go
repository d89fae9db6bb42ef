package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

// ctx bounds a test's store calls. The bound is a safety net against a
// hung database, not a timing: a loaded machine running the race detector
// spent most of 30 s seeding 2,500 users.
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return c
}

func newUser(t *testing.T, s store.Store, name string, mutate func(*store.User)) *store.User {
	t.Helper()
	u := &store.User{Name: name, PasswordHash: []byte("hash-" + name), Phone: "123456", RealName: "R " + name}
	if mutate != nil {
		mutate(u)
	}
	if err := s.CreateUser(ctx(t), u); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

func TestMigrationsAreVersionedAndIdempotent(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			for i := 0; i < 2; i++ {
				s, err := sqlstore.Open(ctx(t), dsn)
				if err != nil {
					t.Fatalf("open #%d: %v", i+1, err)
				}
				v, err := s.SchemaVersion(ctx(t))
				if want := sqlstore.LatestSchemaVersion(); err != nil || v != want {
					t.Fatalf("schema version = %d, %v; want %d", v, err, want)
				}
				_ = s.Close()
			}
		})
	}
}

// Businesses approved before migration 3 had rows in desired_namespaces; the
// migration turns them into desired items with revisions and carries on the
// revision counter from there.
func TestMigration3KeepsApprovedNamespaces(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			old, err := sqlstore.OpenAt(ctx(t), dsn, 2)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			for _, id := range []int{3, 7} {
				if err := old.DB().Exec("INSERT INTO desired_namespaces (name, business_id, created_at) VALUES (?, ?, ?)", fmt.Sprintf("ns%d", id), id, now).Error; err != nil {
					t.Fatal(err)
				}
			}
			old.Close()
			// Up to 9: migration 10 moves namespaces to new revisions
			// (TestMigration10LabelsApprovedNamespaces).
			s, err := sqlstore.OpenAt(ctx(t), dsn, 9)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			nss, err := s.ListDesiredNamespaces(ctx(t))
			if err != nil || len(nss) != 2 || nss[0].Name != "ns3" || nss[1].BusinessID != 7 {
				t.Fatalf("namespaces after migration: %+v %v", nss, err)
			}
			items, _ := s.DesiredSince(ctx(t), 42, 0, 10)
			if len(items) != 2 || !strings.Contains(string(items[0].Spec), `"ote-stack.io/business-id":"3"`) {
				t.Fatalf("items %+v", items)
			}
			if rev, _ := s.Revision(ctx(t)); rev != 7 {
				t.Fatalf("revision after migration %d, want 7", rev)
			}
		})
	}
}

func TestOpenRejectsUnknownDSN(t *testing.T) {
	_, err := sqlstore.Open(context.Background(), "mysql://root:secret@db/ote")
	if err == nil {
		t.Fatal("want error for mysql DSN")
	}
	if got := err.Error(); contains(got, "secret") {
		t.Fatalf("error leaks the password: %s", got)
	}
}

func TestUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		alice := newUser(t, s, "alice", nil)
		if alice.ID == 0 || alice.CreatedAt.IsZero() {
			t.Fatalf("create did not fill id and times: %+v", alice)
		}
		err := s.CreateUser(c, &store.User{Name: "alice", PasswordHash: []byte("x")})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate name: got %v, want ErrConflict", err)
		}
		got, err := s.UserByName(c, "alice")
		if err != nil || got.ID != alice.ID || string(got.PasswordHash) != "hash-alice" || got.Phone != "123456" {
			t.Fatalf("UserByName = %+v, %v", got, err)
		}
		if _, err := s.UserByID(c, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing user: got %v", err)
		}

		if err := s.SetUserPassword(c, alice.ID, []byte("new")); err != nil {
			t.Fatal(err)
		}
		got, _ = s.UserByID(c, alice.ID)
		if string(got.PasswordHash) != "new" || got.TokenGeneration != alice.TokenGeneration+1 {
			t.Fatalf("after SetUserPassword: hash %q generation %d", got.PasswordHash, got.TokenGeneration)
		}
		if err := s.SetUserStatus(c, alice.ID, store.UserForbidden); err != nil {
			t.Fatal(err)
		}
		got, _ = s.UserByID(c, alice.ID)
		if got.Status != store.UserForbidden {
			t.Fatalf("status = %d", got.Status)
		}
		if err := s.SetUserStatus(c, 9999, store.UserApproved); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("status of missing user: %v", err)
		}
		if err := s.DeleteUser(c, alice.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(c, alice.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestListUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		owner := newUser(t, s, "owner", func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
		b := &store.Business{Name: "acme", UserID: owner.ID, Introduce: "i", Objective: "o", Scale: "s"}
		if err := s.CreateBusiness(c, b); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"dave", "carol", "bob"} {
			newUser(t, s, n, func(u *store.User) { u.BusinessID = b.ID })
		}
		newUser(t, s, "zed", nil)

		all, total, err := s.ListUsers(c, store.UserQuery{OrderBy: store.UserOrderID, Page: store.Page{Limit: 2}})
		if err != nil || total != 5 || len(all) != 2 || all[0].Name != "owner" || all[1].Name != "dave" {
			t.Fatalf("page 1 by id: %v total %d err %v", names(all), total, err)
		}
		page2, _, _ := s.ListUsers(c, store.UserQuery{OrderBy: store.UserOrderID, Page: store.Page{Offset: 2, Limit: 2}})
		if len(page2) != 2 || page2[0].Name != "carol" {
			t.Fatalf("page 2: %v", names(page2))
		}
		byName, total, _ := s.ListUsers(c, store.UserQuery{BusinessID: b.ID, OrderBy: store.UserOrderName, Desc: true})
		if total != 4 || fmt.Sprint(names(byName)) != "[owner dave carol bob]" {
			t.Fatalf("business users by name desc: %v total %d", names(byName), total)
		}
		if byName[0].BusinessStatus != store.BusinessPending {
			t.Fatalf("business status not joined: %d", byName[0].BusinessStatus)
		}
	})
}

func TestLastSysAdminIsProtected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		root := &store.User{Name: "admin", PasswordHash: []byte("h")}
		created, err := s.EnsureSysAdmin(c, root)
		if err != nil || !created || root.Role() != store.RoleSysAdmin {
			t.Fatalf("EnsureSysAdmin = %v, %v, role %d", created, err, root.Role())
		}
		again := &store.User{Name: "admin2", PasswordHash: []byte("h")}
		if created, err := s.EnsureSysAdmin(c, again); err != nil || created {
			t.Fatalf("second EnsureSysAdmin created=%v err=%v", created, err)
		}
		if err := s.DeleteUser(c, root.ID); !errors.Is(err, store.ErrLastSysAdmin) {
			t.Fatalf("delete last sysadmin: %v", err)
		}
		if err := s.SetUserStatus(c, root.ID, store.UserForbidden); !errors.Is(err, store.ErrLastSysAdmin) {
			t.Fatalf("demote last sysadmin: %v", err)
		}
		second := newUser(t, s, "root2", func(u *store.User) { u.IsSysAdmin, u.Status = true, store.UserApproved })
		if err := s.SetUserStatus(c, root.ID, store.UserForbidden); err != nil {
			t.Fatalf("demote one of two: %v", err)
		}
		if err := s.DeleteUser(c, second.ID); !errors.Is(err, store.ErrLastSysAdmin) {
			t.Fatalf("delete the remaining approved one: %v", err)
		}
		got, _ := s.UserByID(c, second.ID)
		if got == nil || got.Status != store.UserApproved {
			t.Fatalf("refused delete changed something: %+v", got)
		}
	})
}

func TestBusinesses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		owner := newUser(t, s, "owner", func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
		other := newUser(t, s, "other", func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
		b := &store.Business{Name: "acme_1", UserID: owner.ID, Introduce: "i", Objective: "o", Scale: "s"}
		if err := s.CreateBusiness(c, b); err != nil {
			t.Fatal(err)
		}
		if b.ID == 0 || b.Status != store.BusinessPending {
			t.Fatalf("created business %+v", b)
		}
		err := s.CreateBusiness(c, &store.Business{Name: "second", UserID: owner.ID})
		if !errors.Is(err, store.ErrHasBusiness) {
			t.Fatalf("second business of one owner: %v", err)
		}
		err = s.CreateBusiness(c, &store.Business{Name: "acme_1", UserID: other.ID})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate name: %v", err)
		}
		if got, _ := s.UserByID(c, other.ID); got.BusinessID != 0 {
			t.Fatalf("refused create changed the user: %+v", got)
		}
		u, _ := s.UserByID(c, owner.ID)
		if u.BusinessID != b.ID || u.Role() != store.RoleApproved {
			t.Fatalf("owner before approval: business %d role %d", u.BusinessID, u.Role())
		}

		ob := &store.Business{Name: "acmex1", UserID: other.ID, Introduce: "i", Objective: "o", Scale: "s"}
		if err := s.CreateBusiness(c, ob); err != nil {
			t.Fatal(err)
		}
		// LIKE wildcards in the filter are literal.
		list, total, err := s.ListBusinesses(c, store.BusinessQuery{NameContains: "acme_"})
		if err != nil || total != 1 || list[0].ID != b.ID {
			t.Fatalf("filter acme_: %d %v", total, err)
		}
		list, total, _ = s.ListBusinesses(c, store.BusinessQuery{Desc: true})
		if total != 2 || list[0].ID != ob.ID {
			t.Fatalf("desc list: %+v", list)
		}
		_, total, _ = s.ListBusinesses(c, store.BusinessQuery{OnlyID: ob.ID})
		if total != 1 {
			t.Fatalf("only id: total %d", total)
		}

		nss, _ := s.ListDesiredNamespaces(c)
		if len(nss) != 0 {
			t.Fatalf("namespaces before approval: %+v", nss)
		}
		got, err := s.AuditBusiness(c, b.ID, store.BusinessApproved, "ok", "")
		if err != nil || got.Status != store.BusinessApproved || got.Comment != "ok" {
			t.Fatalf("approve: %+v %v", got, err)
		}
		nss, _ = s.ListDesiredNamespaces(c)
		if len(nss) != 1 || nss[0].Name != fmt.Sprintf("ns%d", b.ID) || nss[0].BusinessID != b.ID {
			t.Fatalf("desired namespaces after approval: %+v", nss)
		}
		u, _ = s.UserByID(c, owner.ID)
		if u.Role() != store.RoleBusinessAdmin {
			t.Fatalf("owner role after approval: %d", u.Role())
		}
		if _, err := s.AuditBusiness(c, b.ID, store.BusinessDisapproved, "no", ""); !errors.Is(err, store.ErrAlreadyAudited) {
			t.Fatalf("re-audit approved: %v", err)
		}
		if _, err := s.AuditBusiness(c, 9999, store.BusinessApproved, "", ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("audit missing: %v", err)
		}
		// Disapproved: the owner may try again with a new business.
		if _, err := s.AuditBusiness(c, ob.ID, store.BusinessDisapproved, "no", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateBusiness(c, &store.Business{Name: "acme-2", UserID: other.ID, Introduce: "i", Objective: "o", Scale: "s"}); err != nil {
			t.Fatalf("new business after disapproval: %v", err)
		}
		nss, _ = s.ListDesiredNamespaces(c)
		if len(nss) != 1 {
			t.Fatalf("disapproval recorded a namespace: %+v", nss)
		}
	})
}

func TestRevokedTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		if err := s.RevokeToken(c, "old", time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(c, "live", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(c, "live", time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		if ok, err := s.TokenRevoked(c, "live"); err != nil || !ok {
			t.Fatalf("live revoked = %v, %v", ok, err)
		}
		if ok, _ := s.TokenRevoked(c, "never"); ok {
			t.Fatal("unknown token reported revoked")
		}
		// The expired revocation was pruned when "live" was written.
		if ok, _ := s.TokenRevoked(c, "old"); ok {
			t.Fatal("expired revocation was not pruned")
		}
	})
}

func names(us []store.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Name
	}
	return out
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}

// The user counts behind list totals are kept by triggers; they must match
// the rows through inserts, deletes, business moves and bulk inserts.
func TestUserCountsMatchRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		check := func(step string) {
			t.Helper()
			var rows []struct {
				BusinessID uint64
				N          int64
			}
			s.DB().Raw("SELECT COALESCE(business_id, 0) AS business_id, COUNT(*) AS n FROM users GROUP BY COALESCE(business_id, 0)").Scan(&rows)
			var all int64
			for _, r := range rows {
				all += r.N
				if r.BusinessID == 0 {
					continue
				}
				_, total, err := s.ListUsers(c, store.UserQuery{BusinessID: r.BusinessID, Page: store.Page{Limit: 1}})
				if err != nil || total != r.N {
					t.Fatalf("%s: business %d total %d, rows %d (%v)", step, r.BusinessID, total, r.N, err)
				}
			}
			_, total, err := s.ListUsers(c, store.UserQuery{Page: store.Page{Limit: 1}})
			if err != nil || total != all {
				t.Fatalf("%s: total %d, rows %d (%v)", step, total, all, err)
			}
		}
		check("empty")
		owner := newUser(t, s, "owner", func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
		x := newUser(t, s, "x", nil)
		check("two users")
		b := &store.Business{Name: "b", UserID: owner.ID, Introduce: "i", Objective: "o", Scale: "s"}
		if err := s.CreateBusiness(c, b); err != nil {
			t.Fatal(err)
		}
		check("owner moved into a business")
		storetest.SeedUsers(t, s, "bulk", 2500, []byte("h"), b.ID)
		check("bulk insert")
		if err := s.DeleteUser(c, x.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(c, owner.ID); err != nil {
			t.Fatal(err)
		}
		check("deletes")
	})
}

func TestCountUsersByStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		for i := range 4 {
			if err := s.CreateUser(ctx, &store.User{Name: fmt.Sprintf("c%d", i), PasswordHash: []byte("x"), Phone: "00000", RealName: "C"}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.CountUsersByStatus(ctx, store.UserPending, 0); err != nil || n != 4 {
			t.Fatalf("all pending: %d %v", n, err)
		}
		if n, err := s.CountUsersByStatus(ctx, store.UserPending, 3); err != nil || n != 3 {
			t.Fatalf("pending up to 3: %d %v", n, err)
		}
		if n, err := s.CountUsersByStatus(ctx, store.UserForbidden, 3); err != nil || n != 0 {
			t.Fatalf("forbidden: %d %v", n, err)
		}
	})
}
