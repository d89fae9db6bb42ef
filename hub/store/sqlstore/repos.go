package sqlstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/ote-stack/ote/hub/store"
)

type repoRow struct {
	ID             uint64 `gorm:"primaryKey"`
	BusinessID     uint64
	RepoID         string
	Address        string
	Username       string
	PasswordSealed string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (repoRow) TableName() string { return "repos" }

func (r *repoRow) toRepo() *store.Repo {
	return &store.Repo{ID: r.ID, BusinessID: r.BusinessID, RepoID: r.RepoID, Address: r.Address, User: r.Username,
		PasswordSealed: r.PasswordSealed, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func (s *Store) CreateRepo(ctx context.Context, r *store.Repo) error {
	row := &repoRow{BusinessID: r.BusinessID, RepoID: r.RepoID, Address: r.Address, Username: r.User, PasswordSealed: r.PasswordSealed}
	if err := s.db.WithContext(ctx).Create(row).Error; err != nil {
		return translate(err, fmt.Sprintf("repository %q", r.RepoID))
	}
	*r = *row.toRepo()
	return nil
}

func (s *Store) Repo(ctx context.Context, business uint64, repoID string) (*store.Repo, error) {
	var r repoRow
	if err := s.db.WithContext(ctx).Where("business_id = ? AND repo_id = ?", business, repoID).Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("repository %q", repoID))
	}
	return r.toRepo(), nil
}

func (s *Store) ListRepos(ctx context.Context, business uint64, desc bool, p store.Page) ([]store.Repo, int64, error) {
	db := s.db.WithContext(ctx).Model(&repoRow{}).Where("business_id = ?", business)
	return listPage(db, p, desc, "repositories", (*repoRow).toRepo)
}

func (s *Store) DeleteRepos(ctx context.Context, business uint64, repoIDs []string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ids := uniq(repoIDs)
		var found []string
		if err := tx.Model(&repoRow{}).Where("business_id = ? AND repo_id IN ?", business, ids).Pluck("repo_id", &found).Error; err != nil {
			return err
		}
		if missing := missingOf(ids, found); len(missing) > 0 {
			return fmt.Errorf("repository %q: %w", missing[0], store.ErrNotFound)
		}
		return tx.Where("business_id = ? AND repo_id IN ?", business, ids).Delete(&repoRow{}).Error
	})
}

func (s *Store) RewriteDeploy(ctx context.Context, deployID uint64, spec []byte) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		_, err := s.rewriteDeploy(tx, deployID, 0, spec)
		return err
	})
}

// rewriteDeploy replaces the workload of a live deployment (of business,
// when not 0) in tx and reports whether it wrote one.
func (s *Store) rewriteDeploy(tx *gorm.DB, deployID, business uint64, spec []byte) (bool, error) {
	var d deployRow
	if err := tx.Where("id = ?", deployID).Take(&d).Error; err != nil {
		return false, translate(err, fmt.Sprintf("deployment %d", deployID))
	}
	if business != 0 && d.BusinessID != business {
		return false, fmt.Errorf("deployment %d is not of business %d: %w", deployID, business, store.ErrNotFound)
	}
	if d.Spec == "" || d.Status == int(store.DeployDeleted) || d.Spec == string(spec) {
		return false, nil
	}
	d.Spec = string(spec)
	if err := tx.Model(&deployRow{}).Where("id = ?", d.ID).Update("spec", d.Spec).Error; err != nil {
		return false, err
	}
	return true, s.writeWorkload(tx, &d)
}
