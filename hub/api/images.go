package api

import (
	"context"
	"encoding/hex"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/hub/registry"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// RegistryConfig is the image registry the hub fronts.
type RegistryConfig struct {
	// Client reads and deletes images in the registry.
	Client *registry.Client
	// Issuer signs the registry's tokens (the realm is GET/POST
	// /v1/registry/token).
	Issuer *registry.Issuer
	// Host is the registry's address in imageAddress, e.g.
	// "registry.example.com:5000".
	Host string
}

// Names the registry accepts (distribution's reference grammar, lower case):
// projects are one path component; images are "<project>/<path>".
var (
	projectNameRE  = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	imageNameRE    = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$`)
	tagRE          = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	registryUserRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)
)

func checkProjectName(field, n string) error {
	if n == "" || len(n) > 64 || !projectNameRE.MatchString(n) {
		return invalid(field, "must be 1-64 lower-case letters and digits, separated by '.', '_' or '-' (a registry path component), got %q", clip(n))
	}
	return nil
}

func checkImageName(field, n string) error {
	if n == "" || len(n) > 255 || !imageNameRE.MatchString(n) {
		return invalid(field, "must be <project>/<name>: lower-case path components of letters and digits separated by '.', '_' or '-', at most 255 characters, got %q", clip(n))
	}
	return nil
}

// clip keeps echoed input short.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func (s *server) registryOr503() (*RegistryConfig, error) {
	if s.cfg.Registry == nil {
		return nil, errorf(fiber.StatusServiceUnavailable, "this hub has no image registry configured")
	}
	return s.cfg.Registry, nil
}

// registryErr maps a failed registry call: unreachable is 503, anything
// else the registry answered is 502; the detail is logged, the message says
// what happened.
func registryErr(err error) error {
	var re *registry.Error
	if !errors.As(err, &re) {
		return err
	}
	if re.Status == 0 {
		return &Error{Status: fiber.StatusServiceUnavailable, Message: "the image registry is unreachable; try again later", Cause: err}
	}
	if re.Status == fiber.StatusUnauthorized || re.Status == fiber.StatusForbidden {
		return &Error{Status: fiber.StatusBadGateway, Message: "the image registry refused the hub's token: check that it trusts the hub's key (auth.token settings)", Cause: err}
	}
	return &Error{Status: fiber.StatusBadGateway, Message: "the image registry failed: " + clip(re.Msg), Cause: err}
}

// projectResponse is a project as GET /v1/repository/project shows it; the
// seed gives its times as strings (RFC 3339, UTC).
type projectResponse struct {
	ProjectID   uint64 `json:"projectId"`
	ProjectName string `json:"projectName"`
	CreateTime  string `json:"createTime"`
	UpdateTime  string `json:"updateTime"`
	Public      bool   `json:"public"`
	ImageCount  int64  `json:"imageCount"`
}

func toProjectResponse(p *store.Project) projectResponse {
	return projectResponse{ProjectID: p.ID, ProjectName: p.Name, Public: p.Public, ImageCount: p.ImageCount,
		CreateTime: p.CreatedAt.UTC().Format(time.RFC3339), UpdateTime: p.UpdatedAt.UTC().Format(time.RFC3339)}
}

// canSee: members of the project's business, system administrators, and
// everyone for public projects.
func canSee(u *store.User, p *store.Project) bool {
	return p.Public || canPush(u, p)
}

// canPush: members of the project's business and system administrators.
func canPush(u *store.User, p *store.Project) bool {
	switch u.Role() {
	case store.RoleSysAdmin:
		return true
	case store.RoleUser, store.RoleBusinessAdmin:
		return p.BusinessID != 0 && p.BusinessID == u.BusinessID
	}
	return false
}

// canDelete: administrators of the project's business and system
// administrators.
func canDelete(u *store.User, p *store.Project) bool {
	switch u.Role() {
	case store.RoleSysAdmin:
		return true
	case store.RoleBusinessAdmin:
		return p.BusinessID != 0 && p.BusinessID == u.BusinessID
	}
	return false
}

// visibleProject finds a project the caller may see; 404 otherwise.
func (s *server) visibleProject(c *fiber.Ctx, name string) (*store.Project, error) {
	p, err := s.store.ProjectByName(c.UserContext(), name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if p == nil || !canSee(callerOf(c).user, p) {
		return nil, notFound("project %q not found", name)
	}
	return p, nil
}

// listProjects: GET /v1/repository/project. Members see their business's
// projects and the public ones; system administrators see all.
func (s *server) listProjects(c *fiber.Ctx) error {
	page, err := parsePage(c, 10, false)
	if err != nil {
		return err
	}
	u := callerOf(c).user
	q := store.ProjectQuery{Business: u.BusinessID, Name: c.Query("projectName"), Page: page}
	if u.Role() == store.RoleSysAdmin {
		q.Business = store.AnyBusiness
	}
	if err := checkText("projectName", q.Name, 64); err != nil {
		return err
	}
	if raw := c.Query("public"); raw != "" {
		v, err := strconv.ParseBool(raw)
		if err != nil {
			return invalid("public", "must be true or false, got %q", clip(raw))
		}
		q.Public = &v
	}
	ps, total, err := s.store.ListProjects(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]projectResponse, len(ps))
	for i := range ps {
		out[i] = toProjectResponse(&ps[i])
	}
	return list(c, out, total)
}

type createProjectRequest struct {
	ProjectName *string `json:"projectName"`
	Public      *bool   `json:"public"`
}

// createProject: POST /v1/repository/project, 201. The project belongs to
// the caller's business (system administrators make platform projects that
// only they push to). With --private-project only system administrators may
// make a project public.
func (s *server) createProject(c *fiber.Ctx) error {
	var req createProjectRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name, err := required("projectName", req.ProjectName)
	if err != nil {
		return err
	}
	if err := checkProjectName("projectName", name); err != nil {
		return err
	}
	public, err := required("public", req.Public)
	if err != nil {
		return err
	}
	u := callerOf(c).user
	if public && s.cfg.Features.PrivateProject && u.Role() != store.RoleSysAdmin {
		return forbidden("this hub keeps projects private (--private-project): only a system administrator may make a public one")
	}
	p := &store.Project{Name: name, BusinessID: u.BusinessID, Public: public}
	if u.Role() == store.RoleSysAdmin {
		p.BusinessID = 0
	}
	if err := s.store.CreateProject(c.UserContext(), p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("project %q already exists", name)
		}
		return err
	}
	return created(c, toProjectResponse(p))
}

type deleteProjectsRequest struct {
	ProjectID []uint64 `json:"projectId"`
}

// deleteProjects: DELETE /v1/repository/project. Business administrators
// delete their business's projects, system administrators any; a project
// that still holds images is refused (409) and nothing is deleted.
func (s *server) deleteProjects(c *fiber.Ctx) error {
	var req deleteProjectsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.ProjectID) == 0 || len(req.ProjectID) > 1000 {
		return invalid("projectId", "must list 1 to 1000 project ids")
	}
	u := callerOf(c).user
	business := u.BusinessID
	switch u.Role() {
	case store.RoleSysAdmin:
		business = store.AnyBusiness
	case store.RoleBusinessAdmin:
	default:
		return forbidden("only administrators of the business, or system administrators, delete projects")
	}
	if err := s.store.DeleteProjects(c.UserContext(), business, req.ProjectID); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return conflict("%s", strings.TrimSuffix(err.Error(), ": "+store.ErrInUse.Error()))
		}
		return notFoundAs(err)
	}
	return ok(c, nil)
}

// imageResponse is an image as GET /v1/repository/image shows it.
type imageResponse struct {
	ProjectName  string `json:"projectName"`
	Public       bool   `json:"public"`
	ImageName    string `json:"imageName"`
	ImageAddress string `json:"imageAddress"`
	CreateTime   int64  `json:"createTime"`
	UpdateTime   int64  `json:"updateTime"`
}

// listImages: GET /v1/repository/image?projectName=. imageName filters by
// substring of the image's full name ("<project>/<path>").
func (s *server) listImages(c *fiber.Ctx) error {
	reg, err := s.registryOr503()
	if err != nil {
		return err
	}
	page, desc, err := parseIDList(c, true, "desc")
	if err != nil {
		return err
	}
	pn := c.Query("projectName")
	if pn == "" {
		return invalid("projectName", "is required")
	}
	if err := checkProjectName("projectName", pn); err != nil {
		return err
	}
	filter := c.Query("imageName")
	if err := checkText("imageName", filter, 255); err != nil {
		return err
	}
	p, err := s.visibleProject(c, pn)
	if err != nil {
		return err
	}
	imgs, total, err := s.store.ListImages(c.UserContext(), store.ImageQuery{ProjectID: p.ID, Name: filter, Desc: desc, Page: page})
	if err != nil {
		return err
	}
	out := make([]imageResponse, len(imgs))
	for i, im := range imgs {
		out[i] = imageResponse{ProjectName: p.Name, Public: p.Public, ImageName: im.Name, ImageAddress: reg.Host + "/" + im.Name,
			CreateTime: im.CreatedAt.Unix(), UpdateTime: im.UpdatedAt.Unix()}
	}
	return list(c, out, total)
}

// tagResponse is a tag as GET /v1/repository/image/tag shows it; digest is
// ours (pull by digest with imageAddress@digest).
type tagResponse struct {
	Tag          string `json:"tag"`
	ImageAddress string `json:"imageAddress"`
	Digest       string `json:"digest"`
	CreateTime   int64  `json:"createTime"`
	UpdateTime   int64  `json:"updateTime"`
}

// imageOf finds an image whose project the caller may see; 404 otherwise.
func (s *server) imageOf(c *fiber.Ctx, name string) (*store.Project, *store.Image, error) {
	p, err := s.visibleProject(c, name[:strings.IndexByte(name, '/')])
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.Status == fiber.StatusNotFound {
		return nil, nil, notFound("image %q not found", name)
	}
	if err != nil {
		return nil, nil, err
	}
	img, err := s.store.Image(c.UserContext(), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound("image %q not found", name)
	}
	return p, img, err
}

// listTags: GET /v1/repository/image/tag?imageName=, newest first.
func (s *server) listTags(c *fiber.Ctx) error {
	reg, err := s.registryOr503()
	if err != nil {
		return err
	}
	page, err := parsePage(c, 10, true)
	if err != nil {
		return err
	}
	name := c.Query("imageName")
	if name == "" {
		return invalid("imageName", "is required")
	}
	if err := checkImageName("imageName", name); err != nil {
		return err
	}
	if _, _, err := s.imageOf(c, name); err != nil {
		return err
	}
	tags, total, err := s.store.ListTags(c.UserContext(), name, page)
	if err != nil {
		return notFoundAs(err)
	}
	out := make([]tagResponse, len(tags))
	for i, t := range tags {
		out[i] = tagResponse{Tag: t.Tag, ImageAddress: reg.Host + "/" + name, Digest: t.Digest, CreateTime: t.CreatedAt.Unix(), UpdateTime: t.UpdatedAt.Unix()}
	}
	return list(c, out, total)
}

// deletableImage checks name and that the caller may delete it.
func (s *server) deletableImage(c *fiber.Ctx, field, name string) error {
	if err := checkImageName(field, name); err != nil {
		return err
	}
	p, _, err := s.imageOf(c, name)
	if err != nil {
		return err
	}
	if !canDelete(callerOf(c).user, p) {
		return forbidden("only administrators of the project's business, or system administrators, delete images")
	}
	return nil
}

type deleteImagesRequest struct {
	ImageName []string `json:"imageName"`
}

// deleteImages: DELETE /v1/repository/image. Every name is checked first
// (422, 404, 403: nothing deleted); then every manifest of each image is
// deleted from the registry, which takes its tags with it.
func (s *server) deleteImages(c *fiber.Ctx) error {
	reg, err := s.registryOr503()
	if err != nil {
		return err
	}
	var req deleteImagesRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.ImageName) == 0 || len(req.ImageName) > 100 {
		return invalid("imageName", "must list 1 to 100 image names")
	}
	names := slices.Compact(slices.Sorted(slices.Values(req.ImageName)))
	for _, n := range names {
		if err := s.deletableImage(c, "imageName", n); err != nil {
			return err
		}
	}
	ctx := c.UserContext()
	for _, n := range names {
		tags, err := reg.Client.Tags(ctx, n)
		if err != nil {
			return registryErr(err)
		}
		digests := map[string]bool{}
		for _, t := range tags {
			d, err := reg.Client.Digest(ctx, n, t)
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			if err != nil {
				return registryErr(err)
			}
			digests[d] = true
		}
		for d := range digests {
			if err := reg.Client.DeleteManifest(ctx, n, d); err != nil && !errors.Is(err, registry.ErrNotFound) {
				return registryErr(err)
			}
			// Recorded at once: a later failure leaves the index right.
			if err := s.store.RemoveDigest(ctx, n, d); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		// Tags the index had but the registry no longer lists go too.
		if err := s.store.SetTags(ctx, n, nil, time.Now()); err != nil {
			return err
		}
	}
	return ok(c, nil)
}

type deleteTagsRequest struct {
	ImageName *string  `json:"imageName"`
	Tag       []string `json:"tag"`
}

// deleteTags: DELETE /v1/repository/image/tag. The tags leave the
// registry's tag list; the image stays while other tags remain.
func (s *server) deleteTags(c *fiber.Ctx) error {
	reg, err := s.registryOr503()
	if err != nil {
		return err
	}
	var req deleteTagsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name, err := required("imageName", req.ImageName)
	if err != nil {
		return err
	}
	if len(req.Tag) == 0 || len(req.Tag) > 1000 {
		return invalid("tag", "must list 1 to 1000 tags")
	}
	for i, t := range req.Tag {
		if !tagRE.MatchString(t) {
			return invalid("tag["+strconv.Itoa(i)+"]", "must be 1-128 letters, digits, '_', '.' or '-' not starting with '.' or '-', got %q", clip(t))
		}
	}
	if err := s.deletableImage(c, "imageName", name); err != nil {
		return err
	}
	ctx := c.UserContext()
	digests, err := s.store.TagDigests(ctx, name)
	if err != nil {
		return notFoundAs(err)
	}
	tags := slices.Compact(slices.Sorted(slices.Values(req.Tag)))
	for _, t := range tags {
		if _, ok := digests[t]; !ok {
			return notFound("image %q has no tag %q", name, t)
		}
	}
	for _, t := range tags {
		if err := reg.Client.DeleteManifest(ctx, name, t); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return registryErr(err)
		}
		if err := s.store.RemoveTags(ctx, name, []string{t}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return ok(c, nil)
}

// registryUserResponse is the registry account as the API shows it: never
// the password.
type registryUserResponse struct {
	User       string `json:"user"`
	CreateTime int64  `json:"createTime"`
	UpdateTime int64  `json:"updateTime"`
}

type registryUserRequest struct {
	User     *string `json:"user"`
	Password *string `json:"password"`
}

// regUserSealContext binds a sealed registry password to its account.
func regUserSealContext(userID uint64) string {
	return "registry-user:" + strconv.FormatUint(userID, 10)
}

// createRegistryUser: POST /v1/repository/user. One registry account per
// platform user; its password follows the platform's password rule and is
// sealed with the hub's secret key.
func (s *server) createRegistryUser(c *fiber.Ctx) error {
	var req registryUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name, err := required("user", req.User)
	if err != nil {
		return err
	}
	if !registryUserRE.MatchString(name) {
		return invalid("user", "must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
	}
	pw, err := required("password", req.Password)
	if err != nil {
		return err
	}
	if err := auth.ValidatePassword(pw); err != nil {
		return invalid("password", "%v", err)
	}
	u := callerOf(c).user
	if _, err := s.store.RegistryUser(c.UserContext(), u.ID); err == nil {
		return conflict("you have a registry account already; change its password with PUT /v1/repository/user")
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ru := &store.RegistryUser{UserID: u.ID, Name: name, PasswordSealed: s.cfg.Sealer.Seal(pw, regUserSealContext(u.ID))}
	if err := s.store.CreateRegistryUser(c.UserContext(), ru); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("registry user %q already exists", name)
		}
		return err
	}
	return ok(c, registryUserResponse{User: ru.Name, CreateTime: ru.CreatedAt.Unix(), UpdateTime: ru.UpdatedAt.Unix()})
}

// updateRegistryPassword: PUT /v1/repository/user, the caller's account.
func (s *server) updateRegistryPassword(c *fiber.Ctx) error {
	var req registryUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	pw, err := required("password", req.Password)
	if err != nil {
		return err
	}
	if err := auth.ValidatePassword(pw); err != nil {
		return invalid("password", "%v", err)
	}
	u := callerOf(c).user
	if err := s.store.SetRegistryUserPassword(c.UserContext(), u.ID, s.cfg.Sealer.Seal(pw, regUserSealContext(u.ID))); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("you have no registry account; create one with POST /v1/repository/user")
		}
		return err
	}
	return ok(c, nil)
}

// The hub's own registry as a pull source of deployments: workloads whose
// image lives at the registry's host get the Secret hubRegistrySecret in
// their namespace, holding the business's robot account: pull-only on the
// business's projects (and the public ones). Its password is derived from
// the secret key, so nothing is stored and every replica agrees.
const (
	// hubRegistryRepoID is the pull-secret id of the hub's registry on the
	// agents' pull-secret endpoint; external repository ids cannot take it.
	hubRegistryRepoID  = "ote-registry"
	hubRegistrySecret  = "ote-registry"
	robotPrefix        = "robot$ns"
	robotPasswordBytes = 24
)

// robotName is the registry account of business's workloads; '$' keeps it
// apart from the accounts users create.
func robotName(business uint64) string { return robotPrefix + strconv.FormatUint(business, 10) }

func (s *server) robotPassword(business uint64) string {
	k := s.cfg.Sealer.Derive("registry-robot:" + strconv.FormatUint(business, 10))
	return hex.EncodeToString(k[:robotPasswordBytes])
}

// robotBusiness parses a robot account name; 0 when name is not one.
func robotBusiness(name string) uint64 {
	rest, ok := strings.CutPrefix(name, robotPrefix)
	if !ok {
		return 0
	}
	id, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || strconv.FormatUint(id, 10) != rest || id > maxID {
		return 0
	}
	return id
}

// pullSecrets resolves deployments' pull secrets (deploy.Pulls) from the
// business's external repositories and the hub's registry.
type pullSecrets struct{ s *server }

// Repository fingerprints repository id's address and credentials.
func (p pullSecrets) Repository(ctx context.Context, business uint64, id string) (*protocol.PullSecretRef, error) {
	r, err := p.s.store.Repo(ctx, business, id)
	if err != nil {
		return nil, err
	}
	pw, err := p.s.cfg.Sealer.Open(r.PasswordSealed, sealContext(business, r.RepoID))
	if err != nil {
		return nil, err
	}
	return &protocol.PullSecretRef{RepositoryID: id, Fingerprint: p.s.cfg.Sealer.Fingerprint(r.Address, r.User, pw)}, nil
}

// HubRegistry gives the pull secret of an image in the hub's registry
// (nil for an image elsewhere).
func (p pullSecrets) HubRegistry(business uint64, image string) (string, *protocol.PullSecretRef) {
	s := p.s
	reg := s.cfg.Registry
	if reg == nil || reg.Host == "" || !strings.HasPrefix(image, reg.Host+"/") {
		return "", nil
	}
	return hubRegistrySecret, &protocol.PullSecretRef{RepositoryID: hubRegistryRepoID,
		Fingerprint: s.cfg.Sealer.Fingerprint(reg.Host, robotName(business), s.robotPassword(business))}
}
