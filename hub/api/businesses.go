package api

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// businessResponse is a business as the seed's list and get show it, with its
// id, times and namespace added.
type businessResponse struct {
	ID        uint64 `json:"id"`
	Name      string `json:"name"`
	UserID    uint64 `json:"userId"`
	Introduce string `json:"introduce"`
	Objective string `json:"objective"`
	Scale     string `json:"scale"`
	Comment   string `json:"comment"`
	Status    int    `json:"status"`
	Namespace string `json:"namespace"`
	// PodSecurity is the Pod Security Standard level of the namespace.
	PodSecurity string `json:"podSecurity"`
	CreateTime  int64  `json:"createTime"`
	UpdateTime  int64  `json:"updateTime"`
}

func toBusinessResponse(b *store.Business) businessResponse {
	return businessResponse{
		ID: b.ID, Name: b.Name, UserID: b.UserID, Introduce: b.Introduce, Objective: b.Objective,
		Scale: b.Scale, Comment: b.Comment, Status: int(b.Status), Namespace: b.Namespace(),
		PodSecurity: b.PodSecurity, CreateTime: b.CreatedAt.Unix(), UpdateTime: b.UpdatedAt.Unix(),
	}
}

type createBusinessRequest struct {
	Name      *string `json:"name"`
	Introduce *string `json:"introduce"`
	Objective *string `json:"objective"`
	Scale     *string `json:"scale"`
}

// createBusiness: POST /v1/business, for an approved general administrator
// without a pending or approved business.
func (s *server) createBusiness(c *fiber.Ctx) error {
	me := callerOf(c).user
	if !me.IsAdmin || me.IsSysAdmin || me.Status != store.UserApproved {
		return forbidden("only an approved general administrator may create a business")
	}
	var req createBusinessRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	b := &store.Business{UserID: me.ID}
	var err error
	if b.Name, err = requireString("name", req.Name, 64); err != nil {
		return err
	}
	if b.Introduce, err = requireString("introduce", req.Introduce, 2000); err != nil {
		return err
	}
	if b.Objective, err = requireString("objective", req.Objective, 2000); err != nil {
		return err
	}
	if b.Scale, err = requireString("scale", req.Scale, 255); err != nil {
		return err
	}
	switch err := s.store.CreateBusiness(c.UserContext(), b); {
	case errors.Is(err, store.ErrConflict):
		return conflict("business %q already exists", b.Name)
	case errors.Is(err, store.ErrHasBusiness):
		return conflict("you already have a business; only one per administrator")
	case err != nil:
		return err
	}
	return ok(c, toBusinessResponse(b))
}

// listBusinesses: GET /v1/business. The system administrator sees all,
// others their own.
func (s *server) listBusinesses(c *fiber.Ctx) error {
	page, desc, err := parseIDList(c, false, "asc")
	if err != nil {
		return err
	}
	name := c.Query("name")
	if err := checkText("name", name, 64); err != nil {
		return err
	}
	q := store.BusinessQuery{NameContains: name, Desc: desc, Page: page}
	if me := callerOf(c).user; me.Role() != store.RoleSysAdmin {
		if me.BusinessID == 0 {
			return list(c, []businessResponse{}, 0)
		}
		q.OnlyID = me.BusinessID
	}
	bs, total, err := s.store.ListBusinesses(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]businessResponse, len(bs))
	for i := range bs {
		out[i] = toBusinessResponse(&bs[i])
	}
	return list(c, out, total)
}

// visibleBusiness loads the business of path parameter id if the caller may see it.
func (s *server) visibleBusiness(c *fiber.Ctx) (*store.Business, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return nil, err
	}
	me := callerOf(c).user
	if me.Role() != store.RoleSysAdmin && me.BusinessID != id {
		return nil, notFound("business %d not found", id)
	}
	b, err := s.store.BusinessByID(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("business %d not found", id)
	}
	return b, err
}

// getBusiness: GET /v1/business/id/{id}.
func (s *server) getBusiness(c *fiber.Ctx) error {
	b, err := s.visibleBusiness(c)
	if err != nil {
		return err
	}
	return ok(c, toBusinessResponse(b))
}

type auditBusinessRequest struct {
	Status      *int    `json:"status"`
	Comment     *string `json:"comment"`
	PodSecurity *string `json:"podSecurity"`
}

