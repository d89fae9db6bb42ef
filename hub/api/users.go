package api

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/hub/store"
)

// userResponse is a user as the seed's user list shows it. It has no
// password field: hashes never leave the hub.
type userResponse struct {
	ID         uint64 `json:"id"`
	User       string `json:"user"`
	Status     int    `json:"status"`
	RealName   string `json:"realName"`
	Phone      string `json:"phone"`
	IsAdmin    bool   `json:"isAdmin"`
	BusinessID uint64 `json:"businessId"`
	CreateTime int64  `json:"createTime"`
	UpdateTime int64  `json:"updateTime"`
}

func toUserResponse(u *store.User) userResponse {
	return userResponse{
		ID: u.ID, User: u.Name, Status: int(u.Status), RealName: u.RealName, Phone: u.Phone,
		IsAdmin: u.IsAdmin, BusinessID: u.BusinessID,
		CreateTime: u.CreatedAt.Unix(), UpdateTime: u.UpdatedAt.Unix(),
	}
}

// newUserRequest is the body of POST /v1/user and POST /v1/admin/user.
type newUserRequest struct {
	User     *string `json:"user"`
	Password *string `json:"password"`
	Phone    *string `json:"phone"`
	IsAdmin  *bool   `json:"isAdmin"`
	RealName *string `json:"realName"`
}

