package api

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// deployResponse is a deployment as the seed lists it, with businessId and
// businessName added.
type deployResponse struct {
	ID           uint64 `json:"id"`
	DeployName   string `json:"deployName"`
	AppName      string `json:"appName"`
	Version      string `json:"version"`
	Cluster      string `json:"cluster"`
	NodeLabel    string `json:"nodeLabel"`
	Comment      string `json:"comment"`
	DeployType   int    `json:"deployType"`
	Status       int    `json:"status"`
	CreateTime   int64  `json:"createTime"`
	UpdateTime   int64  `json:"updateTime"`
	Editable     bool   `json:"editable"`
	ErrorMessage string `json:"errorMessage"`
	AuditComment string `json:"auditComment"`
	BusinessID   uint64 `json:"businessId"`
	BusinessName string `json:"businessName"`
	// DriftPolicy: correct (agents apply the workload again when someone
	// changes it in a cluster) or report.
	DriftPolicy string `json:"driftPolicy"`
	// Drift lists the newest out-of-band changes agents found (GET
	// /v1/deploy/id/{deployId} only).
	Drift []driftResponse `json:"drift,omitempty"`
	// Rollout is the deployment's newest rollout (GET
	// /v1/deploy/id/{deployId} only; absent when it never had one).
	Rollout *rolloutResponse `json:"rollout,omitempty"`
}

func toDeployResponse(d *store.Deploy) deployResponse {
	return deployResponse{
		ID: d.ID, DeployName: d.Name, AppName: d.AppName, Version: d.Version, Cluster: d.ClusterLabel, NodeLabel: d.NodeLabel,
		Comment: d.Comment, DeployType: int(d.Type), Status: int(d.Status), CreateTime: d.CreatedAt.Unix(), UpdateTime: d.UpdatedAt.Unix(),
		Editable: d.Editable, ErrorMessage: d.ErrorMessage, AuditComment: d.AuditComment, BusinessID: d.BusinessID, BusinessName: d.BusinessName,
		DriftPolicy: d.DriftPolicy,
	}
}

// deployFields are the names `field` may select.
var deployFields = fieldsOf(deployResponse{})

type createDeployRequest struct {
	DeployName *string `json:"deployName"`
	AppName    *string `json:"appName"`
	Version    *string `json:"version"`
	Cluster    *string `json:"cluster"`
	NodeLabel  *string `json:"nodeLabel"`
	Comment    *string `json:"comment"`
	// Strategy, when given, rolls the deployment out in waves once
	// approved (docs/api.md, "Rollouts").
	Strategy *store.Strategy `json:"strategy"`
	// DriftPolicy: correct (the default) or report.
	DriftPolicy *string `json:"driftPolicy"`
}

// policy is the hub's audit policy.
func (s *server) policy() deploy.Policy {
	return deploy.Policy{AdminAutoDeploy: s.cfg.Features.EnableAdminAutoDeploy}
}

// appVersion loads app name at version of business; 404 names what is missing.
func (s *server) appVersion(c *fiber.Ctx, business uint64, name, version string) (*store.App, error) {
	apps, _, err := s.store.ListApps(c.UserContext(), store.AppQuery{BusinessID: business, Name: name, NameMode: store.MatchStrict, Version: version, Page: store.Page{Limit: 1}})
	if err != nil {
		return nil, err
	}
	if len(apps) == 0 {
		return nil, notFound("application %s version %s not found in your business", name, version)
	}
	return &apps[0], nil
}

// compileWorkload compiles deployment d of app at the pod security level
// of the deployment's business (deploy.Compile).
func (s *server) compileWorkload(c *fiber.Ctx, d *store.Deploy, app *store.App) ([]byte, error) {
	level, err := s.podSecurityOf(c, d.BusinessID)
	if err != nil {
		return nil, err
	}
	return deploy.Compile(c.UserContext(), d, app, level, pullSecrets{s})
}

