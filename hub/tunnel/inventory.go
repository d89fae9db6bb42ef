package tunnel

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/ote-stack/ote/protocol"
)

// An agent's inventory is checked before it is stored: a node that could
// not be a Kubernetes Node (a name that is no DNS-1123 subdomain, a
// negative quantity, an address that does not parse) is refused and
// reported in the log once an hour per cluster, node and reason; the rest
// of the inventory is kept.

// maxNodeName is the length of a DNS-1123 subdomain.
const maxNodeName = 253

// maxNodeText bounds the free-text fields of a node (OS image, kernel).
const maxNodeText = 256

var subdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// checkNodeName reports why name cannot be a Node's.
func checkNodeName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty node name")
	case len(name) > maxNodeName:
		return fmt.Errorf("node name of %d characters (at most %d)", len(name), maxNodeName)
	case !subdomainRE.MatchString(name):
		return fmt.Errorf("node name is not a DNS-1123 subdomain")
	}
	return nil
}

// checkNode reports why n cannot be stored.
func checkNode(n *protocol.Node) error {
	if err := checkNodeName(n.Name); err != nil {
		return err
	}
	for _, q := range []struct {
		name string
		v    int64
	}{{"cpu", n.CPU}, {"memory", n.Memory}, {"disk", n.Disk}, {"gpuCount", n.GPUCount}, {"gpuMemory", n.GPUMemory}} {
		if q.v < 0 {
			return fmt.Errorf("negative %s (%d)", q.name, q.v)
		}
	}
	if n.IP != "" {
		if _, err := netip.ParseAddr(n.IP); err != nil {
			return fmt.Errorf("ip %s does not parse", strconv.Quote(clipText(n.IP)))
		}
	}
	for _, f := range []struct{ name, v string }{{"operatingSystem", n.OperatingSystem}, {"osImage", n.OSImage}, {"kernelVersion", n.KernelVersion}} {
		if len(f.v) > maxNodeText || !utf8.ValidString(f.v) {
			return fmt.Errorf("%s is not UTF-8 text of at most %d bytes", f.name, maxNodeText)
		}
	}
	return nil
}

// validNodes keeps the nodes that pass checkNode and the removed names that
// could be nodes', reporting the others.
func (s *session) validNodes(inv *protocol.Inventory) ([]protocol.Node, []string) {
	nodes := make([]protocol.Node, 0, len(inv.Nodes))
	for i := range inv.Nodes {
		if err := checkNode(&inv.Nodes[i]); err != nil {
			s.refusedNode(inv.Nodes[i].Name, err)
			continue
		}
		nodes = append(nodes, inv.Nodes[i])
	}
	removed := make([]string, 0, len(inv.Removed))
	for _, name := range inv.Removed {
		if checkNodeName(name) == nil {
			removed = append(removed, name)
		}
	}
	return nodes, removed
}

func (s *session) refusedNode(name string, why error) {
	key := strconv.FormatUint(s.cluster.ID, 10) + "\x00" + clipText(name) + "\x00" + why.Error()
	if ok, n := s.hub.refusedNodes.Note(key); ok {
		s.log.Warn("inventory: node refused, the rest kept", "node", clipText(name), "reason", why.Error(), "times", n)
	}
}

// clipText shortens s for a log line or a message.
func clipText(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
