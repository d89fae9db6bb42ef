package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/store"
)

type deployRow struct {
	ID           uint64 `gorm:"primaryKey"`
	BusinessID   uint64
	Name         string
	AppName      string
	Version      string
	ClusterLabel string
	NodeLabel    string
	Comment      string
	DriftPolicy  string
	Type         int
	Status       int
	Editable     bool
	ErrorMessage string
	AuditComment string
	Spec         string
	CreatedBy    uint64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (deployRow) TableName() string { return "deploys" }

type deployView struct {
	Row          deployRow `gorm:"embedded"`
	BusinessName string
}

func (v *deployView) toDeploy() *store.Deploy {
	r := &v.Row
	return &store.Deploy{
		ID: r.ID, BusinessID: r.BusinessID, BusinessName: v.BusinessName, Name: r.Name, AppName: r.AppName, Version: r.Version,
		ClusterLabel: r.ClusterLabel, NodeLabel: r.NodeLabel, Comment: r.Comment, DriftPolicy: r.DriftPolicy, Type: store.DeployType(r.Type),
		Status: store.DeployStatus(r.Status), Editable: r.Editable, ErrorMessage: r.ErrorMessage, AuditComment: r.AuditComment,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

type deployRequestRow struct {
	ID           uint64 `gorm:"primaryKey"`
	DeployID     uint64
	BusinessID   uint64
	AppName      string
	Version      string
	ClusterLabel string
	Type         int
	Status       int
	Comment      string
	RequestedBy  uint64
	Strategy     string
	DriftPolicy  string
	RolloutID    uint64
	Wave         int
	Clusters     string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (deployRequestRow) TableName() string { return "deploy_requests" }

type deployRequestView struct {
	Row          deployRequestRow `gorm:"embedded"`
	BusinessName string
}

func (v *deployRequestView) toRequest() *store.DeployRequest {
	r := &v.Row
	out := &store.DeployRequest{
		ID: r.ID, DeployID: r.DeployID, BusinessID: r.BusinessID, BusinessName: v.BusinessName, AppName: r.AppName,
		Version: r.Version, ClusterLabel: r.ClusterLabel, Type: store.DeployType(r.Type), Status: r.Status,
		Comment: r.Comment, RequestedBy: r.RequestedBy, DriftPolicy: r.DriftPolicy, RolloutID: r.RolloutID, Wave: r.Wave, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if r.Strategy != "" {
		var st store.Strategy
		if json.Unmarshal([]byte(r.Strategy), &st) == nil {
			out.Strategy = &st
		}
	}
	if r.Clusters != "" {
		out.Clusters = strings.Split(r.Clusters, ",")
	}
	return out
}

type deployHistoryRow struct {
	DeployID uint64 `gorm:"primaryKey"`
	Version  string `gorm:"primaryKey"`
	Since    time.Time
}

func (deployHistoryRow) TableName() string { return "deploy_history" }

func strategyJSON(s *store.Strategy) string {
	if s == nil {
		return ""
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// workloadName is the desired item name of a deployment.
func workloadName(business uint64, name string) string {
	return store.Namespace(business) + "/" + name
}

func (s *Store) deploys(ctx context.Context) *gorm.DB {
	return s.db.WithContext(ctx).Table("deploys").Select("deploys.*, businesses.name AS business_name").
		Joins("LEFT JOIN businesses ON businesses.id = deploys.business_id")
}

func (s *Store) CreateDeploy(ctx context.Context, d *store.Deploy, req *store.DeployRequest, spec []byte, v store.Verdict) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r := &deployRow{
			BusinessID: d.BusinessID, Name: d.Name, AppName: d.AppName, Version: d.Version, ClusterLabel: d.ClusterLabel,
			NodeLabel: d.NodeLabel, Comment: d.Comment, DriftPolicy: d.DriftPolicy, Type: int(store.DeployNew), Status: int(store.DeployPending), CreatedBy: d.CreatedBy,
		}
		if r.DriftPolicy == "" {
			r.DriftPolicy = "correct"
		}
		if err := tx.Create(r).Error; err != nil {
			return translate(err, fmt.Sprintf("deployment %q", d.Name))
		}
		rr := &deployRequestRow{
			DeployID: r.ID, BusinessID: d.BusinessID, AppName: d.AppName, Version: d.Version, ClusterLabel: d.ClusterLabel,
			Type: int(store.DeployNew), Comment: req.Comment, RequestedBy: req.RequestedBy, Strategy: strategyJSON(req.Strategy),
		}
		if err := tx.Create(rr).Error; err != nil {
			return err
		}
		req.ID, req.DeployID = rr.ID, r.ID
		if v.Approve {
			if _, err := s.audit(tx, rr.ID, true, v.Comment, spec); err != nil {
				return err
			}
		}
		d.ID = r.ID
		return nil
	})
	if err != nil {
		return err
	}
	got, err := s.DeployByID(ctx, d.ID)
	if err == nil {
		*d = *got
	}
	return err
}

func (s *Store) DeployByID(ctx context.Context, id uint64) (*store.Deploy, error) {
	var v deployView
	if err := s.deploys(ctx).Where("deploys.id = ?", id).Take(&v).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("deployment %d", id))
	}
	return v.toDeploy(), nil
}

func (s *Store) DeployByName(ctx context.Context, business uint64, name string) (*store.Deploy, error) {
	var v deployView
	if err := s.deploys(ctx).Where("deploys.business_id = ? AND deploys.name = ?", business, name).Take(&v).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("deployment %q", name))
	}
	return v.toDeploy(), nil
}

