package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/store"
)

// rolloutRow is the gorm model of table rollouts (migration 14).
type rolloutRow struct {
	ID           uint64 `gorm:"primaryKey"`
	DeployID     uint64
	RequestID    uint64
	Type         int
	Version      string
	PrevVersion  string
	Spec         string
	PrevSpec     string
	Strategy     string
	Waves        string
	Wave         int
	State        string
	Reason       string
	WaveStarted  sql.NullTime
	HealthySince sql.NullTime
	GateSince    sql.NullTime
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (rolloutRow) TableName() string { return "rollouts" }

// activeStates are the states of rollouts that hold their deployment.
var activeStates = []string{string(store.RolloutRunning), string(store.RolloutWaiting), string(store.RolloutApproval),
	string(store.RolloutPaused), string(store.RolloutFailed)}

func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: t.UTC(), Valid: true}
}

func (r *rolloutRow) toRollout() *store.Rollout {
	out := &store.Rollout{
		ID: r.ID, DeployID: r.DeployID, RequestID: r.RequestID, Type: store.DeployType(r.Type), Version: r.Version,
		PrevVersion: r.PrevVersion, PrevSpec: []byte(r.PrevSpec), Spec: []byte(r.Spec), Wave: r.Wave,
		State: store.RolloutState(r.State), Reason: r.Reason, WaveStarted: r.WaveStarted.Time, HealthySince: r.HealthySince.Time,
		GateSince: r.GateSince.Time, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	_ = json.Unmarshal([]byte(r.Strategy), &out.Strategy)
	_ = json.Unmarshal([]byte(r.Waves), &out.Waves)
	return out
}

// fromRollout copies what a step may change back into the row.
func (r *rolloutRow) fromRollout(ro *store.Rollout) {
	r.Wave, r.State, r.Reason = ro.Wave, string(ro.State), ro.Reason
	r.WaveStarted, r.HealthySince, r.GateSince = nullTime(ro.WaveStarted), nullTime(ro.HealthySince), nullTime(ro.GateSince)
}

func (s *Store) saveRollout(tx *gorm.DB, r *rolloutRow, ro *store.Rollout, now time.Time) error {
	r.fromRollout(ro)
	r.UpdatedAt = now
	return tx.Model(&rolloutRow{}).Where("id = ?", r.ID).Updates(map[string]any{
		"wave": r.Wave, "state": r.State, "reason": r.Reason, "wave_started": r.WaveStarted,
		"healthy_since": r.HealthySince, "gate_since": r.GateSince, "updated_at": now,
	}).Error
}

// candidates are the clusters that carry label (every cluster when
// empty), with all their labels.
func candidates(tx *gorm.DB, label string) ([]deploy.Candidate, error) {
	var rows []struct {
		ID    uint64
		Name  string
		Label sql.NullString
	}
	q := tx.Table("clusters").Select("clusters.id, clusters.name, l2.label")
	if label != "" {
		q = q.Joins("JOIN cluster_labels l1 ON l1.cluster_id = clusters.id AND l1.label = ?", label)
	}
	err := q.Joins("LEFT JOIN cluster_labels l2 ON l2.cluster_id = clusters.id").Order("clusters.id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	var out []deploy.Candidate
	for _, r := range rows {
		if n := len(out); n == 0 || out[n-1].ID != r.ID {
			out = append(out, deploy.Candidate{ID: r.ID, Name: r.Name})
		}
		if r.Label.Valid {
			out[len(out)-1].Labels = append(out[len(out)-1].Labels, r.Label.String)
		}
	}
	return out, nil
}

// A deployment to every cluster has one desired item for all of them.
// During its rollout the clusters reached also have an item of their own,
// written later, so of a higher revision: the agents, which keep the
// newest revision of a key, run it, and the rest run the item for all.
// When the rollout ends, the item for all is written again (the new
// spec, or the previous one after a rollback), above every cluster's, and
// the clusters' items are removed without a tombstone: a tombstone would
// be newer than the item for all and take the workload away.
func dropClusterItems(tx *gorm.DB, d *deployRow) error {
	return tx.Where("kind = ? AND name = ? AND cluster_id <> ?", store.ItemWorkload, workloadName(d.BusinessID, d.Name), store.AllClusters).
		Delete(&desiredItemRow{}).Error
}

// toEveryCluster writes spec as d's one item for every cluster and drops
// the clusters' own.
func toEveryCluster(tx *gorm.DB, d *deployRow, spec []byte) error {
	if _, err := putDesired(tx, &store.DesiredItem{ClusterID: store.AllClusters, Kind: store.ItemWorkload, Name: workloadName(d.BusinessID, d.Name), Spec: spec}); err != nil {
		return err
	}
	return dropClusterItems(tx, d)
}

// startRollout begins the rollout of request rr's change (spec) of d,
// inside tx: it plans the waves among the clusters carrying d's label now
// and sends the change to the first. It reports false, having done
// nothing, when no cluster carries the label (the change is then written
// as without a strategy: to nobody, until clusters gain the label).
func (s *Store) startRollout(tx *gorm.DB, d *deployRow, rr *deployRequestRow, spec []byte, now time.Time) (bool, error) {
	var st store.Strategy
	if err := json.Unmarshal([]byte(rr.Strategy), &st); err != nil {
		return false, fmt.Errorf("request %d: strategy: %w", rr.ID, err)
	}
	targets, err := candidates(tx, d.ClusterLabel)
	if err != nil {
		return false, err
	}
	waves := deploy.Plan(&st, targets)
	if len(waves) == 0 {
		return false, nil
	}
	ro := &store.Rollout{Waves: waves, Strategy: st}
	deploy.Start(ro, now)
	stJSON, _ := json.Marshal(st)
	wJSON, _ := json.Marshal(waves)
	prevVersion := ""
	if d.Spec != "" {
		prevVersion = d.Version
	}
	r := &rolloutRow{DeployID: d.ID, RequestID: rr.ID, Type: rr.Type, Version: rr.Version, PrevVersion: prevVersion,
		Spec: string(spec), PrevSpec: d.Spec, Strategy: string(stJSON), Waves: string(wJSON), CreatedAt: now, UpdatedAt: now}
	r.fromRollout(ro)
	if err := tx.Create(r).Error; err != nil {
		return false, err
	}
	return true, s.sendWave(tx, d, waves[0].Clusters, spec)
}

// sendWave writes spec as the workload of d in clusters (nil spec: takes
// it from them). A cluster that has lost d's label since the waves were
// planned gets nothing: it is no longer the deployment's.
func (s *Store) sendWave(tx *gorm.DB, d *deployRow, clusters []uint64, spec []byte) error {
	name := workloadName(d.BusinessID, d.Name)
	if spec != nil && d.ClusterLabel != "" {
		var still []uint64
		if err := tx.Model(&clusterLabelRow{}).Where("label = ? AND cluster_id IN ?", d.ClusterLabel, clusters).Pluck("cluster_id", &still).Error; err != nil {
			return err
		}
		clusters = still
	}
	for _, id := range clusters {
		var err error
		if spec == nil {
			err = deleteDesired(tx, id, store.ItemWorkload, name)
		} else {
			_, err = putDesired(tx, &store.DesiredItem{ClusterID: id, Kind: store.ItemWorkload, Name: name, Spec: spec})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) lockRollout(tx *gorm.DB, where string, args ...any) (*rolloutRow, error) {
	var r rolloutRow
	q := tx.Where(where, args...).Order("id DESC")
	if s.dialect == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Take(&r).Error; err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Store) LatestRollout(ctx context.Context, deployID uint64) (*store.Rollout, error) {
	var r rolloutRow
	if err := s.db.WithContext(ctx).Where("deploy_id = ?", deployID).Order("id DESC").Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("rollout of deployment %d", deployID))
	}
	return r.toRollout(), nil
}

func (s *Store) ActOnRollout(ctx context.Context, deployID uint64, a store.RolloutAction, now time.Time) (*store.Rollout, error) {
	var out *store.Rollout
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var found rolloutRow
		if err := tx.Select("id").Where("deploy_id = ? AND state IN ?", deployID, activeStates).Order("id DESC").Take(&found).Error; err != nil {
			return translate(err, fmt.Sprintf("active rollout of deployment %d", deployID))
		}
		// The same order as an audit: the wave's request, then the
		// rollout (two transactions locking them the other way round
		// would deadlock on PostgreSQL).
		if s.dialect == Postgres {
			var ids []uint64
			if err := tx.Model(&deployRequestRow{}).Clauses(clause.Locking{Strength: "UPDATE"}).
				Where("rollout_id = ? AND status = 0", found.ID).Pluck("id", &ids).Error; err != nil {
				return err
			}
		}
		r, err := s.lockRollout(tx, "id = ? AND state IN ?", found.ID, activeStates)
		if err != nil {
			return translate(err, fmt.Sprintf("active rollout of deployment %d", deployID))
		}
		ro := r.toRollout()
		if err := deploy.Act(ro, a, now); err != nil {
			return err
		}
		if err := s.saveRollout(tx, r, ro, now); err != nil {
			return err
		}
		if ro.State == store.RolloutAborted {
			if err := s.releaseDeploy(tx, ro, now); err != nil {
				return err
			}
			// A wave approval still waiting has nothing left to decide.
			if err := tx.Model(&deployRequestRow{}).Where("rollout_id = ? AND status = 0", r.ID).
				Updates(map[string]any{"status": 2, "comment": "the rollout was aborted", "updated_at": now}).Error; err != nil {
				return err
			}
		}
		out = ro
		return s.refreshDeploy(tx, deployID)
	})
	return out, err
}

