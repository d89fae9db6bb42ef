package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ote-stack/ote/agent/credential"
	"github.com/ote-stack/ote/protocol"
)

// Drifted compares the Deployment or DaemonSet obj that the cluster holds
// for a container workload with what the agent applies for spec, field by
// field among those a person or another controller is likely to change
// (the replica count, the container's image, command and environment),
// and names, for each difference, the field manager that owns the field
// now and when it wrote it, from the object's managedFields. An object
// the agent did not make, and a chart workload, have no drift here.
func Drifted(obj metav1.Object, spec *protocol.WorkloadSpec) []protocol.Drift {
	c := spec.Container
	if c == nil || obj == nil || !madeFor(obj, spec.Name) {
		return nil
	}
	var pod *corev1.PodSpec
	var out []protocol.Drift
	var kind string
	switch o := obj.(type) {
	case *appsv1.Deployment:
		kind, pod = "Deployment", &o.Spec.Template.Spec
		if c.Kind != "deployment" {
			return nil
		}
		if c.HPA == nil && o.Spec.Replicas != nil && *o.Spec.Replicas != c.Replicas {
			out = append(out, drift(obj, "spec.replicas", fmt.Sprint(c.Replicas), fmt.Sprint(*o.Spec.Replicas), "f:spec", "f:replicas"))
		}
	case *appsv1.DaemonSet:
		kind, pod = "DaemonSet", &o.Spec.Template.Spec
		if c.Kind != "daemonset" {
			return nil
		}
	default:
		return nil
	}
	i := slices.IndexFunc(pod.Containers, func(ct corev1.Container) bool { return ct.Name == "app" })
	if i < 0 {
		out = append(out, drift(obj, "spec.template.spec.containers[app]", "present", "removed", "f:spec", "f:template", "f:spec", "f:containers"))
	} else {
		ct := pod.Containers[i]
		path := func(f string) []string {
			return []string{"f:spec", "f:template", "f:spec", "f:containers", `k:{"name":"app"}`, f}
		}
		const at = "spec.template.spec.containers[app]."
		if ct.Image != c.Image {
			out = append(out, drift(obj, at+"image", c.Image, ct.Image, path("f:image")...))
		}
		if want, got := strings.Join(c.Command, " "), strings.Join(ct.Command, " "); want != got {
			out = append(out, drift(obj, at+"command", want, got, path("f:command")...))
		}
		if want, got, changed := envDiff(c.Env, ct.Env); changed {
			out = append(out, drift(obj, at+"env", want, got, path("f:env")...))
		}
	}
	// A difference no other manager claims is the agent's own apply
	// under way (or the API server's defaulting), not someone's change.
	out = slices.DeleteFunc(out, func(d protocol.Drift) bool { return d.Manager == "" })
	for i := range out {
		out[i].Object = kind + "/" + obj.GetName()
	}
	return out
}

// envDiff compares the environment applied with the live one by name,
// never showing values (they may be secrets): desired lists the names
// applied; actual the live names, "+" before one added, "~" before one
// whose value changed, and "-NAME" for one removed.
func envDiff(want []protocol.EnvVar, live []corev1.EnvVar) (string, string, bool) {
	applied := map[string]string{}
	names := make([]string, len(want))
	for i, e := range want {
		applied[e.Name], names[i] = e.Value, e.Name
	}
	var actual []string
	seen := map[string]bool{}
	changed := len(want) != len(live)
	for i, e := range live {
		seen[e.Name] = true
		v, ok := applied[e.Name]
		switch {
		case !ok:
			actual, changed = append(actual, "+"+e.Name), true
		case v != e.Value || e.ValueFrom != nil:
			actual, changed = append(actual, "~"+e.Name), true
		default:
			actual = append(actual, e.Name)
			if i >= len(want) || want[i].Name != e.Name {
				changed = true // reordered
			}
		}
	}
	for _, n := range names {
		if !seen[n] {
			actual, changed = append(actual, "-"+n), true
		}
	}
	return strings.Join(names, ","), strings.Join(actual, ","), changed
}