func (s *Store) ListDeploys(ctx context.Context, q store.DeployQuery) ([]store.Deploy, int64, error) {
	filter := func(db *gorm.DB) *gorm.DB {
		if q.BusinessID != 0 {
			db = db.Where("deploys.business_id = ?", q.BusinessID)
		}
		db = matchName(db, "deploys.app_name", q.AppName, q.NameMode)
		if q.Editable != nil {
			db = db.Where("deploys.editable = ?", *q.Editable)
		}
		if q.Running {
			db = db.Where("deploys.status IN ?", deploy.Running)
		}
		return db
	}
	var total int64
	var err error
	if q.AppName == "" {
		total, err = s.countDeploys(ctx, q)
	} else {
		err = filter(s.db.WithContext(ctx).Table("deploys")).Count(&total).Error
	}
	if err != nil {
		return nil, 0, translate(err, "count deployments")
	}
	var views []deployView
	if err := paginate(filter(s.deploys(ctx)).Order("deploys.id DESC"), q.Page).Find(&views).Error; err != nil {
		return nil, 0, translate(err, "list deployments")
	}
	out := make([]store.Deploy, len(views))
	for i := range views {
		out[i] = *views[i].toDeploy()
	}
	return out, total, nil
}

// countDeploys reads the trigger-kept deploy_counts (migration 13): the
// deployments of one business (or all) that pass q's running and editable
// filters.
func (s *Store) countDeploys(ctx context.Context, q store.DeployQuery) (int64, error) {
	db := s.db.WithContext(ctx).Table("deploy_counts")
	if q.BusinessID != 0 {
		db = db.Where("business_id = ?", q.BusinessID)
	}
	var c struct{ N, Running, Editable, RunningEditable sql.NullInt64 }
	err := db.Select("SUM(n) AS n, SUM(running) AS running, SUM(editable) AS editable, SUM(running_editable) AS running_editable").Scan(&c).Error
	if err != nil {
		return 0, err
	}
	all, editable := c.N.Int64, c.Editable.Int64
	if q.Running {
		all, editable = c.Running.Int64, c.RunningEditable.Int64
	}
	switch {
	case q.Editable == nil:
		return all, nil
	case *q.Editable:
		return editable, nil
	default:
		return all - editable, nil
	}
}

