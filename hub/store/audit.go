package store

import (
	"context"
	"time"
)

// AuditEntry is one administrative write as the audit trail keeps it: who
// asked, with which role and from where, what they asked for and how the hub
// answered. It holds nothing secret: the API fills Detail from an allow-list
// of request fields, and passwords and credentials are never among them.
type AuditEntry struct {
	ID uint64
	At time.Time
	// UserID and UserName are the caller's; Role is its role then.
	UserID   uint64
	UserName string
	Role     Role
	// BusinessID is the business the write concerns (the caller's, or the
	// target's when a system administrator acts on a business); 0 for
	// platform-wide writes.
	BusinessID uint64
	// Action names the write, e.g. "user.audit" or "cluster.label.add".
	Action string
	// Target is what the write was aimed at: the request path (with its ids).
	Target string
	// Detail is a JSON object of the request's non-secret fields.
	Detail string
	// Status is the HTTP status of the answer; Result is "success" or the
	// message the caller was shown.
	Status int
	Result string
	// Address is the client's address.
	Address string
}

// AuditQuery selects and pages audit entries, newest first unless Asc.
type AuditQuery struct {
	// BusinessID restricts the trail to one business when non-zero.
	BusinessID uint64
	// UserName restricts it to one caller (exact name).
	UserName string
	// Action is an action name, or a prefix when it ends with '.'.
	Action string
	// From and To bound the time (inclusive); zero means unbounded.
	From, To time.Time
	Asc      bool
	Page     Page
}

// Audit keeps the trail of administrative writes.
type Audit interface {
	// RecordAudit appends e and sets its ID (and At when zero).
	RecordAudit(ctx context.Context, e *AuditEntry) error
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, int64, error)
	// PruneAudit removes the entries older than before and says how many.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}