// drift is a difference at field, attributed (attribute).
func drift(obj metav1.Object, field, desired, actual string, path ...string) protocol.Drift {
	d := protocol.Drift{Field: field, Desired: desired, Actual: actual}
	attribute(&d, obj, path...)
	return d
}

// attribute names in d the newest manager, other than the agent, whose
// managed fields of live hold path: a field changed by an update belongs
// to the manager that changed it alone, so the agent's (or Helm's) entry
// no longer holds it. The scale subresource's entries carry no time.
func attribute(d *protocol.Drift, live metav1.Object, path ...string) {
	for _, mf := range live.GetManagedFields() {
		if mf.Manager == credential.FieldManager || mf.FieldsV1 == nil || !holds(mf.FieldsV1.Raw, path) {
			continue
		}
		var at int64
		if mf.Time != nil {
			at = mf.Time.Unix()
		}
		if d.Manager == "" || at >= d.At || d.At == 0 {
			d.Manager, d.At = mf.Manager, at
			if mf.Subresource != "" {
				d.Manager += " (" + mf.Subresource + ")"
			}
		}
	}
}

// holds reports whether the fieldsV1 set raw holds path or a field under it.
func holds(raw []byte, path []string) bool {
	var node map[string]any
	if json.Unmarshal(raw, &node) != nil {
		return false
	}
	for _, k := range path {
		next, ok := node[k].(map[string]any)
		if !ok {
			return false
		}
		node = next
	}
	return true
}

// leftovers writes back, by a JSON patch under the agent's field manager,
// the fields of obj that still differ from spec after a server-side apply:
// entries that another manager added to a list the agent applies (an
// environment variable, say) stay theirs through an apply, even a forced
// one, so the lists are replaced whole.
func (a *Workloads) leftovers(ctx context.Context, obj metav1.Object, spec *protocol.WorkloadSpec) error {
	ds := Drifted(obj, spec)
	if len(ds) == 0 {
		return nil
	}
	var pod *corev1.PodSpec
	switch o := obj.(type) {
	case *appsv1.Deployment:
		pod = &o.Spec.Template.Spec
	case *appsv1.DaemonSet:
		pod = &o.Spec.Template.Spec
	}
	i := slices.IndexFunc(pod.Containers, func(ct corev1.Container) bool { return ct.Name == "app" })
	if i < 0 {
		return nil // the apply would have added it; nothing to patch
	}
	c := spec.Container
	base := fmt.Sprintf("/spec/template/spec/containers/%d/", i)
	var ops []map[string]any
	for _, d := range ds {
		switch d.Field {
		case "spec.replicas":
			ops = append(ops, map[string]any{"op": "replace", "path": "/spec/replicas", "value": c.Replicas})
		case "spec.template.spec.containers[app].image":
			ops = append(ops, map[string]any{"op": "replace", "path": base + "image", "value": c.Image})
		case "spec.template.spec.containers[app].command":
			ops = append(ops, map[string]any{"op": "add", "path": base + "command", "value": c.Command})
		case "spec.template.spec.containers[app].env":
			env := make([]map[string]string, len(c.Env))
			for j, e := range c.Env {
				env[j] = map[string]string{"name": e.Name, "value": e.Value}
			}
			ops = append(ops, map[string]any{"op": "add", "path": base + "env", "value": env})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	// The resourceVersion test makes the patch apply to what was judged.
	ops = append([]map[string]any{{"op": "test", "path": "/metadata/resourceVersion", "value": obj.GetResourceVersion()}}, ops...)
	body, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: credential.FieldManager}
	switch obj.(type) {
	case *appsv1.Deployment:
		_, err = a.Client.AppsV1().Deployments(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.JSONPatchType, body, opts)
	case *appsv1.DaemonSet:
		_, err = a.Client.AppsV1().DaemonSets(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.JSONPatchType, body, opts)
	}
	if err != nil {
		return fmt.Errorf("put back %s/%s's fields changed by others: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