// createDeploy: POST /v1/deploy.
func (s *server) createDeploy(c *fiber.Ctx) error {
	business, err := businessOf(c)
	if err != nil {
		return err
	}
	var req createDeployRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name, err := required("deployName", req.DeployName)
	if err != nil {
		return err
	}
	if !deploy.NameRE.MatchString(name) {
		return invalid("deployName", "must be 1-53 lower case letters, digits or '-', starting and ending with a letter or digit")
	}
	appName, version, err := deploy.CheckNameVersion(req.AppName, req.Version)
	if err != nil {
		return err
	}
	d := &store.Deploy{BusinessID: business, Name: name, AppName: appName, Version: version, CreatedBy: callerOf(c).user.ID}
	if req.Cluster != nil && *req.Cluster != "" {
		if d.ClusterLabel, err = checkLabel("cluster", req.Cluster); err != nil {
			return err
		}
	}
	if req.NodeLabel != nil && *req.NodeLabel != "" {
		if d.NodeLabel, err = checkLabel("nodeLabel", req.NodeLabel); err != nil {
			return err
		}
	}
	if req.Comment != nil {
		if err := checkText("comment", *req.Comment, 2000); err != nil {
			return err
		}
		d.Comment = *req.Comment
	}
	if err := s.checkStrategy(c, req.Strategy, d.ClusterLabel); err != nil {
		return err
	}
	d.DriftPolicy = protocol.DriftCorrect
	if req.DriftPolicy != nil {
		if d.DriftPolicy, err = checkDriftPolicy(*req.DriftPolicy); err != nil {
			return err
		}
	}
	app, err := s.appVersion(c, business, appName, version)
	if err != nil {
		return err
	}
	// Compiling now refuses, before anything is recorded, what could not
	// be deployed (a missing external repository).
	spec, err := s.compileWorkload(c, d, app)
	if err != nil {
		return err
	}
	v := s.policy().Decide(callerOf(c).user.Role(), store.DeployNew, nil)
	dr := &store.DeployRequest{Comment: d.Comment, RequestedBy: d.CreatedBy, Strategy: req.Strategy}
	if err := s.store.CreateDeploy(c.UserContext(), d, dr, spec, v); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("deployment %q already exists in your business", name)
		}
		return err
	}
	if v.Approve {
		s.desiredWritten("deploy-created")
	}
	return ok(c, toDeployResponse(d))
}

// visibleDeploy loads deployment {deployId}: members see their business's,
// the system administrator all; others get 404.
func (s *server) visibleDeploy(c *fiber.Ctx) (*store.Deploy, error) {
	id, err := pathID(c, "deployId")
	if err != nil {
		return nil, err
	}
	d, err := s.store.DeployByID(c.UserContext(), id)
	me := callerOf(c).user
	if errors.Is(err, store.ErrNotFound) || (err == nil && me.Role() != store.RoleSysAdmin && d.BusinessID != me.BusinessID) {
		return nil, notFound("deployment %d not found", id)
	}
	return d, err
}

// listDeploys: GET /v1/deploy.
func (s *server) listDeploys(c *fiber.Ctx) error {
	page, err := parsePage(c, 10, true)
	if err != nil {
		return err
	}
	fields, err := parseFields(c.Query("field"), deployFields)
	if err != nil {
		return err
	}
	q := store.DeployQuery{AppName: c.Query("appName"), NameMode: store.NameMode(c.Query("appNameMode", "partial")), Page: page}
	switch q.NameMode {
	case store.MatchStrict, store.MatchPartial, store.MatchPrefix:
	default:
		return invalid("appNameMode", "must be strict, partial or prefix, got %q", q.NameMode)
	}
	switch v := c.Query("editable", "all"); v {
	case "all":
	case "true", "false":
		e := v == "true"
		q.Editable = &e
	default:
		return invalid("editable", "must be true, false or all, got %q", v)
	}
	switch v := c.Query("running", "all"); v {
	case "all":
	case "true":
		q.Running = true
	default:
		return invalid("running", "must be true or all, got %q", v)
	}
	if me := callerOf(c).user; me.Role() != store.RoleSysAdmin {
		q.BusinessID = me.BusinessID
	}
	ds, total, err := s.store.ListDeploys(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]any, len(ds))
	for i := range ds {
		if fields == nil {
			out[i] = toDeployResponse(&ds[i])
		} else {
			out[i] = pick(toDeployResponse(&ds[i]), fields)
		}
	}
	return list(c, out, total)
}

// parseFields reads a comma-separated field selection among allowed.
func parseFields(v string, allowed map[string]bool) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if !allowed[f] {
			return nil, invalid("field", "unknown field %q", f)
		}
		out = append(out, f)
	}
	return out, nil
}

type historyVersion struct {
	Version string `json:"version"`
	Since   int64  `json:"deployTime"`
}

