package listenaddr

import (
	"net"
	"testing"
)

func TestAddrs(t *testing.T) {
	for _, tc := range []struct {
		addr              net.Addr
		display, loopback string
	}{
		{&net.TCPAddr{IP: net.IPv4zero, Port: 5000}, "localhost:5000", "127.0.0.1:5000"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "localhost:8080", "127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 80}, "10.1.2.3:80", "10.1.2.3:80"},
	} {
		if got := Display(tc.addr); got != tc.display {
			t.Errorf("Display(%v) = %s, want %s", tc.addr, got, tc.display)
		}
		if got := Loopback(tc.addr); got != tc.loopback {
			t.Errorf("Loopback(%v) = %s, want %s", tc.addr, got, tc.loopback)
		}
	}
}
