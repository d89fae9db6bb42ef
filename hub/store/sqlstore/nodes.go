package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ote-stack/ote/hub/store"
)

// nodeRow is the gorm model of table nodes.
type nodeRow struct {
	ClusterID       uint64 `gorm:"primaryKey"`
	Name            string `gorm:"primaryKey"`
	OperatingSystem string
	OsImage         string
	KernelVersion   string
	IP              string `gorm:"column:ip"`
	CPU             int64  `gorm:"column:cpu"`
	Memory          int64
	Disk            int64
	GPUCount        int64 `gorm:"column:gpu_count"`
	GPUMemory       int64 `gorm:"column:gpu_memory"`
	Ready           bool
	UpdatedAt       time.Time
}

func (nodeRow) TableName() string { return "nodes" }

type nodeView struct {
	Row             nodeRow `gorm:"embedded"`
	ClusterName     string
	ClusterOnline   bool
	ClusterLastSeen sql.NullTime
}

type nodeLabelRow struct {
	ClusterID uint64 `gorm:"primaryKey"`
	NodeName  string `gorm:"primaryKey"`
	Label     string `gorm:"primaryKey"`
	CreatedAt time.Time
}

func (nodeLabelRow) TableName() string { return "node_labels" }

func rowsOfNodes(clusterID uint64, nodes []store.Node, now time.Time) []nodeRow {
	rows := make([]nodeRow, len(nodes))
	for i, n := range nodes {
		rows[i] = nodeRow{
			ClusterID: clusterID, Name: n.Name, OperatingSystem: n.OperatingSystem, OsImage: n.OSImage,
			KernelVersion: n.KernelVersion, IP: n.IP, CPU: n.CPU, Memory: n.Memory, Disk: n.Disk,
			GPUCount: n.GPUCount, GPUMemory: n.GPUMemory, Ready: n.Ready, UpdatedAt: now,
		}
	}
	return rows
}

var nodeColumns = []string{"operating_system", "os_image", "kernel_version", "ip", "cpu", "memory", "disk", "gpu_count", "gpu_memory", "ready", "updated_at"}

func upsertNodes(tx *gorm.DB, rows []nodeRow) error {
	if len(rows) == 0 {
		return nil
	}
	return tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "cluster_id"}, {Name: "name"}},
		DoUpdates: clause.AssignmentColumns(nodeColumns),
	}).CreateInBatches(rows, 200).Error
}

func (s *Store) ReplaceNodes(ctx context.Context, clusterID uint64, nodes []store.Node) error {
	return s.SaveInventories(ctx, []store.InventoryReport{{ClusterID: clusterID, Full: true, Nodes: nodes}})
}

func (s *Store) UpdateNodes(ctx context.Context, clusterID uint64, nodes []store.Node, removed []string) error {
	return s.SaveInventories(ctx, []store.InventoryReport{{ClusterID: clusterID, Nodes: nodes, Removed: removed}})
}

// inventoriesPerWrite bounds the reports written in one transaction.
const inventoriesPerWrite = 500

func (s *Store) SaveInventories(ctx context.Context, reports []store.InventoryReport) error {
	for start := 0; start < len(reports); start += inventoriesPerWrite {
		chunk := reports[start:min(start+inventoriesPerWrite, len(reports))]
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			now := s.db.NowFunc()
			var rows []nodeRow
			for _, r := range chunk {
				rows = append(rows, rowsOfNodes(r.ClusterID, r.Nodes, now)...)
			}
			if err := deleteNodes(tx, chunk); err != nil {
				return err
			}
			return upsertNodes(tx, rows)
		})
		if err != nil {
			return translate(err, fmt.Sprintf("save the inventories of %d clusters", len(chunk)))
		}
	}
	return nil
}

// deleteNodes removes the nodes that the reports remove: those they name,
// and for a whole inventory every node it does not list. Two statements for
// all the reports, not one per cluster.
func deleteNodes(tx *gorm.DB, reports []store.InventoryReport) error {
	var full, deltas []uint64
	var keep, removed []string // "<cluster id>/<node name>"
	for _, r := range reports {
		id := fmt.Sprint(r.ClusterID)
		if r.Full {
			full = append(full, r.ClusterID)
			for _, n := range r.Nodes {
				keep = append(keep, id+"/"+n.Name)
			}
			continue
		}
		if len(r.Removed) > 0 {
			deltas = append(deltas, r.ClusterID)
		}
		for _, name := range r.Removed {
			removed = append(removed, id+"/"+name)
		}
	}
	// Node names are DNS subdomains: no "/" in them, so the keys are unique.
	key := "CAST(cluster_id AS VARCHAR(20)) || '/' || name"
	if len(full) > 0 {
		del := tx.Where("cluster_id IN ?", full)
		if len(keep) > 0 {
			del = del.Where(key+" NOT IN ?", keep)
		}
		if err := del.Delete(&nodeRow{}).Error; err != nil {
			return err
		}
	}
	if len(removed) > 0 {
		return tx.Where("cluster_id IN ?", deltas).Where(key+" IN ?", removed).Delete(&nodeRow{}).Error
	}
	return nil
}

func (s *Store) nodeQuery(ctx context.Context, q store.NodeQuery) *gorm.DB {
	db := s.db.WithContext(ctx).Table("nodes").Joins("JOIN clusters ON clusters.id = nodes.cluster_id")
	if q.ClusterName != "" {
		db = db.Where("clusters.name = ?", q.ClusterName)
	}
	if q.NodeName != "" {
		db = db.Where("nodes.name = ?", q.NodeName)
	}
	if q.Label != "" {
		db = db.Where("EXISTS (SELECT 1 FROM node_labels l WHERE l.cluster_id = nodes.cluster_id AND l.node_name = nodes.name AND l.label = ?)", q.Label)
	}
	return db
}

