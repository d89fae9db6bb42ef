package registry

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/ote-stack/ote/hub/store"
)

// IndexStore is where the index of images and tags lives (the hub's store).
type IndexStore interface {
	PutTag(ctx context.Context, image, tag, digest string, at time.Time) error
	RemoveTags(ctx context.Context, image string, tags []string) error
	RemoveDigest(ctx context.Context, image, digest string) error
	SetTags(ctx context.Context, image string, tags map[string]string, at time.Time) error
	IndexedImages(ctx context.Context) ([]string, error)
}

// Indexer keeps the hub's index of images and tags in step with the
// registry: it hears the embedded registry's pushes and deletes as they
// happen (Observer) and reconciles the whole index with the registry's
// catalog on start and periodically, which also covers an external registry
// and anything missed while the hub was down.
type Indexer struct {
	Store  IndexStore
	Client *Client
	Logger *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

func (ix *Indexer) now() time.Time {
	if ix.Now != nil {
		return ix.Now()
	}
	return time.Now()
}

func (ix *Indexer) log() *slog.Logger {
	if ix.Logger != nil {
		return ix.Logger
	}
	return slog.Default()
}

// isDigest tells a digest reference ("sha256:...") from a tag.
func isDigest(ref string) bool { return strings.Contains(ref, ":") }

// ManifestPushed implements Observer.
func (ix *Indexer) ManifestPushed(ctx context.Context, name, ref, digest string) {
	if isDigest(ref) {
		return // an untagged manifest (an index's child, a referrer): not an image of the list
	}
	if err := ix.Store.PutTag(ctx, name, ref, digest, ix.now()); err != nil {
		ix.log().Warn("image index: push not recorded; the next resync will", "image", name, "tag", ref, "err", err)
	}
}

// ManifestDeleted implements Observer.
func (ix *Indexer) ManifestDeleted(ctx context.Context, name, ref string) {
	var err error
	if isDigest(ref) {
		err = ix.Store.RemoveDigest(ctx, name, ref)
	} else {
		err = ix.Store.RemoveTags(ctx, name, []string{ref})
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		ix.log().Warn("image index: delete not recorded; the next resync will", "image", name, "reference", ref, "err", err)
	}
}

// Reconcile makes the index what the registry holds: every repository of
// the catalog with its tags and their digests; indexed images the registry
// no longer has leave. Repositories outside any project are skipped.
func (ix *Indexer) Reconcile(ctx context.Context) error {
	repos, err := ix.Client.Catalog(ctx)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(repos))
	for _, name := range repos {
		seen[name] = true
		if err := ix.ReconcileImage(ctx, name); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var re *Error
			if errors.As(err, &re) {
				return err // the registry: stop, try again later
			}
			ix.log().Debug("image index: repository not indexed", "image", name, "err", err)
		}
	}
	indexed, err := ix.Store.IndexedImages(ctx)
	if err != nil {
		return err
	}
	for _, name := range indexed {
		if !seen[name] {
			if err := ix.Store.SetTags(ctx, name, nil, ix.now()); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReconcileImage sets the indexed tags of one image from the registry.
func (ix *Indexer) ReconcileImage(ctx context.Context, name string) error {
	tags, err := ix.Client.Tags(ctx, name)
	if err != nil {
		return err
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		d, err := ix.Client.Digest(ctx, name, t)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		m[t] = d
	}
	return ix.Store.SetTags(ctx, name, m, ix.now())
}

// Run reconciles now and then every interval until ctx ends; failures are
// logged and retried at the next tick.
func (ix *Indexer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		start := time.Now()
		if err := ix.Reconcile(ctx); err != nil && ctx.Err() == nil {
			ix.log().Warn("image index: reconcile with the registry failed", "err", err)
		} else if ctx.Err() == nil {
			ix.log().Debug("image index reconciled", "took", time.Since(start))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
