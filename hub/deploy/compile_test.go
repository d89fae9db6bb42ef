package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// fakePulls knows external repository "partner" of business 7 and the hub
// registry at hub.example:5000.
type fakePulls struct{}

func (fakePulls) Repository(_ context.Context, business uint64, id string) (*protocol.PullSecretRef, error) {
	if business != 7 || id != "partner" {
		return nil, fmt.Errorf("repository %q: %w", id, store.ErrNotFound)
	}
	return &protocol.PullSecretRef{RepositoryID: id, Fingerprint: "fp-partner"}, nil
}

func (fakePulls) HubRegistry(business uint64, image string) (string, *protocol.PullSecretRef) {
	if len(image) > 17 && image[:17] == "hub.example:5000/" {
		return "ote-registry", &protocol.PullSecretRef{RepositoryID: "ote-registry", Fingerprint: fmt.Sprint("robot", business)}
	}
	return "", nil
}

func containerApp(t *testing.T, edit func(*AppSpec)) *store.App {
	t.Helper()
	a := AppSpec{AppName: "web", Version: "1.0", DeployType: "deployment", Image: "hub.example:5000/shop/web:1.0", Replicas: 2,
		MinCPU: 10, MaxCPU: 50, MinMemory: 64, MaxMemory: 128, MaxSurge: 1}
	if edit != nil {
		edit(&a)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return &store.App{BusinessID: 7, Name: a.AppName, Version: a.Version, Kind: store.AppContainer, DeployType: a.DeployType, Spec: raw}
}

func compile(t *testing.T, d *store.Deploy, app *store.App, level string) (*protocol.WorkloadSpec, error) {
	t.Helper()
	raw, err := Compile(context.Background(), d, app, level, fakePulls{})
	if err != nil {
		return nil, err
	}
	var ws protocol.WorkloadSpec
	if err := json.Unmarshal(raw, &ws); err != nil {
		t.Fatal(err)
	}
	return &ws, nil
}

func TestCompileContainer(t *testing.T) {
	d := &store.Deploy{BusinessID: 7, Name: "shop", NodeLabel: "gpu"}
	ws, err := compile(t, d, containerApp(t, nil), protocol.PodSecurityRestricted)
	if err != nil {
		t.Fatal(err)
	}
	c := ws.Container
	if ws.Namespace != store.Namespace(7) || ws.Name != "shop" || ws.App != "web" || ws.Version != "1.0" || ws.NodeLabel != "gpu" ||
		ws.PodSecurity != protocol.PodSecurityRestricted || c == nil || c.Replicas != 2 || c.MinCPUMilli != 100 || c.MaxCPUMilli != 500 {
		t.Fatalf("compiled %+v %+v", ws, c)
	}
	if c.ImagePullSecret != "ote-registry" || c.PullSecret.Fingerprint != "robot7" || c.HPA != nil {
		t.Errorf("hub registry image: pull secret %q %+v, hpa %+v", c.ImagePullSecret, c.PullSecret, c.HPA)
	}

	ws, err = compile(t, d, containerApp(t, func(a *AppSpec) {
		a.Image, a.RepositoryID = "registry.partner.example/web:1.0", "partner"
		a.IsHPA, a.MinReplicas, a.MaxReplicas, a.TargetCPUUtilization = true, 1, 4, 60
	}), protocol.PodSecurityRestricted)
	if err != nil {
		t.Fatal(err)
	}
	if c := ws.Container; c.ImagePullSecret != RepositorySecret("partner") || c.PullSecret.Fingerprint != "fp-partner" ||
		c.HPA == nil || c.HPA.MaxReplicas != 4 || c.HPA.CPUPercent != 60 {
		t.Errorf("external repository and autoscaling: %+v %+v", c, c.HPA)
	}

	_, err = compile(t, d, containerApp(t, func(a *AppSpec) { a.RepositoryID = "gone" }), protocol.PodSecurityRestricted)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "repositoryId" {
		t.Errorf("missing repository: %v, want a refusal naming repositoryId", err)
	}

	hostPath := containerApp(t, func(a *AppSpec) {
		a.Volume = []protocol.Volume{{Name: "root", Type: "hostPath", HostPath: "/", MountPath: "/host"}}
	})
	if _, err := compile(t, d, hostPath, protocol.PodSecurityBaseline); !errors.As(err, &fe) || fe.Field != "volume[0].hostPath" {
		t.Errorf("hostPath under baseline: %v, want a refusal naming volume[0].hostPath", err)
	}
	if _, err := compile(t, d, hostPath, protocol.PodSecurityPrivileged); err != nil {
		t.Errorf("hostPath under privileged: %v", err)
	}
}

func TestCompileChart(t *testing.T) {
	app := &store.App{BusinessID: 7, Name: "db", Version: "2.1", Kind: store.AppChart, ChartName: "postgres", ChartVersion: "12.0.0", ChartDigest: "sha256:ab", ChartSize: 4096}
	ws, err := compile(t, &store.Deploy{BusinessID: 7, Name: "db", NodeLabel: "ssd"}, app, protocol.PodSecurityBaseline)
	if err != nil {
		t.Fatal(err)
	}
	ch := ws.Chart
	if ws.Container != nil || ch == nil || ch.Digest != "sha256:ab" || ch.Name != "postgres" || ch.Version != "12.0.0" || ch.Size != 4096 {
		t.Fatalf("chart %+v", ch)
	}
	sel, _ := ch.Values["nodeSelector"].(map[string]any)
	if sel[protocol.NodeLabelKey("ssd")] != "true" {
		t.Errorf("chart values %v: want the node label as nodeSelector", ch.Values)
	}
	ws, _ = compile(t, &store.Deploy{BusinessID: 7, Name: "db"}, app, protocol.PodSecurityBaseline)
	if ws.Chart.Values != nil {
		t.Errorf("no node label: values %v, want none", ws.Chart.Values)
	}
}