// releaseDeploy makes a deployment editable again: its rollout ro ended
// before its last wave. Its version is the previous one again, the one
// its spec is (what clusters that gain its label get); the clusters the
// rollout reached keep the new one until the next change.
func (s *Store) releaseDeploy(tx *gorm.DB, ro *store.Rollout, now time.Time) error {
	upd := map[string]any{"editable": true, "updated_at": now}
	if ro.PrevVersion != "" {
		upd["version"] = ro.PrevVersion
	}
	return tx.Model(&deployRow{}).Where("id = ?", ro.DeployID).Updates(upd).Error
}

func (s *Store) refreshDeploy(tx *gorm.DB, deployID uint64) error {
	var d deployRow
	if err := tx.Where("id = ?", deployID).Take(&d).Error; err != nil {
		return err
	}
	return s.refreshIn(tx, d.BusinessID, d.Name, workloadName(d.BusinessID, d.Name))
}

// decideWave applies the decision on a wave approval request rr of d.
func (s *Store) decideWave(tx *gorm.DB, d *deployRow, rr *deployRequestRow, approve bool, comment string, now time.Time) error {
	r, err := s.lockRollout(tx, "id = ?", rr.RolloutID)
	if err != nil {
		return translate(err, fmt.Sprintf("rollout %d", rr.RolloutID))
	}
	ro := r.toRollout()
	if ro.State != store.RolloutApproval || ro.Wave+2 != rr.Wave {
		return fmt.Errorf("audit request %d: the rollout is %s: %w", rr.ID, ro.State, store.ErrAlreadyAudited)
	}
	if err := tx.Model(&deployRow{}).Where("id = ?", d.ID).Updates(map[string]any{"audit_comment": comment, "updated_at": now}).Error; err != nil {
		return err
	}
	if !approve {
		deploy.RefuseWave(ro, comment)
		if err := s.saveRollout(tx, r, ro, now); err != nil {
			return err
		}
		if err := s.releaseDeploy(tx, ro, now); err != nil {
			return err
		}
		return s.refreshIn(tx, d.BusinessID, d.Name, workloadName(d.BusinessID, d.Name))
	}
	if _, err := deploy.ApproveWave(ro, now); err != nil {
		return err
	}
	if err := s.saveRollout(tx, r, ro, now); err != nil {
		return err
	}
	return s.sendWave(tx, d, ro.Waves[ro.Wave].Clusters, ro.Spec)
}

