package sqlstore

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ote-stack/ote/hub/store"
)

type auditRow struct {
	ID         uint64 `gorm:"primaryKey"`
	At         time.Time
	UserID     uint64
	UserName   string
	Role       int
	BusinessID uint64
	Action     string
	Target     string
	Detail     string
	Status     int
	Result     string
	Address    string
}

func (auditRow) TableName() string { return "audit_log" }

func (r *auditRow) toEntry() *store.AuditEntry {
	return &store.AuditEntry{ID: r.ID, At: r.At, UserID: r.UserID, UserName: r.UserName, Role: store.Role(r.Role),
		BusinessID: r.BusinessID, Action: r.Action, Target: r.Target, Detail: r.Detail, Status: r.Status,
		Result: r.Result, Address: r.Address}
}

// Column widths of audit_log: longer values are cut, never refused, so that
// a write is recorded whatever it carried.
const (
	auditTargetMax = 512
	auditResultMax = 512
	auditNameMax   = 64
)

func (s *Store) RecordAudit(ctx context.Context, e *store.AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.db.NowFunc()
	}
	row := &auditRow{At: e.At, UserID: e.UserID, UserName: cut(e.UserName, auditNameMax), Role: int(e.Role),
		BusinessID: e.BusinessID, Action: cut(e.Action, auditNameMax), Target: cut(e.Target, auditTargetMax),
		Detail: e.Detail, Status: e.Status, Result: cut(e.Result, auditResultMax), Address: cut(e.Address, auditNameMax)}
	if err := s.db.WithContext(ctx).Create(row).Error; err != nil {
		return translate(err, "record audit entry")
	}
	e.ID = row.ID
	return nil
}

func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, int64, error) {
	db := s.db.WithContext(ctx).Model(&auditRow{})
	if q.BusinessID != 0 {
		db = db.Where("business_id = ?", q.BusinessID)
	}
	if q.UserName != "" {
		db = db.Where("user_name = ?", q.UserName)
	}
	if a, ok := strings.CutSuffix(q.Action, "."); ok {
		db = matchName(db, "action", a+".", store.MatchPrefix)
	} else if q.Action != "" {
		db = db.Where("action = ?", q.Action)
	}
	if !q.From.IsZero() {
		db = db.Where("at >= ?", q.From)
	}
	if !q.To.IsZero() {
		db = db.Where("at <= ?", q.To)
	}
	return listPage(db, q.Page, !q.Asc, "audit entries", (*auditRow).toEntry)
}

func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("at < ?", before).Delete(&auditRow{})
	if res.Error != nil {
		return 0, translate(res.Error, "prune audit entries")
	}
	return res.RowsAffected, nil
}

// cut shortens s to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
