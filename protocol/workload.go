package protocol

// The parts of a container app that travel to agents with its workload.

// Port is a container port, exposed by the app's Service.
type Port struct {
	// Name is optional (a DNS label of at most 15 characters).
	Name string `json:"name,omitempty"`
	// ContainerPort is where the container listens (1-65535).
	ContainerPort int32 `json:"containerPort"`
	// ServicePort is the Service's port; 0 means the same as ContainerPort.
	ServicePort int32 `json:"servicePort,omitempty"`
	// Protocol is TCP (default), UDP or SCTP.
	Protocol string `json:"protocol,omitempty"`
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Volume is a volume mounted into the container: an emptyDir or a hostPath.
type Volume struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	// Type is "emptyDir" or "hostPath".
	Type string `json:"type"`
	// HostPath is the node's path, for Type hostPath.
	HostPath string `json:"hostPath,omitempty"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}
