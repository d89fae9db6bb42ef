package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/gofiber/fiber/v2"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/ote-stack/ote/hub/podsecurity"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

var (
	appNameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?$`)
	appVersionRE = regexp.MustCompile(`^[0-9]{1,4}\.[0-9]{1,4}$`)
	imageRE      = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$`)
	repoIDRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	envNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)
	portNameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$`)
	volumeNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// appSpec is a container app as the API takes and shows it: the seed's
// fields, with port, env and volume as documented in docs/api.md.
type appSpec struct {
	AppName              string            `json:"appName"`
	DeployType           string            `json:"deployType"`
	Image                string            `json:"image"`
	Version              string            `json:"version"`
	RepositoryID         string            `json:"repositoryId"`
	Port                 []protocol.Port   `json:"port"`
	Command              string            `json:"command"`
	Volume               []protocol.Volume `json:"volume"`
	Env                  []protocol.EnvVar `json:"env"`
	Replicas             uint32            `json:"replicas"`
	MinReplicas          uint32            `json:"minReplicas"`
	MaxReplicas          uint32            `json:"maxReplicas"`
	MinCPU               uint32            `json:"minCPU"`
	MaxCPU               uint32            `json:"maxCPU"`
	GPU                  uint32            `json:"GPU"`
	IsHPA                bool              `json:"isHPA"`
	TargetCPUUtilization uint32            `json:"targetCPUUtilization"`
	TargetMemUtilization uint32            `json:"targetMemUtilization"`
	MinMemory            uint32            `json:"minMemory"`
	MaxMemory            uint32            `json:"maxMemory"`
	MaxUnavailable       uint32            `json:"maxUnavailable"`
	MaxSurge             uint32            `json:"maxSurge"`
	MinReadySeconds      uint32            `json:"minReadySeconds"`
}

// appRequest is the body of POST /v1/app; pointers tell absent from zero.
type appRequest struct {
	AppName              *string           `json:"appName"`
	DeployType           *string           `json:"deployType"`
	Image                *string           `json:"image"`
	Version              *string           `json:"version"`
	RepositoryID         *string           `json:"repositoryId"`
	Port                 *[]protocol.Port  `json:"port"`
	Command              *string           `json:"command"`
	Volume               []protocol.Volume `json:"volume"`
	Env                  []protocol.EnvVar `json:"env"`
	Replicas             *uint32           `json:"replicas"`
	MinReplicas          *uint32           `json:"minReplicas"`
	MaxReplicas          *uint32           `json:"maxReplicas"`
	MinCPU               *uint32           `json:"minCPU"`
	MaxCPU               *uint32           `json:"maxCPU"`
	GPU                  *uint32           `json:"GPU"`
	IsHPA                *bool             `json:"isHPA"`
	TargetCPUUtilization *uint32           `json:"targetCPUUtilization"`
	TargetMemUtilization *uint32           `json:"targetMemUtilization"`
	MinMemory            *uint32           `json:"minMemory"`
	MaxMemory            *uint32           `json:"maxMemory"`
	MaxUnavailable       *uint32           `json:"maxUnavailable"`
	MaxSurge             *uint32           `json:"maxSurge"`
	MinReadySeconds      *uint32           `json:"minReadySeconds"`
}

func required[T any](field string, v *T) (T, error) {
	if v == nil {
		var zero T
		return zero, invalid(field, "is required")
	}
	return *v, nil
}

func checkAppNameVersion(name, version *string) (string, string, error) {
	n, err := required("appName", name)
	if err != nil {
		return "", "", err
	}
	if !appNameRE.MatchString(n) {
		return "", "", invalid("appName", "must be 1-53 lower case letters, digits or '-', starting and ending with a letter or digit")
	}
	v, err := required("version", version)
	if err != nil {
		return "", "", err
	}
	if !appVersionRE.MatchString(v) {
		return "", "", invalid("version", "must be a main version x.y, such as 1.1, got %q", v)
	}
	return n, v, nil
}

// validate checks every field, in the seed's order, and returns the
// normalized spec.
func (r *appRequest) validate() (*appSpec, error) {
	var s appSpec
	var err error
	if s.AppName, s.Version, err = checkAppNameVersion(r.AppName, r.Version); err != nil {
		return nil, err
	}
	if s.DeployType, err = required("deployType", r.DeployType); err != nil {
		return nil, err
	}
	if s.DeployType != "deployment" && s.DeployType != "daemonset" {
		return nil, invalid("deployType", "must be deployment or daemonset, got %q", s.DeployType)
	}
	if s.Image, err = required("image", r.Image); err != nil {
		return nil, err
	}
	last := s.Image[strings.LastIndex(s.Image, "/")+1:]
	if len(s.Image) > 512 || !imageRE.MatchString(s.Image) || !(strings.Contains(last, ":") || strings.Contains(last, "@")) {
		return nil, invalid("image", "must be an image reference with a tag or digest, such as registry/app:1.0, got %q", s.Image)
	}
	if r.RepositoryID != nil && *r.RepositoryID != "" {
		if !repoIDRE.MatchString(*r.RepositoryID) {
			return nil, invalid("repositoryId", "must be 1-64 letters, digits, '_', '.' or '-'")
		}
		s.RepositoryID = *r.RepositoryID
	}
	ports, err := required("port", r.Port)
	if err != nil {
		return nil, err
	}
	if s.Port, err = checkPorts(ports); err != nil {
		return nil, err
	}
	if r.Command != nil {
		if _, err := splitCommand(*r.Command); err != nil {
			return nil, invalid("command", "%v", err)
		}
		s.Command = strings.TrimSpace(*r.Command)
	}
	if s.Volume, err = checkVolumes(r.Volume); err != nil {
		return nil, err
	}
	if s.Env, err = checkEnv(r.Env); err != nil {
		return nil, err
	}
	if err := r.checkResources(&s); err != nil {
		return nil, err
	}
	if err := r.checkScaling(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

func inRange(field string, v, lo, hi uint32) error {
	if v < lo || v > hi {
		return invalid(field, "must be between %d and %d, got %d", lo, hi, v)
	}
	return nil
}

func (r *appRequest) checkResources(s *appSpec) error {
	var err error
	if s.MinCPU, err = required("minCPU", r.MinCPU); err != nil {
		return err
	}
	if s.MaxCPU, err = required("maxCPU", r.MaxCPU); err != nil {
		return err
	}
	if err := inRange("minCPU", s.MinCPU, 1, 102400); err != nil {
		return err
	}
	if err := inRange("maxCPU", s.MaxCPU, s.MinCPU, 102400); err != nil {
		return invalid("maxCPU", "must be at least minCPU (%d) and at most 102400 (percent of a core), got %d", s.MinCPU, s.MaxCPU)
	}
	if s.MinMemory, err = required("minMemory", r.MinMemory); err != nil {
		return err
	}
	if s.MaxMemory, err = required("maxMemory", r.MaxMemory); err != nil {
		return err
	}
	if err := inRange("minMemory", s.MinMemory, 1, 1<<20); err != nil {
		return err
	}
	if s.MaxMemory < s.MinMemory || s.MaxMemory > 1<<20 {
		return invalid("maxMemory", "must be at least minMemory (%d) and at most %d (MB), got %d", s.MinMemory, 1<<20, s.MaxMemory)
	}
	if r.GPU != nil {
		if err := inRange("GPU", *r.GPU, 0, 16); err != nil {
			return err
		}
		s.GPU = *r.GPU
	}
	return nil
}

func (r *appRequest) checkScaling(s *appSpec) error {
	var err error
	if s.IsHPA, err = required("isHPA", r.IsHPA); err != nil {
		return err
	}
	if s.TargetCPUUtilization, err = required("targetCPUUtilization", r.TargetCPUUtilization); err != nil {
		return err
	}
	if err := inRange("targetCPUUtilization", s.TargetCPUUtilization, 0, 100); err != nil {
		return err
	}
	if s.TargetMemUtilization, err = required("targetMemUtilization", r.TargetMemUtilization); err != nil {
		return err
	}
	if err := inRange("targetMemUtilization", s.TargetMemUtilization, 0, 100); err != nil {
		return err
	}
	if s.MaxUnavailable, err = required("maxUnavailable", r.MaxUnavailable); err != nil {
		return err
	}
	if s.MaxSurge, err = required("maxSurge", r.MaxSurge); err != nil {
		return err
	}
	if s.MaxUnavailable == 0 && s.MaxSurge == 0 {
		return invalid("maxSurge", "maxUnavailable and maxSurge must not both be 0: a rolling update could not progress")
	}
	if err := inRange("maxUnavailable", s.MaxUnavailable, 0, 1000); err != nil {
		return err
	}
	if err := inRange("maxSurge", s.MaxSurge, 0, 1000); err != nil {
		return err
	}
	if s.MinReadySeconds, err = required("minReadySeconds", r.MinReadySeconds); err != nil {
		return err
	}
	if err := inRange("minReadySeconds", s.MinReadySeconds, 0, 3600); err != nil {
		return err
	}
	if s.DeployType == "daemonset" {
		// Replica counts are effective only for deployments (seed): a
		// daemonset runs one pod per selected node.
		if s.IsHPA {
			return invalid("isHPA", "a daemonset cannot be autoscaled; use deployType deployment")
		}
		return nil
	}
	s.Replicas = 1
	if r.Replicas != nil {
		s.Replicas = *r.Replicas
	}
	if err := inRange("replicas", s.Replicas, 0, 1000); err != nil {
		return err
	}
	if !s.IsHPA {
		return nil
	}
	if s.TargetCPUUtilization == 0 && s.TargetMemUtilization == 0 {
		return invalid("targetCPUUtilization", "an autoscaled app needs targetCPUUtilization or targetMemUtilization between 1 and 100")
	}
	if r.MinReplicas == nil || *r.MinReplicas < 1 {
		return invalid("minReplicas", "must be at least 1 when isHPA is true")
	}
	s.MinReplicas = *r.MinReplicas
	if r.MaxReplicas == nil || *r.MaxReplicas < s.MinReplicas || *r.MaxReplicas > 1000 {
		return invalid("maxReplicas", "must be between minReplicas (%d) and 1000 when isHPA is true", s.MinReplicas)
	}
	s.MaxReplicas = *r.MaxReplicas
	if s.Replicas < s.MinReplicas || s.Replicas > s.MaxReplicas {
		return invalid("replicas", "must be between minReplicas (%d) and maxReplicas (%d), got %d", s.MinReplicas, s.MaxReplicas, s.Replicas)
	}
	return nil
}

func checkPorts(ports []protocol.Port) ([]protocol.Port, error) {
	if len(ports) > 64 {
		return nil, invalid("port", "at most 64 ports")
	}
	seen := map[string]bool{}
	out := make([]protocol.Port, len(ports))
	for i, p := range ports {
		f := fmt.Sprintf("port[%d]", i)
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, invalid(f+".containerPort", "must be between 1 and 65535, got %d", p.ContainerPort)
		}
		if p.ServicePort < 0 || p.ServicePort > 65535 {
			return nil, invalid(f+".servicePort", "must be between 1 and 65535 (0: the containerPort), got %d", p.ServicePort)
		}
		if p.ServicePort == 0 {
			p.ServicePort = p.ContainerPort
		}
		switch p.Protocol {
		case "":
			p.Protocol = "TCP"
		case "TCP", "UDP", "SCTP":
		default:
			return nil, invalid(f+".protocol", "must be TCP, UDP or SCTP, got %q", p.Protocol)
		}
		if p.Name != "" && !portNameRE.MatchString(p.Name) {
			return nil, invalid(f+".name", "must be a DNS label of at most 15 characters")
		}
		key := fmt.Sprint(p.ServicePort, "/", p.Protocol)
		if seen[key] {
			return nil, invalid(f+".servicePort", "%s is used twice", key)
		}
		seen[key] = true
		out[i] = p
	}
	return out, nil
}

func checkEnv(env []protocol.EnvVar) ([]protocol.EnvVar, error) {
	if len(env) > 256 {
		return nil, invalid("env", "at most 256 variables")
	}
	seen := map[string]bool{}
	for i, e := range env {
		f := fmt.Sprintf("env[%d]", i)
		if !envNameRE.MatchString(e.Name) {
			return nil, invalid(f+".name", "must be a variable name (letters, digits, '_', '.', '-', not starting with a digit), got %q", e.Name)
		}
		if seen[e.Name] {
			return nil, invalid(f+".name", "%q is set twice", e.Name)
		}
		seen[e.Name] = true
		if len(e.Value) > 32<<10 {
			return nil, invalid(f+".value", "must be at most 32 KiB")
		}
	}
	return env, nil
}

func checkVolumes(vols []protocol.Volume) ([]protocol.Volume, error) {
	if len(vols) > 64 {
		return nil, invalid("volume", "at most 64 volumes")
	}
	seen := map[string]bool{}
	for i, v := range vols {
		f := fmt.Sprintf("volume[%d]", i)
		if !volumeNameRE.MatchString(v.Name) {
			return nil, invalid(f+".name", "must be a DNS label, got %q", v.Name)
		}
		if seen[v.Name] {
			return nil, invalid(f+".name", "%q is used twice", v.Name)
		}
		seen[v.Name] = true
		if !path.IsAbs(v.MountPath) || path.Clean(v.MountPath) != v.MountPath || strings.Contains(v.MountPath, ":") {
			return nil, invalid(f+".mountPath", "must be a clean absolute path, got %q", v.MountPath)
		}
		switch v.Type {
		case "emptyDir":
			if v.HostPath != "" {
				return nil, invalid(f+".hostPath", "is only for type hostPath")
			}
		case "hostPath":
			if !path.IsAbs(v.HostPath) || path.Clean(v.HostPath) != v.HostPath {
				return nil, invalid(f+".hostPath", "must be a clean absolute path, got %q", v.HostPath)
			}
		default:
			return nil, invalid(f+".type", "must be emptyDir or hostPath, got %q", v.Type)
		}
	}
	return vols, nil
}

// splitCommand splits a command line into words: blanks separate words;
// single and double quotes group them; a backslash escapes the next
// character outside single quotes. No shell runs it.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quote, escaped := false, rune(0), false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if escaped {
		return nil, errors.New("ends with a lone backslash")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// container is the part of the agents' workload spec that the app alone
// decides (pull secrets and autoscaling are added by compileWorkload).
func (a *appSpec) container() *protocol.ContainerSpec {
	cmd, _ := splitCommand(a.Command)
	return &protocol.ContainerSpec{
		Kind: a.DeployType, Image: a.Image, Ports: a.Port, Command: cmd, Env: a.Env, Volumes: a.Volume,
		Replicas: int32(a.Replicas), MinCPUMilli: int64(a.MinCPU) * 10, MaxCPUMilli: int64(a.MaxCPU) * 10,
		MinMemoryMiB: int64(a.MinMemory), MaxMemoryMiB: int64(a.MaxMemory), GPU: int64(a.GPU),
		MaxUnavailable: int32(a.MaxUnavailable), MaxSurge: int32(a.MaxSurge), MinReadySeconds: int32(a.MinReadySeconds),
	}
}

// podSecurityOf returns the pod security level of business id.
func (s *server) podSecurityOf(c *fiber.Ctx, business uint64) (string, error) {
	b, err := s.store.BusinessByID(c.UserContext(), business)
	if err != nil {
		return "", err
	}
	return b.PodSecurity, nil
}

// checkPodSecurity refuses, with 422 naming the field, what level forbids
// in a container app.
func checkPodSecurity(level string, cs *protocol.ContainerSpec) error {
	if v := podsecurity.Check(level, cs); v != nil {
		return invalid(v.Field, "%s are forbidden by the business's pod security level %q", v.What, v.Level)
	}
	return nil
}

// appResponse is an app as GET shows it: the container spec's fields for
// container apps, the chart's for chart apps.
type appResponse struct {
	ID         uint64 `json:"id"`
	BusinessID uint64 `json:"businessId"`
	Kind       string `json:"kind"`
	*appSpec
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
		var s appSpec
		if json.Unmarshal(a.Spec, &s) == nil {
			r.appSpec = &s
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
	var req appRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	spec, err := req.validate()
	if err != nil {
		return err
	}
	level, err := s.podSecurityOf(c, business)
	if err != nil {
		return err
	}
	if err := checkPodSecurity(level, spec.container()); err != nil {
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
	name, version, err := checkAppNameVersion(form.appName, form.version)
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
	if q.Version != "" && !appVersionRE.MatchString(q.Version) {
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
