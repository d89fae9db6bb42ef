package store

import (
	"context"
	"time"
)

// Images are the hub's side of its OCI registry: projects (the first
// component of an image name) owned by businesses, registry accounts of
// platform users, and an index of the images and tags the registry holds.
// The registry is the truth about images and tags; the index follows its
// pushes and deletes and is reconciled with it (package registry).
type Images interface {
	// CreateProject inserts p; ErrConflict when the name is taken.
	CreateProject(ctx context.Context, p *Project) error
	// ProjectByName finds a project (without ImageCount: the token
	// server's hot path asks for it).
	ProjectByName(ctx context.Context, name string) (*Project, error)
	ListProjects(ctx context.Context, q ProjectQuery) ([]Project, int64, error)
	// DeleteProjects removes the projects with ids, all or none:
	// ErrNotFound when one does not exist or is not the business's (unless
	// business is AnyBusiness), ErrInUse when one still holds images.
	DeleteProjects(ctx context.Context, business uint64, ids []uint64) error

	// CreateRegistryUser inserts u; ErrConflict when the name is taken or
	// the platform user has an account already.
	CreateRegistryUser(ctx context.Context, u *RegistryUser) error
	RegistryUser(ctx context.Context, userID uint64) (*RegistryUser, error)
	RegistryUserByName(ctx context.Context, name string) (*RegistryUser, error)
	SetRegistryUserPassword(ctx context.Context, userID uint64, sealed string) error

	// PutTag records that image:tag points at digest (the image is created
	// when new). ErrNotFound when the image's project does not exist.
	PutTag(ctx context.Context, image, tag, digest string, at time.Time) error
	// RemoveTags forgets tags of image; an image left without tags leaves
	// the index.
	RemoveTags(ctx context.Context, image string, tags []string) error
	// RemoveDigest forgets every tag of image on digest.
	RemoveDigest(ctx context.Context, image, digest string) error
	// SetTags makes the tags of image exactly tags (tag -> digest), keeping
	// the times of those unchanged. ErrNotFound when the project is missing.
	SetTags(ctx context.Context, image string, tags map[string]string, at time.Time) error
	// IndexedImages names every image in the index.
	IndexedImages(ctx context.Context) ([]string, error)
	Image(ctx context.Context, name string) (*Image, error)
	ListImages(ctx context.Context, q ImageQuery) ([]Image, int64, error)
	// ListTags lists the tags of image, newest first.
	ListTags(ctx context.Context, image string, p Page) ([]Tag, int64, error)
	// TagDigests maps the tags of image to their digests.
	TagDigests(ctx context.Context, image string) (map[string]string, error)
}

// AnyBusiness, as the business of DeleteProjects, lifts the ownership check
// (system administrators).
const AnyBusiness = ^uint64(0)

// Project is a namespace of images: "<project>/<image>". Projects of
// business 0 are the platform's (made by system administrators).
type Project struct {
	ID         uint64
	Name       string
	BusinessID uint64
	Public     bool
	ImageCount int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ProjectQuery lists projects. Business limits the list to the business's
// projects plus public ones (AnyBusiness: all).
type ProjectQuery struct {
	Business uint64
	Name     string
	Public   *bool
	Desc     bool
	Page
}

// RegistryUser is the registry account of a platform user. PasswordSealed
// is sealed with the hub's secret key.
type RegistryUser struct {
	UserID         uint64
	Name           string
	PasswordSealed string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Image is a repository of the registry: "<project>/<path>".
type Image struct {
	ID        uint64
	ProjectID uint64
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ImageQuery lists the images of a project; Name filters by substring.
type ImageQuery struct {
	ProjectID uint64
	Name      string
	Desc      bool
	Page
}

// Tag is a tag of an image.
type Tag struct {
	Tag       string
	Digest    string
	CreatedAt time.Time
	UpdatedAt time.Time
}
