package api

import (
	"errors"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/store"
)

// rolloutResponse is a deployment's rollout as GET /v1/deploy/id/{id}
// shows it: where it stands, why, and each wave's clusters with the
// version each runs and its state.
type rolloutResponse struct {
	ID              uint64 `json:"id"`
	DeployType      int    `json:"deployType"`
	Version         string `json:"version"`
	PreviousVersion string `json:"previousVersion"`
	// State: running, waiting, approval, paused, failed, rolledBack,
	// aborted or succeeded.
	State string `json:"state"`
	// Wave is the current wave's number, from 1.
	Wave       int            `json:"wave"`
	Reason     string         `json:"reason"`
	Strategy   store.Strategy `json:"strategy"`
	Waves      []waveResponse `json:"waves"`
	CreateTime int64          `json:"createTime"`
	UpdateTime int64          `json:"updateTime"`
}

type waveResponse struct {
	Name string `json:"name"`
	// State: done, current or pending.
	State       string                `json:"state"`
	Approval    bool                  `json:"approval"`
	WaitSeconds int                   `json:"waitSeconds"`
	Clusters    []waveClusterResponse `json:"clusters"`
}

type waveClusterResponse struct {
	Name string `json:"name"`
	// Version is the version desired in the cluster ("" when none is).
	Version string `json:"version"`
	// State is the cluster's line of errorMessage, or "offline: " and it.
	State string `json:"state"`
}

// rolloutOf is d's newest rollout, or nil when it never had one.
func (s *server) rolloutOf(c *fiber.Ctx, d *store.Deploy) (*rolloutResponse, error) {
	r, err := s.store.LatestRollout(c.UserContext(), d.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, w := range r.Waves {
		ids = append(ids, w.Clusters...)
	}
	cws, err := s.store.ClusterWorkloads(c.UserContext(), d.ID, ids)
	if err != nil {
		return nil, err
	}
	byID := map[uint64]store.ClusterWorkload{}
	for _, cw := range cws {
		byID[cw.ClusterID] = cw
	}
	out := &rolloutResponse{
		ID: r.ID, DeployType: int(r.Type), Version: r.Version, PreviousVersion: r.PrevVersion, State: string(r.State),
		Wave: r.Wave + 1, Reason: r.Reason, Strategy: r.Strategy, CreateTime: r.CreatedAt.Unix(), UpdateTime: r.UpdatedAt.Unix(),
	}
	for i, w := range r.Waves {
		wr := waveResponse{Name: w.Name, State: "pending", Approval: w.Approval, WaitSeconds: w.WaitSeconds, Clusters: []waveClusterResponse{}}
		switch {
		case i < r.Wave || (i == r.Wave && r.State == store.RolloutSucceeded):
			wr.State = "done"
		case i == r.Wave:
			wr.State = "current"
		}
		for _, id := range w.Clusters {
			cw, ok := byID[id]
			switch {
			case !ok:
				continue // the cluster is gone
			case cw.Revision == 0:
				// Nothing of the deployment is desired there: a new
				// deployment the rollout has not reached.
				wr.Clusters = append(wr.Clusters, waveClusterResponse{Name: cw.Cluster, State: "not reached"})
				continue
			}
			_, line := deploy.ClusterHealth(cw.Report, cw.Revision)
			if !cw.Online {
				line = "offline: " + line
			}
			wr.Clusters = append(wr.Clusters, waveClusterResponse{Name: cw.Cluster, Version: cw.Version, State: line})
		}
		out.Waves = append(out.Waves, wr)
	}
	return out, nil
}

type rolloutActionRequest struct {
	// Action: pause, resume or abort.
	Action *string `json:"action"`
}

// rolloutDeploy: POST /v1/deploy/id/{deployId}/rollout pauses, resumes or
// aborts the deployment's active rollout; members of its business may,
// and the system administrator may pause or abort one (stopping harm is
// not a change).
func (s *server) rolloutDeploy(c *fiber.Ctx) error {
	d, err := s.visibleDeploy(c)
	if err != nil {
		return err
	}
	var req rolloutActionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	a, err := required("action", req.Action)
	if err != nil {
		return err
	}
	action := store.RolloutAction(a)
	if !slices.Contains([]store.RolloutAction{store.RolloutPause, store.RolloutResume, store.RolloutAbort}, action) {
		return invalid("action", "must be pause, resume or abort, got %q", clip(a))
	}
	me := callerOf(c).user
	if me.Role() == store.RoleSysAdmin && action == store.RolloutResume {
		return forbidden("only members of the deployment's business may resume its rollout")
	}
	if _, err := s.store.ActOnRollout(c.UserContext(), d.ID, action, time.Now()); errors.Is(err, store.ErrNotFound) {
		return conflict("deployment %q has no rollout in progress", d.Name)
	} else if err != nil {
		return err
	}
	if d, err = s.store.DeployByID(c.UserContext(), d.ID); err != nil {
		return err
	}
	out := toDeployResponse(d)
	if out.Rollout, err = s.rolloutOf(c, d); err != nil {
		return err
	}
	return ok(c, out)
}
