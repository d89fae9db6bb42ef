package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/test/harness"
)

// TestChartContainerSwitch: one application may have container versions
// and chart versions ((appName, version) is unique, whatever the kind), so
// an upgrade or a rollback may change a deployment's kind. Upgraded from a
// container version to a chart version, the deployment's Deployment and
// Service go and the Helm release is installed; rolled back, the release
// is uninstalled and the Deployment and Service are back.
func TestChartContainerSwitch(t *testing.T) {
	api := harness.Start(t)
	cs := api.Clientset()
	ctx := context.Background()
	fakeNode(t, cs, "node-1", 4, 8, 50, 0, "", true, "10.0.0.31")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap,
		"--heartbeat-interval", "1s", "--enable-admin-auto-deploy")
	root := h.login("admin", "Root-pass1")
	startAgent(t, h, api, "edge-s", bootstrap)
	eventually(t, 30*time.Second, "cluster ready", func() bool { return h.clusterReady(root, "edge-s") })
	ns := h.approveBusiness(root, "switchy")
	admin := h.login("switchy", "Pw-switchy9")
	h.must(200, "POST", "/v1/app", admin, containerApp("1.0"))
	h.uploadChart(admin, "web", "2.0", chartArchive(t, "0.1.0", "from the chart"))

	deploymentThere := func() bool {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.DeletionTimestamp == nil && d.Spec.Template.Spec.Containers[0].Image == "registry.example.com/web:1.0"
	}
	serviceGone := func() bool {
		_, err := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	deploymentGone := func() bool {
		_, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	releaseSecrets := func() int {
		s, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=web"})
		if err != nil {
			t.Fatal(err)
		}
		return len(s.Items)
	}
	configMapGreeting := func() string {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return cm.Data["greeting"]
	}

	var d deployView
	json.Unmarshal(h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "comment": "container"}).Data, &d)
	start := time.Now()
	eventually(t, 60*time.Second, "container app 1.0 applied", func() bool { return deploymentThere() && !serviceGone() })
	if n := releaseSecrets(); n != 0 {
		t.Fatalf("%d Helm release revisions for a container app", n)
	}

	// Upgrade to the chart version: the release replaces the objects.
	h.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), admin, map[string]any{"version": "2.0", "comment": "to the chart"})
	eventually(t, 60*time.Second, "chart app 2.0 installed, container objects gone", func() bool {
		return configMapGreeting() == "from the chart" && releaseSecrets() == 1 && deploymentGone() && serviceGone()
	})
	t.Logf("chart installed %v after the deployment", time.Since(start))
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("autoscaler after the switch to a chart: %v", err)
	}

	// Roll back to the container version: the release goes, the objects
	// come back, and the deployment runs.
	h.must(200, "PUT", fmt.Sprintf("/v1/deploy/id/%d", d.ID), admin, map[string]any{"version": "1.0", "comment": "back"})
	eventually(t, 60*time.Second, "release uninstalled, container app 1.0 back", func() bool {
		return releaseSecrets() == 0 && configMapGreeting() == "" && deploymentThere() && !serviceGone()
	})
	t.Logf("container app back %v after the deployment", time.Since(start))
	for _, p := range []string{"web-1", "web-2"} {
		fakePod(t, cs, ns, p, "web", true, "")
	}
	eventually(t, 30*time.Second, "status success after the rollback", func() bool {
		got := h.deploy(admin, d.ID)
		return got.Status == 5 && got.Version == "1.0" && strings.Contains(got.ErrorMessage, "edge-s: 2/2 pods running")
	})
}
