// Package listenaddr names a listener's address for its clients.
package listenaddr

import (
	"net"
	"strconv"
)

// Display is the address clients are told to use: localhost when the
// listener takes every address.
func Display(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	}
	return a.String()
}

// Loopback is where the process itself reaches its own listener.
func Loopback(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return a.String()
}
