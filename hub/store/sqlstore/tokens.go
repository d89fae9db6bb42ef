package sqlstore

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// revokedTokenRow is the gorm model of table revoked_tokens.
type revokedTokenRow struct {
	TokenID   string `gorm:"primaryKey"`
	ExpiresAt time.Time
}

func (revokedTokenRow) TableName() string { return "revoked_tokens" }

// RevokeToken records the revocation and drops revocations of tokens that have
// expired since: an expired token is refused on its own, so the table stays as
// small as the number of live revoked tokens.
func (s *Store) RevokeToken(ctx context.Context, tokenID string, expires time.Time) error {
	db := s.db.WithContext(ctx)
	err := db.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&revokedTokenRow{TokenID: tokenID, ExpiresAt: expires.UTC()}).Error
	if err != nil {
		return translate(err, "revoke token")
	}
	if err := db.Where("expires_at < ?", s.db.NowFunc()).Delete(&revokedTokenRow{}).Error; err != nil {
		return translate(err, "prune revoked tokens")
	}
	return nil
}

func (s *Store) TokenRevoked(ctx context.Context, tokenID string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&revokedTokenRow{}).Where("token_id = ?", tokenID).Limit(1).Count(&n).Error
	if err != nil {
		return false, translate(err, "check token")
	}
	return n > 0, nil
}
