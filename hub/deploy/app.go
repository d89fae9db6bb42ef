package deploy

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/ote-stack/ote/hub/podsecurity"
	"github.com/ote-stack/ote/protocol"
)

var (
	// NameRE is an app's or a deployment's name: a DNS label of at most 53
	// characters (Helm's limit on a release name).
	NameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?$`)
	// VersionRE is an app's main version, x.y.
	VersionRE      = regexp.MustCompile(`^[0-9]{1,4}\.[0-9]{1,4}$`)
	imageRE        = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$`)
	RepositoryIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	envNameRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)
	portNameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$`)
	volumeNameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// AppSpec is a container app as the API takes and shows it: the seed's
// fields, with port, env and volume as documented in docs/api.md.
type AppSpec struct {
	AppName              string            `json:"appName"`
	DeployType           string            `json:"deployType"`
	Image                string            `json:"image"`
	Version              string            `json:"version"`
	RepositoryID         string            `json:"repositoryId"`
	Port                 []protocol.Port   `json:"port"`
	Command              string            `json:"command"`
	Volume               []protocol.Volume `json:"volume"`
	Env                  []protocol.EnvVar `json:"env"`
	Replicas             uint32            `json:"replicas"`
	MinReplicas          uint32            `json:"minReplicas"`
	MaxReplicas          uint32            `json:"maxReplicas"`
	MinCPU               uint32            `json:"minCPU"`
	MaxCPU               uint32            `json:"maxCPU"`
	GPU                  uint32            `json:"GPU"`
	IsHPA                bool              `json:"isHPA"`
	TargetCPUUtilization uint32            `json:"targetCPUUtilization"`
	TargetMemUtilization uint32            `json:"targetMemUtilization"`
	MinMemory            uint32            `json:"minMemory"`
	MaxMemory            uint32            `json:"maxMemory"`
	MaxUnavailable       uint32            `json:"maxUnavailable"`
	MaxSurge             uint32            `json:"maxSurge"`
	MinReadySeconds      uint32            `json:"minReadySeconds"`
}

// AppRequest is the body of POST /v1/app; pointers tell absent from zero.
type AppRequest struct {
	AppName              *string           `json:"appName"`
	DeployType           *string           `json:"deployType"`
	Image                *string           `json:"image"`
	Version              *string           `json:"version"`
	RepositoryID         *string           `json:"repositoryId"`
	Port                 *[]protocol.Port  `json:"port"`
	Command              *string           `json:"command"`
	Volume               []protocol.Volume `json:"volume"`
	Env                  []protocol.EnvVar `json:"env"`
	Replicas             *uint32           `json:"replicas"`
	MinReplicas          *uint32           `json:"minReplicas"`
	MaxReplicas          *uint32           `json:"maxReplicas"`
	MinCPU               *uint32           `json:"minCPU"`
	MaxCPU               *uint32           `json:"maxCPU"`
	GPU                  *uint32           `json:"GPU"`
	IsHPA                *bool             `json:"isHPA"`
	TargetCPUUtilization *uint32           `json:"targetCPUUtilization"`
	TargetMemUtilization *uint32           `json:"targetMemUtilization"`
	MinMemory            *uint32           `json:"minMemory"`
	MaxMemory            *uint32           `json:"maxMemory"`
	MaxUnavailable       *uint32           `json:"maxUnavailable"`
	MaxSurge             *uint32           `json:"maxSurge"`
	MinReadySeconds      *uint32           `json:"minReadySeconds"`
}

func required[T any](field string, v *T) (T, error) {
	if v == nil {
		var zero T
		return zero, invalid(field, "is required")
	}
	return *v, nil
}

func CheckNameVersion(name, version *string) (string, string, error) {
	n, err := required("appName", name)
	if err != nil {
		return "", "", err
	}
	if !NameRE.MatchString(n) {
		return "", "", invalid("appName", "must be 1-53 lower case letters, digits or '-', starting and ending with a letter or digit")
	}
	v, err := required("version", version)
	if err != nil {
		return "", "", err
	}
	if !VersionRE.MatchString(v) {
		return "", "", invalid("version", "must be a main version x.y, such as 1.1, got %q", v)
	}
	return n, v, nil
}

// Validate checks every field, in the seed's order, and returns the
// normalized spec.
func (r *AppRequest) Validate() (*AppSpec, error) {
	var s AppSpec
	var err error
	if s.AppName, s.Version, err = CheckNameVersion(r.AppName, r.Version); err != nil {
		return nil, err
	}
	if s.DeployType, err = required("deployType", r.DeployType); err != nil {
		return nil, err
	}
	if s.DeployType != "deployment" && s.DeployType != "daemonset" {
		return nil, invalid("deployType", "must be deployment or daemonset, got %q", s.DeployType)
	}
	if s.Image, err = required("image", r.Image); err != nil {
		return nil, err
	}
	last := s.Image[strings.LastIndex(s.Image, "/")+1:]
	if len(s.Image) > 512 || !imageRE.MatchString(s.Image) || !(strings.Contains(last, ":") || strings.Contains(last, "@")) {
		return nil, invalid("image", "must be an image reference with a tag or digest, such as registry/app:1.0, got %q", s.Image)
	}
	if r.RepositoryID != nil && *r.RepositoryID != "" {
		if !RepositoryIDRE.MatchString(*r.RepositoryID) {
			return nil, invalid("repositoryId", "must be 1-64 letters, digits, '_', '.' or '-'")
		}
		s.RepositoryID = *r.RepositoryID
	}
	ports, err := required("port", r.Port)
	if err != nil {
		return nil, err
	}
	if s.Port, err = checkPorts(ports); err != nil {
		return nil, err
	}
	if r.Command != nil {
		if _, err := SplitCommand(*r.Command); err != nil {
			return nil, invalid("command", "%v", err)
		}
		s.Command = strings.TrimSpace(*r.Command)
	}
	if s.Volume, err = checkVolumes(r.Volume); err != nil {
		return nil, err
	}
	if s.Env, err = checkEnv(r.Env); err != nil {
		return nil, err
	}
	if err := r.checkResources(&s); err != nil {
		return nil, err
	}
	if err := r.checkScaling(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

func inRange(field string, v, lo, hi uint32) error {
	if v < lo || v > hi {
		return invalid(field, "must be between %d and %d, got %d", lo, hi, v)
	}
	return nil
}

func (r *AppRequest) checkResources(s *AppSpec) error {
	var err error
	if s.MinCPU, err = required("minCPU", r.MinCPU); err != nil {
		return err
	}
	if s.MaxCPU, err = required("maxCPU", r.MaxCPU); err != nil {
		return err
	}
	if err := inRange("minCPU", s.MinCPU, 1, 102400); err != nil {
		return err
	}
	if err := inRange("maxCPU", s.MaxCPU, s.MinCPU, 102400); err != nil {
		return invalid("maxCPU", "must be at least minCPU (%d) and at most 102400 (percent of a core), got %d", s.MinCPU, s.MaxCPU)
	}
	if s.MinMemory, err = required("minMemory", r.MinMemory); err != nil {
		return err
	}
	if s.MaxMemory, err = required("maxMemory", r.MaxMemory); err != nil {
		return err
	}
	if err := inRange("minMemory", s.MinMemory, 1, 1<<20); err != nil {
		return err
	}
	if s.MaxMemory < s.MinMemory || s.MaxMemory > 1<<20 {
		return invalid("maxMemory", "must be at least minMemory (%d) and at most %d (MB), got %d", s.MinMemory, 1<<20, s.MaxMemory)
	}
	if r.GPU != nil {
		if err := inRange("GPU", *r.GPU, 0, 16); err != nil {
			return err
		}
		s.GPU = *r.GPU
	}
	return nil
}

func (r *AppRequest) checkScaling(s *AppSpec) error {
	var err error
	if s.IsHPA, err = required("isHPA", r.IsHPA); err != nil {
		return err
	}
	if s.TargetCPUUtilization, err = required("targetCPUUtilization", r.TargetCPUUtilization); err != nil {
		return err
	}
	if err := inRange("targetCPUUtilization", s.TargetCPUUtilization, 0, 100); err != nil {
		return err
	}
	if s.TargetMemUtilization, err = required("targetMemUtilization", r.TargetMemUtilization); err != nil {
		return err
	}
	if err := inRange("targetMemUtilization", s.TargetMemUtilization, 0, 100); err != nil {
		return err
	}
	if s.MaxUnavailable, err = required("maxUnavailable", r.MaxUnavailable); err != nil {
		return err
	}
	if s.MaxSurge, err = required("maxSurge", r.MaxSurge); err != nil {
		return err
	}
	if s.MaxUnavailable == 0 && s.MaxSurge == 0 {
		return invalid("maxSurge", "maxUnavailable and maxSurge must not both be 0: a rolling update could not progress")
	}
	if err := inRange("maxUnavailable", s.MaxUnavailable, 0, 1000); err != nil {
		return err
	}
	if err := inRange("maxSurge", s.MaxSurge, 0, 1000); err != nil {
		return err
	}
	if s.MinReadySeconds, err = required("minReadySeconds", r.MinReadySeconds); err != nil {
		return err
	}
	if err := inRange("minReadySeconds", s.MinReadySeconds, 0, 3600); err != nil {
		return err
	}
	if s.DeployType == "daemonset" {
		// Replica counts are effective only for deployments (seed): a
		// daemonset runs one pod per selected node.
		if s.IsHPA {
			return invalid("isHPA", "a daemonset cannot be autoscaled; use deployType deployment")
		}
		return nil
	}
	s.Replicas = 1
	if r.Replicas != nil {
		s.Replicas = *r.Replicas
	}
	if err := inRange("replicas", s.Replicas, 0, 1000); err != nil {
		return err
	}
	if !s.IsHPA {
		return nil
	}
	if s.TargetCPUUtilization == 0 && s.TargetMemUtilization == 0 {
		return invalid("targetCPUUtilization", "an autoscaled app needs targetCPUUtilization or targetMemUtilization between 1 and 100")
	}
	if r.MinReplicas == nil || *r.MinReplicas < 1 {
		return invalid("minReplicas", "must be at least 1 when isHPA is true")
	}
	s.MinReplicas = *r.MinReplicas
	if r.MaxReplicas == nil || *r.MaxReplicas < s.MinReplicas || *r.MaxReplicas > 1000 {
		return invalid("maxReplicas", "must be between minReplicas (%d) and 1000 when isHPA is true", s.MinReplicas)
	}
	s.MaxReplicas = *r.MaxReplicas
	if s.Replicas < s.MinReplicas || s.Replicas > s.MaxReplicas {
		return invalid("replicas", "must be between minReplicas (%d) and maxReplicas (%d), got %d", s.MinReplicas, s.MaxReplicas, s.Replicas)
	}
	return nil
}

func checkPorts(ports []protocol.Port) ([]protocol.Port, error) {
	if len(ports) > 64 {
		return nil, invalid("port", "at most 64 ports")
	}
	seen := map[string]bool{}
	out := make([]protocol.Port, len(ports))
	for i, p := range ports {
		f := fmt.Sprintf("port[%d]", i)
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, invalid(f+".containerPort", "must be between 1 and 65535, got %d", p.ContainerPort)
		}
		if p.ServicePort < 0 || p.ServicePort > 65535 {
			return nil, invalid(f+".servicePort", "must be between 1 and 65535 (0: the containerPort), got %d", p.ServicePort)
		}
		if p.ServicePort == 0 {
			p.ServicePort = p.ContainerPort
		}
		switch p.Protocol {
		case "":
			p.Protocol = "TCP"
		case "TCP", "UDP", "SCTP":
		default:
			return nil, invalid(f+".protocol", "must be TCP, UDP or SCTP, got %q", p.Protocol)
		}
		if p.Name != "" && !portNameRE.MatchString(p.Name) {
			return nil, invalid(f+".name", "must be a DNS label of at most 15 characters")
		}
		key := fmt.Sprint(p.ServicePort, "/", p.Protocol)
		if seen[key] {
			return nil, invalid(f+".servicePort", "%s is used twice", key)
		}
		seen[key] = true
		out[i] = p
	}
	return out, nil
}

func checkEnv(env []protocol.EnvVar) ([]protocol.EnvVar, error) {
	if len(env) > 256 {
		return nil, invalid("env", "at most 256 variables")
	}
	seen := map[string]bool{}
	for i, e := range env {
		f := fmt.Sprintf("env[%d]", i)
		if !envNameRE.MatchString(e.Name) {
			return nil, invalid(f+".name", "must be a variable name (letters, digits, '_', '.', '-', not starting with a digit), got %q", e.Name)
		}
		if seen[e.Name] {
			return nil, invalid(f+".name", "%q is set twice", e.Name)
		}
		seen[e.Name] = true
		if len(e.Value) > 32<<10 {
			return nil, invalid(f+".value", "must be at most 32 KiB")
		}
	}
	return env, nil
}

func checkVolumes(vols []protocol.Volume) ([]protocol.Volume, error) {
	if len(vols) > 64 {
		return nil, invalid("volume", "at most 64 volumes")
	}
	seen := map[string]bool{}
	for i, v := range vols {
		f := fmt.Sprintf("volume[%d]", i)
		if !volumeNameRE.MatchString(v.Name) {
			return nil, invalid(f+".name", "must be a DNS label, got %q", v.Name)
		}
		if seen[v.Name] {
			return nil, invalid(f+".name", "%q is used twice", v.Name)
		}
		seen[v.Name] = true
		if !path.IsAbs(v.MountPath) || path.Clean(v.MountPath) != v.MountPath || strings.Contains(v.MountPath, ":") {
			return nil, invalid(f+".mountPath", "must be a clean absolute path, got %q", v.MountPath)
		}
		switch v.Type {
		case "emptyDir":
			if v.HostPath != "" {
				return nil, invalid(f+".hostPath", "is only for type hostPath")
			}
		case "hostPath":
			if !path.IsAbs(v.HostPath) || path.Clean(v.HostPath) != v.HostPath {
				return nil, invalid(f+".hostPath", "must be a clean absolute path, got %q", v.HostPath)
			}
		default:
			return nil, invalid(f+".type", "must be emptyDir or hostPath, got %q", v.Type)
		}
	}
	return vols, nil
}

// SplitCommand splits a command line into words: blanks separate words;
// single and double quotes group them; a backslash escapes the next
// character outside single quotes. No shell runs it.
func SplitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quote, escaped := false, rune(0), false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if escaped {
		return nil, errors.New("ends with a lone backslash")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// Container is the part of the agents' workload spec that the app alone
// decides (pull secrets and autoscaling are added by Compile).
func (a *AppSpec) Container() *protocol.ContainerSpec {
	cmd, _ := SplitCommand(a.Command)
	return &protocol.ContainerSpec{
		Kind: a.DeployType, Image: a.Image, Ports: a.Port, Command: cmd, Env: a.Env, Volumes: a.Volume,
		Replicas: int32(a.Replicas), MinCPUMilli: int64(a.MinCPU) * 10, MaxCPUMilli: int64(a.MaxCPU) * 10,
		MinMemoryMiB: int64(a.MinMemory), MaxMemoryMiB: int64(a.MaxMemory), GPU: int64(a.GPU),
		MaxUnavailable: int32(a.MaxUnavailable), MaxSurge: int32(a.MaxSurge), MinReadySeconds: int32(a.MinReadySeconds),
	}
}

// CheckPodSecurity refuses, with 422 naming the field, what level forbids
// in a container app.
func CheckPodSecurity(level string, cs *protocol.ContainerSpec) error {
	if v := podsecurity.Check(level, cs); v != nil {
		return invalid(v.Field, "%s are forbidden by the business's pod security level %q", v.What, v.Level)
	}
	return nil
}
