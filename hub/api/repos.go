package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/store"
)

var repoAddressRE = regexp.MustCompile(`^(https?://)?[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._/-]*)?$`)

// repoResponse is an external repository as the API shows it: never the
// password.
type repoResponse struct {
	RepositoryID string `json:"repositoryId"`
	Address      string `json:"address"`
	User         string `json:"user"`
	CreateTime   int64  `json:"createTime"`
	UpdateTime   int64  `json:"updateTime"`
}

func toRepoResponse(r *store.Repo) repoResponse {
	return repoResponse{RepositoryID: r.RepoID, Address: r.Address, User: r.User, CreateTime: r.CreatedAt.Unix(), UpdateTime: r.UpdatedAt.Unix()}
}

type createRepoRequest struct {
	RepositoryID *string `json:"repositoryId"`
	Address      *string `json:"address"`
	User         *string `json:"user"`
	Password     *string `json:"password"`
}

// sealContext binds a sealed password to its repository.
func sealContext(business uint64, repoID string) string {
	return "repo:" + strconv.FormatUint(business, 10) + "/" + repoID
}

// createRepo: POST /v1/repository/third. The password is sealed with the
// hub's secret key before it reaches the database.
func (s *server) createRepo(c *fiber.Ctx) error {
	business, err := businessOf(c)
	if err != nil {
		return err
	}
	var req createRepoRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	id, err := required("repositoryId", req.RepositoryID)
	if err != nil {
		return err
	}
	if !deploy.RepositoryIDRE.MatchString(id) {
		return invalid("repositoryId", "must be 1-64 letters, digits, '_', '.' or '-'")
	}
	if id == hubRegistryRepoID {
		return invalid("repositoryId", "%q is reserved for the hub's own registry", id)
	}
	addr, err := required("address", req.Address)
	if err != nil {
		return err
	}
	if len(addr) > 255 || !repoAddressRE.MatchString(addr) {
		return invalid("address", "must be a registry address such as registry.example.com:5000, got %q", addr)
	}
	user, err := requireString("user", req.User, 128)
	if err != nil {
		return err
	}
	pw, err := required("password", req.Password)
	if err != nil {
		return err
	}
	if pw == "" || len(pw) > 1024 {
		return invalid("password", "must be 1-1024 characters")
	}
	r := &store.Repo{BusinessID: business, RepoID: id, Address: addr, User: user, PasswordSealed: s.cfg.Sealer.Seal(pw, sealContext(business, id))}
	if err := s.store.CreateRepo(c.UserContext(), r); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("repository %q already exists in your business", id)
		}
		return err
	}
	// Deployments whose apps pull from this repository get its (new)
	// credentials.
	if err := s.refreshPullSecrets(c, business, id); err != nil {
		return err
	}
	return ok(c, toRepoResponse(r))
}

// refreshPullSecrets rewrites the workloads of the live deployments of
// business whose app pulls from repository id.
func (s *server) refreshPullSecrets(c *fiber.Ctx, business uint64, id string) error {
	ds, _, err := s.store.ListDeploys(c.UserContext(), store.DeployQuery{BusinessID: business})
	if err != nil {
		return err
	}
	changed := false
	for i := range ds {
		d := &ds[i]
		if !deploy.Live(d.Status) {
			continue
		}
		// A deployment being rolled out keeps the credentials'
		// fingerprint it was compiled with (so its clusters keep the
		// pull Secret they have) until its next change: rewriting its
		// spec here would send the rollout's version to every cluster
		// at once.
		if r, err := s.store.LatestRollout(c.UserContext(), d.ID); err == nil && r.State.Active() {
			continue
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		app, err := s.appVersion(c, business, d.AppName, d.Version)
		if err != nil || !deploy.UsesRepository(app, id) {
			continue
		}
		spec, err := s.compileWorkload(c, d, app)
		if err != nil {
			return err
		}
		if err := s.store.RewriteDeploy(c.UserContext(), d.ID, spec); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		s.cfg.Tunnel.Notify()
	}
	return nil
}

type deleteReposRequest struct {
	RepositoryID []string `json:"repositoryId"`
}

// deleteRepos: DELETE /v1/repository/third. Existing deployments keep the
// pull Secrets they have (the seed: "It won't affect existing deployment").
func (s *server) deleteRepos(c *fiber.Ctx) error {
	business, err := businessOf(c)
	if err != nil {
		return err
	}
	var req deleteReposRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.RepositoryID) == 0 || len(req.RepositoryID) > 1000 {
		return invalid("repositoryId", "must list 1 to 1000 repository ids")
	}
	if err := s.store.DeleteRepos(c.UserContext(), business, req.RepositoryID); err != nil {
		return notFoundAs(err)
	}
	return ok(c, nil)
}

// listRepos: GET /v1/repository/third.
func (s *server) listRepos(c *fiber.Ctx) error {
	business, err := businessOf(c)
	if err != nil {
		return err
	}
	page, desc, err := parseIDList(c, true, "asc")
	if err != nil {
		return err
	}
	rs, total, err := s.store.ListRepos(c.UserContext(), business, desc, page)
	if err != nil {
		return err
	}
	out := make([]repoResponse, len(rs))
	for i := range rs {
		out[i] = toRepoResponse(&rs[i])
	}
	return list(c, out, total)
}

// getRepo: GET /v1/repository/third/{repoId}.
func (s *server) getRepo(c *fiber.Ctx) error {
	business, err := businessOf(c)
	if err != nil {
		return err
	}
	id := c.Params("repoId")
	r, err := s.store.Repo(c.UserContext(), business, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("repository %q not found", id)
	}
	if err != nil {
		return err
	}
	return ok(c, toRepoResponse(r))
}

// dockerConfig is the .dockerconfigjson of one registry.
func dockerConfig(address, user, password string) []byte {
	host := strings.TrimPrefix(strings.TrimPrefix(address, "https://"), "http://")
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"username": user, "password": password, "auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
	}}})
	return b
}

// pullSecret: GET /v1/agent/pullsecrets/{namespace}/{repoId}, for agents:
// the .dockerconfigjson of a business's external repository.
func (s *server) pullSecret(c *fiber.Ctx) error {
	ns, id := c.Params("namespace"), c.Params("repoId")
	business, err := strconv.ParseUint(strings.TrimPrefix(ns, "ns"), 10, 64)
	if err != nil || !strings.HasPrefix(ns, "ns") {
		return invalid("namespace", "%q is not a business namespace", clip(ns))
	}
	if business > maxID {
		return notFound("no business namespace %s", clip(ns))
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if id == hubRegistryRepoID && s.cfg.Registry != nil {
		return c.Send(dockerConfig(s.cfg.Registry.Host, robotName(business), s.robotPassword(business)))
	}
	r, err := s.store.Repo(c.UserContext(), business, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("repository %q not found in %s", id, ns)
	}
	if err != nil {
		return err
	}
	pw, err := s.cfg.Sealer.Open(r.PasswordSealed, sealContext(business, id))
	if err != nil {
		return err
	}
	return c.Send(dockerConfig(r.Address, r.User, pw))
}