func (s *Store) RequestChange(ctx context.Context, deployID uint64, req *store.DeployRequest, spec []byte, v store.Verdict) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var d deployRow
		q := tx.Where("id = ?", deployID)
		if s.dialect == Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Take(&d).Error; err != nil {
			return translate(err, fmt.Sprintf("deployment %d", deployID))
		}
		if !deploy.Changeable(&store.Deploy{Editable: d.Editable, Status: store.DeployStatus(d.Status)}) {
			return fmt.Errorf("deployment %d: %w", deployID, store.ErrNotEditable)
		}
		rr := &deployRequestRow{
			DeployID: d.ID, BusinessID: d.BusinessID, AppName: d.AppName, Version: req.Version, ClusterLabel: d.ClusterLabel,
			Type: int(req.Type), Comment: req.Comment, RequestedBy: req.RequestedBy, Strategy: strategyJSON(req.Strategy), DriftPolicy: req.DriftPolicy,
		}
		if rr.Version == "" {
			rr.Version = d.Version
		}
		if err := tx.Create(rr).Error; err != nil {
			return err
		}
		req.ID, req.DeployID = rr.ID, d.ID
		if err := tx.Model(&deployRow{}).Where("id = ?", d.ID).Updates(map[string]any{
			"editable": false, "type": int(req.Type), "updated_at": s.db.NowFunc(),
		}).Error; err != nil {
			return err
		}
		if v.Approve {
			_, err := s.audit(tx, rr.ID, true, v.Comment, spec)
			return err
		}
		return nil
	})
}

func (s *Store) AuditDeploy(ctx context.Context, requestID uint64, approve bool, comment string, spec []byte) (*store.Deploy, error) {
	var id uint64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		id, err = s.audit(tx, requestID, approve, comment, spec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.DeployByID(ctx, id)
}

// audit decides a pending request inside tx and returns its deployment's id.
func (s *Store) audit(tx *gorm.DB, requestID uint64, approve bool, comment string, spec []byte) (uint64, error) {
	var rr deployRequestRow
	q := tx.Where("id = ?", requestID)
	if s.dialect == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Take(&rr).Error; err != nil {
		return 0, translate(err, fmt.Sprintf("audit request %d", requestID))
	}
	if rr.Status != 0 {
		return 0, fmt.Errorf("audit request %d: %w", requestID, store.ErrAlreadyAudited)
	}
	var d deployRow
	if err := tx.Where("id = ?", rr.DeployID).Take(&d).Error; err != nil {
		return 0, translate(err, fmt.Sprintf("deployment %d", rr.DeployID))
	}
	now := s.db.NowFunc()
	status := 2
	if approve {
		status = 1
	}
	if err := tx.Model(&deployRequestRow{}).Where("id = ?", rr.ID).Updates(map[string]any{"status": status, "updated_at": now}).Error; err != nil {
		return 0, err
	}
	if rr.Wave > 0 {
		return d.ID, s.decideWave(tx, &d, &rr, approve, comment, now)
	}
	t := deploy.AfterDecision(store.DeployType(rr.Type), approve)
	upd := map[string]any{"audit_comment": comment, "updated_at": now, "editable": t.Editable}
	if !t.KeepStatus {
		upd["status"] = int(t.Status)
	}
	if t.LastApprovedType {
		var last deployRequestRow
		err := tx.Where("deploy_id = ? AND status = 1", d.ID).Order("id DESC").Take(&last).Error
		if err == nil {
			upd["type"] = last.Type
		}
	} else {
		upd["type"] = int(t.Type)
	}
	switch t.Workload {
	case deploy.RemoveWorkload:
		if err := s.removeWorkload(tx, d.BusinessID, d.Name); err != nil {
			return 0, err
		}
	case deploy.WriteWorkload:
		if len(spec) == 0 {
			return 0, errors.New("approval without a workload spec")
		}
		if rr.DriftPolicy != "" {
			upd["drift_policy"] = rr.DriftPolicy
		}
		started := false
		if rr.Strategy != "" {
			var err error
			if started, err = s.startRollout(tx, &d, &rr, spec, now); err != nil {
				return 0, err
			}
		}
		if started {
			// The rollout holds the deployment, and its spec stays the
			// previous one (what clusters that gain the label get) until
			// the last wave is healthy.
			d.Version = rr.Version
			upd["version"], upd["error_message"], upd["editable"] = d.Version, "", false
		} else {
			d.Version, d.Spec = rr.Version, string(spec)
			upd["version"], upd["spec"], upd["error_message"] = d.Version, d.Spec, ""
			if err := s.writeWorkload(tx, &d); err != nil {
				return 0, err
			}
		}
		if err := recordHistory(tx, d.ID, d.Version, now); err != nil {
			return 0, err
		}
	}
	return d.ID, tx.Model(&deployRow{}).Where("id = ?", d.ID).Updates(upd).Error
}

// recordHistory records that version of deployment id is live since now.
func recordHistory(tx *gorm.DB, id uint64, version string, now time.Time) error {
	return tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "deploy_id"}, {Name: "version"}},
		DoUpdates: clause.AssignmentColumns([]string{"since"}),
	}).Create(&deployHistoryRow{DeployID: id, Version: version, Since: now}).Error
}