// getDeploy: GET /v1/deploy/id/{deployId}; field=historyVersion lists the
// versions that have been live, newest first.
func (s *server) getDeploy(c *fiber.Ctx) error {
	d, err := s.visibleDeploy(c)
	if err != nil {
		return err
	}
	if c.Query("field") == "historyVersion" {
		hist, err := s.store.DeployHistory(c.UserContext(), d.ID)
		if err != nil {
			return err
		}
		out := make([]historyVersion, len(hist))
		for i, h := range hist {
			out[i] = historyVersion{Version: h.Version, Since: h.Since.Unix()}
		}
		return list(c, out, int64(len(out)))
	}
	fields, err := parseFields(c.Query("field"), deployFields)
	if err != nil {
		return err
	}
	if fields != nil {
		return ok(c, pick(toDeployResponse(d), fields))
	}
	out := toDeployResponse(d)
	if out.Rollout, err = s.rolloutOf(c, d); err != nil {
		return err
	}
	if out.Drift, err = s.driftOf(c, d); err != nil {
		return err
	}
	return ok(c, out)
}

// driftResponse is an out-of-band change of a deployment's workload in a
// cluster: what changed, from what to what, who changed it and when, and
// whether the agent put it back.
type driftResponse struct {
	Cluster   string `json:"cluster"`
	Object    string `json:"object"`
	Field     string `json:"field"`
	Desired   string `json:"desired"`
	Actual    string `json:"actual"`
	Manager   string `json:"manager"`
	Time      int64  `json:"time"`
	Corrected bool   `json:"corrected"`
	// ReportTime is when the hub heard of it.
	ReportTime int64 `json:"reportTime"`
}

// maxDriftShown bounds the changes GET /v1/deploy/id/{id} lists.
const maxDriftShown = 20

func (s *server) driftOf(c *fiber.Ctx, d *store.Deploy) ([]driftResponse, error) {
	ds, err := s.store.DeployDrift(c.UserContext(), d.ID, maxDriftShown)
	if err != nil {
		return nil, err
	}
	out := make([]driftResponse, len(ds))
	for i, x := range ds {
		out[i] = driftResponse{Cluster: x.Cluster, Object: x.Object, Field: x.Field, Desired: x.Desired, Actual: x.Actual,
			Manager: x.Manager, Time: x.At.Unix(), Corrected: x.Corrected, ReportTime: x.SeenAt.Unix()}
	}
	return out, nil
}

type changeDeployRequest struct {
	Version *string `json:"version"`
	Comment *string `json:"comment"`
	// Strategy, when given, rolls the change out in waves once approved.
	Strategy *store.Strategy `json:"strategy"`
	// DriftPolicy, when given, becomes the deployment's with the change.
	DriftPolicy *string `json:"driftPolicy"`
}

func checkDriftPolicy(p string) (string, error) {
	if p != protocol.DriftCorrect && p != protocol.DriftReport {
		return "", invalid("driftPolicy", "must be correct or report, got %q", clip(p))
	}
	return p, nil
}

// checkStrategy validates a rollout strategy for a deployment to the
// clusters carrying label (422 naming the field); nil is none.
func (s *server) checkStrategy(c *fiber.Ctx, st *store.Strategy, label string) error {
	if st == nil {
		return nil
	}
	// The targets: the clusters carrying label, or every cluster.
	cs, _, err := s.store.ListClusters(c.UserContext(), store.ClusterQuery{Label: label})
	if err != nil {
		return err
	}
	targets := make([]deploy.Candidate, len(cs))
	for i, cl := range cs {
		targets[i] = deploy.Candidate{ID: cl.ID, Name: cl.Name, Labels: cl.Labels}
	}
	return deploy.ValidateStrategy(st, label, targets)
}

// rolloutInFlight refuses (409) a change of d while a rollout holds it.
func (s *server) rolloutInFlight(c *fiber.Ctx, d *store.Deploy) error {
	r, err := s.store.LatestRollout(c.UserContext(), d.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !r.State.Active()) {
		return nil
	}
	if err != nil {
		return err
	}
	return conflict("deployment %q is rolling out version %s (wave %d of %d, %s: %s); resume it until it ends, or abort it first (POST /v1/deploy/id/%d/rollout)",
		d.Name, r.Version, r.Wave+1, len(r.Waves), r.State, r.Reason, d.ID)
}

