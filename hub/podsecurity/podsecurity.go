// Package podsecurity judges container apps against a business's Pod
// Security Standard level before the hub accepts them, so that what the
// edge API server would refuse (or what would give a tenant the node) is
// refused at the API, with the field that the level forbids.
//
// What a container app can express (protocol.ContainerSpec, from POST
// /v1/app) decides what is checked here:
//
//   - volumes: emptyDir or hostPath. hostPath is forbidden under baseline
//     and restricted; emptyDir is allowed at every level.
//   - ports: a containerPort only. A container app cannot ask for a
//     hostPort, so it cannot bind the node's ports.
//   - a container app has no securityContext and no pod-level host
//     settings: it cannot ask to be privileged, to add capabilities, to run
//     as a given user or group, for hostNetwork, hostPID or hostIPC, for
//     another seccomp or AppArmor profile, SELinux options, sysctls, or
//     /proc mount type. Those fields are safe because they cannot be set.
//   - running as root: the image decides the user, which the hub cannot see.
//     Under restricted the agent sets runAsNonRoot on the pod (see
//     protocol.WorkloadSpec.PodSecurity), so the kubelet refuses to start an
//     image that runs as root, and allowPrivilegeEscalation false, every
//     capability dropped and the RuntimeDefault seccomp profile.
//
// Chart apps are not judged here: the namespace's Pod Security Admission
// labels make the edge API server refuse their pods.
package podsecurity

import (
	"fmt"

	"github.com/ote-stack/ote/protocol"
)

// Default is the level of a business unless the system administrator
// grants another.
const Default = protocol.PodSecurityRestricted

// Violation is a field of a container app that a level forbids.
type Violation struct {
	// Field names it as the API does, down to the element
	// ("volume[0].hostPath").
	Field string
	// Level is the business's level.
	Level string
	// What is forbidden, as a plural noun phrase ("hostPath volumes").
	What string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("%s: %s are forbidden by the business's pod security level %q", v.Field, v.What, v.Level)
}

// Check returns the first field of c that level forbids, or nil. An
// unknown level is judged as restricted.
func Check(level string, c *protocol.ContainerSpec) *Violation {
	if c == nil || level == protocol.PodSecurityPrivileged {
		return nil
	}
	if !protocol.ValidPodSecurity(level) {
		level = protocol.PodSecurityRestricted
	}
	// baseline and restricted forbid the same of what a container app can
	// express; restricted's further demands (non-root, no escalation, no
	// capabilities, seccomp) are met by the securityContext the agent sets.
	for i, v := range c.Volumes {
		if v.Type == "hostPath" || v.HostPath != "" {
			return &Violation{Field: fmt.Sprintf("volume[%d].hostPath", i), Level: level, What: "hostPath volumes"}
		}
	}
	return nil
}
