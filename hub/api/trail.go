package api

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/store"
)

// The audit trail: every administrative write is recorded with who asked
// (user, role, address), what (action, path, the request's non-secret
// fields), when, and how the hub answered, refusals included. Writes are
// recorded after they are answered, in their own statement: a hub that dies
// between a write's commit and its record loses the record, never the write.

const (
	auditBusinessKey = "ote.auditBusiness"
	errorMessageKey  = "ote.errorMessage"
)

// auditFields are the request fields an audit entry keeps. The list is an
// allow-list so that a new secret field can never leak into the trail:
// passwords, credentials and tokens are not on it.
var auditFields = map[string]bool{
	"id": true, "status": true, "comment": true, "podSecurity": true,
	"user": true, "isAdmin": true,
	"clusterName": true, "clusterLabel": true, "nodeName": true, "nodeLabel": true, "deleteDeploy": true,
	"projectName": true, "public": true, "imageName": true, "tag": true,
	"repositoryId": true, "address": true,
	"deployName": true, "appName": true, "version": true, "cluster": true,
}

// audited records the request it wraps as action. It runs after the role
// check: what callers of the route's audience asked is recorded, refusals
// by the handler (404, 409, 422) included; callers whose role may not use
// the route are refused before it, so that nobody outside the audience
// (a pending user, say) can grow the trail.
func (s *server) audited(action string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := c.Next()
		if err != nil {
			if herr := s.handleError(c, err); herr != nil {
				return herr
			}
		}
		s.recordAudit(c, action)
		return nil
	}
}

func (s *server) recordAudit(c *fiber.Ctx, action string) {
	me := callerOf(c).user
	status := c.Response().StatusCode()
	result := "success"
	if status >= 300 {
		result, _ = c.Locals(errorMessageKey).(string)
	}
	business := me.BusinessID
	if b, ok := c.Locals(auditBusinessKey).(uint64); ok {
		business = b
	}
	e := &store.AuditEntry{
		UserID: me.ID, UserName: me.Name, Role: me.Role(), BusinessID: business,
		// fasthttp reuses its buffers: copy what outlives the request.
		Action: action, Target: strings.Clone(c.Path()), Detail: auditDetail(readBodyOf(c)),
		Status: status, Result: result, Address: strings.Clone(s.clientIP(c)),
	}
	// The request's own deadline may be spent; the record gets its own.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.store.RecordAudit(ctx, e); err != nil {
		s.log.Error("audit entry not recorded", "action", action, "user", me.Name, "path", e.Target, "status", status, "err", err)
		s.metrics.auditFailures.Inc()
	}
}

// auditBusinessOf says which business a write concerns when it is not the
// caller's own (a system administrator auditing a business or a deployment).
func auditBusinessOf(c *fiber.Ctx, business uint64) { c.Locals(auditBusinessKey, business) }

// readBodyOf is the body the route read (bounded, see body.go); nil when it
// read none, as when the request was refused first: the trail never reads
// a body itself.
func readBodyOf(c *fiber.Ctx) []byte {
	if c.Locals(bodyReadKey) == nil {
		return nil
	}
	return c.Body()
}

// auditDetail keeps the allowed fields of a JSON object body, "{}" otherwise.
func auditDetail(body []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return "{}"
	}
	for k := range m {
		if !auditFields[k] {
			delete(m, k)
		}
	}
	b, _ := json.Marshal(m)
	if len(b) > 4096 {
		return `{"truncated":true}`
	}
	return string(b)
}

// trailResponse is one entry of GET /v1/admin/audit.
type trailResponse struct {
	ID         uint64          `json:"id"`
	Time       int64           `json:"time"`
	UserID     uint64          `json:"userId"`
	User       string          `json:"user"`
	Role       int             `json:"role"`
	BusinessID uint64          `json:"businessId"`
	Action     string          `json:"action"`
	Target     string          `json:"target"`
	Detail     json.RawMessage `json:"detail"`
	Status     int             `json:"status"`
	Result     string          `json:"result"`
	Address    string          `json:"address"`
}

// listTrail: GET /v1/admin/audit. System administrators read the whole
// trail, business administrators the entries of their own business.
// Filters: user (exact name), action (a name, or a prefix ending in '.'),
// from and to (Unix seconds, inclusive); page, pageSize (default 10), order
// (desc by default: newest first).
func (s *server) listTrail(c *fiber.Ctx) error {
	page, desc, err := parseIDList(c, false, "desc")
	if err != nil {
		return err
	}
	q := store.AuditQuery{UserName: c.Query("user"), Action: c.Query("action"), Asc: !desc, Page: page}
	if err := checkText("user", q.UserName, 64); err != nil {
		return err
	}
	if err := checkText("action", q.Action, 64); err != nil {
		return err
	}
	if q.From, err = queryUnix(c, "from"); err != nil {
		return err
	}
	if q.To, err = queryUnix(c, "to"); err != nil {
		return err
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return invalid("to", "must not be before from")
	}
	if me := callerOf(c).user; me.Role() != store.RoleSysAdmin {
		q.BusinessID = me.BusinessID
	}
	entries, total, err := s.store.ListAudit(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]trailResponse, len(entries))
	for i, e := range entries {
		out[i] = trailResponse{ID: e.ID, Time: e.At.Unix(), UserID: e.UserID, User: e.UserName, Role: int(e.Role),
			BusinessID: e.BusinessID, Action: e.Action, Target: e.Target, Detail: json.RawMessage(e.Detail),
			Status: e.Status, Result: e.Result, Address: e.Address}
	}
	return list(c, out, total)
}

// queryUnix reads a time given as Unix seconds; zero when absent.
func queryUnix(c *fiber.Ctx, name string) (time.Time, error) {
	raw := c.Query(name)
	if raw == "" {
		return time.Time{}, nil
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || v < 0 || v > 1<<40 {
		return time.Time{}, invalid(name, "must be a time in Unix seconds, got %q", raw)
	}
	return time.Unix(v, 0), nil
}