func (s *Store) StepRollouts(ctx context.Context, now time.Time) (bool, error) {
	var ids []uint64
	err := s.db.WithContext(ctx).Model(&rolloutRow{}).
		Where("state IN ?", []string{string(store.RolloutRunning), string(store.RolloutWaiting)}).Order("id").Pluck("id", &ids).Error
	if err != nil {
		return false, translate(err, "rollouts")
	}
	// A rollout that fails to step does not hold the others back: each
	// is tried, and the first error is returned.
	wrote := false
	var first error
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		var w bool
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			w, err = s.stepRollout(tx, id, now)
			return err
		})
		if err != nil && first == nil {
			first = translate(err, fmt.Sprintf("rollout %d", id))
		}
		wrote = wrote || w
	}
	return wrote, first
}

// stepRollout steps rollout id inside tx; it reports whether it wrote
// desired state.
func (s *Store) stepRollout(tx *gorm.DB, id uint64, now time.Time) (bool, error) {
	r, err := s.lockRollout(tx, "id = ?", id)
	if err != nil {
		return false, err
	}
	ro := r.toRollout()
	if ro.State != store.RolloutRunning && ro.State != store.RolloutWaiting {
		return false, nil // another replica stepped it first
	}
	var d deployRow
	if err := tx.Where("id = ?", ro.DeployID).Take(&d).Error; err != nil {
		return false, err
	}
	view, err := s.waveView(tx, &d, ro.Waves[ro.Wave].Clusters)
	if err != nil {
		return false, err
	}
	move := deploy.Step(ro, view, now)
	if err := s.saveRollout(tx, r, ro, now); err != nil {
		return false, err
	}
	wrote := false
	switch move {
	case deploy.StartWave:
		wrote = true
		if err := s.sendWave(tx, &d, ro.Waves[ro.Wave].Clusters, ro.Spec); err != nil {
			return false, err
		}
	case deploy.AskApproval:
		if err := s.askWaveApproval(tx, &d, r, ro, now); err != nil {
			return false, err
		}
	case deploy.Finish:
		wrote = true
		if err := s.finishRollout(tx, &d, ro, now); err != nil {
			return false, err
		}
	case deploy.RollBack:
		wrote = true
		if err := s.rollBack(tx, &d, ro, now); err != nil {
			return false, err
		}
		if ro.PrevVersion == "" {
			return true, nil // failed, with the reason: nothing runs to sum up
		}
	}
	return wrote, s.refreshIn(tx, d.BusinessID, d.Name, workloadName(d.BusinessID, d.Name))
}

