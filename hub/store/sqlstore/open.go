// Package sqlstore implements store.Store with gorm on SQLite (embedded, pure Go)
// or PostgreSQL. Dialect differences stay in this file and in migrate.go.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/ote-stack/ote/hub/store"
)

// Dialect names the database behind a Store.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the gorm implementation of store.Store.
type Store struct {
	db      *gorm.DB
	dialect Dialect
	dsn     string
}

var _ store.Store = (*Store)(nil)

// Open connects to dsn, which is either sqlite://PATH or a postgres:// (or
// postgresql://) URL, and runs the schema migrations that are not applied yet.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, LatestSchemaVersion())
}

func open(ctx context.Context, dsn string, upTo int) (*Store, error) {
	dialector, dialect, err := dialectorFor(dsn)
	if err != nil {
		return nil, err
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Default.LogMode(logger.Silent),
		TranslateError:         true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	s := &Store{db: db, dialect: dialect, dsn: dsn}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	switch dialect {
	case SQLite:
		// WAL lets readers run beside the single writer; immediate transactions
		// take the write lock up front so read-then-write transactions never
		// deadlock on lock upgrade, and busy_timeout queues writers.
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
	case Postgres:
		// As many idle as open: under a burst (ten thousand agents
		// authenticating) a connection closed for want of an idle slot is
		// opened again at once, each a server process and a SCRAM exchange
		// that cost PostgreSQL more than the queries. Idle ones close after
		// five minutes.
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(32)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	if err := s.migrate(ctx, upTo); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func dialectorFor(dsn string) (gorm.Dialector, Dialect, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		path := strings.TrimPrefix(dsn, "sqlite://")
		if path == "" {
			return nil, "", errors.New("sqlite DSN has no path: want sqlite://PATH")
		}
		if path != ":memory:" {
			if err := privateDBFiles(path); err != nil {
				return nil, "", err
			}
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Set("_txlock", "immediate")
		return sqlite.Open("file:" + path + "?" + q.Encode()), SQLite, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return postgres.Open(dsn), Postgres, nil
	default:
		return nil, "", fmt.Errorf("unsupported database DSN %q: want sqlite://PATH or postgres://...", redactDSN(dsn))
	}
}

// privateDBFiles creates the SQLite file with mode 0600 before SQLite opens
// it, and takes group and other bits off an existing one and its -wal and
// -shm files: SQLite gives those the database file's permissions, whatever
// the process umask.
func privateDBFiles(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("restrict database file: %w", err)
			}
		}
	}
	return nil
}

// redactDSN hides a password in a DSN so that it can go into an error or a log.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Dialect reports which database the store talks to.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB exposes the gorm handle to tests and benchmarks of this package's users
// that must seed data in bulk. Application code goes through store.Store.
func (s *Store) DB() *gorm.DB { return s.db }

func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// translate maps gorm's errors to the store's sentinels.
func translate(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%s: %w", what, store.ErrConflict)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}
