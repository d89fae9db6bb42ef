package api

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/hub/store"
)

// caller is the authenticated user of a request and the token it came with.
type caller struct {
	user   *store.User
	claims *auth.Claims
}

const callerKey = "ote.caller"

func callerOf(c *fiber.Ctx) *caller {
	return c.Locals(callerKey).(*caller)
}

// bearerToken accepts "Authorization: Bearer <token>" and the bare token.
func bearerToken(h string) string {
	h = strings.TrimSpace(h)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return h
}

// authenticate admits requests with a valid, unrevoked token of an existing,
// allowed user whose password has not changed since the token was issued.
func (s *server) authenticate(c *fiber.Ctx) error {
	fail := func(reason, msg string) error {
		s.metrics.authFailures.WithLabelValues(reason).Inc()
		return unauthorized(msg)
	}
	raw := bearerToken(c.Get(fiber.HeaderAuthorization))
	if raw == "" {
		return fail(authNoToken, "missing token: send it in the Authorization header")
	}
	claims, err := s.tokens.Parse(raw)
	if err != nil {
		reason := authBadToken
		if errors.Is(err, auth.ErrTokenExpired) {
			reason = authExpired
		}
		return fail(reason, err.Error())
	}
	ctx := c.UserContext()
	revoked, err := s.store.TokenRevoked(ctx, claims.ID)
	if err != nil {
		return err
	}
	if revoked {
		return fail(authRevoked, "token has been revoked: log in again")
	}
	id, _ := claims.UserID()
	u, err := s.store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fail(authStale, "the token's user no longer exists")
	}
	if err != nil {
		return err
	}
	if u.TokenGeneration != claims.Generation {
		return fail(authStale, "token was invalidated by a password change: log in again")
	}
	if err := statusAllowsLogin(u.Status); err != nil {
		return err
	}
	c.Locals(callerKey, &caller{user: u, claims: claims})
	// Authenticated: the body may be read up to --body-limit.
	c.Locals(bodyLimitKey, s.cfg.BodyLimit)
	return c.Next()
}

// statusAllowsLogin refuses users that were not approved or are forbidden.
func statusAllowsLogin(st store.UserStatus) error {
	switch st {
	case store.UserNotApproved:
		return forbidden("this account was not approved")
	case store.UserForbidden:
		return forbidden("this account is forbidden")
	}
	return nil
}

// requireRole admits callers whose role is one of roles.
func (s *server) requireRole(roles ...store.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		r := callerOf(c).user.Role()
		for _, want := range roles {
			if r == want {
				return c.Next()
			}
		}
		return forbidden("your role may not do this")
	}
}
