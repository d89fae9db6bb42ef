package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ote-stack/ote/hub/store"
)

// clusterRow is the gorm model of table clusters.
type clusterRow struct {
	ID               uint64 `gorm:"primaryKey"`
	Name             string
	CredentialHash   string
	Online           bool
	Session          string
	AgentVersion     string
	FirstConnectedAt sql.NullTime
	LastSeen         sql.NullTime
	CreatedAt        time.Time
}

func (clusterRow) TableName() string { return "clusters" }

// clusterView is a cluster row with its node counts.
type clusterView struct {
	Row            clusterRow `gorm:"embedded"`
	NodeCount      int64
	ReadyNodeCount int64
}

func (r *clusterRow) toCluster() *store.Cluster {
	return &store.Cluster{
		ID: r.ID, Name: r.Name, CredentialHash: []byte(r.CredentialHash), Online: r.Online,
		Session: r.Session, AgentVersion: r.AgentVersion,
		FirstConnectedAt: r.FirstConnectedAt.Time, LastSeen: r.LastSeen.Time, CreatedAt: r.CreatedAt,
	}
}

type clusterLabelRow struct {
	ClusterID uint64 `gorm:"primaryKey"`
	Label     string `gorm:"primaryKey"`
	CreatedAt time.Time
}

func (clusterLabelRow) TableName() string { return "cluster_labels" }

func (s *Store) JoinCluster(ctx context.Context, name string, credentialHash []byte) (*store.Cluster, error) {
	var out *store.Cluster
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r clusterRow
		q := tx.Where("name = ?", name)
		if s.dialect == Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		err := q.Take(&r).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			r = clusterRow{Name: name, CredentialHash: string(credentialHash)}
			if err := tx.Create(&r).Error; err != nil {
				return err
			}
		case err != nil:
			return err
		case r.FirstConnectedAt.Valid:
			return fmt.Errorf("cluster %q: %w", name, store.ErrClusterJoined)
		default:
			r.CredentialHash = string(credentialHash)
			if err := tx.Model(&clusterRow{}).Where("id = ?", r.ID).Update("credential_hash", r.CredentialHash).Error; err != nil {
				return err
			}
		}
		out = r.toCluster()
		return nil
	})
	if err != nil {
		return nil, translate(err, fmt.Sprintf("join cluster %q", name))
	}
	return out, nil
}

func (s *Store) ClusterByName(ctx context.Context, name string) (*store.Cluster, error) {
	var r clusterRow
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("cluster %q", name))
	}
	return r.toCluster(), nil
}

func (s *Store) ListClusters(ctx context.Context, q store.ClusterQuery) ([]store.Cluster, int64, error) {
	db := s.db.WithContext(ctx).Table("clusters")
	if q.Label != "" {
		db = db.Where("EXISTS (SELECT 1 FROM cluster_labels l WHERE l.cluster_id = clusters.id AND l.label = ?)", q.Label)
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, translate(err, "count clusters")
	}
	var views []clusterView
	err := paginate(db.Select(`clusters.*,
		(SELECT COUNT(*) FROM nodes n WHERE n.cluster_id = clusters.id) AS node_count,
		(SELECT COUNT(*) FROM nodes n WHERE n.cluster_id = clusters.id AND n.ready) AS ready_node_count`).
		Order("clusters.id"), q.Page).Find(&views).Error
	if err != nil {
		return nil, 0, translate(err, "list clusters")
	}
	out := make([]store.Cluster, len(views))
	ids := make([]uint64, len(views))
	at := map[uint64]int{}
	for i := range views {
		out[i] = *views[i].Row.toCluster()
		out[i].NodeCount, out[i].ReadyNodeCount, out[i].Labels = views[i].NodeCount, views[i].ReadyNodeCount, []string{}
		ids[i] = out[i].ID
		at[out[i].ID] = i
	}
	if len(ids) > 0 {
		var labels []clusterLabelRow
		if err := s.db.WithContext(ctx).Where("cluster_id IN ?", ids).Order("label").Find(&labels).Error; err != nil {
			return nil, 0, translate(err, "cluster labels")
		}
		for _, l := range labels {
			i := at[l.ClusterID]
			out[i].Labels = append(out[i].Labels, l.Label)
		}
	}
	return out, total, nil
}

