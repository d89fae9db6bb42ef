package api

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/registry"
	"github.com/ote-stack/ote/hub/store"
)

// The hub is the registry's token server (the registry token-auth spec):
// clients that the registry challenges come to GET or POST
// /v1/registry/token, with a registry account's Basic credentials or
// anonymously, and get a token granting what they asked for and may do.

// tokenRequest is one request of the realm, GET or POST.
type tokenRequest struct {
	service  string
	scopes   []string
	user     string
	password string
	hasCreds bool
}

func parseTokenRequest(c *fiber.Ctx) (tokenRequest, error) {
	var r tokenRequest
	if c.Method() == fiber.MethodPost {
		// The form is read within the realm's small limit first.
		if _, err := readBody(c); err != nil {
			return r, err
		}
		// OAuth2 password grant (containerd POSTs first).
		switch gt := c.FormValue("grant_type"); gt {
		case "password":
			r.user, r.password, r.hasCreds = c.FormValue("username"), c.FormValue("password"), true
		case "refresh_token":
			return r, &Error{Status: fiber.StatusBadRequest, Message: "unsupported_grant_type: this realm issues no refresh tokens; use grant_type=password"}
		default:
			return r, &Error{Status: fiber.StatusBadRequest, Message: "unsupported_grant_type: want grant_type=password"}
		}
		r.service = c.FormValue("service")
		r.scopes = strings.Fields(c.FormValue("scope"))
	} else {
		r.service = c.Query("service")
		for _, v := range c.Context().QueryArgs().PeekMulti("scope") {
			r.scopes = append(r.scopes, strings.Fields(string(v))...)
		}
	}
	if h := c.Get(fiber.HeaderAuthorization); !r.hasCreds && h != "" {
		scheme, enc, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "basic") {
			return r, unauthorized("the registry realm takes Basic credentials of a registry account")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		user, pw, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return r, unauthorized("malformed Basic credentials")
		}
		r.user, r.password, r.hasCreds = user, pw, true
	}
	if len(r.scopes) > 50 {
		return r, &Error{Status: fiber.StatusBadRequest, Message: "too many scopes (at most 50)"}
	}
	return r, nil
}

