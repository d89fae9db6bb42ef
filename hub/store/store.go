// Package store defines the hub's persistence boundary: the domain types the API
// works with, the Store interface it calls, and the sentinel errors every
// implementation returns. gorm lives only in the sqlstore implementation.
package store

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Sentinel errors. Implementations wrap them with detail; callers test with errors.Is.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique name is taken.
	ErrConflict = errors.New("conflict")
	// ErrLastSysAdmin: the change would leave no approved system administrator.
	ErrLastSysAdmin = errors.New("last system administrator")
	// ErrHasBusiness: the user already owns a pending or approved business.
	ErrHasBusiness = errors.New("user already has a business")
	// ErrAlreadyAudited: the business is not in a state that this audit may change.
	ErrAlreadyAudited = errors.New("business already audited")
	// ErrClusterJoined: a bootstrap join names a cluster whose agent has
	// already connected with its credential.
	ErrClusterJoined = errors.New("cluster already joined")
	// ErrInUse: a live deployment uses the application version.
	ErrInUse = errors.New("in use")
	// ErrNotEditable: a change of the deployment waits for audit or is in flight.
	ErrNotEditable = errors.New("deployment is not editable")
)

// Store is everything the hub persists. Every method takes the request's context.
type Store interface {
	Ping(ctx context.Context) error
	Close() error

	// CreateUser inserts u and sets its ID and times. ErrConflict when the name is taken.
	CreateUser(ctx context.Context, u *User) error
	// EnsureSysAdmin creates u as an approved system administrator unless one
	// exists already; it reports whether it created u.
	EnsureSysAdmin(ctx context.Context, u *User) (bool, error)
	UserByID(ctx context.Context, id uint64) (*User, error)
	UserByName(ctx context.Context, name string) (*User, error)
	ListUsers(ctx context.Context, q UserQuery) ([]User, int64, error)
	// SetUserPassword replaces the hash and invalidates every token issued before.
	SetUserPassword(ctx context.Context, id uint64, hash []byte) error
	// SetUserStatus audits a user. ErrLastSysAdmin when it would demote the last one.
	SetUserStatus(ctx context.Context, id uint64, status UserStatus) error
	// DeleteUser removes a user. ErrLastSysAdmin when it is the last one.
	DeleteUser(ctx context.Context, id uint64) error
	// CountUsersByStatus counts the users of status, stopping at upTo when
	// upTo is positive (the count is then min(count, upTo)).
	CountUsersByStatus(ctx context.Context, status UserStatus, upTo int) (int64, error)

	// CreateBusiness inserts b (pending) and makes it the business of b.UserID.
	// ErrConflict when the name is taken, ErrHasBusiness when the owner has a live one.
	CreateBusiness(ctx context.Context, b *Business) error
	BusinessByID(ctx context.Context, id uint64) (*Business, error)
	ListBusinesses(ctx context.Context, q BusinessQuery) ([]Business, int64, error)
	// AuditBusiness sets status and comment, and the pod security level
	// when podSecurity is not empty. Approval records the business's
	// namespace, with the Pod Security Admission labels of its level, as
	// desired in every edge cluster, in the same transaction.
	// ErrAlreadyAudited when the business is approved or deleted.
	AuditBusiness(ctx context.Context, id uint64, status BusinessStatus, comment, podSecurity string) (*Business, error)
	// SetBusinessPodSecurity sets the pod security level of a pending,
	// approved or disapproved business. For an approved one whose level
	// changes, the namespace's desired item is rewritten with the new
	// labels at a new revision in the same transaction; it reports whether
	// it wrote one. workloads are the business's live deployments
	// recompiled at the new level (deployment id -> workload spec),
	// rewritten in the same transaction. ErrNotFound; ErrAlreadyAudited
	// for a deleted business.
	SetBusinessPodSecurity(ctx context.Context, id uint64, podSecurity string, workloads map[uint64][]byte) (*Business, bool, error)
	// ListDesiredNamespaces returns the namespaces every edge cluster must have.
	ListDesiredNamespaces(ctx context.Context) ([]DesiredNamespace, error)

	Clusters
	Nodes
	Desired
	Apps
	Deploys
	Repos
	Images
	Audit

	// PlatformStats counts what the hub's metrics show of the whole
	// platform (every replica sees the same): clusters heard since
	// readySince are ready.
	PlatformStats(ctx context.Context, readySince time.Time) (*PlatformStats, error)

	// RevokeToken records a token ID as revoked until it would have expired anyway.
	RevokeToken(ctx context.Context, tokenID string, expires time.Time) error
	TokenRevoked(ctx context.Context, tokenID string) (bool, error)
}

