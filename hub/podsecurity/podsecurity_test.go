package podsecurity_test

import (
	"testing"

	"github.com/ote-stack/ote/hub/podsecurity"
	"github.com/ote-stack/ote/protocol"
)

func TestCheck(t *testing.T) {
	emptyDir := protocol.Volume{Name: "cache", MountPath: "/cache", Type: "emptyDir"}
	hostPath := protocol.Volume{Name: "host", MountPath: "/host", Type: "hostPath", HostPath: "/"}
	plain := &protocol.ContainerSpec{Kind: "deployment", Image: "nginx:1.27", Ports: []protocol.Port{{ContainerPort: 80}}}
	withVolumes := func(vs ...protocol.Volume) *protocol.ContainerSpec {
		c := *plain
		c.Volumes = vs
		return &c
	}
	levels := []string{protocol.PodSecurityRestricted, protocol.PodSecurityBaseline, protocol.PodSecurityPrivileged}
	cases := []struct {
		name string
		spec *protocol.ContainerSpec
		// field is the forbidden field under each level, "" when allowed.
		field map[string]string
	}{
		{"no volumes", plain, nil},
		{"nil spec", nil, nil},
		{"emptyDir", withVolumes(emptyDir), nil},
		{"hostPath", withVolumes(hostPath), map[string]string{
			protocol.PodSecurityRestricted: "volume[0].hostPath",
			protocol.PodSecurityBaseline:   "volume[0].hostPath",
		}},
		{"hostPath after emptyDir", withVolumes(emptyDir, hostPath), map[string]string{
			protocol.PodSecurityRestricted: "volume[1].hostPath",
			protocol.PodSecurityBaseline:   "volume[1].hostPath",
		}},
		{"read-only hostPath", withVolumes(protocol.Volume{Name: "m", MountPath: "/m", Type: "hostPath", HostPath: "/data", ReadOnly: true}), map[string]string{
			protocol.PodSecurityRestricted: "volume[0].hostPath",
			protocol.PodSecurityBaseline:   "volume[0].hostPath",
		}},
	}
	for _, tc := range cases {
		for _, level := range levels {
			t.Run(tc.name+"/"+level, func(t *testing.T) {
				v := podsecurity.Check(level, tc.spec)
				want := tc.field[level]
				switch {
				case want == "" && v != nil:
					t.Fatalf("refused: %v", v)
				case want != "" && v == nil:
					t.Fatalf("allowed; want %s refused", want)
				case want != "" && (v.Field != want || v.Level != level):
					t.Fatalf("violation %+v; want field %s level %s", v, want, level)
				}
			})
		}
	}
}

func TestViolationMessage(t *testing.T) {
	c := &protocol.ContainerSpec{Volumes: []protocol.Volume{{Name: "h", MountPath: "/host", Type: "hostPath", HostPath: "/"}}}
	v := podsecurity.Check(protocol.PodSecurityRestricted, c)
	want := `volume[0].hostPath: hostPath volumes are forbidden by the business's pod security level "restricted"`
	if v == nil || v.Error() != want {
		t.Fatalf("message %v; want %s", v, want)
	}
	// An unknown level is judged as the strictest.
	if v := podsecurity.Check("lenient", c); v == nil || v.Level != protocol.PodSecurityRestricted {
		t.Fatalf("unknown level: %v", v)
	}
}