func (s *Store) ListNodes(ctx context.Context, q store.NodeQuery) ([]store.Node, int64, error) {
	var total int64
	if err := s.nodeQuery(ctx, q).Count(&total).Error; err != nil {
		return nil, 0, translate(err, "count nodes")
	}
	var views []nodeView
	err := paginate(s.nodeQuery(ctx, q).
		Select("nodes.*, clusters.name AS cluster_name, clusters.online AS cluster_online, clusters.last_seen AS cluster_last_seen").
		Order("clusters.name, nodes.name"), q.Page).Find(&views).Error
	if err != nil {
		return nil, 0, translate(err, "list nodes")
	}
	out := make([]store.Node, len(views))
	type key struct {
		c uint64
		n string
	}
	at := map[key]int{}
	var clusterIDs []uint64
	for i, v := range views {
		r := v.Row
		out[i] = store.Node{
			ClusterID: r.ClusterID, ClusterName: v.ClusterName, Name: r.Name, OperatingSystem: r.OperatingSystem,
			OSImage: r.OsImage, KernelVersion: r.KernelVersion, IP: r.IP, CPU: r.CPU, Memory: r.Memory, Disk: r.Disk,
			GPUCount: r.GPUCount, GPUMemory: r.GPUMemory, Ready: r.Ready, UpdatedAt: r.UpdatedAt,
			ClusterOnline: v.ClusterOnline, ClusterLastSeen: v.ClusterLastSeen.Time, Labels: []string{},
		}
		at[key{r.ClusterID, r.Name}] = i
		clusterIDs = append(clusterIDs, r.ClusterID)
	}
	if len(out) > 0 {
		var labels []nodeLabelRow
		if err := s.db.WithContext(ctx).Where("cluster_id IN ?", clusterIDs).Order("label").Find(&labels).Error; err != nil {
			return nil, 0, translate(err, "node labels")
		}
		for _, l := range labels {
			if i, ok := at[key{l.ClusterID, l.NodeName}]; ok {
				out[i].Labels = append(out[i].Labels, l.Label)
			}
		}
	}
	return out, total, nil
}

func (s *Store) CountReadyNodes(ctx context.Context, q store.NodeQuery, readySince time.Time) (int64, error) {
	var n int64
	err := s.nodeQuery(ctx, q).Where("nodes.ready = ? AND clusters.online = ? AND clusters.last_seen >= ?", true, true, readySince.UTC()).Count(&n).Error
	return n, translate(err, "count ready nodes")
}

// nodeLabelItem is the desired item that puts label on node.
func nodeLabelItem(clusterID uint64, node, label string) store.DesiredItem {
	spec, _ := json.Marshal(map[string]string{"node": node, "label": label})
	return store.DesiredItem{ClusterID: clusterID, Kind: store.ItemNodeLabel, Name: node + "/" + label, Spec: spec}
}

func (s *Store) AddNodeLabel(ctx context.Context, cluster string, nodes []string, label string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ids, err := clusterIDs(tx, []string{cluster})
		if err != nil {
			return err
		}
		cid := ids[0]
		var found []string
		if err := tx.Model(&nodeRow{}).Where("cluster_id = ? AND name IN ?", cid, nodes).Pluck("name", &found).Error; err != nil {
			return err
		}
		if len(found) != len(uniq(nodes)) {
			missing := missingOf(nodes, found)
			return fmt.Errorf("nodes %s of cluster %q: %w", strings.Join(missing, ", "), cluster, store.ErrNotFound)
		}
		now := s.db.NowFunc()
		for _, n := range uniq(nodes) {
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&nodeLabelRow{ClusterID: cid, NodeName: n, Label: label, CreatedAt: now})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				continue // already labelled: no new revision
			}
			item := nodeLabelItem(cid, n, label)
			if _, err := putDesired(tx, &item); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) RemoveNodeLabel(ctx context.Context, cluster string, nodes []string, label string, evict bool) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ids, err := clusterIDs(tx, []string{cluster})
		if err != nil {
			return err
		}
		cid := ids[0]
		for _, n := range uniq(nodes) {
			res := tx.Where("cluster_id = ? AND node_name = ? AND label = ?", cid, n, label).Delete(&nodeLabelRow{})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				continue // not labelled: nothing to take off, nothing to evict
			}
			tomb := store.DesiredItem{ClusterID: cid, Kind: store.ItemNodeLabel, Name: n + "/" + label, Deleted: true}
			if evict {
				tomb.Spec, _ = json.Marshal(map[string]any{"node": n, "label": label, "evict": true})
			}
			if _, err := putDesired(tx, &tomb); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) NodeLabelNames(ctx context.Context, cluster string) ([]string, error) {
	db := s.db.WithContext(ctx).Model(&nodeLabelRow{})
	if cluster != "" {
		c, err := s.ClusterByName(ctx, cluster)
		if err != nil {
			return nil, err
		}
		db = db.Where("cluster_id = ?", c.ID)
	}
	out := []string{}
	err := db.Distinct("label").Order("label").Pluck("label", &out).Error
	return out, translate(err, "node labels")
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func missingOf(want, have []string) []string {
	h := map[string]bool{}
	for _, s := range have {
		h[s] = true
	}
	var out []string
	for _, s := range uniq(want) {
		if !h[s] {
			out = append(out, s)
		}
	}
	return out
}
