package tunnel

import (
	"strings"
	"testing"

	"github.com/ote-stack/ote/protocol"
)

func TestCheckNode(t *testing.T) {
	good := protocol.Node{Name: "node-1.edge.example", IP: "10.0.0.1", CPU: 4, Memory: 8 << 30, OSImage: "Ubuntu 24.04"}
	for _, c := range []struct {
		name string
		edit func(*protocol.Node)
		want string
	}{
		{"good", func(*protocol.Node) {}, ""},
		{"IPv6", func(n *protocol.Node) { n.IP = "fd00::1" }, ""},
		{"no IP", func(n *protocol.Node) { n.IP = "" }, ""},
		{"253 characters", func(n *protocol.Node) { n.Name = strings.Repeat("a", 253) }, ""},
		{"254 characters", func(n *protocol.Node) { n.Name = strings.Repeat("a", 254) }, "at most 253"},
		{"10,000 characters", func(n *protocol.Node) { n.Name = strings.Repeat("a", 10000) }, "at most 253"},
		{"empty name", func(n *protocol.Node) { n.Name = "" }, "empty"},
		{"upper case", func(n *protocol.Node) { n.Name = "Node-1" }, "DNS-1123"},
		{"leading dash", func(n *protocol.Node) { n.Name = "-node" }, "DNS-1123"},
		{"empty label", func(n *protocol.Node) { n.Name = "a..b" }, "DNS-1123"},
		{"negative memory", func(n *protocol.Node) { n.Memory = -1 }, "negative memory"},
		{"negative cpu", func(n *protocol.Node) { n.CPU = -4 }, "negative cpu"},
		{"negative gpu", func(n *protocol.Node) { n.GPUMemory = -1 }, "negative gpuMemory"},
		{"bad IP", func(n *protocol.Node) { n.IP = "10.0.0.300" }, "does not parse"},
		{"long OS image", func(n *protocol.Node) { n.OSImage = strings.Repeat("x", 300) }, "osImage"},
	} {
		n := good
		c.edit(&n)
		err := checkNode(&n)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestClipText(t *testing.T) {
	if got := clipText(strings.Repeat("é", 100)); len(got) > 64+len("…") || !strings.HasSuffix(got, "…") {
		t.Fatalf("clip %q", got)
	}
	if got := clipText("short"); got != "short" {
		t.Fatalf("clip %q", got)
	}
}

// Whatever an agent sends, checkNode does not panic, and what it accepts is
// a name the store and the API can hold.
func FuzzCheckNode(f *testing.F) {
	f.Add("node-1", "10.0.0.1", int64(4), int64(8<<30))
	f.Add(strings.Repeat("a", 254), "fd00::1", int64(-1), int64(0))
	f.Add("a..b", "10.0.0.300", int64(0), int64(-5))
	f.Fuzz(func(t *testing.T, name, ip string, cpu, mem int64) {
		n := protocol.Node{Name: name, IP: ip, CPU: cpu, Memory: mem}
		if checkNode(&n) != nil {
			return
		}
		if len(name) == 0 || len(name) > maxNodeName || strings.ToLower(name) != name || cpu < 0 || mem < 0 {
			t.Fatalf("accepted %+v", n)
		}
	})
}
