package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ote-stack/ote/hub/store"
)

type projectRow struct {
	ID         uint64 `gorm:"primaryKey"`
	Name       string
	BusinessID uint64
	Public     bool
	ImageCount int64 `gorm:"->;-:migration"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (projectRow) TableName() string { return "projects" }

func (r *projectRow) toProject() *store.Project {
	return &store.Project{ID: r.ID, Name: r.Name, BusinessID: r.BusinessID, Public: r.Public, ImageCount: r.ImageCount,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type imageRow struct {
	ID        uint64 `gorm:"primaryKey"`
	ProjectID uint64
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (imageRow) TableName() string { return "images" }

func (r *imageRow) toImage() *store.Image {
	return &store.Image{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type tagRow struct {
	ImageID   uint64 `gorm:"primaryKey"`
	Tag       string `gorm:"primaryKey"`
	Digest    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (tagRow) TableName() string { return "image_tags" }

type registryUserRow struct {
	UserID         uint64 `gorm:"primaryKey;autoIncrement:false"`
	Name           string
	PasswordSealed string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (registryUserRow) TableName() string { return "registry_users" }

func (r *registryUserRow) toRegistryUser() *store.RegistryUser {
	return &store.RegistryUser{UserID: r.UserID, Name: r.Name, PasswordSealed: r.PasswordSealed, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

const projectColumns = "projects.*, (SELECT COUNT(*) FROM images WHERE images.project_id = projects.id) AS image_count"

func (s *Store) CreateProject(ctx context.Context, p *store.Project) error {
	row := &projectRow{Name: p.Name, BusinessID: p.BusinessID, Public: p.Public}
	if err := s.db.WithContext(ctx).Create(row).Error; err != nil {
		return translate(err, fmt.Sprintf("project %q", p.Name))
	}
	*p = *row.toProject()
	return nil
}

func (s *Store) ProjectByName(ctx context.Context, name string) (*store.Project, error) {
	var r projectRow
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("project %q", name))
	}
	return r.toProject(), nil
}

func (s *Store) ListProjects(ctx context.Context, q store.ProjectQuery) ([]store.Project, int64, error) {
	db := s.db.WithContext(ctx).Model(&projectRow{})
	if q.Business != store.AnyBusiness {
		db = db.Where("business_id = ? OR public = ?", q.Business, true)
	}
	if q.Public != nil {
		db = db.Where("public = ?", *q.Public)
	}
	db = matchName(db, "name", q.Name, store.MatchPartial)
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, translate(err, "count projects")
	}
	var rows []projectRow
	err := paginate(db.Select(projectColumns).Order(clause.OrderByColumn{Column: clause.Column{Name: "id"}, Desc: q.Desc}), q.Page).Find(&rows).Error
	if err != nil {
		return nil, 0, translate(err, "list projects")
	}
	out := make([]store.Project, len(rows))
	for i := range rows {
		out[i] = *rows[i].toProject()
	}
	return out, total, nil
}

func (s *Store) DeleteProjects(ctx context.Context, business uint64, ids []uint64) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ids = uniqIDs(ids)
		var rows []projectRow
		if err := tx.Select(projectColumns).Where("id IN ?", ids).Find(&rows).Error; err != nil {
			return err
		}
		found := map[uint64]*projectRow{}
		for i := range rows {
			found[rows[i].ID] = &rows[i]
		}
		for _, id := range ids {
			r := found[id]
			if r == nil || (business != store.AnyBusiness && r.BusinessID != business) {
				return fmt.Errorf("project %d: %w", id, store.ErrNotFound)
			}
			if r.ImageCount > 0 {
				return fmt.Errorf("project %q still holds %d images; delete them first: %w", r.Name, r.ImageCount, store.ErrInUse)
			}
		}
		return tx.Where("id IN ?", ids).Delete(&projectRow{}).Error
	})
}

func (s *Store) CreateRegistryUser(ctx context.Context, u *store.RegistryUser) error {
	row := &registryUserRow{UserID: u.UserID, Name: u.Name, PasswordSealed: u.PasswordSealed}
	if err := s.db.WithContext(ctx).Create(row).Error; err != nil {
		return translate(err, fmt.Sprintf("registry user %q", u.Name))
	}
	*u = *row.toRegistryUser()
	return nil
}

func (s *Store) RegistryUser(ctx context.Context, userID uint64) (*store.RegistryUser, error) {
	var r registryUserRow
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("registry account of user %d", userID))
	}
	return r.toRegistryUser(), nil
}

func (s *Store) RegistryUserByName(ctx context.Context, name string) (*store.RegistryUser, error) {
	var r registryUserRow
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("registry user %q", name))
	}
	return r.toRegistryUser(), nil
}

func (s *Store) SetRegistryUserPassword(ctx context.Context, userID uint64, sealed string) error {
	res := s.db.WithContext(ctx).Model(&registryUserRow{}).Where("user_id = ?", userID).
		Updates(map[string]any{"password_sealed": sealed, "updated_at": time.Now().UTC()})
	return rowsAffected(res, fmt.Sprintf("registry account of user %d", userID))
}

// projectOf is the project of an image name: its first component.
func projectOf(image string) string {
	p, _, _ := strings.Cut(image, "/")
	return p
}

// imageFor finds image, creating it (in project) at time at when missing.
func imageFor(tx *gorm.DB, image string, at time.Time) (*imageRow, error) {
	var p projectRow
	if err := tx.Where("name = ?", projectOf(image)).Take(&p).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("project of image %q", image))
	}
	row := &imageRow{ProjectID: p.ID, Name: image, CreatedAt: at, UpdatedAt: at}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error; err != nil {
		return nil, err
	}
	var r imageRow
	if err := tx.Where("name = ?", image).Take(&r).Error; err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Store) PutTag(ctx context.Context, image, tag, digest string, at time.Time) error {
	at = at.UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		img, err := imageFor(tx, image, at)
		if err != nil {
			return err
		}
		return putTag(tx, img.ID, tag, digest, at)
	})
}

func putTag(tx *gorm.DB, imageID uint64, tag, digest string, at time.Time) error {
	row := &tagRow{ImageID: imageID, Tag: tag, Digest: digest, CreatedAt: at, UpdatedAt: at}
	err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "image_id"}, {Name: "tag"}},
		DoUpdates: clause.AssignmentColumns([]string{"digest", "updated_at"}),
	}).Create(row).Error
	if err != nil {
		return err
	}
	return tx.Model(&imageRow{}).Where("id = ?", imageID).Update("updated_at", at).Error
}

func (s *Store) RemoveTags(ctx context.Context, image string, tags []string) error {
	return s.removeTagsWhere(ctx, image, "tag IN ?", tags)
}

func (s *Store) RemoveDigest(ctx context.Context, image, digest string) error {
	return s.removeTagsWhere(ctx, image, "digest = ?", digest)
}

func (s *Store) removeTagsWhere(ctx context.Context, image, cond string, arg any) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var img imageRow
		if err := tx.Where("name = ?", image).Take(&img).Error; err != nil {
			return translate(err, fmt.Sprintf("image %q", image))
		}
		if err := tx.Where("image_id = ?", img.ID).Where(cond, arg).Delete(&tagRow{}).Error; err != nil {
			return err
		}
		return dropIfUntagged(tx, img.ID)
	})
}

// dropIfUntagged removes an image without tags from the index.
func dropIfUntagged(tx *gorm.DB, imageID uint64) error {
	var n int64
	if err := tx.Model(&tagRow{}).Where("image_id = ?", imageID).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return tx.Where("id = ?", imageID).Delete(&imageRow{}).Error
}

func (s *Store) SetTags(ctx context.Context, image string, tags map[string]string, at time.Time) error {
	at = at.UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var img imageRow
		err := tx.Where("name = ?", image).Take(&img).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			if len(tags) == 0 {
				return nil // not indexed, nothing to index
			}
			created, err := imageFor(tx, image, at)
			if err != nil {
				return err
			}
			img = *created
		} else if err != nil {
			return err
		}
		tags := maps.Clone(tags)
		var have []tagRow
		if err := tx.Where("image_id = ?", img.ID).Find(&have).Error; err != nil {
			return err
		}
		var gone []string
		for _, t := range have {
			d, ok := tags[t.Tag]
			if !ok {
				gone = append(gone, t.Tag)
				continue
			}
			if d == t.Digest {
				delete(tags, t.Tag)
			}
		}
		if len(gone) > 0 {
			if err := tx.Where("image_id = ? AND tag IN ?", img.ID, gone).Delete(&tagRow{}).Error; err != nil {
				return err
			}
		}
		for tag, digest := range tags {
			if err := putTag(tx, img.ID, tag, digest, at); err != nil {
				return err
			}
		}
		return dropIfUntagged(tx, img.ID)
	})
}

func (s *Store) IndexedImages(ctx context.Context) ([]string, error) {
	var names []string
	err := s.db.WithContext(ctx).Model(&imageRow{}).Order("name").Pluck("name", &names).Error
	return names, err
}

func (s *Store) Image(ctx context.Context, name string) (*store.Image, error) {
	var r imageRow
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("image %q", name))
	}
	return r.toImage(), nil
}

func (s *Store) ListImages(ctx context.Context, q store.ImageQuery) ([]store.Image, int64, error) {
	db := s.db.WithContext(ctx).Model(&imageRow{}).Where("project_id = ?", q.ProjectID)
	db = matchName(db, "name", q.Name, store.MatchPartial)
	return listPage(db, q.Page, q.Desc, "images", (*imageRow).toImage)
}

func (s *Store) ListTags(ctx context.Context, image string, p store.Page) ([]store.Tag, int64, error) {
	img, err := s.Image(ctx, image)
	if err != nil {
		return nil, 0, err
	}
	db := s.db.WithContext(ctx).Model(&tagRow{}).Where("image_id = ?", img.ID)
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, translate(err, "count tags")
	}
	var rows []tagRow
	if err := paginate(db.Order("updated_at DESC, tag"), p).Find(&rows).Error; err != nil {
		return nil, 0, translate(err, "list tags")
	}
	out := make([]store.Tag, len(rows))
	for i, r := range rows {
		out[i] = store.Tag{Tag: r.Tag, Digest: r.Digest, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	}
	return out, total, nil
}

func (s *Store) TagDigests(ctx context.Context, image string) (map[string]string, error) {
	img, err := s.Image(ctx, image)
	if err != nil {
		return nil, err
	}
	var rows []tagRow
	if err := s.db.WithContext(ctx).Where("image_id = ?", img.ID).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Tag] = r.Digest
	}
	return out, nil
}
