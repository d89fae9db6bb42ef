package sqlstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ote-stack/ote/hub/store"
)

// appRow is the gorm model of table apps.
type appRow struct {
	ID           uint64 `gorm:"primaryKey"`
	BusinessID   uint64
	Name         string
	Version      string
	Kind         string
	DeployType   string
	Spec         string
	ChartDigest  string
	ChartName    string
	ChartVersion string
	ChartSize    int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (appRow) TableName() string { return "apps" }

func (r *appRow) toApp() *store.App {
	return &store.App{
		ID: r.ID, BusinessID: r.BusinessID, Name: r.Name, Version: r.Version, Kind: store.AppKind(r.Kind),
		DeployType: r.DeployType, Spec: []byte(r.Spec), ChartDigest: r.ChartDigest, ChartName: r.ChartName,
		ChartVersion: r.ChartVersion, ChartSize: r.ChartSize, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// chartRow is the gorm model of table chart_archives.
type chartRow struct {
	Digest    string `gorm:"primaryKey"`
	Data      []byte
	CreatedAt time.Time
}

func (chartRow) TableName() string { return "chart_archives" }

func (s *Store) CreateApp(ctx context.Context, a *store.App, chart []byte) error {
	r := &appRow{
		BusinessID: a.BusinessID, Name: a.Name, Version: a.Version, Kind: string(a.Kind), DeployType: a.DeployType,
		Spec: string(a.Spec), ChartDigest: a.ChartDigest, ChartName: a.ChartName, ChartVersion: a.ChartVersion, ChartSize: a.ChartSize,
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(chart) > 0 {
			// Archives are content-addressed: the same chart uploaded twice
			// is stored once.
			err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&chartRow{Digest: a.ChartDigest, Data: chart}).Error
			if err != nil {
				return err
			}
		}
		return tx.Create(r).Error
	})
	if err != nil {
		return translate(err, fmt.Sprintf("create app %s %s", a.Name, a.Version))
	}
	*a = *r.toApp()
	return nil
}

func (s *Store) AppByID(ctx context.Context, id uint64) (*store.App, error) {
	var r appRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("app %d", id))
	}
	return r.toApp(), nil
}

func (s *Store) ListApps(ctx context.Context, q store.AppQuery) ([]store.App, int64, error) {
	db := s.db.WithContext(ctx).Model(&appRow{})
	if q.BusinessID != 0 {
		db = db.Where("business_id = ?", q.BusinessID)
	}
	db = matchName(db, "name", q.Name, q.NameMode)
	if q.Version != "" {
		db = db.Where("version = ?", q.Version)
	}
	return listPage(db, q.Page, false, "apps", (*appRow).toApp)
}

func (s *Store) DeleteApps(ctx context.Context, business uint64, ids []uint64) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ids = uniqIDs(ids)
		q := tx.Where("id IN ?", ids)
		if business != 0 {
			q = q.Where("business_id = ?", business)
		}
		var found []appRow
		if err := q.Find(&found).Error; err != nil {
			return err
		}
		if len(found) != len(ids) {
			have := map[uint64]bool{}
			for _, a := range found {
				have[a.ID] = true
			}
			for _, id := range ids {
				if !have[id] {
					return fmt.Errorf("app %d: %w", id, store.ErrNotFound)
				}
			}
		}
		for _, a := range found {
			var n int64
			err := tx.Model(&deployRow{}).Where("business_id = ? AND app_name = ? AND version = ? AND status NOT IN ?",
				a.BusinessID, a.Name, a.Version, []int{int(store.DeployDeleted), int(store.DeployDisapproved)}).Count(&n).Error
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("application %s version %s: %w", a.Name, a.Version, store.ErrInUse)
			}
		}
		return tx.Where("id IN ?", ids).Delete(&appRow{}).Error
	})
}

func (s *Store) Chart(ctx context.Context, digest string) ([]byte, error) {
	var r chartRow
	if err := s.db.WithContext(ctx).Where("digest = ?", digest).Take(&r).Error; err != nil {
		return nil, translate(err, "chart "+digest)
	}
	return r.Data, nil
}

func uniqIDs(in []uint64) []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	for _, id := range in {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