// waveView reads, for each cluster of a wave that still carries the
// deployment's label, whether its agent is connected and how it runs the
// workload's revision it was sent. A cluster that lost the label is no
// longer the wave's to wait for.
func (s *Store) waveView(tx *gorm.DB, d *deployRow, clusters []uint64) ([]deploy.WaveCluster, error) {
	still := clusters
	if d.ClusterLabel != "" {
		if err := tx.Model(&clusterLabelRow{}).Where("label = ? AND cluster_id IN ?", d.ClusterLabel, clusters).Pluck("cluster_id", &still).Error; err != nil {
			return nil, err
		}
	}
	if len(still) == 0 {
		return nil, nil
	}
	cws, err := s.clusterWorkload(tx, d, still)
	if err != nil {
		return nil, err
	}
	out := make([]deploy.WaveCluster, len(cws))
	for i, c := range cws {
		h, line := deploy.ClusterHealth(c.Report, c.Revision)
		out[i] = deploy.WaveCluster{Name: c.Cluster, Online: c.Online, Health: h, Line: line}
	}
	return out, nil
}

func (s *Store) clusterNames(tx *gorm.DB, ids []uint64) ([]string, error) {
	var names []string
	err := tx.Model(&clusterRow{}).Where("id IN ?", ids).Order("name").Pluck("name", &names).Error
	return names, err
}

