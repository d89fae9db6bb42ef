package sqlstore_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
	"github.com/ote-stack/ote/protocol"
)

// namespaceLabels returns the labels of the desired namespace of business
// id and its revision.
func namespaceLabels(t *testing.T, s *sqlstore.Store, name string) (map[string]string, uint64) {
	t.Helper()
	items, err := s.DesiredSince(ctx(t), 42, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Kind == store.ItemNamespace && it.Name == name {
			var spec protocol.NamespaceSpec
			if err := json.Unmarshal(it.Spec, &spec); err != nil {
				t.Fatalf("namespace spec %s: %v", it.Spec, err)
			}
			return spec.Labels, it.Revision
		}
	}
	t.Fatalf("no desired namespace %s in %+v", name, items)
	return nil, 0
}

func wantLevel(t *testing.T, labels map[string]string, level string) {
	t.Helper()
	for _, mode := range []string{"enforce", "warn", "audit"} {
		if labels["pod-security.kubernetes.io/"+mode] != level || labels["pod-security.kubernetes.io/"+mode+"-version"] != "latest" {
			t.Fatalf("labels %v; want %s at %s", labels, mode, level)
		}
	}
}

// Migration 10 gives every business the restricted level, and the
// namespaces of approved ones the labels at new revisions above every
// revision handed out.
func TestMigration10LabelsApprovedNamespaces(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			old, err := sqlstore.OpenAt(ctx(t), dsn, 9)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			for _, stmt := range []string{
				`INSERT INTO businesses (id, name, user_id, introduce, objective, scale, status, created_at, updated_at) VALUES (3, 'three', 1, 'i', 'o', 's', 1, ?, ?)`,
				`INSERT INTO businesses (id, name, user_id, introduce, objective, scale, status, created_at, updated_at) VALUES (4, 'four', 2, 'i', 'o', 's', 0, ?, ?)`,
			} {
				if err := old.DB().Exec(stmt, now, now).Error; err != nil {
					t.Fatal(err)
				}
			}
			for _, stmt := range []string{
				`INSERT INTO desired_items (cluster_id, kind, name, revision, deleted, spec) VALUES (0, 'namespace', 'ns3', 3, FALSE, '{"labels":{"ote-stack.io/business-id":"3"}}')`,
				`INSERT INTO desired_items (cluster_id, kind, name, revision, deleted, spec) VALUES (0, 'namespace', 'ns2', 5, TRUE, '')`,
				`INSERT INTO desired_items (cluster_id, kind, name, revision, deleted, spec) VALUES (7, 'nodelabel', 'n1/gpu', 8, FALSE, '{}')`,
				`UPDATE revision_counter SET value = 9 WHERE id = 1`,
			} {
				if err := old.DB().Exec(stmt).Error; err != nil {
					t.Fatal(err)
				}
			}
			old.Close()

			s, err := sqlstore.Open(ctx(t), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, id := range []uint64{3, 4} {
				b, err := s.BusinessByID(ctx(t), id)
				if err != nil || b.PodSecurity != protocol.PodSecurityRestricted {
					t.Fatalf("business %d after migration: %+v %v", id, b, err)
				}
			}
			labels, rev := namespaceLabels(t, s, "ns3")
			wantLevel(t, labels, protocol.PodSecurityRestricted)
			if labels["ote-stack.io/business-id"] != "3" || rev <= 9 {
				t.Fatalf("ns3 after migration: %v at revision %d (want above 9)", labels, rev)
			}
			// The tombstone stays a tombstone at its revision.
			items, _ := s.DesiredSince(ctx(t), 42, 0, 100)
			for _, it := range items {
				if it.Name == "ns2" && (!it.Deleted || it.Revision != 5) {
					t.Fatalf("tombstone changed: %+v", it)
				}
			}
			if counter, _ := s.Revision(ctx(t)); counter != rev {
				t.Fatalf("revision counter %d after migration; want %d", counter, rev)
			}
		})
	}
}

func TestBusinessPodSecurity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		owner := newUser(t, s, "owner", func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
		other := newUser(t, s, "other", func(u *store.User) { u.IsAdmin, u.Status = true, store.UserApproved })
		b := &store.Business{Name: "acme", UserID: owner.ID, Introduce: "i", Objective: "o", Scale: "s"}
		if err := s.CreateBusiness(c, b); err != nil {
			t.Fatal(err)
		}
		if b.PodSecurity != protocol.PodSecurityRestricted {
			t.Fatalf("new business level %q", b.PodSecurity)
		}
		// Pending: the level is kept, no namespace is written.
		got, wrote, err := s.SetBusinessPodSecurity(c, b.ID, protocol.PodSecurityBaseline, nil)
		if err != nil || wrote || got.PodSecurity != protocol.PodSecurityBaseline {
			t.Fatalf("level of a pending business: %+v %v %v", got, wrote, err)
		}
		if nss, _ := s.ListDesiredNamespaces(c); len(nss) != 0 {
			t.Fatalf("namespaces of a pending business: %+v", nss)
		}
		// Approval writes the namespace at the business's level.
		if _, err := s.AuditBusiness(c, b.ID, store.BusinessApproved, "ok", ""); err != nil {
			t.Fatal(err)
		}
		ns := store.Namespace(b.ID)
		labels, rev1 := namespaceLabels(t, s, ns)
		wantLevel(t, labels, protocol.PodSecurityBaseline)

		// A level change of an approved business rewrites the namespace at
		// a new revision.
		got, wrote, err = s.SetBusinessPodSecurity(c, b.ID, protocol.PodSecurityPrivileged, nil)
		if err != nil || !wrote || got.PodSecurity != protocol.PodSecurityPrivileged || got.Status != store.BusinessApproved {
			t.Fatalf("raise level: %+v %v %v", got, wrote, err)
		}
		labels, rev2 := namespaceLabels(t, s, ns)
		wantLevel(t, labels, protocol.PodSecurityPrivileged)
		if rev2 <= rev1 || labels["ote-stack.io/business-id"] == "" {
			t.Fatalf("after the change: %v at revision %d (was %d)", labels, rev2, rev1)
		}
		if rb, _ := s.BusinessByID(c, b.ID); rb.PodSecurity != protocol.PodSecurityPrivileged {
			t.Fatalf("stored level %q", rb.PodSecurity)
		}
		// The same level again writes nothing.
		if _, wrote, err := s.SetBusinessPodSecurity(c, b.ID, protocol.PodSecurityPrivileged, nil); err != nil || wrote {
			t.Fatalf("same level: %v %v", wrote, err)
		}
		if _, rev := namespaceLabels(t, s, ns); rev != rev2 {
			t.Fatalf("same level wrote revision %d", rev)
		}
		if _, _, err := s.SetBusinessPodSecurity(c, 9999, protocol.PodSecurityBaseline, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing business: %v", err)
		}

		// An audit may set the level together with the approval.
		ob := &store.Business{Name: "other", UserID: other.ID, Introduce: "i", Objective: "o", Scale: "s"}
		if err := s.CreateBusiness(c, ob); err != nil {
			t.Fatal(err)
		}
		got, err = s.AuditBusiness(c, ob.ID, store.BusinessApproved, "ok", protocol.PodSecurityBaseline)
		if err != nil || got.PodSecurity != protocol.PodSecurityBaseline {
			t.Fatalf("approve with a level: %+v %v", got, err)
		}
		labels, _ = namespaceLabels(t, s, store.Namespace(ob.ID))
		wantLevel(t, labels, protocol.PodSecurityBaseline)
	})
}
