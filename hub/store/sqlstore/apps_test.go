package sqlstore_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

func TestAppsStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := ctx(t)
		mk := func(business uint64, name, version string) *store.App {
			a := &store.App{BusinessID: business, Name: name, Version: version, Kind: store.AppContainer, DeployType: "deployment", Spec: []byte(`{"image":"x:1"}`)}
			must(t, s.CreateApp(c, a, nil))
			return a
		}
		a := mk(1, "web", "1.0")
		if a.ID == 0 || a.CreatedAt.IsZero() || string(a.Spec) != `{"image":"x:1"}` {
			t.Fatalf("created %+v", a)
		}
		if err := s.CreateApp(c, &store.App{BusinessID: 1, Name: "web", Version: "1.0", Kind: store.AppContainer}, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate: %v", err)
		}
		mk(1, "web_x", "1.0")
		mk(1, "my-web", "1.0")
		b := mk(2, "web", "1.0")
		list := func(q store.AppQuery) string {
			apps, total, err := s.ListApps(c, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, a := range apps {
				out = append(out, fmt.Sprintf("%d:%s", a.BusinessID, a.Name))
			}
			return fmt.Sprint(total, out)
		}
		for q, want := range map[store.AppQuery]string{
			{BusinessID: 1, Name: "web", NameMode: store.MatchStrict}:  "1 [1:web]",
			{BusinessID: 1, Name: "web_", NameMode: store.MatchPrefix}: "1 [1:web_x]",
			{BusinessID: 1, Name: "web", NameMode: store.MatchPartial}: "3 [1:web 1:web_x 1:my-web]",
			{Name: "web", NameMode: store.MatchStrict}:                 "2 [1:web 2:web]",
			{BusinessID: 1, Page: store.Page{Offset: 1, Limit: 1}}:     "3 [1:web_x]",
			{BusinessID: 1, Version: "2.0"}:                            "0 []",
		} {
			if got := list(q); got != want {
				t.Errorf("%+v: %s, want %s", q, got, want)
			}
		}
		if err := s.DeleteApps(c, 1, []uint64{a.ID, b.ID}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete across businesses: %v", err)
		}
		if _, err := s.AppByID(c, a.ID); err != nil {
			t.Fatal("a refused delete removed an app")
		}
		must(t, s.DeleteApps(c, 1, []uint64{a.ID, a.ID}))
		if _, err := s.AppByID(c, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted app: %v", err)
		}

		// Chart archives are stored once per digest.
		chart := []byte("archive bytes")
		for i, v := range []string{"1.0", "1.1"} {
			ca := &store.App{BusinessID: 1, Name: "chart", Version: v, Kind: store.AppChart, DeployType: "helm", ChartDigest: "sha256:abc", ChartSize: int64(len(chart))}
			if err := s.CreateApp(c, ca, chart); err != nil {
				t.Fatalf("chart app %d: %v", i, err)
			}
		}
		got, err := s.Chart(c, "sha256:abc")
		if err != nil || string(got) != "archive bytes" {
			t.Fatalf("chart: %q %v", got, err)
		}
		if _, err := s.Chart(c, "sha256:nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing chart: %v", err)
		}
	})
}