// change files an upgrade, rollback or deletion of deployment d, rolled
// out by req's strategy and with its drift policy when it sets them (req
// is nil for a deletion).
func (s *server) change(c *fiber.Ctx, d *store.Deploy, typ store.DeployType, version, comment string, req *changeDeployRequest) error {
	me := callerOf(c).user
	if me.Role() == store.RoleSysAdmin || d.BusinessID != me.BusinessID {
		return forbidden("only members of the deployment's business may change it")
	}
	var st *store.Strategy
	policy := ""
	if req != nil {
		st = req.Strategy
		if req.DriftPolicy != nil {
			var err error
			if policy, err = checkDriftPolicy(*req.DriftPolicy); err != nil {
				return err
			}
		}
	}
	if err := s.rolloutInFlight(c, d); err != nil {
		return err
	}
	if err := s.checkStrategy(c, st, d.ClusterLabel); err != nil {
		return err
	}
	// spec is compiled now, so that what could not be deployed is refused
	// before anything is recorded; a deletion has none.
	var spec []byte
	if typ != store.DeployDeleteReq {
		app, err := s.appVersion(c, d.BusinessID, d.AppName, version)
		if err != nil {
			return err
		}
		changed := *d
		if policy != "" {
			changed.DriftPolicy = policy
		}
		if spec, err = s.compileWorkload(c, &changed, app); err != nil {
			return err
		}
	}
	v := s.policy().Decide(me.Role(), typ, d)
	dr := &store.DeployRequest{Type: typ, Version: version, Comment: comment, RequestedBy: me.ID, Strategy: st, DriftPolicy: policy}
	if err := s.store.RequestChange(c.UserContext(), d.ID, dr, spec, v); err != nil {
		if errors.Is(err, store.ErrNotEditable) {
			return conflict("deployment %q has a change waiting for audit; wait for it or ask an administrator", d.Name)
		}
		return err
	}
	if v.Approve {
		s.desiredWritten("deploy-changed")
	}
	d, err := s.store.DeployByID(c.UserContext(), d.ID)
	if err != nil {
		return err
	}
	return ok(c, toDeployResponse(d))
}

func (s *server) decodeChange(c *fiber.Ctx, commentRequired bool) (*changeDeployRequest, string, string, error) {
	var req changeDeployRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, "", "", err
	}
	v, err := required("version", req.Version)
	if err != nil {
		return nil, "", "", err
	}
	if !deploy.VersionRE.MatchString(v) {
		return nil, "", "", invalid("version", "must be a main version x.y, got %q", v)
	}
	if commentRequired && req.Comment == nil {
		return nil, "", "", invalid("comment", "is required")
	}
	comment := ""
	if req.Comment != nil {
		comment = *req.Comment
		if err := checkText("comment", comment, 2000); err != nil {
			return nil, "", "", err
		}
	}
	return &req, v, comment, nil
}

// upgradeDeploy: POST /v1/deploy/id/{deployId}.
func (s *server) upgradeDeploy(c *fiber.Ctx) error {
	d, err := s.visibleDeploy(c)
	if err != nil {
		return err
	}
	req, version, comment, err := s.decodeChange(c, false)
	if err != nil {
		return err
	}
	if version == d.Version {
		return invalid("version", "the deployment runs version %s already", version)
	}
	return s.change(c, d, store.DeployUpgrade, version, comment, req)
}

// rollbackDeploy: PUT /v1/deploy/id/{deployId}, to a version that was live.
func (s *server) rollbackDeploy(c *fiber.Ctx) error {
	d, err := s.visibleDeploy(c)
	if err != nil {
		return err
	}
	req, version, comment, err := s.decodeChange(c, true)
	if err != nil {
		return err
	}
	if version == d.Version {
		return invalid("version", "the deployment runs version %s already", version)
	}
	hist, err := s.store.DeployHistory(c.UserContext(), d.ID)
	if err != nil {
		return err
	}
	for _, h := range hist {
		if h.Version == version {
			return s.change(c, d, store.DeployRollback, version, comment, req)
		}
	}
	return invalid("version", "version %s never ran in this deployment; roll back to one that did (field=historyVersion)", version)
}

// deleteDeployByID: DELETE /v1/deploy/id/{deployId}.
func (s *server) deleteDeployByID(c *fiber.Ctx) error {
	d, err := s.visibleDeploy(c)
	if err != nil {
		return err
	}
	return s.deleteDeploy(c, d)
}

// deleteDeployByName: DELETE /v1/deploy/{deployName}.
func (s *server) deleteDeployByName(c *fiber.Ctx) error {
	name := c.Params("deployName")
	if !deploy.NameRE.MatchString(name) {
		return invalid("deployName", "%q is not a valid deployment name", name)
	}
	me := callerOf(c).user
	d, err := s.store.DeployByName(c.UserContext(), me.BusinessID, name)
	if errors.Is(err, store.ErrNotFound) || me.BusinessID == 0 {
		return notFound("deployment %q not found", name)
	}
	if err != nil {
		return err
	}
	return s.deleteDeploy(c, d)
}

