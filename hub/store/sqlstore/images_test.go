package sqlstore_test

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

func tagsOf(t *testing.T, s *sqlstore.Store, image string) map[string]string {
	t.Helper()
	m, err := s.TagDigests(ctx(t), image)
	if err != nil {
		t.Fatalf("tags of %s: %v", image, err)
	}
	return m
}

func TestImageIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		alpha := &store.Project{Name: "alpha", BusinessID: 1}
		pub := &store.Project{Name: "pub", BusinessID: 0, Public: true}
		beta := &store.Project{Name: "beta", BusinessID: 2}
		for _, p := range []*store.Project{alpha, pub, beta} {
			if err := s.CreateProject(c, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateProject(c, &store.Project{Name: "alpha", BusinessID: 2}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate project: %v", err)
		}

		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		// A push outside any project is not indexed.
		if err := s.PutTag(c, "nowhere/x", "v1", "sha256:a", t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("tag outside a project: %v", err)
		}
		if err := s.PutTag(c, "alpha/web", "v1", "sha256:a", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTag(c, "alpha/web", "v2", "sha256:b", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTag(c, "alpha/web", "v1", "sha256:c", t0.Add(2*time.Minute)); err != nil { // retag
			t.Fatal(err)
		}
		if err := s.PutTag(c, "alpha/api/v2", "latest", "sha256:d", t0); err != nil {
			t.Fatal(err)
		}
		if got := tagsOf(t, s, "alpha/web"); !maps.Equal(got, map[string]string{"v1": "sha256:c", "v2": "sha256:b"}) {
			t.Fatalf("tags %v", got)
		}
		img, err := s.Image(c, "alpha/web")
		if err != nil || !img.CreatedAt.Equal(t0) || !img.UpdatedAt.Equal(t0.Add(2*time.Minute)) || img.ProjectID != alpha.ID {
			t.Fatalf("image %+v %v", img, err)
		}
		tags, total, err := s.ListTags(c, "alpha/web", store.Page{Limit: 1})
		if err != nil || total != 2 || len(tags) != 1 || tags[0].Tag != "v1" || !tags[0].CreatedAt.Equal(t0) {
			t.Fatalf("newest tag: %+v total %d %v", tags, total, err)
		}

		// Images of a project, filtered and paged; imageCount per project.
		imgs, total, err := s.ListImages(c, store.ImageQuery{ProjectID: alpha.ID, Name: "web"})
		if err != nil || total != 1 || imgs[0].Name != "alpha/web" {
			t.Fatalf("images filtered: %+v %d %v", imgs, total, err)
		}
		imgs, total, err = s.ListImages(c, store.ImageQuery{ProjectID: alpha.ID, Desc: true, Page: store.Page{Limit: 1}})
		if err != nil || total != 2 || len(imgs) != 1 || imgs[0].Name != "alpha/api/v2" {
			t.Fatalf("images page: %+v %d %v", imgs, total, err)
		}
		// Business 1 sees its project and the public one; all see all.
		ps, total, err := s.ListProjects(c, store.ProjectQuery{Business: 1})
		if err != nil || total != 2 || ps[0].Name != "alpha" || ps[0].ImageCount != 2 || ps[1].Name != "pub" {
			t.Fatalf("projects of business 1: %+v %d %v", ps, total, err)
		}
		if _, total, _ := s.ListProjects(c, store.ProjectQuery{Business: store.AnyBusiness}); total != 3 {
			t.Fatalf("all projects: %d", total)
		}
		yes := true
		if ps, _, _ := s.ListProjects(c, store.ProjectQuery{Business: store.AnyBusiness, Public: &yes}); len(ps) != 1 || ps[0].Name != "pub" {
			t.Fatalf("public projects: %+v", ps)
		}

		// Removing tags; the last one takes the image with it.
		if err := s.RemoveTags(c, "alpha/web", []string{"v2"}); err != nil {
			t.Fatal(err)
		}
		if got := tagsOf(t, s, "alpha/web"); !maps.Equal(got, map[string]string{"v1": "sha256:c"}) {
			t.Fatalf("after untag: %v", got)
		}
		if err := s.RemoveDigest(c, "alpha/web", "sha256:c"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Image(c, "alpha/web"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("untagged image still indexed: %v", err)
		}

		// Reconcile: exactly the registry's tags; times kept for the unchanged.
		if err := s.SetTags(c, "alpha/api/v2", map[string]string{"latest": "sha256:d", "1.0": "sha256:e"}, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		tags, _, _ = s.ListTags(c, "alpha/api/v2", store.Page{})
		for _, tg := range tags {
			if tg.Tag == "latest" && !tg.UpdatedAt.Equal(t0) {
				t.Fatalf("unchanged tag's time moved: %+v", tg)
			}
		}
		if err := s.SetTags(c, "beta/new", map[string]string{"x": "sha256:f"}, t0); err != nil {
			t.Fatal(err)
		}
		names, _ := s.IndexedImages(c)
		if !slices.Equal(names, []string{"alpha/api/v2", "beta/new"}) {
			t.Fatalf("indexed %v", names)
		}

		// Projects with images are not deleted; others are, all or none.
		err = s.DeleteProjects(c, 1, []uint64{alpha.ID})
		if !errors.Is(err, store.ErrInUse) {
			t.Fatalf("delete a project with images: %v", err)
		}
		if err := s.DeleteProjects(c, 1, []uint64{pub.ID}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete another business's project: %v", err)
		}
		if err := s.SetTags(c, "alpha/api/v2", nil, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteProjects(c, 1, []uint64{alpha.ID, 999}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete with a missing id: %v", err)
		}
		if err := s.DeleteProjects(c, store.AnyBusiness, []uint64{alpha.ID, pub.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ProjectByName(c, "alpha"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted project: %v", err)
		}
	})
}

func TestRegistryUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		u := newUser(t, s, "alice", nil)
		v := newUser(t, s, "bob", nil)
		if err := s.CreateRegistryUser(c, &store.RegistryUser{UserID: u.ID, Name: "alice-reg", PasswordSealed: "v1:x"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRegistryUser(c, &store.RegistryUser{UserID: u.ID, Name: "other", PasswordSealed: "v1:x"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second account: %v", err)
		}
		if err := s.CreateRegistryUser(c, &store.RegistryUser{UserID: v.ID, Name: "alice-reg", PasswordSealed: "v1:x"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("taken name: %v", err)
		}
		if err := s.SetRegistryUserPassword(c, u.ID, "v1:y"); err != nil {
			t.Fatal(err)
		}
		if ru, err := s.RegistryUserByName(c, "alice-reg"); err != nil || ru.UserID != u.ID || ru.PasswordSealed != "v1:y" {
			t.Fatalf("by name: %+v %v", ru, err)
		}
		if err := s.SetRegistryUserPassword(c, v.ID, "v1:z"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("password of no account: %v", err)
		}
		// The account goes with its user.
		if err := s.DeleteUser(c, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RegistryUserByName(c, "alice-reg"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("account of a deleted user: %v", err)
		}
	})
}