// askWaveApproval files the audit request that lets the next wave start.
func (s *Store) askWaveApproval(tx *gorm.DB, d *deployRow, r *rolloutRow, ro *store.Rollout, now time.Time) error {
	next := ro.Waves[ro.Wave+1]
	names, err := s.clusterNames(tx, next.Clusters)
	if err != nil {
		return err
	}
	var orig deployRequestRow
	if err := tx.Where("id = ?", r.RequestID).Take(&orig).Error; err != nil {
		return err
	}
	return tx.Create(&deployRequestRow{
		DeployID: d.ID, BusinessID: d.BusinessID, AppName: d.AppName, Version: ro.Version, ClusterLabel: d.ClusterLabel,
		Type: r.Type, Comment: fmt.Sprintf("wave %q of the rollout of version %s: %s", next.Name, ro.Version, strings.Join(names, ", ")),
		RequestedBy: orig.RequestedBy, RolloutID: r.ID, Wave: ro.Wave + 2, Clusters: strings.Join(names, ","), CreatedAt: now, UpdatedAt: now,
	}).Error
}

// finishRollout makes the change d's live spec: clusters that gained the
// label during the rollout, which no wave took, get it now.
func (s *Store) finishRollout(tx *gorm.DB, d *deployRow, ro *store.Rollout, now time.Time) error {
	d.Spec = string(ro.Spec)
	if d.ClusterLabel == "" {
		if err := toEveryCluster(tx, d, ro.Spec); err != nil {
			return err
		}
		return tx.Model(&deployRow{}).Where("id = ?", d.ID).Updates(map[string]any{"spec": d.Spec, "editable": true, "updated_at": now}).Error
	}
	var labelled []uint64
	if err := tx.Model(&clusterLabelRow{}).Where("label = ?", d.ClusterLabel).Order("cluster_id").Pluck("cluster_id", &labelled).Error; err != nil {
		return err
	}
	reached := deploy.Reached(ro)
	labelled = slices.DeleteFunc(labelled, func(id uint64) bool { return slices.Contains(reached, id) })
	if err := s.sendWave(tx, d, labelled, ro.Spec); err != nil {
		return err
	}
	d.Spec = string(ro.Spec)
	return tx.Model(&deployRow{}).Where("id = ?", d.ID).Updates(map[string]any{"spec": d.Spec, "editable": true, "updated_at": now}).Error
}

// rollBack returns the clusters the rollout reached to the previous spec
// (or takes the workload from them, for a new deployment), and records
// it as an approved rollback with the reason.
func (s *Store) rollBack(tx *gorm.DB, d *deployRow, ro *store.Rollout, now time.Time) error {
	var prev []byte
	if len(ro.PrevSpec) > 0 {
		prev = ro.PrevSpec
	}
	var err error
	if d.ClusterLabel == "" && prev != nil {
		err = toEveryCluster(tx, d, prev)
	} else {
		err = s.sendWave(tx, d, deploy.Reached(ro), prev)
	}
	if err != nil {
		return err
	}
	upd := map[string]any{"editable": true, "updated_at": now}
	if ro.PrevVersion == "" {
		upd["status"], upd["error_message"] = int(store.DeployFailed), "rolled back: "+ro.Reason
		return tx.Model(&deployRow{}).Where("id = ?", d.ID).Updates(upd).Error
	}
	var orig deployRequestRow
	if err := tx.Where("id = ?", ro.RequestID).Take(&orig).Error; err != nil {
		return err
	}
	if err := tx.Create(&deployRequestRow{
		DeployID: d.ID, BusinessID: d.BusinessID, AppName: d.AppName, Version: ro.PrevVersion, ClusterLabel: d.ClusterLabel,
		Type: int(store.DeployRollback), Status: 1, Comment: "automatic rollback: " + ro.Reason, RequestedBy: orig.RequestedBy,
		CreatedAt: now, UpdatedAt: now,
	}).Error; err != nil {
		return err
	}
	if err = recordHistory(tx, d.ID, ro.PrevVersion, now); err != nil {
		return err
	}
	upd["version"], upd["type"], upd["audit_comment"] = ro.PrevVersion, int(store.DeployRollback), "automatic rollback: "+ro.Reason
	return tx.Model(&deployRow{}).Where("id = ?", d.ID).Updates(upd).Error
}

