package apply

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/protocol"
)

// chartOf makes a chart archive named name with the given files under
// the chart's directory (templates/..., crds/...).
func chartOf(t *testing.T, name string, files map[string]string) []byte {
	t.Helper()
	files["Chart.yaml"] = "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n"
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for path, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + path, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// installChart installs archive as release name in namespace through the
// agent's Releases.
func installChart(t *testing.T, namespace, name string, archive []byte) error {
	t.Helper()
	sum := sha256.Sum256(archive)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	r := &Releases{Config: restConfig, WorkloadRole: installAgentRBAC(t), Fetch: func(context.Context, string) ([]byte, error) { return archive, nil }}
	return r.Install(context.Background(), namespace, name, &protocol.ChartSpec{Digest: digest, Name: name, Version: "0.1.0", Size: int64(len(archive))})
}

func configMap(name, namespace string) string {
	ns := ""
	if namespace != "" {
		ns = "  namespace: " + namespace + "\n"
	}
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n" + ns + "data:\n  k: v\n"
}

// The agent refuses, before anything is created, a chart object that is
// cluster-scoped or in another namespace than the release's, hooks and
// crds/ included; objects of the release's namespace install.
func TestChartObjectsStayInTheirNamespace(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"ns31", "ns32"} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	clusterRole := "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: grab-all\nrules:\n  - apiGroups: ['*']\n    resources: ['*']\n    verbs: ['*']\n"
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"cluster-scoped", map[string]string{"templates/cm.yaml": configMap("first", ""), "templates/role.yaml": clusterRole},
			`chart object ClusterRole "grab-all" is cluster-scoped`},
		{"other-namespace", map[string]string{"templates/cm.yaml": configMap("first", ""), "templates/far.yaml": configMap("far", "ns32")},
			`chart object ConfigMap "far" is in namespace "ns32"`},
		{"hook", map[string]string{"templates/cm.yaml": configMap("first", ""),
			"templates/hook.yaml": strings.Replace(clusterRole, "  name: grab-all\n", "  name: grab-all\n  annotations:\n    helm.sh/hook: pre-install\n", 1)},
			`chart object ClusterRole "grab-all" is cluster-scoped`},
		{"node", map[string]string{"templates/node.yaml": "apiVersion: v1\nkind: Node\nmetadata:\n  name: planted\n"},
			`chart object Node "planted" is cluster-scoped`},
		{"crds", map[string]string{"templates/cm.yaml": configMap("first", ""),
			"crds/crd.yaml": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"},
			"is a CustomResourceDefinition"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			archive := chartOf(t, tc.name, tc.files)
			err := installChart(t, "ns31", tc.name, archive)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("install: %v; want %q", err, tc.want)
			}
			// Retried (a failed item is), it fails the same way.
			if err := installChart(t, "ns31", tc.name, archive); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("second install: %v; want %q", err, tc.want)
			}
		})
	}
	if _, err := client.CoreV1().ConfigMaps("ns31").Get(ctx, "first", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused chart created its other objects: %v", err)
	}
	if _, err := client.CoreV1().ConfigMaps("ns32").Get(ctx, "far", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused chart wrote into another namespace: %v", err)
	}
	if _, err := client.RbacV1().ClusterRoles().Get(ctx, "grab-all", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused chart created a ClusterRole: %v", err)
	}
	if _, err := client.CoreV1().Nodes().Get(ctx, "planted", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused chart created a Node: %v", err)
	}

	// Without a namespace, or naming the release's, objects install.
	ok := map[string]string{"templates/a.yaml": configMap("plain", ""), "templates/b.yaml": configMap("explicit", "ns31")}
	if err := installChart(t, "ns31", "fine", chartOf(t, "fine", ok)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"plain", "explicit"} {
		if _, err := client.CoreV1().ConfigMaps("ns31").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("configmap %s: %v", name, err)
		}
	}
}

// A chart's privileged Pod is refused by the API server of a restricted
// namespace, whose reason is the install's error.
func TestChartPodRefusedByPodSecurity(t *testing.T) {
	ctx := context.Background()
	labels := protocol.PodSecurityLabels(protocol.PodSecurityRestricted)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns33", Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: rooted\nspec:\n  containers:\n    - name: c\n      image: busybox:1.36\n      securityContext:\n        privileged: true\n"
	err := installChart(t, "ns33", "rooted", chartOf(t, "rooted", map[string]string{"templates/pod.yaml": pod}))
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") || !strings.Contains(err.Error(), "privileged") {
		t.Fatalf("install of a privileged pod in a restricted namespace: %v", err)
	}
}
