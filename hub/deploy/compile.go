package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// Pulls resolves the pull secrets of a container app's images: the hub
// holds the credentials; the compiled spec names only the Secret and a
// fingerprint that changes when they do (so agents re-apply it).
type Pulls interface {
	// Repository is the pull secret of external repository id of
	// business; store.ErrNotFound when the business has none of that id.
	Repository(ctx context.Context, business uint64, id string) (*protocol.PullSecretRef, error)
	// HubRegistry is the Secret's name and reference for an image in the
	// hub's own registry, or "" and nil for an image elsewhere.
	HubRegistry(business uint64, image string) (string, *protocol.PullSecretRef)
}

// RepositorySecret is the name of the Secret that holds external
// repository id's credentials in a business's namespace.
func RepositorySecret(id string) string {
	return "ote-repo-" + strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(id))
}

// Compile turns deployment d of app (at the version d is about to run)
// into the agents' workload spec, under pod security level: the
// business's, or the one it is about to get. It checks the app against the
// level (422 naming the field the level forbids), since the level may have
// been lowered since the app was created, and refuses an app whose
// external repository is gone.
func Compile(ctx context.Context, d *store.Deploy, app *store.App, level string, pulls Pulls) ([]byte, error) {
	ws := protocol.WorkloadSpec{Namespace: store.Namespace(d.BusinessID), Name: d.Name, App: app.Name, Version: app.Version, NodeLabel: d.NodeLabel, PodSecurity: level}
	if d.DriftPolicy == protocol.DriftReport {
		// The default, correct, is left out: specs compiled before drift
		// policies stay byte for byte what they were.
		ws.DriftPolicy = protocol.DriftReport
	}
	if app.Kind == store.AppChart {
		ws.Chart = &protocol.ChartSpec{Digest: app.ChartDigest, Name: app.ChartName, Version: app.ChartVersion, Size: app.ChartSize}
		if d.NodeLabel != "" {
			ws.Chart.Values = map[string]any{"nodeSelector": map[string]string{protocol.NodeLabelKey(d.NodeLabel): "true"}}
		}
		return json.Marshal(ws)
	}
	var a AppSpec
	if err := json.Unmarshal(app.Spec, &a); err != nil {
		return nil, err
	}
	cs := a.Container()
	if err := CheckPodSecurity(level, cs); err != nil {
		return nil, err
	}
	if a.RepositoryID != "" {
		ref, err := pulls.Repository(ctx, d.BusinessID, a.RepositoryID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalid("repositoryId", "the app pulls from external repository %q, which does not exist in the business; create it first", a.RepositoryID)
		}
		if err != nil {
			return nil, err
		}
		cs.ImagePullSecret, cs.PullSecret = RepositorySecret(a.RepositoryID), ref
	} else {
		cs.ImagePullSecret, cs.PullSecret = pulls.HubRegistry(d.BusinessID, a.Image)
	}
	if a.IsHPA {
		cs.HPA = &protocol.HPASpec{MinReplicas: int32(a.MinReplicas), MaxReplicas: int32(a.MaxReplicas),
			CPUPercent: int32(a.TargetCPUUtilization), MemPercent: int32(a.TargetMemUtilization)}
	}
	ws.Container = cs
	return json.Marshal(ws)
}

// UsesRepository reports whether app is a container app that pulls from
// external repository id.
func UsesRepository(app *store.App, id string) bool {
	if app.Kind != store.AppContainer {
		return false
	}
	var a AppSpec
	return json.Unmarshal(app.Spec, &a) == nil && a.RepositoryID == id
}
