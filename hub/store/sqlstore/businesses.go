package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// businessRow is the gorm model of table businesses.
type businessRow struct {
	ID          uint64 `gorm:"primaryKey"`
	Name        string
	UserID      uint64
	Introduce   string
	Objective   string
	Scale       string
	Comment     string
	Status      int
	PodSecurity string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (businessRow) TableName() string { return "businesses" }

func (r *businessRow) toBusiness() *store.Business {
	return &store.Business{
		ID: r.ID, Name: r.Name, UserID: r.UserID,
		Introduce: r.Introduce, Objective: r.Objective, Scale: r.Scale,
		Comment: r.Comment, Status: store.BusinessStatus(r.Status), PodSecurity: r.PodSecurity,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// BusinessLabel marks a business's namespace with the business id.
const BusinessLabel = "ote-stack.io/business-id"

func (s *Store) CreateBusiness(ctx context.Context, b *store.Business) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var owner userView
		q := tx.Table("users").Select("users.*, businesses.status AS business_status").
			Joins("LEFT JOIN businesses ON businesses.id = users.business_id").
			Where("users.id = ?", b.UserID)
		if s.dialect == Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Table: clause.Table{Name: "users"}})
		}
		if err := q.Take(&owner).Error; err != nil {
			return translate(err, fmt.Sprintf("owner %d", b.UserID))
		}
		if owner.Row.BusinessID.Valid {
			switch store.BusinessStatus(owner.BusinessStatus.Int64) {
			case store.BusinessPending, store.BusinessApproved:
				return fmt.Errorf("user %d owns business %d: %w", b.UserID, owner.Row.BusinessID.Int64, store.ErrHasBusiness)
			}
		}
		r := &businessRow{
			Name: b.Name, UserID: b.UserID, Introduce: b.Introduce, Objective: b.Objective,
			Scale: b.Scale, Status: int(store.BusinessPending), PodSecurity: b.PodSecurity,
		}
		if r.PodSecurity == "" {
			r.PodSecurity = protocol.PodSecurityRestricted
		}
		if err := tx.Create(r).Error; err != nil {
			return translate(err, fmt.Sprintf("create business %q", b.Name))
		}
		res := tx.Model(&userRow{}).Where("id = ?", b.UserID).Updates(map[string]any{
			"business_id": r.ID,
			"updated_at":  s.db.NowFunc(),
		})
		if err := rowsAffected(res, fmt.Sprintf("owner %d", b.UserID)); err != nil {
			return err
		}
		*b = *r.toBusiness()
		return nil
	})
	return err
}

func (s *Store) BusinessByID(ctx context.Context, id uint64) (*store.Business, error) {
	var r businessRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("business %d", id))
	}
	return r.toBusiness(), nil
}

func (s *Store) ListBusinesses(ctx context.Context, q store.BusinessQuery) ([]store.Business, int64, error) {
	db := s.db.WithContext(ctx).Model(&businessRow{})
	if q.OnlyID != 0 {
		db = db.Where("id = ?", q.OnlyID)
	}
	db = matchName(db, "name", q.NameContains, store.MatchPartial)
	return listPage(db, q.Page, q.Desc, "businesses", (*businessRow).toBusiness)
}

// AuditBusiness moves a business from pending (or disapproved) to approved or
// disapproved. An approved business is final: taking approval back would orphan
// the workloads in its namespace, so it is refused with ErrAlreadyAudited.
func (s *Store) AuditBusiness(ctx context.Context, id uint64, status store.BusinessStatus, comment, podSecurity string) (*store.Business, error) {
	var out *store.Business
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r, err := s.lockBusiness(tx, id)
		if err != nil {
			return err
		}
		if store.BusinessStatus(r.Status) == store.BusinessApproved || store.BusinessStatus(r.Status) == store.BusinessDeleted {
			return fmt.Errorf("business %d has status %d: %w", id, r.Status, store.ErrAlreadyAudited)
		}
		r.Status, r.Comment, r.UpdatedAt = int(status), comment, s.db.NowFunc()
		if podSecurity != "" {
			r.PodSecurity = podSecurity
		}
		res := tx.Model(&businessRow{}).Where("id = ?", id).Updates(map[string]any{
			"status": r.Status, "comment": r.Comment, "pod_security": r.PodSecurity, "updated_at": r.UpdatedAt,
		})
		if err := rowsAffected(res, fmt.Sprintf("business %d", id)); err != nil {
			return err
		}
		if status == store.BusinessApproved {
			if err := putNamespace(tx, r); err != nil {
				return err
			}
		}
		out = r.toBusiness()
		return nil
	})
	return out, err
}