// clusterWorkload reads, for the clusters given (nil: every cluster with
// an item), how each runs deployment d's workload.
func (s *Store) clusterWorkload(tx *gorm.DB, d *deployRow, clusters []uint64) ([]store.ClusterWorkload, error) {
	wn := workloadName(d.BusinessID, d.Name)
	q := tx.Where("kind = ? AND name = ? AND deleted = ?", store.ItemWorkload, wn, false)
	if clusters != nil {
		// With the item for every cluster, which a cluster's own
		// overrides.
		q = q.Where("cluster_id IN ?", append(slices.Clone(clusters), store.AllClusters))
	}
	var items []desiredItemRow
	if err := q.Find(&items).Error; err != nil {
		return nil, err
	}
	want := map[uint64]desiredItemRow{}
	for _, it := range items {
		want[it.ClusterID] = it
	}
	all := slices.ContainsFunc(items, func(it desiredItemRow) bool { return it.ClusterID == store.AllClusters })
	cq := tx.Select("id, name, online")
	switch {
	case clusters != nil:
		cq = cq.Where("id IN ?", clusters)
	case !all:
		ids := make([]uint64, 0, len(items))
		for _, it := range items {
			ids = append(ids, it.ClusterID)
		}
		cq = cq.Where("id IN ?", ids)
	}
	var cs []clusterRow
	if err := cq.Order("name").Find(&cs).Error; err != nil {
		return nil, err
	}
	rq := tx.Where("kind = ? AND name = ?", store.ItemWorkload, wn)
	if clusters != nil {
		rq = rq.Where("cluster_id IN ?", clusters)
	}
	var reports []itemStatusRow
	if err := rq.Find(&reports).Error; err != nil {
		return nil, err
	}
	got := map[uint64]*store.ItemStatus{}
	for _, r := range reports {
		got[r.ClusterID] = &store.ItemStatus{ClusterID: r.ClusterID, Revision: r.Revision, State: r.State, Message: r.Message, Pods: r.pods(), UpdatedAt: r.UpdatedAt}
	}
	out := make([]store.ClusterWorkload, 0, len(cs))
	for _, c := range cs {
		it, ok := want[c.ID]
		if !ok {
			it, ok = want[store.AllClusters]
		}
		cw := store.ClusterWorkload{ClusterID: c.ID, Cluster: c.Name, Online: c.Online, Report: got[c.ID]}
		if ok {
			var v struct{ Version string }
			_ = json.Unmarshal([]byte(it.Spec), &v)
			cw.Revision, cw.Version = it.Revision, v.Version
		}
		out = append(out, cw)
	}
	return out, nil
}

func (s *Store) ClusterWorkloads(ctx context.Context, deployID uint64, clusters []uint64) ([]store.ClusterWorkload, error) {
	var out []store.ClusterWorkload
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var d deployRow
		if err := tx.Where("id = ?", deployID).Take(&d).Error; err != nil {
			return err
		}
		var err error
		out, err = s.clusterWorkload(tx, &d, clusters)
		return err
	})
	return out, translate(err, fmt.Sprintf("clusters of deployment %d", deployID))
}

// driftRow is the gorm model of table drift_events (migration 15).
type driftRow struct {
	ID        uint64 `gorm:"primaryKey"`
	ClusterID uint64
	Name      string
	Object    string
	Field     string
	Desired   string
	Actual    string
	Manager   string
	At        time.Time
	Corrected bool
	SeenAt    time.Time
}

