package api

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/hub/store"
)

type loginRequest struct {
	User     *string `json:"user"`
	Password *string `json:"password"`
}

// tokenResponse is the data of login and refresh.
type tokenResponse struct {
	Token string `json:"token"`
	// ExpireTime is when the token expires, in Unix seconds.
	ExpireTime int64 `json:"expireTime"`
}

// login: POST /v1/authorization.
func (s *server) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.User == nil || *req.User == "" {
		return invalid("user", "is required")
	}
	if req.Password == nil || *req.Password == "" {
		return invalid("password", "is required")
	}
	name := *req.User
	att, err := s.logins.begin("login", name, s.clientIP(c))
	if err != nil {
		s.metrics.authFailures.WithLabelValues(authThrottled).Inc()
		return err
	}
	u, err := s.store.UserByName(c.UserContext(), name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		att.succeeded()
		return err
	}
	var hash []byte
	if u != nil {
		hash = u.PasswordHash
	}
	if !auth.CheckPassword(hash, *req.Password) {
		att.failed(c.UserContext())
		s.metrics.authFailures.WithLabelValues(authWrongPassword).Inc()
		return unauthorized("wrong user name or password")
	}
	att.succeeded()
	if err := statusAllowsLogin(u.Status); err != nil {
		return err
	}
	return s.issue(c, u)
}

func (s *server) issue(c *fiber.Ctx, u *store.User) error {
	tok, claims, err := s.tokens.Issue(u.ID, u.TokenGeneration)
	if err != nil {
		return err
	}
	return ok(c, tokenResponse{Token: tok, ExpireTime: claims.ExpiresAt.Unix()})
}

// refreshToken: PUT /v1/authorization. The presented token is revoked: a
// session holds one live token at a time.
func (s *server) refreshToken(c *fiber.Ctx) error {
	cl := callerOf(c)
	if err := s.store.RevokeToken(c.UserContext(), cl.claims.ID, cl.claims.ExpiresAt.Time); err != nil {
		return err
	}
	return s.issue(c, cl.user)
}

// logout: DELETE /v1/authorization.
func (s *server) logout(c *fiber.Ctx) error {
	cl := callerOf(c)
	if err := s.store.RevokeToken(c.UserContext(), cl.claims.ID, cl.claims.ExpiresAt.Time); err != nil {
		return err
	}
	return ok(c, nil)
}

// authorizationInfo is the data of GET /v1/authorization.
type authorizationInfo struct {
	UserID                uint64 `json:"userId"`
	DisplayName           string `json:"displayName"`
	HasRepoAccount        bool   `json:"hasRepoAccount"`
	Role                  int    `json:"role"`
	BusinessID            uint64 `json:"businessId"`
	PrivateProject        bool   `json:"privateProject"`
	EnableIngress         bool   `json:"enableIngress"`
	EnableAlert           bool   `json:"enableAlert"`
	EnableAdminAutoDeploy bool   `json:"enableAdminAutoDeploy"`
}

// authorizationInfo: GET /v1/authorization.
func (s *server) authorizationInfo(c *fiber.Ctx) error {
	u := callerOf(c).user
	f := s.cfg.Features
	_, err := s.store.RegistryUser(c.UserContext(), u.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return ok(c, authorizationInfo{
		UserID:                u.ID,
		DisplayName:           u.Name,
		HasRepoAccount:        err == nil,
		Role:                  int(u.Role()),
		BusinessID:            u.BusinessID,
		PrivateProject:        f.PrivateProject,
		EnableIngress:         f.EnableIngress,
		EnableAlert:           f.EnableAlert,
		EnableAdminAutoDeploy: f.EnableAdminAutoDeploy,
	})
}