// writeWorkload writes the deployment's workload item: one for all clusters
// without a cluster label, else one per cluster that carries the label.
func (s *Store) writeWorkload(tx *gorm.DB, d *deployRow) error {
	name := workloadName(d.BusinessID, d.Name)
	var labelled []uint64
	if d.ClusterLabel != "" {
		if err := tx.Model(&clusterLabelRow{}).Where("label = ?", d.ClusterLabel).Order("cluster_id").Pluck("cluster_id", &labelled).Error; err != nil {
			return err
		}
	}
	for _, id := range deploy.Fanout(d.ClusterLabel, labelled) {
		if _, err := putDesired(tx, &store.DesiredItem{ClusterID: id, Kind: store.ItemWorkload, Name: name, Spec: []byte(d.Spec)}); err != nil {
			return err
		}
	}
	if d.ClusterLabel == "" {
		// Clusters an aborted rollout reached hold items of their own:
		// the item for all, written above them, is theirs again.
		return dropClusterItems(tx, d)
	}
	return nil
}

// removeWorkload writes tombstones for every live item of a deployment.
func (s *Store) removeWorkload(tx *gorm.DB, business uint64, name string) error {
	var ids []uint64
	wn := workloadName(business, name)
	if err := tx.Model(&desiredItemRow{}).Where("kind = ? AND name = ? AND deleted = ?", store.ItemWorkload, wn, false).Pluck("cluster_id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if err := deleteDesired(tx, id, store.ItemWorkload, wn); err != nil {
			return err
		}
	}
	return nil
}

