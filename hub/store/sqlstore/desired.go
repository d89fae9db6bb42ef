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

// desiredItemRow is the gorm model of table desired_items.
type desiredItemRow struct {
	ClusterID uint64 `gorm:"primaryKey"`
	Kind      string `gorm:"primaryKey"`
	Name      string `gorm:"primaryKey"`
	Revision  uint64
	Deleted   bool
	Spec      string
	WrittenAt sql.NullTime
}

func (desiredItemRow) TableName() string { return "desired_items" }

func (r *desiredItemRow) toItem() store.DesiredItem {
	return store.DesiredItem{ClusterID: r.ClusterID, Kind: r.Kind, Name: r.Name, Revision: r.Revision, Deleted: r.Deleted, Spec: []byte(r.Spec)}
}

// nextRevision takes the next revision. The counter row stays locked until
// tx ends, which orders the commits of desired state by revision.
func nextRevision(tx *gorm.DB) (uint64, error) {
	var rev uint64
	err := tx.Raw("UPDATE revision_counter SET value = value + 1 WHERE id = 1 RETURNING value").Scan(&rev).Error
	if err == nil && rev == 0 {
		err = fmt.Errorf("revision counter is missing")
	}
	return rev, err
}

// putDesired writes item at a new revision, which it sets and returns. Must
// run inside a transaction.
func putDesired(tx *gorm.DB, item *store.DesiredItem) (uint64, error) {
	rev, err := nextRevision(tx)
	if err != nil {
		return 0, err
	}
	if tx.Dialector.Name() == "postgres" {
		// Delivered when the transaction commits, once however many items
		// it wrote: every hub replica's WatchDesired hears it.
		if err := tx.Exec("SELECT pg_notify(?, '')", desiredChannel).Error; err != nil {
			return 0, err
		}
	}
	item.Revision = rev
	row := desiredItemRow{ClusterID: item.ClusterID, Kind: item.Kind, Name: item.Name, Revision: rev, Deleted: item.Deleted, Spec: string(item.Spec),
		WrittenAt: sql.NullTime{Time: time.Now().UTC(), Valid: true}}
	err = tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "cluster_id"}, {Name: "kind"}, {Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"revision", "deleted", "spec", "written_at"}),
	}).Create(&row).Error
	return rev, err
}

// deleteDesired writes a tombstone for an item, if the item exists and is
// not deleted already.
func deleteDesired(tx *gorm.DB, clusterID uint64, kind, name string) error {
	var n int64
	if err := tx.Model(&desiredItemRow{}).Where("cluster_id = ? AND kind = ? AND name = ? AND deleted = ?", clusterID, kind, name, false).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	_, err := putDesired(tx, &store.DesiredItem{ClusterID: clusterID, Kind: kind, Name: name, Deleted: true})
	return err
}

func (s *Store) DesiredSince(ctx context.Context, clusterID uint64, after uint64, limit int) ([]store.DesiredItem, error) {
	var rows []desiredItemRow
	err := s.db.WithContext(ctx).
		Where("cluster_id IN ? AND revision > ?", []uint64{store.AllClusters, clusterID}, after).
		Order("revision").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, translate(err, "desired items")
	}
	return itemsOf(rows), nil
}

func (s *Store) DesiredTail(ctx context.Context, after uint64, limit int) ([]store.DesiredItem, error) {
	var rows []desiredItemRow
	err := s.db.WithContext(ctx).Where("revision > ?", after).Order("revision").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, translate(err, "desired tail")
	}
	return itemsOf(rows), nil
}

func itemsOf(rows []desiredItemRow) []store.DesiredItem {
	out := make([]store.DesiredItem, len(rows))
	for i := range rows {
		out[i] = rows[i].toItem()
	}
	return out
}

func (s *Store) Revision(ctx context.Context) (uint64, error) {
	var rev uint64
	err := s.db.WithContext(ctx).Raw("SELECT value FROM revision_counter WHERE id = 1").Scan(&rev).Error
	return rev, translate(err, "revision")
}

// itemStatusRow is the gorm model of table item_status.
type itemStatusRow struct {
	ClusterID   uint64 `gorm:"primaryKey"`
	Kind        string `gorm:"primaryKey"`
	Name        string `gorm:"primaryKey"`
	Revision    uint64
	State       string
	Message     string
	PodsDesired int32
	PodsRunning int32
	PodsFailed  int32
	UpdatedAt   time.Time
}

func (itemStatusRow) TableName() string { return "item_status" }

func (r *itemStatusRow) pods() *store.PodCounts {
	if r.PodsDesired < 0 {
		return nil
	}
	return &store.PodCounts{Desired: r.PodsDesired, Running: r.PodsRunning, Failed: r.PodsFailed}
}

// SaveItemStatuses upserts the reports in one statement per batch. A report
// for an older revision than the one recorded does not overwrite it.
func (s *Store) SaveItemStatuses(ctx context.Context, statuses []store.ItemStatus) error {
	if len(statuses) == 0 {
		return nil
	}
	now := s.db.NowFunc()
	// One row per key: the newest report wins within a batch too.
	latest := make(map[[3]string]int, len(statuses))
	rows := make([]itemStatusRow, 0, len(statuses))
	for _, st := range statuses {
		k := [3]string{fmt.Sprint(st.ClusterID), st.Kind, st.Name}
		r := itemStatusRow{ClusterID: st.ClusterID, Kind: st.Kind, Name: st.Name, Revision: st.Revision, State: st.State, Message: st.Message,
			PodsDesired: -1, PodsRunning: -1, PodsFailed: -1, UpdatedAt: now}
		if st.Pods != nil {
			r.PodsDesired, r.PodsRunning, r.PodsFailed = st.Pods.Desired, st.Pods.Running, st.Pods.Failed
		}
		if i, ok := latest[k]; ok {
			if rows[i].Revision <= st.Revision {
				rows[i] = r
			}
			continue
		}
		latest[k] = len(rows)
		rows = append(rows, r)
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "cluster_id"}, {Name: "kind"}, {Name: "name"}},
		DoUpdates: clause.Assignments(map[string]any{
			"revision":     gorm.Expr("excluded.revision"),
			"state":        gorm.Expr("excluded.state"),
			"message":      gorm.Expr("excluded.message"),
			"pods_desired": gorm.Expr("excluded.pods_desired"),
			"pods_running": gorm.Expr("excluded.pods_running"),
			"pods_failed":  gorm.Expr("excluded.pods_failed"),
			"updated_at":   gorm.Expr("excluded.updated_at"),
		}),
		Where: clause.Where{Exprs: []clause.Expression{gorm.Expr("item_status.revision <= excluded.revision")}},
	}).CreateInBatches(rows, 500).Error
	return translate(err, "save item statuses")
}

func (s *Store) ItemStatuses(ctx context.Context, clusterID uint64) ([]store.ItemStatus, error) {
	var rows []itemStatusRow
	if err := s.db.WithContext(ctx).Where("cluster_id = ?", clusterID).Order("kind, name").Find(&rows).Error; err != nil {
		return nil, translate(err, "item statuses")
	}
	out := make([]store.ItemStatus, len(rows))
	for i, r := range rows {
		out[i] = store.ItemStatus{ClusterID: r.ClusterID, Kind: r.Kind, Name: r.Name, Revision: r.Revision, State: r.State, Message: r.Message, Pods: r.pods(), UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}