// UserStatus is the audit state of a user, numbered as in the seed API.
type UserStatus int

const (
	UserPending     UserStatus = 0
	UserApproved    UserStatus = 1
	UserNotApproved UserStatus = 2
	UserForbidden   UserStatus = 3
)

// Valid reports whether s is one of the seed's four values.
func (s UserStatus) Valid() bool { return s >= UserPending && s <= UserForbidden }

// Role is what a user may do, numbered as in the seed's GET /v1/authorization.
type Role int

const (
	RolePending       Role = 0 // registered, waiting for approval
	RoleApproved      Role = 1 // approved, no approved business
	RoleUser          Role = 2 // general user of an approved business
	RoleBusinessAdmin Role = 3 // administrator of an approved business
	RoleSysAdmin      Role = 4 // system administrator
)

// User is a platform account. PasswordHash never leaves the hub.
type User struct {
	ID           uint64
	Name         string
	PasswordHash []byte
	Phone        string
	RealName     string
	// IsAdmin marks a general (business) administrator.
	IsAdmin bool
	// IsSysAdmin marks a system administrator.
	IsSysAdmin bool
	Status     UserStatus
	// BusinessID is the user's business, 0 for none.
	BusinessID uint64
	// BusinessStatus is the status of BusinessID, filled by reads.
	BusinessStatus BusinessStatus
	// TokenGeneration grows when the password changes; tokens carry the
	// generation they were issued at and die when it moves on.
	TokenGeneration int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Role derives the seed's role number from the user's flags, status and business.
func (u *User) Role() Role {
	switch {
	case u.Status != UserApproved:
		return RolePending
	case u.IsSysAdmin:
		return RoleSysAdmin
	case u.BusinessID != 0 && u.BusinessStatus == BusinessApproved && u.IsAdmin:
		return RoleBusinessAdmin
	case u.BusinessID != 0 && u.BusinessStatus == BusinessApproved:
		return RoleUser
	default:
		return RoleApproved
	}
}

// UserQuery selects and pages users.
type UserQuery struct {
	// BusinessID restricts the list to one business when non-zero.
	BusinessID uint64
	OrderBy    UserOrder
	Desc       bool
	Page       Page
}

// UserOrder is a sortable column of users.
type UserOrder string

const (
	UserOrderID   UserOrder = "id"
	UserOrderName UserOrder = "user_name"
)

// Page is an offset window; Limit 0 means no limit.
type Page struct {
	Offset int
	Limit  int
}

// BusinessStatus is the audit state of a business, numbered as in the seed API.
type BusinessStatus int

const (
	BusinessPending     BusinessStatus = 0
	BusinessApproved    BusinessStatus = 1
	BusinessDisapproved BusinessStatus = 2
	BusinessDeleted     BusinessStatus = 3
)

// Business is a tenant. Once approved it owns the namespace Namespace() in every
// edge cluster.
type Business struct {
	ID        uint64
	Name      string
	UserID    uint64
	Introduce string
	Objective string
	Scale     string
	Comment   string
	Status    BusinessStatus
	// PodSecurity is the Pod Security Standard level of its namespace:
	// "restricted" (the default), "baseline" or "privileged".
	PodSecurity string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Namespace is the Kubernetes namespace of business id: "ns" followed by the id.
func Namespace(businessID uint64) string { return "ns" + strconv.FormatUint(businessID, 10) }

// Namespace is the Kubernetes namespace of b.
func (b *Business) Namespace() string { return Namespace(b.ID) }

// BusinessQuery selects and pages businesses.
type BusinessQuery struct {
	// OnlyID restricts the list to one business when non-zero (what a
	// non-system-administrator may see).
	OnlyID uint64
	// NameContains filters by a substring of the name.
	NameContains string
	Desc         bool
	Page         Page
}

// DesiredNamespace is a namespace that must exist in every edge cluster.
type DesiredNamespace struct {
	Name       string
	BusinessID uint64
	Revision   uint64
}

// PlatformStats are the platform-wide figures of the hub's /metrics.
type PlatformStats struct {
	ClustersReady, ClustersNotReady int64
	// Deploys counts the live and deleted deployments by status.
	Deploys map[DeployStatus]int64
	// AuditsPending counts the deployment requests waiting for an administrator.
	AuditsPending int64
	// Unacknowledged counts the (cluster, item) pairs whose newest
	// revision the cluster's agent has not reported on; OldestUnacknowledged
	// is when the oldest of them was written (zero: none, or written by a
	// hub that did not record it).
	Unacknowledged       int64
	OldestUnacknowledged time.Time
}