// registryToken: GET and POST /v1/registry/token.
func (s *server) registryToken(c *fiber.Ctx) error {
	reg, err := s.registryOr503()
	if err != nil {
		return err
	}
	req, err := parseTokenRequest(c)
	if err != nil {
		return err
	}
	if req.service != "" && req.service != reg.Issuer.Service {
		return &Error{Status: fiber.StatusBadRequest, Message: "unknown service " + clip(req.service) + "; this realm serves " + reg.Issuer.Service}
	}
	var asked []registry.Access
	for _, sc := range req.scopes {
		a, err := registry.ParseScope(sc)
		if err != nil {
			return &Error{Status: fiber.StatusBadRequest, Message: "invalid_scope: " + clip(err.Error())}
		}
		asked = append(asked, a)
	}
	var who principal
	subject := ""
	if req.hasCreds {
		if who, err = s.registryLogin(c, req.user, req.password); err != nil {
			return err
		}
		subject = req.user
	}
	granted := make([]registry.Access, 0, len(asked))
	for _, a := range asked {
		acts, err := s.registryGrant(c, who, a)
		if err != nil {
			return err
		}
		if len(acts) > 0 {
			granted = append(granted, registry.Access{Type: a.Type, Name: a.Name, Actions: acts})
		}
	}
	now := time.Now()
	tok, exp, err := reg.Issuer.Issue(subject, granted, now)
	if err != nil {
		return err
	}
	body := fiber.Map{
		"access_token": tok,
		"expires_in":   int(exp.Sub(now) / time.Second),
		"issued_at":    now.UTC().Format(time.RFC3339),
	}
	if c.Method() == fiber.MethodPost {
		body["scope"] = strings.Join(req.scopes, " ")
	} else {
		body["token"] = tok
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(body)
}

// principal is who asks the realm: a platform user's registry account, a
// business's robot (workloads pulling), or nobody (anonymous).
type principal struct {
	user  *store.User
	robot uint64 // the robot's business
}

// registryLogin checks a registry account's password (sealed in the store)
// or a robot's (derived), and returns who it is. Failures are limited like
// platform logins (LoginLimits), in a realm of their own.
func (s *server) registryLogin(c *fiber.Ctx, name, password string) (principal, error) {
	c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="ote-registry"`)
	// Only failures count: clients ask for tokens all the time (per
	// repository and scope; many nodes behind one address).
	att, err := s.logins.begin("registry", name, s.clientIP(c))
	if err != nil {
		return principal{}, err
	}
	who, matched, err := s.registryAccount(c, name, password)
	if err != nil {
		att.succeeded()
		return principal{}, err
	}
	if !matched {
		att.failed(c.UserContext())
		return principal{}, &Error{Status: fiber.StatusUnauthorized, Message: "wrong registry user name or password"}
	}
	att.succeeded()
	return who, nil
}

// registryAccount tells who name and password are: a business's robot or
// the registry account of an approved platform user; matched is false when
// they are neither.
func (s *server) registryAccount(c *fiber.Ctx, name, password string) (who principal, matched bool, err error) {
	if b := robotBusiness(name); b != 0 {
		return principal{robot: b}, subtle.ConstantTimeCompare([]byte(s.robotPassword(b)), []byte(password)) == 1, nil
	}
	ru, err := s.store.RegistryUserByName(c.UserContext(), name)
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, false, nil
	}
	if err != nil {
		return principal{}, false, err
	}
	want, err := s.cfg.Sealer.Open(ru.PasswordSealed, regUserSealContext(ru.UserID))
	if err != nil {
		return principal{}, false, &Error{Status: fiber.StatusInternalServerError, Message: "internal error", Cause: errors.New("registry password of " + name + " does not open with this hub's secret key")}
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return principal{}, false, nil
	}
	u, err := s.store.UserByID(c.UserContext(), ru.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, false, nil
	}
	if err != nil {
		return principal{}, false, err
	}
	if u.Status != store.UserApproved {
		return principal{}, false, &Error{Status: fiber.StatusUnauthorized, Message: "the platform user of this registry account is not approved"}
	}
	return principal{user: u}, true, nil
}

// registryGrant is what who may do of what a asks: project members pull and
// push, system administrators everything, a business's robot pulls its
// projects, everyone pulls public projects, nobody else anything. Names
// outside a project get nothing.
func (s *server) registryGrant(c *fiber.Ctx, who principal, a registry.Access) ([]string, error) {
	u := who.user
	var allowed []string
	switch a.Type {
	case "registry":
		if a.Name == "catalog" && u != nil && u.Role() == store.RoleSysAdmin {
			allowed = []string{"*"}
		}
	case "repository":
		if len(a.Name) > 255 || !imageNameRE.MatchString(a.Name) {
			return nil, nil
		}
		p, err := s.store.ProjectByName(c.UserContext(), a.Name[:strings.IndexByte(a.Name, '/')])
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case u != nil && u.Role() == store.RoleSysAdmin:
			allowed = []string{"pull", "push", "delete", "*"}
		case u != nil && canPush(u, p):
			allowed = []string{"pull", "push"}
		case who.robot != 0 && p.BusinessID == who.robot, p.Public:
			allowed = []string{"pull"}
		}
	}
	var out []string
	for _, act := range a.Actions {
		if slices.Contains(allowed, act) {
			out = append(out, act)
		}
	}
	return out, nil
}

// registryJWKS: GET /v1/registry/jwks.json, the public key an external
// registry's auth.token.jwks must hold to trust the hub's tokens.
func (s *server) registryJWKS(c *fiber.Ctx) error {
	reg, err := s.registryOr503()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(reg.Issuer.JWKS())
}
