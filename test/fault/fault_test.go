package fault

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// echo serves on ln: every line read is counted on got and written back.
func echo(t *testing.T, ln net.Listener, got chan<- string) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					got <- line
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// roundTrip sends line and says what happened: whether the server got it
// within wait, and whether its echo came back.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, got <-chan string, line string, wait time.Duration) (arrived, echoed bool) {
	t.Helper()
	if _, err := c.Write([]byte(line)); err != nil {
		t.Fatalf("write: %v", err)
	}
	select {
	case <-got:
		arrived = true
	case <-time.After(wait):
	}
	c.SetReadDeadline(time.Now().Add(wait))
	back, err := r.ReadString('\n')
	c.SetReadDeadline(time.Time{})
	return arrived, err == nil && back == line
}

// A cut drops traffic silently in the direction asked for; healing lets
// TCP's retransmissions through, so nothing sent on the connection is lost.
func TestSiteCuts(t *testing.T) {
	Require(t)
	s := NewSite(t, "edge")
	ln, err := net.Listen("tcp", s.WAN.OuterIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	echo(t, ln, got)
	c, err := s.Dial(ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if local := c.LocalAddr().(*net.TCPAddr).IP.String(); local != s.WAN.InnerIP {
		t.Fatalf("dialled from %s, want the site's WAN address %s", local, s.WAN.InnerIP)
	}
	r := bufio.NewReader(c)
	if a, e := roundTrip(t, c, r, got, "hello\n", 5*time.Second); !a || !e {
		t.Fatalf("before any cut: arrived %v, echoed %v", a, e)
	}

	// To the site only: the server hears, the echo is lost (for now).
	s.Cut(t, ToSite)
	if a, e := roundTrip(t, c, r, got, "one\n", 2*time.Second); !a || e {
		t.Fatalf("cut to the site: arrived %v (want true), echoed %v (want false)", a, e)
	}
	s.Heal(t)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if back, err := r.ReadString('\n'); err != nil || back != "one\n" {
		t.Fatalf("after healing, the held-back echo: %q %v", back, err)
	}

	// From the site only: nothing arrives until healed; then it does.
	s.Cut(t, FromSite)
	if a, _ := roundTrip(t, c, r, got, "two\n", 2*time.Second); a {
		t.Fatal("cut from the site, yet the server got the line")
	}
	s.Heal(t)
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("after healing, the retransmitted line never arrived")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if back, err := r.ReadString('\n'); err != nil || back != "two\n" {
		t.Fatalf("after healing, the echo: %q %v", back, err)
	}

	// Both ways: a new connection cannot even be made.
	s.Cut(t, Both)
	if c2, err := s.Dial(ln.Addr().String(), time.Second); err == nil {
		c2.Close()
		t.Fatal("dialled through a link cut both ways")
	}
	s.Heal(t)
	c3, err := s.Dial(ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial after healing: %v", err)
	}
	c3.Close()

	// The LAN link is never cut.
	lan, err := net.Listen("tcp", s.LAN.OuterIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	lanGot := make(chan string, 4)
	echo(t, lan, lanGot)
	s.Cut(t, Both)
	lc, err := s.Dial(lan.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("LAN dial while the WAN is cut: %v", err)
	}
	defer lc.Close()
	if a, e := roundTrip(t, lc, bufio.NewReader(lc), lanGot, "lan\n", 5*time.Second); !a || !e {
		t.Fatalf("LAN while the WAN is cut: arrived %v, echoed %v", a, e)
	}
	s.Heal(t)
}

// The proxy delays by its latency, and a black hole holds the connection
// open while nothing passes.
func TestProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	echo(t, ln, got)
	p := NewProxy(t, "127.0.0.1:0", ln.Addr().String())
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if a, e := roundTrip(t, c, r, got, "plain\n", 5*time.Second); !a || !e {
		t.Fatalf("through the proxy: arrived %v, echoed %v", a, e)
	}
	p.Latency(t, 150*time.Millisecond)
	start := time.Now()
	if a, e := roundTrip(t, c, r, got, "slow\n", 5*time.Second); !a || !e {
		t.Fatalf("with latency: arrived %v, echoed %v", a, e)
	}
	if rtt := time.Since(start); rtt < 300*time.Millisecond {
		t.Fatalf("round trip %v with 150ms each way", rtt)
	}
	p.Clear(t)
	p.BlackHole(t)
	if a, e := roundTrip(t, c, r, got, "lost\n", time.Second); a || e {
		t.Fatalf("through a black hole: arrived %v, echoed %v", a, e)
	}
	// The connection is still open: only silence says something is wrong.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := r.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("black-holed connection: %v, want a read timeout (still open)", err)
	}
	p.Clear(t)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the black-holed connection carried data after it was cleared")
	}
}

// The small disk fills to ENOSPC and frees.
func TestSmallDisk(t *testing.T) {
	Require(t)
	d := NewSmallDisk(t, 2)
	d.Fill(t)
	if err := os.WriteFile(d.Dir+"/more", make([]byte, 8192), 0o600); err == nil {
		t.Fatal("wrote to a full disk")
	}
	d.Free(t)
	if err := os.WriteFile(d.Dir+"/more", make([]byte, 8192), 0o600); err != nil {
		t.Fatalf("after freeing: %v", err)
	}
	if d.Available(t) < 1<<20 {
		t.Fatalf("only %d bytes free after freeing", d.Available(t))
	}
}

// The private PostgreSQL serves, refuses while stopped, and serves again
// after a crash.
func TestPostgres(t *testing.T) {
	Require(t)
	pg := NewPostgres(t)
	db, err := sql.Open("pgx", pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "create table t (v int)"); err != nil {
		t.Fatal(err)
	}
	pg.Stop(t)
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping answered while stopped")
	}
	pg.Start(t)
	if _, err := db.ExecContext(ctx, "insert into t values (1)"); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	pg.Kill()
	pg.Start(t)
	var n int
	if err := db.QueryRowContext(ctx, "select count(*) from t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after a crash: %d rows, %v", n, err)
	}
}