func (driftRow) TableName() string { return "drift_events" }

type driftView struct {
	Row         driftRow `gorm:"embedded"`
	ClusterName string
}

// Bounds of what one drift row keeps.
const (
	maxDriftText  = 1024
	maxDriftField = 255
)

// clipText is s as valid UTF-8 (an agent's text may not be, and
// PostgreSQL refuses it) within n bytes, cut at a character.
func clipText(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// maxDriftKept is how many changes are kept per workload and cluster,
// the newest.
const maxDriftKept = 50

// RecordDrift keeps only the changes of workloads desired in the cluster
// that reported them: an agent cannot write into the record of a
// deployment that is not its cluster's.
func (s *Store) RecordDrift(ctx context.Context, ds []store.Drift) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	now := s.db.NowFunc()
	type pair struct {
		cluster uint64
		name    string
	}
	desired := map[pair]bool{}
	var rows []driftRow
	added := 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, d := range ds {
			p := pair{d.ClusterID, d.Name}
			ok, seen := desired[p]
			if !seen {
				var n int64
				if err := tx.Model(&desiredItemRow{}).Where("kind = ? AND name = ? AND deleted = ? AND cluster_id IN ?",
					store.ItemWorkload, d.Name, false, []uint64{store.AllClusters, d.ClusterID}).Count(&n).Error; err != nil {
					return err
				}
				ok = n > 0
				desired[p] = ok
			}
			if !ok {
				continue
			}
			rows = append(rows, driftRow{ClusterID: d.ClusterID, Name: clipText(d.Name, maxDriftField), Object: clipText(d.Object, maxDriftField),
				Field: clipText(d.Field, maxDriftField), Desired: clipText(d.Desired, maxDriftText), Actual: clipText(d.Actual, maxDriftText),
				Manager: clipText(d.Manager, maxDriftField), At: d.At.UTC(), Corrected: d.Corrected, SeenAt: now})
		}
		if len(rows) == 0 {
			return nil
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 500)
		if res.Error != nil {
			return res.Error
		}
		added = int(res.RowsAffected)
		for p, ok := range desired {
			if !ok {
				continue
			}
			keep := tx.Model(&driftRow{}).Select("id").Where("cluster_id = ? AND name = ?", p.cluster, p.name).Order("id DESC").Limit(maxDriftKept)
			if err := tx.Where("cluster_id = ? AND name = ? AND id NOT IN (?)", p.cluster, p.name, keep).Delete(&driftRow{}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return added, translate(err, "record drift")
}

func (s *Store) DeployDrift(ctx context.Context, deployID uint64, limit int) ([]store.Drift, error) {
	var d deployRow
	if err := s.db.WithContext(ctx).Select("business_id, name, created_at").Where("id = ?", deployID).Take(&d).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("deployment %d", deployID))
	}
	var rows []driftView
	err := s.db.WithContext(ctx).Table("drift_events").Select("drift_events.*, clusters.name AS cluster_name").
		Joins("LEFT JOIN clusters ON clusters.id = drift_events.cluster_id").
		// A deleted deployment's name may be taken again: its drift is not the new one's.
		Where("drift_events.name = ? AND drift_events.seen_at >= ?", workloadName(d.BusinessID, d.Name), d.CreatedAt).Order("drift_events.id DESC").Limit(limit).Scan(&rows).Error
	if err != nil {
		return nil, translate(err, "drift")
	}
	out := make([]store.Drift, len(rows))
	for i, v := range rows {
		r := &v.Row
		out[i] = store.Drift{ClusterID: r.ClusterID, Cluster: v.ClusterName, Name: r.Name, Object: r.Object, Field: r.Field,
			Desired: r.Desired, Actual: r.Actual, Manager: r.Manager, At: r.At, Corrected: r.Corrected, SeenAt: r.SeenAt}
	}
	return out, nil
}