func (s *Store) ClusterConnected(ctx context.Context, id uint64, session, agentVersion string, at time.Time) error {
	return s.RecordSessions(ctx, []store.SessionEvent{{ClusterID: id, Session: session, Connected: true, AgentVersion: agentVersion, At: at}})
}

func (s *Store) ClusterDisconnected(ctx context.Context, id uint64, session string, at time.Time) error {
	return s.RecordSessions(ctx, []store.SessionEvent{{ClusterID: id, Session: session, At: at}})
}

// sessionsPerWrite bounds the clusters whose session events are written in
// one statement.
const sessionsPerWrite = 500

// RecordSessions applies events in order. They are folded per cluster
// first: of the events of one cluster only the last start counts (and an
// end of that session after it), and an end before a start of the same
// cluster is moot. What is left is one UPDATE for the starts, one per chunk
// of clusters, and one conditional UPDATE per end: a storm of reconnects
// costs a few statements, not one per agent. A start of a cluster that no
// longer exists changes nothing.
func (s *Store) RecordSessions(ctx context.Context, events []store.SessionEvent) error {
	type start struct {
		e       store.SessionEvent
		ended   bool
		endedAt time.Time
	}
	starts := map[uint64]*start{}
	ends := map[uint64]store.SessionEvent{} // ends of sessions started before the batch
	var order []uint64                      // clusters with a start, in order of their last start
	for _, e := range events {
		if e.Connected {
			if _, ok := starts[e.ClusterID]; !ok {
				order = append(order, e.ClusterID)
			}
			starts[e.ClusterID] = &start{e: e}
			delete(ends, e.ClusterID)
			continue
		}
		if st, ok := starts[e.ClusterID]; ok {
			if st.e.Session == e.Session {
				st.ended, st.endedAt = true, e.At
			}
			continue
		}
		ends[e.ClusterID] = e
	}
	ts, boolean := "?", "?"
	if s.dialect == Postgres {
		ts, boolean = "CAST(? AS TIMESTAMPTZ)", "CAST(? AS BOOLEAN)"
	}
	return translate(s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for i := 0; i < len(order); i += sessionsPerWrite {
			chunk := order[i:min(i+sessionsPerWrite, len(order))]
			var online, session, version, seen, first strings.Builder
			var args [5][]any
			ids := make([]uint64, len(chunk))
			for j, id := range chunk {
				st := starts[id]
				ids[j] = id
				at := st.e.At.UTC()
				last := at
				if st.ended {
					last = st.endedAt.UTC()
				}
				online.WriteString(" WHEN ? THEN " + boolean)
				args[0] = append(args[0], id, !st.ended)
				session.WriteString(" WHEN ? THEN ?")
				args[1] = append(args[1], id, st.e.Session)
				version.WriteString(" WHEN ? THEN ?")
				args[2] = append(args[2], id, st.e.AgentVersion)
				seen.WriteString(" WHEN ? THEN " + ts)
				args[3] = append(args[3], id, last)
				first.WriteString(" WHEN ? THEN " + ts)
				args[4] = append(args[4], id, at)
			}
			q := "UPDATE clusters SET online = CASE id" + online.String() + " END, session = CASE id" + session.String() +
				" END, agent_version = CASE id" + version.String() + " END, last_seen = CASE id" + seen.String() +
				" END, first_connected_at = COALESCE(first_connected_at, CASE id" + first.String() + " END) WHERE id IN ?"
			all := append(append(append(append(append([]any{}, args[0]...), args[1]...), args[2]...), args[3]...), args[4]...)
			if err := tx.Exec(q, append(all, ids)...).Error; err != nil {
				return err
			}
		}
		for _, e := range ends {
			err := tx.Model(&clusterRow{}).Where("id = ? AND session = ?", e.ClusterID, e.Session).
				Updates(map[string]any{"online": false, "last_seen": e.At.UTC()}).Error
			if err != nil {
				return err
			}
		}
		return s.notifySessions(tx, order)
	}), fmt.Sprintf("record the session starts and ends of %d clusters", len(starts)+len(ends)))
}

