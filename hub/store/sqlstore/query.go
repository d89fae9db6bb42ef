package sqlstore

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ote-stack/ote/hub/store"
)

// Query helpers shared by the tables' files.

// paginate applies an offset window; Limit 0 is no limit.
func paginate(db *gorm.DB, p store.Page) *gorm.DB {
	if p.Limit > 0 {
		db = db.Limit(p.Limit)
	}
	if p.Offset > 0 {
		db = db.Offset(p.Offset)
	}
	return db
}

// rowsAffected maps an update that touched no row to ErrNotFound.
func rowsAffected(res *gorm.DB, what string) error {
	if res.Error != nil {
		return translate(res.Error, what)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// escapeLike makes LIKE wildcards literal (used with ESCAPE '\').
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// matchName filters column by name in mode: equal, prefix, or (partial,
// the default) substring. LIKE wildcards in name match literally.
func matchName(db *gorm.DB, column, name string, mode store.NameMode) *gorm.DB {
	if name == "" {
		return db
	}
	switch mode {
	case store.MatchStrict:
		return db.Where(column+" = ?", name)
	case store.MatchPrefix:
		return db.Where(column+" LIKE ? ESCAPE '\\'", escapeLike(name)+"%")
	default:
		return db.Where(column+" LIKE ? ESCAPE '\\'", "%"+escapeLike(name)+"%")
	}
}

// listPage counts the rows of db and reads the page p of them by id
// (descending when desc), converted by conv.
func listPage[R, T any](db *gorm.DB, p store.Page, desc bool, what string, conv func(*R) *T) ([]T, int64, error) {
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, translate(err, "count "+what)
	}
	var rows []R
	err := paginate(db.Order(clause.OrderByColumn{Column: clause.Column{Name: "id"}, Desc: desc}), p).Find(&rows).Error
	if err != nil {
		return nil, 0, translate(err, "list "+what)
	}
	out := make([]T, len(rows))
	for i := range rows {
		out[i] = *conv(&rows[i])
	}
	return out, total, nil
}
