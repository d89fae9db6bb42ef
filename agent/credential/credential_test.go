package credential

import (
	"context"
	"errors"
	"testing"

	"github.com/ote-stack/ote/test/harness"
)

func TestSaveAndLoad(t *testing.T) {
	api := harness.Start(t)
	s := New(api.Clientset(), "ote-system", "cred")
	ctx := context.Background()
	if c, err := s.Load(ctx, "edge-1"); err != nil || c != "" {
		t.Fatalf("before save: %q %v", c, err)
	}
	// The namespace does not exist yet: Save creates it.
	if err := s.Save(ctx, "edge-1", "otec_first"); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "edge-1", "otec_second"); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Load(ctx, "edge-1"); err != nil || c != "otec_second" {
		t.Fatalf("load: %q %v", c, err)
	}
	if _, err := s.Load(ctx, "edge-2"); !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("another cluster's secret: %v", err)
	}
}