func (s *Store) SetBusinessPodSecurity(ctx context.Context, id uint64, podSecurity string, workloads map[uint64][]byte) (*store.Business, bool, error) {
	var out *store.Business
	var wrote bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r, err := s.lockBusiness(tx, id)
		if err != nil {
			return err
		}
		if store.BusinessStatus(r.Status) == store.BusinessDeleted {
			return fmt.Errorf("business %d is deleted: %w", id, store.ErrAlreadyAudited)
		}
		if r.PodSecurity == podSecurity {
			out = r.toBusiness()
			return nil
		}
		r.PodSecurity, r.UpdatedAt = podSecurity, s.db.NowFunc()
		res := tx.Model(&businessRow{}).Where("id = ?", id).Updates(map[string]any{
			"pod_security": r.PodSecurity, "updated_at": r.UpdatedAt,
		})
		if err := rowsAffected(res, fmt.Sprintf("business %d", id)); err != nil {
			return err
		}
		if store.BusinessStatus(r.Status) == store.BusinessApproved {
			if err := putNamespace(tx, r); err != nil {
				return err
			}
			wrote = true
		}
		for deployID, spec := range workloads {
			rewrote, err := s.rewriteDeploy(tx, deployID, id, spec)
			if err != nil {
				return err
			}
			wrote = wrote || rewrote
		}
		out = r.toBusiness()
		return nil
	})
	return out, wrote, err
}

// lockBusiness reads business id for a change (row-locked on PostgreSQL).
func (s *Store) lockBusiness(tx *gorm.DB, id uint64) (*businessRow, error) {
	var r businessRow
	q := tx.Where("id = ?", id)
	if s.dialect == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("business %d", id))
	}
	return &r, nil
}

// putNamespace writes the desired namespace of business r, labelled with its
// id and the Pod Security Admission labels of its level, at a new revision.
func putNamespace(tx *gorm.DB, r *businessRow) error {
	labels := protocol.PodSecurityLabels(r.PodSecurity)
	labels[BusinessLabel] = strconv.FormatUint(r.ID, 10)
	spec, err := json.Marshal(protocol.NamespaceSpec{Labels: labels})
	if err != nil {
		return err
	}
	item := store.DesiredItem{ClusterID: store.AllClusters, Kind: store.ItemNamespace, Name: store.Namespace(r.ID), Spec: spec}
	if _, err := putDesired(tx, &item); err != nil {
		return translate(err, "record desired namespace")
	}
	return nil
}

func (s *Store) ListDesiredNamespaces(ctx context.Context) ([]store.DesiredNamespace, error) {
	var rows []desiredItemRow
	err := s.db.WithContext(ctx).Where("cluster_id = ? AND kind = ? AND deleted = ?", store.AllClusters, store.ItemNamespace, false).
		Order("revision").Find(&rows).Error
	if err != nil {
		return nil, translate(err, "list desired namespaces")
	}
	out := make([]store.DesiredNamespace, len(rows))
	for i, r := range rows {
		id, _ := strconv.ParseUint(strings.TrimPrefix(r.Name, "ns"), 10, 64)
		out[i] = store.DesiredNamespace{Name: r.Name, BusinessID: id, Revision: r.Revision}
	}
	return out, nil
}
