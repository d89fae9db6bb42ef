package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/store"
)

// podSecurityOf returns the pod security level of business id.
func (s *server) podSecurityOf(c *fiber.Ctx, business uint64) (string, error) {
	b, err := s.store.BusinessByID(c.UserContext(), business)
	if err != nil {
		return "", err
	}
	return b.PodSecurity, nil
}

// appResponse is an app as GET shows it: the container spec's fields for
// container apps, the chart's for chart apps.
type appResponse struct {
	ID         uint64 `json:"id"`
	BusinessID uint64 `json:"businessId"`
	Kind       string `json:"kind"`
	*deploy.AppSpec
	AppName      string `json:"appName"`
	Version      string `json:"version"`
	DeployType   string `json:"deployType"`
	ChartName    string `json:"chartName,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
	ChartDigest  string `json:"chartDigest,omitempty"`
	ChartSize    int64  `json:"chartSize,omitempty"`
	CreateTime   int64  `json:"createTime"`
	UpdateTime   int64  `json:"updateTime"`
}

func toAppResponse(a *store.App) appResponse {
	r := appResponse{
		ID: a.ID, BusinessID: a.BusinessID, Kind: string(a.Kind), AppName: a.Name, Version: a.Version,
		DeployType: a.DeployType, ChartName: a.ChartName, ChartVersion: a.ChartVersion, ChartDigest: a.ChartDigest,
		ChartSize: a.ChartSize, CreateTime: a.CreatedAt.Unix(), UpdateTime: a.UpdatedAt.Unix(),
	}
	if a.Kind == store.AppContainer {
		var s deploy.AppSpec
		if json.Unmarshal(a.Spec, &s) == nil {
			r.AppSpec = &s
		}
	}
	return r
}

// businessOf returns the caller's business for app writes: only members of
// an approved business (roles 2 and 3) own apps.
func businessOf(c *fiber.Ctx) (uint64, error) {
	me := callerOf(c).user
	switch me.Role() {
	case store.RoleUser, store.RoleBusinessAdmin:
		return me.BusinessID, nil
	}
	return 0, forbidden("applications, deployments and repositories belong to a business: only its members may do this")
}

func (s *server) saveApp(c *fiber.Ctx, a *store.App, chart []byte) error {
	if err := s.store.CreateApp(c.UserContext(), a, chart); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("application %s version %s already exists in your business", a.Name, a.Version)
		}
		return err
	}
	return ok(c, toAppResponse(a))
}

// createApp: POST /v1/app.
func (s *server) createApp(c *fiber.Ctx) error {
	business, err := businessOf(c)
	if err != nil {
		return err
	}
	var req deploy.AppRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	spec, err := req.Validate()
	if err != nil {
		return err
	}
	level, err := s.podSecurityOf(c, business)
	if err != nil {
		return err
	}
	if err := deploy.CheckPodSecurity(level, spec.Container()); err != nil {
		return err
	}
	raw, _ := json.Marshal(spec)
	a := &store.App{BusinessID: business, Name: spec.AppName, Version: spec.Version, Kind: store.AppContainer, DeployType: spec.DeployType, Spec: raw}
	return s.saveApp(c, a, nil)
}

// uploadChart: POST /v1/app/chart (multipart/form-data: appName, version,
// chart). The body is read only now that the token and role are checked,
// within --chart-limit, by at most Config.ChartUploads uploads at a time;
// the archive must decompress within Config.ChartUnpackedLimit before
// Helm's loader reads it (its refusals are the 422).
func (s *server) uploadChart(c *fiber.Ctx) error {
	business, err := businessOf(c)
	if err != nil {
		return err
	}
	ct := c.Get(fiber.HeaderContentType)
	boundary, err := formBoundary(ct)
	if err != nil {
		return err
	}
	release, err := s.chartSlot()
	if err != nil {
		return err
	}
	defer release()
	form, err := s.readChartForm(c, boundary)
	if err != nil {
		return err
	}
	name, version, err := deploy.CheckNameVersion(form.appName, form.version)
	if err != nil {
		return err
	}
	if form.chart == nil {
		return invalid("chart", "is required: a chart archive (.tgz) as a file field")
	}
	archive := form.chart
	if err := checkUnpacked(archive, s.cfg.ChartUnpackedLimit); err != nil {
		return err
	}
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		return invalid("chart", "not a valid Helm chart: %v", err)
	}
	if err := ch.Validate(); err != nil {
		return invalid("chart", "not a valid Helm chart: %v", err)
	}
	sum := sha256.Sum256(archive)
	a := &store.App{
		BusinessID: business, Name: name, Version: version, Kind: store.AppChart, DeployType: "helm",
		ChartDigest: "sha256:" + hex.EncodeToString(sum[:]), ChartName: ch.Metadata.Name, ChartVersion: ch.Metadata.Version,
		ChartSize: int64(len(archive)),
	}
	return s.saveApp(c, a, archive)
}

// listApps: GET /v1/app. Members see their business's apps, the system
// administrator all.
func (s *server) listApps(c *fiber.Ctx) error {
	page, err := parsePage(c, 10, true)
	if err != nil {
		return err
	}
	q := store.AppQuery{Name: c.Query("appName"), NameMode: store.NameMode(c.Query("appNameMode", "partial")), Version: c.Query("version"), Page: page}
	switch q.NameMode {
	case store.MatchStrict, store.MatchPartial, store.MatchPrefix:
	default:
		return invalid("appNameMode", "must be strict, partial or prefix, got %q", q.NameMode)
	}
	if err := checkText("appName", q.Name, 53); err != nil {
		return err
	}
	if q.Version != "" && !deploy.VersionRE.MatchString(q.Version) {
		return invalid("version", "must be a main version x.y, got %q", q.Version)
	}
	if me := callerOf(c).user; me.Role() != store.RoleSysAdmin {
		q.BusinessID = me.BusinessID
	}
	apps, total, err := s.store.ListApps(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]appResponse, len(apps))
	for i := range apps {
		out[i] = toAppResponse(&apps[i])
	}
	return list(c, out, total)
}

// getApp: GET /v1/app/id/{appId}.
func (s *server) getApp(c *fiber.Ctx) error {
	id, err := pathID(c, "appId")
	if err != nil {
		return err
	}
	a, err := s.store.AppByID(c.UserContext(), id)
	me := callerOf(c).user
	if errors.Is(err, store.ErrNotFound) || (err == nil && me.Role() != store.RoleSysAdmin && a.BusinessID != me.BusinessID) {
		return notFound("application %d not found", id)
	}
	if err != nil {
		return err
	}
	return ok(c, toAppResponse(a))
}

type deleteAppsRequest struct {
	AppID []uint64 `json:"appId"`
}

// deleteApps: DELETE /v1/app. All or nothing: one unknown id refuses the lot.
func (s *server) deleteApps(c *fiber.Ctx) error {
	business, err := businessOf(c)
	if err != nil {
		return err
	}
	var req deleteAppsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.AppID) == 0 || len(req.AppID) > 1000 {
		return invalid("appId", "must list 1 to 1000 application ids")
	}
	err = s.store.DeleteApps(c.UserContext(), business, req.AppID)
	if errors.Is(err, store.ErrInUse) {
		return conflict("%s is used by a deployment; delete or upgrade the deployment first", strings.TrimSuffix(err.Error(), ": in use"))
	}
	if err != nil {
		return notFoundAs(err)
	}
	return ok(c, nil)
}
