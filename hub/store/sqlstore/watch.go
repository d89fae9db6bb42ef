package sqlstore

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ote-stack/ote/pkg/backoff"
)

// PostgreSQL notification channels between hub replicas.
const (
	// desiredChannel: desired state was committed (no payload).
	desiredChannel = "ote_desired"
	// sessionsChannel: new tunnel sessions took these clusters (payload:
	// comma-separated cluster ids).
	sessionsChannel = "ote_sessions"
)

// Changes are what Watch calls when another replica (or this one) commits.
type Changes struct {
	// Desired: desired state was written.
	Desired func()
	// Sessions: new sessions took the clusters of ids; nil ids: any
	// cluster may have changed hands (the watch was down for a while).
	Sessions func(ids []uint64)
}

// Watch calls the Changes' functions whenever any hub replica commits
// desired state or session starts, until ctx ends. On PostgreSQL it
// LISTENs on a connection of its own, and reconnects with backoff when
// that connection breaks; after every (re)connection it calls both with
// "anything may have changed" (Desired, and Sessions with nil), as writes
// may have been missed meanwhile. SQLite serves one hub process, which
// hears itself: Watch returns at once.
func (s *Store) Watch(ctx context.Context, log *slog.Logger, c Changes) {
	if s.dialect != Postgres {
		return
	}
	if c.Desired == nil {
		c.Desired = func() {}
	}
	if c.Sessions == nil {
		c.Sessions = func([]uint64) {}
	}
	bo := backoff.New(500*time.Millisecond, 30*time.Second)
	for ctx.Err() == nil {
		err := s.listen(ctx, c, bo)
		if ctx.Err() != nil {
			return
		}
		log.Warn("listening for desired-state writes failed; retrying", "err", err)
		if !bo.Wait(ctx) {
			return
		}
	}
}

// WatchDesired is Watch for desired state only.
func (s *Store) WatchDesired(ctx context.Context, log *slog.Logger, notify func()) {
	s.Watch(ctx, log, Changes{Desired: notify})
}

func (s *Store) listen(ctx context.Context, c Changes, bo *backoff.Backoff) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{desiredChannel, sessionsChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	bo.Reset()
	c.Desired()
	c.Sessions(nil)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case desiredChannel:
			c.Desired()
		case sessionsChannel:
			c.Sessions(parseIDs(n.Payload))
		}
	}
}

func parseIDs(payload string) []uint64 {
	ids := make([]uint64, 0, strings.Count(payload, ",")+1)
	for f := range strings.SplitSeq(payload, ",") {
		if id, err := strconv.ParseUint(f, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}
