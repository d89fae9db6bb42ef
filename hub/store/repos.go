package store

import (
	"context"
	"time"
)

// Repos are the businesses' external ("third") image repositories whose
// credentials pull images of their applications.
type Repos interface {
	// CreateRepo inserts r; ErrConflict when the business has the id.
	CreateRepo(ctx context.Context, r *Repo) error
	Repo(ctx context.Context, business uint64, repoID string) (*Repo, error)
	ListRepos(ctx context.Context, business uint64, desc bool, p Page) ([]Repo, int64, error)
	// DeleteRepos removes repositories of business; ErrNotFound, and
	// nothing removed, when one does not exist.
	DeleteRepos(ctx context.Context, business uint64, repoIDs []string) error
	// RewriteDeploy replaces the workload of a live deployment (its
	// spec changed without a new version, e.g. new pull credentials).
	RewriteDeploy(ctx context.Context, deployID uint64, spec []byte) error
}

// Repo is an external repository. PasswordSealed is the password sealed by
// the hub's secret key; the plain password is never stored.
type Repo struct {
	ID             uint64
	BusinessID     uint64
	RepoID         string
	Address        string
	User           string
	PasswordSealed string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}
