package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/ote-stack/ote/protocol"
)

// driftKinds are the kinds of a release's objects whose drift is looked
// for: the workloads, whose replicas and images are what people change.
var driftKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true}

// Drift compares the workload objects of release name's deployed revision
// (its manifest) with what the cluster holds: the replica count and each
// container's image. A difference is attributed to the newest field
// manager, other than the agent, that holds the field. No release: no
// drift.
func (r *Releases) Drift(ctx context.Context, namespace, name string) ([]protocol.Drift, error) {
	cfg, err := r.config(namespace)
	if err != nil {
		return nil, err
	}
	// A release being installed, upgraded or rolled back is between two
	// revisions, not drifted.
	if last, err := cfg.Releases.Last(name); err == nil && last.Info != nil && last.Info.Status.IsPending() {
		return nil, nil
	}
	rel, err := cfg.Releases.Deployed(name)
	if errors.Is(err, driver.ErrNoDeployedReleases) || errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	list, err := cfg.KubeClient.Build(strings.NewReader(rel.Manifest), false)
	if err != nil {
		return nil, fmt.Errorf("read release %s/%s's manifest: %w", namespace, name, err)
	}
	// The replica count of an object that an autoscaler of the release
	// scales is the autoscaler's.
	scaled := map[string]bool{}
	for _, info := range list {
		if info.Mapping == nil || info.Mapping.GroupVersionKind.Kind != "HorizontalPodAutoscaler" {
			continue
		}
		if u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(info.Object); err == nil {
			kind, _, _ := unstructured.NestedString(u, "spec", "scaleTargetRef", "kind")
			target, _, _ := unstructured.NestedString(u, "spec", "scaleTargetRef", "name")
			scaled[kind+"/"+target] = true
		}
	}
	var out []protocol.Drift
	for _, info := range list {
		if info.Mapping == nil || !driftKinds[info.Mapping.GroupVersionKind.Kind] {
			continue
		}
		want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(info.Object)
		if err != nil {
			continue
		}
		obj, err := resource.NewHelper(info.Client, info.Mapping).Get(info.Namespace, info.Name)
		if err != nil {
			continue // gone or unreadable: the release's status says more
		}
		live, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		object := info.Mapping.GroupVersionKind.Kind + "/" + info.Name
		if scaled[object] {
			unstructured.RemoveNestedField(want, "spec", "replicas")
		}
		out = append(out, objectDrift(object, want, live)...)
	}
	// A difference no manager but the agent claims is not someone's change.
	return slices.DeleteFunc(out, func(d protocol.Drift) bool { return d.Manager == "" }), nil
}

// objectDrift compares the replicas and container images of want (a
// manifest's object) with live.
func objectDrift(object string, want map[string]any, live *unstructured.Unstructured) []protocol.Drift {
	var out []protocol.Drift
	if w, ok, _ := unstructured.NestedFieldNoCopy(want, "spec", "replicas"); ok {
		if l, ok, _ := unstructured.NestedFieldNoCopy(live.Object, "spec", "replicas"); ok && fmt.Sprint(w) != fmt.Sprint(l) {
			d := protocol.Drift{Object: object, Field: "spec.replicas", Desired: fmt.Sprint(w), Actual: fmt.Sprint(l)}
			attribute(&d, live, "f:spec", "f:replicas")
			out = append(out, d)
		}
	}
	images := func(obj map[string]any) map[string]string {
		cs, _, _ := unstructured.NestedSlice(obj, "spec", "template", "spec", "containers")
		m := map[string]string{}
		for _, c := range cs {
			if c, ok := c.(map[string]any); ok {
				n, _ := c["name"].(string)
				img, _ := c["image"].(string)
				m[n] = img
			}
		}
		return m
	}
	liveImages := images(live.Object)
	for n, img := range images(want) {
		if got, ok := liveImages[n]; ok && got != img {
			d := protocol.Drift{Object: object, Field: "spec.template.spec.containers[" + n + "].image", Desired: img, Actual: got}
			attribute(&d, live, "f:spec", "f:template", "f:spec", "f:containers", `k:{"name":"`+n+`"}`, "f:image")
			out = append(out, d)
		}
	}
	return out
}

// Repair applies release name's deployed revision again, as a Helm
// rollback to it: Helm's three-way merge puts back what others changed in
// the fields its manifest sets, and records a revision.
func (r *Releases) Repair(ctx context.Context, namespace, name string) error {
	defer r.hold(namespace, name)()
	cfg, err := r.guardedConfig(namespace)
	if err != nil {
		return err
	}
	rel, err := cfg.Releases.Deployed(name)
	if err != nil {
		return fmt.Errorf("release %s/%s: %w", namespace, name, err)
	}
	nc := cfg.KubeClient.(*namespacedClient)
	if err := nc.checkRelease(rel, false); err != nil {
		return fmt.Errorf("revision %d of release %s: %w", rel.Version, name, err)
	}
	nc.current = rel.Manifest
	rb := action.NewRollback(cfg)
	rb.Version = rel.Version
	if err := rb.Run(name); err != nil {
		return fmt.Errorf("put release %s/%s back to revision %d: %w", namespace, name, rel.Version, err)
	}
	return nil
}
