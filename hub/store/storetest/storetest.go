// Package storetest opens real stores for tests: an SQLite file in a temporary
// directory, and a fresh schema in the PostgreSQL named by OTE_TEST_POSTGRES.
//
// PostgreSQL tests never pass silently: without a reachable server they fail
// when CI or OTE_REQUIRE_POSTGRES is set, and otherwise skip with a loud message
// that says how to start one (test/pg/start.sh).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/ote-stack/ote/hub/store/sqlstore"
)

// DefaultPostgresDSN is what test/pg/start.sh prepares.
const DefaultPostgresDSN = "postgres://ote:ote@127.0.0.1:5432/ote_test?sslmode=disable"

// Dialects are the databases every store test runs against.
var Dialects = []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres}

// PostgresDSN is the server tests use.
func PostgresDSN() string {
	if v := os.Getenv("OTE_TEST_POSTGRES"); v != "" {
		return v
	}
	return DefaultPostgresDSN
}

var (
	pgOnce sync.Once
	pgErr  error
	pgAdm  *gorm.DB
)

func postgresAdmin() (*gorm.DB, error) {
	pgOnce.Do(func() {
		db, err := gorm.Open(postgres.Open(PostgresDSN()), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
		if err != nil {
			pgErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sqlDB, err := db.DB()
		if err == nil {
			err = sqlDB.PingContext(ctx)
		}
		if err != nil {
			pgErr = err
			return
		}
		sqlDB.SetMaxOpenConns(2)
		pgAdm = db
	})
	return pgAdm, pgErr
}

// RequirePostgres reports whether a missing PostgreSQL must fail the tests.
func RequirePostgres() bool {
	return os.Getenv("CI") != "" || os.Getenv("OTE_REQUIRE_POSTGRES") != ""
}

// DSN returns a database for one test: a fresh SQLite file, or a fresh
// PostgreSQL schema that is dropped when the test ends.
func DSN(t testing.TB, d sqlstore.Dialect) string {
	t.Helper()
	switch d {
	case sqlstore.SQLite:
		return "sqlite://" + filepath.Join(t.TempDir(), "hub.db")
	case sqlstore.Postgres:
		adm, err := postgresAdmin()
		if err != nil {
			msg := fmt.Sprintf("!!! PostgreSQL at %s is not reachable (%v). Start it with test/pg/start.sh (as root) or set OTE_TEST_POSTGRES.", redact(PostgresDSN()), err)
			if RequirePostgres() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		schema := "t_" + randomHex(8)
		if err := adm.Exec("CREATE SCHEMA " + schema).Error; err != nil {
			t.Fatalf("create schema: %v", err)
		}
		t.Cleanup(func() { adm.Exec("DROP SCHEMA " + schema + " CASCADE") })
		u, err := url.Parse(PostgresDSN())
		if err != nil {
			t.Fatalf("parse OTE_TEST_POSTGRES: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	default:
		t.Fatalf("unknown dialect %q", d)
		return ""
	}
}

// Open returns a migrated store of dialect d that is closed when the test ends.
func Open(t testing.TB, d sqlstore.Dialect) *sqlstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sqlstore.Open(ctx, DSN(t, d))
	if err != nil {
		t.Fatalf("open %s store: %v", d, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Each runs fn as a subtest against a fresh store of every dialect.
func Each(t *testing.T, fn func(t *testing.T, s *sqlstore.Store)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

// SeedUsers inserts n approved general users named <prefix><i> in bulk, all
// with the same password hash, in business businessID (0: none).
func SeedUsers(tb testing.TB, s *sqlstore.Store, prefix string, n int, hash []byte, businessID uint64) {
	tb.Helper()
	now := time.Now().UTC()
	seed(tb, s, "users", n, func(i int) map[string]any {
		r := map[string]any{
			"user_name": fmt.Sprintf("%s%d", prefix, i), "password_hash": string(hash),
			"phone": "13800000000", "real_name": "Seeded", "is_admin": false, "is_sys_admin": false,
			"status": 1, "token_generation": 0, "created_at": now, "updated_at": now,
		}
		if businessID != 0 {
			r["business_id"] = businessID
		}
		return r
	})
}

// SeedDeploys inserts n deployments of business in bulk (status success).
func SeedDeploys(tb testing.TB, s *sqlstore.Store, business uint64, n int) {
	tb.Helper()
	now := time.Now().UTC()
	seed(tb, s, "deploys", n, func(i int) map[string]any {
		return map[string]any{
			"business_id": business, "name": fmt.Sprintf("deploy-%d", i), "app_name": fmt.Sprintf("app-%d", i%100), "version": "1.0",
			"cluster_label": "", "node_label": "", "comment": "", "type": 1, "status": 5, "editable": true,
			"error_message": "", "audit_comment": "", "spec": "{}", "created_by": 1, "created_at": now, "updated_at": now,
		}
	})
}

// SeedImages inserts n images "<project>/image-<i>" of projectID in bulk,
// each with one tag.
func SeedImages(tb testing.TB, s *sqlstore.Store, projectID uint64, project string, n int) {
	tb.Helper()
	now := time.Now().UTC()
	var first uint64
	s.DB().Raw("SELECT COALESCE(MAX(id), 0) FROM images").Scan(&first)
	seed(tb, s, "images", n, func(i int) map[string]any {
		return map[string]any{"id": first + uint64(i) + 1, "project_id": projectID, "name": fmt.Sprintf("%s/image-%d", project, i), "created_at": now, "updated_at": now}
	})
	seed(tb, s, "image_tags", n, func(i int) map[string]any {
		return map[string]any{"image_id": first + uint64(i) + 1, "tag": "v1", "digest": fmt.Sprintf("sha256:%064x", i), "created_at": now, "updated_at": now}
	})
}

// seed inserts n rows made by row into table in batches, then refreshes the
// planner's statistics, as a database in service has them.
func seed(tb testing.TB, s *sqlstore.Store, table string, n int, row func(i int) map[string]any) {
	tb.Helper()
	const batch = 1000
	rows := make([]map[string]any, 0, batch)
	flush := func() {
		if len(rows) == 0 {
			return
		}
		if err := s.DB().Table(table).Create(rows).Error; err != nil {
			tb.Fatalf("seed %s: %v", table, err)
		}
		rows = rows[:0]
	}
	for i := 0; i < n; i++ {
		rows = append(rows, row(i))
		if len(rows) == batch {
			flush()
		}
	}
	flush()
	if err := s.DB().Exec("ANALYZE").Error; err != nil {
		tb.Fatalf("analyze: %v", err)
	}
}
