package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

type liteErr int

func (e liteErr) Error() string { return fmt.Sprintf("sqlite %d", int(e)) }
func (e liteErr) Code() int     { return int(e) }

func TestOutageOf(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		err  error
		want Outage
	}{
		{nil, NoOutage},
		{errors.New("name is taken"), NoOutage},
		{fmt.Errorf("save: %w", ErrConflict), NoOutage},
		{&pgconn.PgError{Code: "23505"}, NoOutage}, // unique violation: the request's fault
		{fmt.Errorf("approve: %w", &pgconn.PgError{Code: "57P01"}), Unavailable},
		{&pgconn.PgError{Code: "08006"}, Unavailable},
		{&pgconn.PgError{Code: "53300"}, Unavailable}, // too many connections
		{&pgconn.PgError{Code: "53100"}, StorageFull},
		{liteErr(13), StorageFull},
		{liteErr(5), Unavailable},
		{liteErr(10 | 3<<8), Unavailable}, // SQLITE_IOERR_WRITE
		{liteErr(19), NoOutage},           // constraint
		{refused, Unavailable},
		{fmt.Errorf("write blob: %w", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}), StorageFull},
		{context.DeadlineExceeded, Unavailable},
		{errors.New("failed to connect to `user=ote database=ote`: dial error"), Unavailable},
	} {
		if got := OutageOf(c.err); got != c.want {
			t.Errorf("OutageOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
