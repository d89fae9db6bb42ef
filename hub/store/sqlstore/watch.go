package sqlstore

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ote-stack/ote/pkg/backoff"
)

// desiredChannel is the PostgreSQL notification channel of desired-state
// writes.
const desiredChannel = "ote_desired"

// WatchDesired calls notify whenever any hub replica commits desired state,
// until ctx ends. On PostgreSQL it LISTENs on its own connection, and
// reconnects with backoff when that connection breaks (notify is called
// after every reconnect, as a write may have been missed meanwhile). SQLite
// serves one hub process, which notifies itself: it returns at once.
func (s *Store) WatchDesired(ctx context.Context, log *slog.Logger, notify func()) {
	if s.dialect != Postgres {
		return
	}
	bo := backoff.New(500*time.Millisecond, 30*time.Second)
	for ctx.Err() == nil {
		err := s.listen(ctx, notify, bo)
		if ctx.Err() != nil {
			return
		}
		log.Warn("listening for desired-state writes failed; retrying", "err", err)
		if !bo.Wait(ctx) {
			return
		}
	}
}

func (s *Store) listen(ctx context.Context, notify func(), bo *backoff.Backoff) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+desiredChannel); err != nil {
		return err
	}
	bo.Reset()
	notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		notify()
	}
}
