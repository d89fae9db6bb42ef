package sqlstore

import "context"

// OpenAt opens dsn migrated up to version only, to test later migrations on
// data written under earlier schemas.
func OpenAt(ctx context.Context, dsn string, version int) (*Store, error) {
	return open(ctx, dsn, version)
}