// followClusterLabel gives clusters that gained label the workloads of the
// live deployments that select it, and takes them from those that lost it.
func (s *Store) followClusterLabel(tx *gorm.DB, clusterIDs []uint64, label string, added bool) error {
	// A cluster that loses the label loses the workload of every live
	// deployment of it, a new one still rolling out (no spec yet)
	// included; one that gains it gets the live spec.
	q := tx.Where("cluster_label = ? AND status <> ?", label, int(store.DeployDeleted))
	if added {
		q = q.Where("spec <> ''")
	}
	var ds []deployRow
	if err := q.Find(&ds).Error; err != nil {
		return err
	}
	for _, d := range ds {
		for _, id := range clusterIDs {
			name := workloadName(d.BusinessID, d.Name)
			if added {
				if _, err := putDesired(tx, &store.DesiredItem{ClusterID: id, Kind: store.ItemWorkload, Name: name, Spec: []byte(d.Spec)}); err != nil {
					return err
				}
			} else if err := deleteDesired(tx, id, store.ItemWorkload, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) DeployRequestByID(ctx context.Context, id uint64) (*store.DeployRequest, error) {
	var v deployRequestView
	err := s.db.WithContext(ctx).Table("deploy_requests").Select("deploy_requests.*, businesses.name AS business_name").
		Joins("LEFT JOIN businesses ON businesses.id = deploy_requests.business_id").Where("deploy_requests.id = ?", id).Take(&v).Error
	if err != nil {
		return nil, translate(err, fmt.Sprintf("audit request %d", id))
	}
	return v.toRequest(), nil
}

func (s *Store) ListDeployRequests(ctx context.Context, q store.DeployRequestQuery) ([]store.DeployRequest, int64, error) {
	base := func() *gorm.DB {
		db := s.db.WithContext(ctx).Table("deploy_requests").Joins("LEFT JOIN businesses ON businesses.id = deploy_requests.business_id")
		if q.BusinessID != 0 {
			db = db.Where("deploy_requests.business_id = ?", q.BusinessID)
		}
		if q.BusinessName != "" {
			db = matchName(db, "businesses.name", q.BusinessName, store.MatchPartial)
		}
		return db
	}
	var total int64
	if err := base().Count(&total).Error; err != nil {
		return nil, 0, translate(err, "count audit requests")
	}
	var views []deployRequestView
	err := paginate(base().Select("deploy_requests.*, businesses.name AS business_name").
		Order(clause.OrderByColumn{Column: clause.Column{Name: "deploy_requests.id", Raw: true}, Desc: q.Desc}), q.Page).Find(&views).Error
	if err != nil {
		return nil, 0, translate(err, "list audit requests")
	}
	out := make([]store.DeployRequest, len(views))
	for i := range views {
		out[i] = *views[i].toRequest()
	}
	return out, total, nil
}

func (s *Store) DeployHistory(ctx context.Context, deployID uint64) ([]store.DeployVersion, error) {
	var rows []deployHistoryRow
	if err := s.db.WithContext(ctx).Where("deploy_id = ?", deployID).Order("since DESC").Find(&rows).Error; err != nil {
		return nil, translate(err, "deployment history")
	}
	out := make([]store.DeployVersion, len(rows))
	for i, r := range rows {
		out[i] = store.DeployVersion{Version: r.Version, Since: r.Since}
	}
	return out, nil
}

// RefreshDeployStatus derives each deployment's status from its agents'
// reports: success when every target cluster applied the live revision,
// failed when all failed, partial success when some did each, deploying
// while reports are missing. errorMessage names each cluster's state.
func (s *Store) RefreshDeployStatus(ctx context.Context, workloads []string) error {
	for _, wn := range workloads {
		ns, name, ok := strings.Cut(wn, "/")
		if !ok {
			continue
		}
		var business uint64
		if _, err := fmt.Sscanf(ns, "ns%d", &business); err != nil {
			continue
		}
		if err := s.refreshOne(ctx, business, name, wn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) refreshOne(ctx context.Context, business uint64, name, wn string) error {
	// One transaction: the reads see one snapshot that includes every
	// report already saved, and the status written matches them.
	return s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		return s.refreshIn(db, business, name, wn)
	})
}

func (s *Store) refreshIn(db *gorm.DB, business uint64, name, wn string) error {
	var d deployRow
	if err := db.Where("business_id = ? AND name = ?", business, name).Take(&d).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		return err
	}
	if !deploy.Live(store.DeployStatus(d.Status)) {
		return nil
	}
	var items []desiredItemRow
	if err := db.Where("kind = ? AND name = ? AND deleted = ?", store.ItemWorkload, wn, false).Find(&items).Error; err != nil {
		return err
	}
	// Target clusters and the revision each must have applied.
	var clusters []clusterRow
	if err := db.Select("id, name").Find(&clusters).Error; err != nil {
		return err
	}
	var reports []itemStatusRow
	if err := db.Where("kind = ? AND name = ?", store.ItemWorkload, wn).Find(&reports).Error; err != nil {
		return err
	}
	got := map[uint64]*store.ItemStatus{}
	for _, r := range reports {
		got[r.ClusterID] = &store.ItemStatus{ClusterID: r.ClusterID, Revision: r.Revision, State: r.State, Message: r.Message, Pods: r.pods()}
	}
	// The revision each target cluster must have applied: an item for
	// every cluster, or one per cluster (a map, not a loop over both:
	// 10,000 labelled clusters are 10,000 items).
	want := make(map[uint64]uint64, len(items))
	all, hasAll := uint64(0), false
	for _, it := range items {
		if it.ClusterID == store.AllClusters {
			all, hasAll = it.Revision, true
		} else {
			want[it.ClusterID] = it.Revision
		}
	}
	targets := make([]deploy.Target, 0, len(want))
	for _, c := range clusters {
		rev, ok := want[c.ID]
		if !ok && hasAll {
			rev, ok = all, true
		}
		if ok {
			targets = append(targets, deploy.Target{Cluster: c.Name, Want: rev, Report: got[c.ID]})
		}
	}
	status, msg := deploy.Aggregate(targets)
	if status == store.DeploySuccess {
		// Not done while a rollout still has waves to go.
		var active int64
		if err := db.Model(&rolloutRow{}).Where("deploy_id = ? AND state IN ?", d.ID, activeStates).Count(&active).Error; err != nil {
			return err
		}
		if active > 0 {
			status = store.DeployDeploying
		}
	}
	return db.Model(&deployRow{}).Where("id = ? AND status <> ?", d.ID, int(store.DeployDeleted)).Updates(map[string]any{
		"status": int(status), "error_message": msg,
	}).Error
}
