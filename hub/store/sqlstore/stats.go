package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/ote-stack/ote/hub/store"
)

// PlatformStats runs four aggregate queries; the caller (the metrics
// collector) bounds how often.
func (s *Store) PlatformStats(ctx context.Context, readySince time.Time) (*store.PlatformStats, error) {
	db := s.db.WithContext(ctx)
	st := &store.PlatformStats{Deploys: map[store.DeployStatus]int64{}}
	var total int64
	if err := db.Model(&clusterRow{}).Count(&total).Error; err != nil {
		return nil, err
	}
	if err := db.Model(&clusterRow{}).Where("online = ? AND last_seen >= ?", true, readySince.UTC()).Count(&st.ClustersReady).Error; err != nil {
		return nil, err
	}
	st.ClustersNotReady = total - st.ClustersReady
	var byStatus []struct {
		Status int
		N      int64
	}
	if err := db.Model(&deployRow{}).Select("status, COUNT(*) AS n").Group("status").Scan(&byStatus).Error; err != nil {
		return nil, err
	}
	for _, r := range byStatus {
		st.Deploys[store.DeployStatus(r.Status)] = r.N
	}
	// Requests: 0 pending (store.DeployRequest.Status).
	if err := db.Model(&deployRequestRow{}).Where("status = ?", 0).Count(&st.AuditsPending).Error; err != nil {
		return nil, err
	}
	var un struct {
		N      int64
		Oldest sql.NullString
	}
	// MIN over a timestamp column comes back as text from SQLite: read
	// it as text and parse.
	// Items of cluster 0 are wanted in every cluster (the businesses'
	// namespaces): each cluster acknowledges them for itself. The join
	// grows with clusters × such items; the collector reads it at most
	// every few seconds.
	err := db.Raw(`SELECT COUNT(*) AS n, MIN(x.written_at) AS oldest FROM (
			SELECT c.id AS cluster_id, d.kind, d.name, d.revision, d.written_at
			FROM desired_items d JOIN clusters c ON d.cluster_id = c.id OR d.cluster_id = 0
		) x
		LEFT JOIN item_status s ON s.cluster_id = x.cluster_id AND s.kind = x.kind AND s.name = x.name
		WHERE s.revision IS NULL OR s.revision < x.revision`).Scan(&un).Error
	if err != nil {
		return nil, err
	}
	st.Unacknowledged = un.N
	if un.Oldest.Valid {
		st.OldestUnacknowledged = parseDBTime(un.Oldest.String)
	}
	return st, nil
}

// parseDBTime reads a timestamp as SQLite or PostgreSQL print it.
func parseDBTime(v string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	return time.Time{}
}