// notifySessions tells every hub replica, at commit, which clusters' tunnels
// a new session took: each closes the one it held of those (PostgreSQL only;
// SQLite serves one hub). Payloads are comma-separated ids, under
// PostgreSQL's 8000-byte limit.
func (s *Store) notifySessions(tx *gorm.DB, ids []uint64) error {
	if s.dialect != Postgres || len(ids) == 0 {
		return nil
	}
	var b strings.Builder
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		err := tx.Exec("SELECT pg_notify(?, ?)", sessionsChannel, b.String()).Error
		b.Reset()
		return err
	}
	for _, id := range ids {
		if b.Len() > 7000 {
			if err := flush(); err != nil {
				return err
			}
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	return flush()
}

func (s *Store) ClusterSessions(ctx context.Context, ids []uint64) (map[uint64]string, error) {
	out := make(map[uint64]string, len(ids))
	for start := 0; start < len(ids); start += 500 {
		var rows []struct {
			ID      uint64
			Session string
		}
		err := s.db.WithContext(ctx).Model(&clusterRow{}).Select("id, session").Where("id IN ?", ids[start:min(start+500, len(ids))]).Scan(&rows).Error
		if err != nil {
			return nil, translate(err, "read the clusters' sessions")
		}
		for _, r := range rows {
			out[r.ID] = r.Session
		}
	}
	return out, nil
}

func (s *Store) TouchClusters(ctx context.Context, ids []uint64, at time.Time) error {
	for start := 0; start < len(ids); start += 500 {
		end := min(start+500, len(ids))
		err := s.db.WithContext(ctx).Model(&clusterRow{}).Where("id IN ?", ids[start:end]).Update("last_seen", at.UTC()).Error
		if err != nil {
			return translate(err, "touch clusters")
		}
	}
	return nil
}

// clusterIDs resolves names to ids; ErrNotFound names the first missing one.
func clusterIDs(tx *gorm.DB, names []string) ([]uint64, error) {
	var rows []clusterRow
	if err := tx.Select("id, name").Where("name IN ?", names).Find(&rows).Error; err != nil {
		return nil, err
	}
	byName := map[string]uint64{}
	for _, r := range rows {
		byName[r.Name] = r.ID
	}
	ids := make([]uint64, 0, len(names))
	for _, n := range names {
		id, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("cluster %q: %w", n, store.ErrNotFound)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (s *Store) AddClusterLabel(ctx context.Context, clusters []string, label string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ids, err := clusterIDs(tx, clusters)
		if err != nil {
			return err
		}
		now := s.db.NowFunc()
		var gained []uint64
		for _, id := range uniqIDs(ids) {
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&clusterLabelRow{ClusterID: id, Label: label, CreatedAt: now})
			if res.Error != nil {
				return translate(res.Error, "add cluster label")
			}
			if res.RowsAffected > 0 {
				gained = append(gained, id)
			}
		}
		return s.followClusterLabel(tx, gained, label, true)
	})
}

func (s *Store) RemoveClusterLabel(ctx context.Context, clusters []string, label string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ids, err := clusterIDs(tx, clusters)
		if err != nil {
			return err
		}
		var lost []uint64
		if err := tx.Model(&clusterLabelRow{}).Where("cluster_id IN ? AND label = ?", ids, label).Pluck("cluster_id", &lost).Error; err != nil {
			return err
		}
		if err := tx.Where("cluster_id IN ? AND label = ?", ids, label).Delete(&clusterLabelRow{}).Error; err != nil {
			return translate(err, "remove cluster label")
		}
		return s.followClusterLabel(tx, lost, label, false)
	})
}

func (s *Store) ClusterLabelNames(ctx context.Context) ([]string, error) {
	out := []string{}
	err := s.db.WithContext(ctx).Model(&clusterLabelRow{}).Distinct("label").Order("label").Pluck("label", &out).Error
	return out, translate(err, "cluster labels")
}

func (s *Store) ClusterLabels(ctx context.Context, cluster string, p store.Page) ([]store.Label, int64, error) {
	c, err := s.ClusterByName(ctx, cluster)
	if err != nil {
		return nil, 0, err
	}
	db := s.db.WithContext(ctx).Model(&clusterLabelRow{}).Where("cluster_id = ?", c.ID)
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, translate(err, "count cluster labels")
	}
	var rows []clusterLabelRow
	if err := paginate(db.Order("label"), p).Find(&rows).Error; err != nil {
		return nil, 0, translate(err, "cluster labels")
	}
	out := make([]store.Label, len(rows))
	for i, r := range rows {
		out[i] = store.Label{Name: r.Label, CreatedAt: r.CreatedAt}
	}
	return out, total, nil
}