func (s *server) deleteDeploy(c *fiber.Ctx, d *store.Deploy) error {
	if d.Status == store.DeployDeleted {
		return notFound("deployment %q is deleted already", d.Name)
	}
	return s.change(c, d, store.DeployDeleteReq, "", "", nil)
}

type auditDeployRequest struct {
	ID      *uint64 `json:"id"`
	Status  *int    `json:"status"`
	Comment *string `json:"comment"`
}

// auditDeploy: PUT (and POST, as the seed's example shows) /v1/admin/deploy.
// id is the audit request's id (GET /v1/admin/deploy); status 1 approves,
// 2 disapproves.
func (s *server) auditDeploy(c *fiber.Ctx) error {
	var req auditDeployRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	id, err := required("id", req.ID)
	if err != nil {
		return err
	}
	st, err := required("status", req.Status)
	if err != nil {
		return err
	}
	if st != 1 && st != 2 {
		return invalid("status", "must be 1 (approved) or 2 (disapproved), got %d", st)
	}
	comment, err := required("comment", req.Comment)
	if err != nil {
		return err
	}
	if err := checkText("comment", comment, 2000); err != nil {
		return err
	}
	ar, err := s.store.DeployRequestByID(c.UserContext(), id)
	me := callerOf(c).user
	if errors.Is(err, store.ErrNotFound) || (err == nil && me.Role() != store.RoleSysAdmin && ar.BusinessID != me.BusinessID) {
		return notFound("audit request %d not found", id)
	}
	if err != nil {
		return err
	}
	auditBusinessOf(c, ar.BusinessID)
	var spec []byte
	// A wave's approval lets its rollout's change go on: the rollout
	// holds the compiled spec.
	if st == 1 && ar.Type != store.DeployDeleteReq && ar.Wave == 0 {
		d, err := s.store.DeployByID(c.UserContext(), ar.DeployID)
		if err != nil {
			return err
		}
		app, err := s.appVersion(c, ar.BusinessID, ar.AppName, ar.Version)
		if err != nil {
			return conflict("application %s version %s is gone; disapprove this request", ar.AppName, ar.Version)
		}
		if ar.DriftPolicy != "" {
			d.DriftPolicy = ar.DriftPolicy
		}
		if spec, err = s.compileWorkload(c, d, app); err != nil {
			return err
		}
	}
	d, err := s.store.AuditDeploy(c.UserContext(), id, st == 1, comment, spec)
	if errors.Is(err, store.ErrAlreadyAudited) {
		return conflict("audit request %d has been decided already", id)
	}
	if err != nil {
		return err
	}
	if st == 1 {
		s.desiredWritten("deploy-audited")
	}
	return ok(c, toDeployResponse(d))
}

// auditResponse is an audit request as GET /v1/admin/deploy lists it.
type auditResponse struct {
	ID           uint64 `json:"id"`
	BusinessName string `json:"businessName"`
	AppName      string `json:"appName"`
	Version      string `json:"version"`
	Cluster      string `json:"cluster"`
	DeployID     uint64 `json:"deployId"`
	DeployType   int    `json:"deployType"`
	Status       int    `json:"status"`
	Comment      string `json:"comment"`
	CreateTime   int64  `json:"createTime"`
	UpdateTime   int64  `json:"updateTime"`
	// Wave, for the approval of a rollout's wave, is the wave's number
	// (from 1) and Clusters the clusters it takes the change to.
	Wave     int      `json:"wave,omitempty"`
	Clusters []string `json:"clusters,omitempty"`
}

// listAudits: GET /v1/admin/deploy.
func (s *server) listAudits(c *fiber.Ctx) error {
	page, desc, err := parseIDList(c, false, "desc")
	if err != nil {
		return err
	}
	q := store.DeployRequestQuery{BusinessName: c.Query("businessName"), Desc: desc, Page: page}
	if err := checkText("businessName", q.BusinessName, 64); err != nil {
		return err
	}
	if me := callerOf(c).user; me.Role() != store.RoleSysAdmin {
		q.BusinessID = me.BusinessID
	}
	rs, total, err := s.store.ListDeployRequests(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]auditResponse, len(rs))
	for i, r := range rs {
		out[i] = auditResponse{
			ID: r.ID, BusinessName: r.BusinessName, AppName: r.AppName, Version: r.Version, Cluster: r.ClusterLabel,
			DeployID: r.DeployID, DeployType: int(r.Type), Status: r.Status, Comment: r.Comment,
			CreateTime: r.CreatedAt.Unix(), UpdateTime: r.UpdatedAt.Unix(), Wave: r.Wave, Clusters: r.Clusters,
		}
	}
	return list(c, out, total)
}
