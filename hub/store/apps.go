package store

import (
	"context"
	"time"
)

// Apps are the businesses' applications: a container spec or a Helm chart,
// versioned x.y.
type Apps interface {
	// CreateApp inserts a; ErrConflict when the business has the name and
	// version already. A chart app's archive is stored with it.
	CreateApp(ctx context.Context, a *App, chart []byte) error
	AppByID(ctx context.Context, id uint64) (*App, error)
	ListApps(ctx context.Context, q AppQuery) ([]App, int64, error)
	// DeleteApps removes the apps of ids that belong to business (any
	// business when 0). Nothing is removed when one is missing (ErrNotFound)
	// or is used by a live deployment (ErrInUse).
	DeleteApps(ctx context.Context, business uint64, ids []uint64) error
	// Chart returns the chart archive of digest ("sha256:<hex>").
	Chart(ctx context.Context, digest string) ([]byte, error)
}

// AppKind tells what an app is made of.
type AppKind string

const (
	AppContainer AppKind = "container"
	AppChart     AppKind = "chart"
)

// App is one version of an application.
type App struct {
	ID         uint64
	BusinessID uint64
	Name       string
	Version    string
	Kind       AppKind
	// DeployType is "deployment" or "daemonset" for container apps, "helm"
	// for chart apps.
	DeployType string
	// Spec is the container spec as JSON (container apps).
	Spec []byte
	// ChartDigest, ChartName and ChartVersion describe a chart app's archive.
	ChartDigest  string
	ChartName    string
	ChartVersion string
	ChartSize    int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NameMode is how AppQuery.Name matches.
type NameMode string

const (
	MatchStrict  NameMode = "strict"
	MatchPartial NameMode = "partial"
	MatchPrefix  NameMode = "prefix"
)

// AppQuery selects and pages apps.
type AppQuery struct {
	// BusinessID restricts to one business when non-zero.
	BusinessID uint64
	Name       string
	NameMode   NameMode
	Version    string
	Page       Page
}