var (
	userNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{1,31}$`)
	phoneRE    = regexp.MustCompile(`^\+?[0-9][0-9 -]{4,19}$`)
)

// validate checks every field and returns the user to create (without hash).
func (r *newUserRequest) validate() (*store.User, string, error) {
	if r.User == nil || *r.User == "" {
		return nil, "", invalid("user", "is required")
	}
	if !userNameRE.MatchString(*r.User) {
		return nil, "", invalid("user", "must be 2-32 letters, digits, '_', '.' or '-', starting with a letter or digit")
	}
	if r.Password == nil || *r.Password == "" {
		return nil, "", invalid("password", "is required")
	}
	if err := auth.ValidatePassword(*r.Password); err != nil {
		return nil, "", invalid("password", "%v", err)
	}
	if r.Phone == nil || *r.Phone == "" {
		return nil, "", invalid("phone", "is required")
	}
	if !phoneRE.MatchString(*r.Phone) {
		return nil, "", invalid("phone", "must be a phone number of 5-20 digits, spaces or '-', optionally starting with '+'")
	}
	if r.IsAdmin == nil {
		return nil, "", invalid("isAdmin", "is required (true: general administrator, false: general user)")
	}
	realName, err := requireString("realName", r.RealName, 64)
	if err != nil {
		return nil, "", err
	}
	return &store.User{Name: *r.User, Phone: *r.Phone, RealName: realName, IsAdmin: *r.IsAdmin}, *r.Password, nil
}

// createUser validates req, passes gate (when set) and creates the user.
func (s *server) createUser(c *fiber.Ctx, req *newUserRequest, gate func(*fiber.Ctx) error, fill func(*store.User)) error {
	u, pw, err := req.validate()
	if err != nil {
		return err
	}
	if gate != nil {
		if err := gate(c); err != nil {
			return err
		}
	}
	fill(u)
	if u.PasswordHash, err = auth.HashPassword(pw); err != nil {
		return err
	}
	if err := s.store.CreateUser(c.UserContext(), u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("user %q already exists", u.Name)
		}
		return err
	}
	return ok(c, toUserResponse(u))
}

// register: POST /v1/user, open to everyone; the user waits for approval.
func (s *server) register(c *fiber.Ctx) error {
	var req newUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	return s.createUser(c, &req, s.registrationGate, func(u *store.User) { u.Status = store.UserPending })
}

// pendingRetry is the Retry-After of a registration refused because too
// many users wait for approval: administrators approve at a human pace.
const pendingRetry = 10 * time.Minute

// registrationGate throttles registrations per address (429) and refuses
// them while Register.MaxPending users wait for approval (503): both with
// Retry-After. Only valid requests count, so a typo costs no attempt.
func (s *server) registrationGate(c *fiber.Ctx) error {
	if ok, wait := s.regLimit.Allow(clientKey(s.clientIP(c))); !ok {
		return &Error{Status: fiber.StatusTooManyRequests, Message: "too many registrations from this address; try again later", RetryAfter: wait}
	}
	max := s.cfg.Register.MaxPending
	if max <= 0 {
		return nil
	}
	n, err := s.store.CountUsersByStatus(c.UserContext(), store.UserPending, max)
	if err != nil {
		return err
	}
	if n >= int64(max) {
		return &Error{Status: fiber.StatusServiceUnavailable, Message: fmt.Sprintf("registration is closed for now: %d accounts are waiting for approval; try again later", n), RetryAfter: pendingRetry}
	}
	return nil
}

// createSubUser: POST /v1/admin/user. The new user joins the caller's
// business and is approved at once: its administrator vouches for it. A
// system administrator's sub-users belong to no business.
func (s *server) createSubUser(c *fiber.Ctx) error {
	var req newUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	me := callerOf(c).user
	return s.createUser(c, &req, nil, func(u *store.User) {
		u.Status = store.UserApproved
		if me.Role() == store.RoleBusinessAdmin {
			u.BusinessID = me.BusinessID
		}
	})
}

type changePasswordRequest struct {
	OldPassword *string `json:"oldPassword"`
	Password    *string `json:"password"`
}

// changePassword: PUT /v1/user. Every token of the user, this one included,
// stops working; the answer carries a fresh token.
func (s *server) changePassword(c *fiber.Ctx) error {
	var req changePasswordRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.OldPassword == nil || *req.OldPassword == "" {
		return invalid("oldPassword", "is required")
	}
	hash, err := newPasswordHash(req.Password)
	if err != nil {
		return err
	}
	me := callerOf(c).user
	if !auth.CheckPassword(me.PasswordHash, *req.OldPassword) {
		return invalid("oldPassword", "is not the current password")
	}
	if err := s.store.SetUserPassword(c.UserContext(), me.ID, hash); err != nil {
		return err
	}
	me.TokenGeneration++
	return s.issue(c, me)
}

func newPasswordHash(pw *string) ([]byte, error) {
	if pw == nil || *pw == "" {
		return nil, invalid("password", "is required")
	}
	if err := auth.ValidatePassword(*pw); err != nil {
		return nil, invalid("password", "%v", err)
	}
	return auth.HashPassword(*pw)
}

// listUsers: GET /v1/admin/user. A business administrator sees its business.
func (s *server) listUsers(c *fiber.Ctx) error {
	page, err := parsePage(c, 10, false)
	if err != nil {
		return err
	}
	orderBy, err := parseOrderBy(c, "id", "user_name")
	if err != nil {
		return err
	}
	desc, err := parseOrder(c, "asc")
	if err != nil {
		return err
	}
	q := store.UserQuery{OrderBy: store.UserOrder(orderBy), Desc: desc, Page: page}
	if me := callerOf(c).user; me.Role() != store.RoleSysAdmin {
		q.BusinessID = me.BusinessID
	}
	users, total, err := s.store.ListUsers(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]userResponse, len(users))
	for i := range users {
		out[i] = toUserResponse(&users[i])
	}
	return list(c, out, total)
}

// scopedUser loads the user named by a path parameter when the caller may
// manage it: the system administrator any user, a business administrator the
// users of its business. Others are answered 404, as if they did not exist.
func (s *server) scopedUser(c *fiber.Ctx, param string) (*store.User, error) {
	id, err := pathID(c, param)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("user %d not found", id)
	}
	if err != nil {
		return nil, err
	}
	me := callerOf(c).user
	if me.Role() != store.RoleSysAdmin && (u.BusinessID != me.BusinessID || u.IsSysAdmin) {
		return nil, notFound("user %d not found", id)
	}
	// A change to a business's user is in that business's trail, whoever
	// made it.
	auditBusinessOf(c, u.BusinessID)
	return u, nil
}

// deleteUser: DELETE /v1/admin/user/{userid}.
func (s *server) deleteUser(c *fiber.Ctx) error {
	u, err := s.scopedUser(c, "userId")
	if err != nil {
		return err
	}
	if u.ID == callerOf(c).user.ID {
		return conflict("you cannot delete the account you are logged in with")
	}
	if err := s.store.DeleteUser(c.UserContext(), u.ID); err != nil {
		return userChangeError(err, u.ID)
	}
	return ok(c, nil)
}

type resetPasswordRequest struct {
	Password *string `json:"password"`
}

// resetPassword: PUT /v1/admin/user/{userId}/password. The user's tokens die.
func (s *server) resetPassword(c *fiber.Ctx) error {
	u, err := s.scopedUser(c, "userId")
	if err != nil {
		return err
	}
	var req resetPasswordRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	hash, err := newPasswordHash(req.Password)
	if err != nil {
		return err
	}
	if err := s.store.SetUserPassword(c.UserContext(), u.ID, hash); err != nil {
		return userChangeError(err, u.ID)
	}
	return ok(c, nil)
}

type auditUserRequest struct {
	Status *int `json:"status"`
}

// auditUser: PUT /v1/admin/user/{userId}, system administrator only.
func (s *server) auditUser(c *fiber.Ctx) error {
	u, err := s.scopedUser(c, "userId")
	if err != nil {
		return err
	}
	var req auditUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Status == nil {
		return invalid("status", "is required (0 pending, 1 approved, 2 not approved, 3 forbidden)")
	}
	st := store.UserStatus(*req.Status)
	if !st.Valid() {
		return invalid("status", "must be 0 (pending), 1 (approved), 2 (not approved) or 3 (forbidden), got %d", *req.Status)
	}
	if err := s.store.SetUserStatus(c.UserContext(), u.ID, st); err != nil {
		return userChangeError(err, u.ID)
	}
	u, err = s.store.UserByID(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	return ok(c, toUserResponse(u))
}

func userChangeError(err error, id uint64) error {
	switch {
	case errors.Is(err, store.ErrLastSysAdmin):
		return conflict("user %d is the last system administrator", id)
	case errors.Is(err, store.ErrNotFound):
		return notFound("user %d not found", id)
	}
	return err
}
