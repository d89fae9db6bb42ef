package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// Outage is what a failed call says of the database behind it.
type Outage int

const (
	// NoOutage: the error is about the request (or unknown), not an outage.
	NoOutage Outage = iota
	// Unavailable: the database cannot serve now (unreachable, restarting,
	// shutting down, out of connections, locked for too long, failing I/O);
	// the same request later may well succeed.
	Unavailable
	// StorageFull: the database's disk (or the hub's data directory) is
	// full; nothing of the request was written.
	StorageFull
)

// OutageOf classifies err, from whichever engine it came, by the types and
// codes the drivers give, without importing them: PostgreSQL's SQLSTATE
// (pgconn.PgError's SQLState), SQLite's result code (its Error's Code),
// network and system errors.
func OutageOf(err error) Outage {
	if err == nil {
		return NoOutage
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return StorageFull
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		switch state := pg.SQLState(); {
		case state == "53100": // disk_full
			return StorageFull
		case strings.HasPrefix(state, "08"), // connection exception
			strings.HasPrefix(state, "53"),                       // insufficient resources
			state == "57P01", state == "57P02", state == "57P03", // admin/crash shutdown, cannot connect now
			state == "57014",                   // query canceled (statement timeout)
			state == "40001", state == "40P01": // serialization failure, deadlock
			return Unavailable
		}
		return NoOutage
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff { // the primary result code
		case 13: // SQLITE_FULL
			return StorageFull
		case 5, 6, 10, 14, 15: // BUSY, LOCKED, IOERR, CANTOPEN, PROTOCOL
			return Unavailable
		}
		return NoOutage
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, context.DeadlineExceeded) {
		return Unavailable
	}
	// pgx's own words for a connection that broke under it (no typed
	// error): "conn closed", "failed to connect", "unexpected EOF".
	msg := err.Error()
	for _, s := range []string{"conn closed", "failed to connect", "unexpected EOF", "connection reset", "broken pipe", "server closed the connection"} {
		if strings.Contains(msg, s) {
			return Unavailable
		}
	}
	return NoOutage
}
