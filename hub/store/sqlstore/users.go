package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ote-stack/ote/hub/store"
)

// userRow is the gorm model of table users; it never leaves this package.
type userRow struct {
	ID              uint64 `gorm:"primaryKey"`
	UserName        string
	PasswordHash    string
	Phone           string
	RealName        string
	IsAdmin         bool
	IsSysAdmin      bool
	Status          int
	BusinessID      sql.NullInt64
	TokenGeneration int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (userRow) TableName() string { return "users" }

// userView is a user row joined with the status of its business.
type userView struct {
	Row            userRow `gorm:"embedded"`
	BusinessStatus sql.NullInt64
}

func (v *userView) toUser() *store.User {
	r := &v.Row
	u := &store.User{
		ID:              r.ID,
		Name:            r.UserName,
		PasswordHash:    []byte(r.PasswordHash),
		Phone:           r.Phone,
		RealName:        r.RealName,
		IsAdmin:         r.IsAdmin,
		IsSysAdmin:      r.IsSysAdmin,
		Status:          store.UserStatus(r.Status),
		TokenGeneration: r.TokenGeneration,
		CreatedAt:       r.CreatedAt,
		UpdatedAt:       r.UpdatedAt,
	}
	if r.BusinessID.Valid {
		u.BusinessID = uint64(r.BusinessID.Int64)
		u.BusinessStatus = store.BusinessStatus(v.BusinessStatus.Int64)
	}
	return u
}

func rowFromUser(u *store.User) *userRow {
	r := &userRow{
		ID:              u.ID,
		UserName:        u.Name,
		PasswordHash:    string(u.PasswordHash),
		Phone:           u.Phone,
		RealName:        u.RealName,
		IsAdmin:         u.IsAdmin,
		IsSysAdmin:      u.IsSysAdmin,
		Status:          int(u.Status),
		TokenGeneration: u.TokenGeneration,
	}
	if u.BusinessID != 0 {
		r.BusinessID = sql.NullInt64{Int64: int64(u.BusinessID), Valid: true}
	}
	return r
}

func (s *Store) users(ctx context.Context) *gorm.DB {
	return s.db.WithContext(ctx).Table("users").
		Select("users.*, businesses.status AS business_status").
		Joins("LEFT JOIN businesses ON businesses.id = users.business_id")
}

func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	r := rowFromUser(u)
	if err := s.db.WithContext(ctx).Create(r).Error; err != nil {
		return translate(err, fmt.Sprintf("create user %q", u.Name))
	}
	u.ID, u.CreatedAt, u.UpdatedAt = r.ID, r.CreatedAt, r.UpdatedAt
	return nil
}

func (s *Store) EnsureSysAdmin(ctx context.Context, u *store.User) (bool, error) {
	created := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.lockSysAdmins(tx); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&userRow{}).Where("is_sys_admin = ?", true).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		u.IsSysAdmin, u.IsAdmin, u.Status = true, true, store.UserApproved
		r := rowFromUser(u)
		if err := tx.Create(r).Error; err != nil {
			return err
		}
		u.ID, u.CreatedAt, u.UpdatedAt = r.ID, r.CreatedAt, r.UpdatedAt
		created = true
		return nil
	})
	return created, translate(err, fmt.Sprintf("create system administrator %q", u.Name))
}

func (s *Store) UserByID(ctx context.Context, id uint64) (*store.User, error) {
	var v userView
	err := s.users(ctx).Where("users.id = ?", id).Take(&v).Error
	if err != nil {
		return nil, translate(err, fmt.Sprintf("user %d", id))
	}
	return v.toUser(), nil
}

func (s *Store) UserByName(ctx context.Context, name string) (*store.User, error) {
	var v userView
	err := s.users(ctx).Where("users.user_name = ?", name).Take(&v).Error
	if err != nil {
		return nil, translate(err, fmt.Sprintf("user %q", name))
	}
	return v.toUser(), nil
}