// auditBusiness: PUT /v1/business/id/{id}, system administrator only.
// With status (and comment) it audits the business: approval makes ns<id>
// desired in every edge cluster, with the Pod Security Admission labels of
// the business's level (podSecurity, when given, sets it first). With
// podSecurity alone it changes the level of a business in any state but
// deleted, approved ones included: their namespace is rewritten as desired
// state at a new revision.
func (s *server) auditBusiness(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	auditBusinessOf(c, id)
	var req auditBusinessRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	level := ""
	if req.PodSecurity != nil {
		level = *req.PodSecurity
		if !protocol.ValidPodSecurity(level) {
			return invalid("podSecurity", "must be restricted, baseline or privileged, got %q", level)
		}
	}
	if req.Status == nil && req.PodSecurity != nil {
		if req.Comment != nil {
			return invalid("comment", "goes with status; a change of podSecurity alone takes no comment")
		}
		return s.setPodSecurity(c, id, level)
	}
	if req.Status == nil {
		return invalid("status", "is required (1 approved, 2 disapproved), unless podSecurity alone changes the level")
	}
	st := store.BusinessStatus(*req.Status)
	if st != store.BusinessApproved && st != store.BusinessDisapproved {
		return invalid("status", "must be 1 (approved) or 2 (disapproved), got %d", *req.Status)
	}
	if req.Comment == nil {
		return invalid("comment", "is required")
	}
	if err := checkText("comment", *req.Comment, 2000); err != nil {
		return err
	}
	b, err := s.store.AuditBusiness(c.UserContext(), id, st, *req.Comment, level)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("business %d not found", id)
	case errors.Is(err, store.ErrAlreadyAudited):
		return conflict("business %d is already approved; an approval cannot be changed (to change its pod security level, send podSecurity alone)", id)
	case err != nil:
		return err
	}
	if b.Status == store.BusinessApproved {
		s.cfg.Tunnel.Notify()
	}
	s.log.Info("business audited", "business", b.ID, "status", int(b.Status), "namespace", b.Namespace(), "podSecurity", b.PodSecurity)
	return ok(c, toBusinessResponse(b))
}

// setPodSecurity changes the pod security level of business id.
func (s *server) setPodSecurity(c *fiber.Ctx, id uint64, level string) error {
	workloads, err := s.recompileAt(c, id, level)
	if err != nil {
		return err
	}
	b, wrote, err := s.store.SetBusinessPodSecurity(c.UserContext(), id, level, workloads)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("business %d not found", id)
	case errors.Is(err, store.ErrAlreadyAudited):
		return conflict("business %d is deleted", id)
	case err != nil:
		return err
	}
	if wrote {
		s.cfg.Tunnel.Notify()
	}
	s.log.Info("business pod security level set", "business", b.ID, "podSecurity", b.PodSecurity, "namespace", b.Namespace())
	return ok(c, toBusinessResponse(b))
}

// recompileAt compiles the live deployments of business at level, so that
// a level change reaches the workloads (the securityContext the agent sets)
// together with the namespace's labels. A level that a running app
// breaks is refused with 409 naming the deployments: nothing changes until
// they are upgraded to a compliant version or deleted.
func (s *server) recompileAt(c *fiber.Ctx, business uint64, level string) (map[uint64][]byte, error) {
	ds, _, err := s.store.ListDeploys(c.UserContext(), store.DeployQuery{BusinessID: business})
	if err != nil {
		return nil, err
	}
	out := map[uint64][]byte{}
	var broken []string
	for i := range ds {
		d := &ds[i]
		if !deploy.Live(d.Status) {
			continue
		}
		// A rollout in flight holds two specs compiled at the old level;
		// rewriting the deployment's would skip its waves.
		if r, err := s.store.LatestRollout(c.UserContext(), d.ID); err == nil && r.State.Active() {
			broken = append(broken, fmt.Sprintf("%s (rolling out version %s: let the rollout end or abort it)", d.Name, r.Version))
			continue
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		app, err := s.appVersion(c, business, d.AppName, d.Version)
		if errors.Is(err, store.ErrNotFound) {
			continue // its app version is gone: nothing to recompile
		}
		if err != nil {
			return nil, err
		}
		spec, err := deploy.Compile(c.UserContext(), d, app, level, pullSecrets{s})
		var fe *deploy.FieldError
		if errors.As(err, &fe) {
			broken = append(broken, fmt.Sprintf("%s (%s %s: %s)", d.Name, d.AppName, d.Version, fe.Error()))
			continue
		}
		if err != nil {
			return nil, err
		}
		out[d.ID] = spec
	}
	if len(broken) > 0 {
		return nil, conflict("podSecurity %q is refused: live deployments run apps it forbids or are being rolled out: %s; upgrade them to a compliant version or delete them first",
			level, strings.Join(broken, "; "))
	}
	return out, nil
}