func (s *Store) ListUsers(ctx context.Context, q store.UserQuery) ([]store.User, int64, error) {
	filter := func(db *gorm.DB) *gorm.DB {
		if q.BusinessID != 0 {
			return db.Where("users.business_id = ?", q.BusinessID)
		}
		return db
	}
	total, err := s.countUsers(ctx, q.BusinessID)
	if err != nil {
		return nil, 0, err
	}
	col := "users.id"
	if q.OrderBy == store.UserOrderName {
		col = "users.user_name"
	}
	db := filter(s.users(ctx)).Order(clause.OrderByColumn{Column: clause.Column{Name: col, Raw: true}, Desc: q.Desc})
	db = paginate(db, q.Page)
	var views []userView
	if err := db.Find(&views).Error; err != nil {
		return nil, 0, translate(err, "list users")
	}
	out := make([]store.User, len(views))
	for i := range views {
		out[i] = *views[i].toUser()
	}
	return out, total, nil
}

// countUsers reads the trigger-maintained user_counts (migration 2): all
// users, or those of one business.
func (s *Store) countUsers(ctx context.Context, businessID uint64) (int64, error) {
	db := s.db.WithContext(ctx).Table("user_counts")
	if businessID != 0 {
		db = db.Where("business_id = ?", businessID)
	}
	var total sql.NullInt64
	if err := db.Select("SUM(n)").Scan(&total).Error; err != nil {
		return 0, translate(err, "count users")
	}
	return total.Int64, nil
}

func (s *Store) SetUserPassword(ctx context.Context, id uint64, hash []byte) error {
	res := s.db.WithContext(ctx).Model(&userRow{}).Where("id = ?", id).Updates(map[string]any{
		"password_hash":    string(hash),
		"token_generation": gorm.Expr("token_generation + 1"),
		"updated_at":       s.db.NowFunc(),
	})
	return rowsAffected(res, fmt.Sprintf("user %d", id))
}

func (s *Store) SetUserStatus(ctx context.Context, id uint64, status store.UserStatus) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if status != store.UserApproved {
			if err := s.guardLastSysAdmin(tx, id); err != nil {
				return err
			}
		}
		res := tx.Model(&userRow{}).Where("id = ?", id).Updates(map[string]any{
			"status":     int(status),
			"updated_at": s.db.NowFunc(),
		})
		return rowsAffected(res, fmt.Sprintf("user %d", id))
	})
}

func (s *Store) DeleteUser(ctx context.Context, id uint64) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.guardLastSysAdmin(tx, id); err != nil {
			return err
		}
		if err := rowsAffected(tx.Where("id = ?", id).Delete(&userRow{}), fmt.Sprintf("user %d", id)); err != nil {
			return err
		}
		// The user's registry account goes with the user.
		return tx.Where("user_id = ?", id).Delete(&registryUserRow{}).Error
	})
}

// guardLastSysAdmin refuses a change that takes user id out of the set of
// approved system administrators when it is the only one left.
func (s *Store) guardLastSysAdmin(tx *gorm.DB, id uint64) error {
	if err := s.lockSysAdmins(tx); err != nil {
		return err
	}
	var ids []uint64
	err := tx.Model(&userRow{}).Where("is_sys_admin = ? AND status = ?", true, int(store.UserApproved)).
		Pluck("id", &ids).Error
	if err != nil {
		return err
	}
	if len(ids) == 1 && ids[0] == id {
		return fmt.Errorf("user %d: %w", id, store.ErrLastSysAdmin)
	}
	return nil
}

// lockSysAdmins serialises changes to the set of system administrators. SQLite
// transactions already hold the database's write lock (immediate mode); on
// PostgreSQL a transaction-scoped advisory lock does it.
func (s *Store) lockSysAdmins(tx *gorm.DB) error {
	if s.dialect != Postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?)", sysAdminLockKey).Error
}

const sysAdminLockKey = 0x07e5_ad01

func (s *Store) CountUsersByStatus(ctx context.Context, status store.UserStatus, upTo int) (int64, error) {
	q := s.db.WithContext(ctx).Model(&userRow{}).Select("1").Where("status = ?", int(status))
	if upTo > 0 {
		q = q.Limit(upTo)
	}
	var n int64
	if err := s.db.WithContext(ctx).Table("(?) AS u", q).Count(&n).Error; err != nil {
		return 0, translate(err, "count users")
	}
	return n, nil
}
