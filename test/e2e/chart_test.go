package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/test/harness"
)

// chartArchive is a chart whose one template is a ConfigMap carrying greeting.
func chartArchive(t *testing.T, version, greeting string) []byte {
	t.Helper()
	files := map[string]string{
		"hello/Chart.yaml":  "apiVersion: v2\nname: hello\nversion: " + version + "\n",
		"hello/values.yaml": "greeting: " + greeting + "\nnodeSelector: {}\n",
		"hello/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n" +
			"data:\n  greeting: {{ .Values.greeting | quote }}\n  selector: {{ .Values.nodeSelector | toJson | quote }}\n",
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func (h *hubProc) uploadChart(tok, name, version string, archive []byte) {
	h.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("appName", name)
	w.WriteField("version", version)
	fw, _ := w.CreateFormFile("chart", "chart.tgz")
	fw.Write(archive)
	w.Close()
	req, _ := http.NewRequest("POST", h.url+"/v1/app/chart", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("upload chart: %d %s", resp.StatusCode, b)
	}
}

// TestChartDeployment: a chart app becomes a Helm release in the business's
// namespace; an upgrade changes it, a rollback restores it, and deletion
// uninstalls it.
func TestChartDeployment(t *testing.T) {
	api := harness.Start(t)
	cs := api.Clientset()
	fakeNode(t, cs, "node-1", 4, 8, 50, 0, "", true, "10.0.0.21")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap,
		"--heartbeat-interval", "1s", "--enable-admin-auto-deploy")
	root := h.login("admin", "Root-pass1")
	agent := startAgent(t, h, api, "edge-c", bootstrap)
	eventually(t, 30*time.Second, "cluster ready", func() bool { return h.clusterReady(root, "edge-c") })
	ns := h.approveBusiness(root, "charty")
	admin := h.login("charty", "Pw-charty9")
	h.uploadChart(admin, "hello", "1.0", chartArchive(t, "0.1.0", "hello"))
	h.uploadChart(admin, "hello", "1.1", chartArchive(t, "0.2.0", "bonjour"))
	h.must(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-c", "nodeName": []string{"node-1"}, "nodeLabel": "edge"})

	greeting := func() string {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "hello-config", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return cm.Data["greeting"]
	}
	// An administrator's deployment runs at once (--enable-admin-auto-deploy).
	var d deployView
	json.Unmarshal(h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "hello", "appName": "hello", "version": "1.0", "cluster": "", "nodeLabel": "edge", "comment": "chart"}).Data, &d)
	eventually(t, 60*time.Second, "release installed", func() bool { return greeting() == "hello" })
	cm, _ := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "hello-config", metav1.GetOptions{})
	if cm.Data["selector"] != `{"label.ote-stack.io/edge":"true"}` || cm.Labels["app.kubernetes.io/managed-by"] != "Helm" {
		t.Fatalf("release objects: %+v %+v", cm.Data, cm.Labels)
	}
	secrets, _ := cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=hello"})
	if len(secrets.Items) != 1 {
		t.Fatalf("helm release history: %d revisions", len(secrets.Items))
	}

	h.must(200, "POST", fmt.Sprintf("/v1/deploy/id/%d", d.ID), admin, map[string]any{"version": "1.1"})
	eventually(t, 60*time.Second, "release upgraded", func() bool { return greeting() == "bonjour" })
	h.must(200, "PUT", fmt.Sprintf("/v1/deploy/id/%d", d.ID), admin, map[string]any{"version": "1.0", "comment": "back"})
	eventually(t, 60*time.Second, "release rolled back", func() bool { return greeting() == "hello" })
	secrets, _ = cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=hello,version=3"})
	if len(secrets.Items) != 1 || !strings.Contains(helmDescription(t, secrets.Items[0].Data["release"]), "Rollback to 1") {
		t.Fatalf("revision 3 is not a Helm rollback to revision 1")
	}
	// Resyncs apply the same chart again: no new revision, checked once
	// the restarted agent has applied its whole resync.
	agent.stop()
	agent = startAgent(t, h, api, "edge-c", bootstrap)
	eventually(t, 60*time.Second, "the restarted agent's resync applied", func() bool { return agent.resyncs() >= 1 })
	secrets, _ = cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=hello"})
	if len(secrets.Items) != 3 {
		t.Fatalf("helm history after an agent restart: %d revisions, want 3", len(secrets.Items))
	}

	h.must(200, "DELETE", fmt.Sprintf("/v1/deploy/id/%d", d.ID), admin, nil)
	eventually(t, 60*time.Second, "release uninstalled", func() bool {
		s, _ := cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=hello"})
		return greeting() == "" && len(s.Items) == 0
	})

	// An app pulling from an external repository: its credentials become a
	// dockerconfigjson Secret in the namespace, which the pods reference.
	h.must(200, "POST", "/v1/repository/third", admin, map[string]any{"repositoryId": "partner", "address": "registry.partner.example.com", "user": "puller", "password": "Pull-pass-9"})
	app := containerApp("2.0")
	app["appName"], app["repositoryId"] = "private", "partner"
	h.must(200, "POST", "/v1/app", admin, app)
	h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "private", "appName": "private", "version": "2.0"})
	eventually(t, 60*time.Second, "pull secret and workload", func() bool {
		sec, err := cs.CoreV1().Secrets(ns).Get(context.Background(), "ote-repo-partner", metav1.GetOptions{})
		if err != nil {
			return false
		}
		var cfg struct {
			Auths map[string]struct{ Username, Password string }
		}
		json.Unmarshal(sec.Data[".dockerconfigjson"], &cfg)
		a := cfg.Auths["registry.partner.example.com"]
		dep, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "private", metav1.GetOptions{})
		return string(sec.Type) == "kubernetes.io/dockerconfigjson" && a.Username == "puller" && a.Password == "Pull-pass-9" &&
			err == nil && dep.Spec.Template.Spec.ImagePullSecrets[0].Name == "ote-repo-partner"
	})
	if strings.Contains(h.logs(), "Pull-pass-9") {
		t.Fatal("the repository password appears in the hub's log")
	}

	// An app whose image is in the hub's own registry, in a private project:
	// the namespace gets the business's robot credentials, which pull (and
	// only pull) through the hub's tokens.
	h.must(200, "POST", "/v1/repository/user", admin, map[string]string{"user": "charty-reg", "password": "Charty-reg1"})
	h.must(201, "POST", "/v1/repository/project", admin, map[string]any{"projectName": "charty", "public": false})
	img := randomImage(t)
	if err := push(t, h.registry, "charty/web:1.0", img, basic("charty-reg", "Charty-reg1")); err != nil {
		t.Fatal(err)
	}
	own := containerApp("3.0")
	own["appName"], own["image"] = "own", h.registry+"/charty/web:1.0"
	h.must(200, "POST", "/v1/app", admin, own)
	h.must(200, "POST", "/v1/deploy", admin, map[string]any{"deployName": "own", "appName": "own", "version": "3.0"})
	var robot struct{ Username, Password string }
	eventually(t, 60*time.Second, "hub registry pull secret and workload", func() bool {
		sec, err := cs.CoreV1().Secrets(ns).Get(context.Background(), "ote-registry", metav1.GetOptions{})
		if err != nil {
			return false
		}
		var cfg struct {
			Auths map[string]struct{ Username, Password string }
		}
		json.Unmarshal(sec.Data[".dockerconfigjson"], &cfg)
		robot = cfg.Auths[h.registry]
		dep, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "own", metav1.GetOptions{})
		return robot.Username != "" && err == nil && len(dep.Spec.Template.Spec.ImagePullSecrets) == 1 &&
			dep.Spec.Template.Spec.ImagePullSecrets[0].Name == "ote-registry" && dep.Spec.Template.Spec.Containers[0].Image == own["image"]
	})
	want, _ := img.Digest()
	if got, err := pull(t, h.registry, "charty/web:1.0", basic(robot.Username, robot.Password)); err != nil || got != want {
		t.Fatalf("pull with the namespace's robot credentials: %v %v", got, err)
	}
	if err := push(t, h.registry, "charty/web:evil", img, basic(robot.Username, robot.Password)); err == nil {
		t.Fatal("the robot pushed")
	}
	if strings.Contains(h.logs(), robot.Password) {
		t.Fatal("the robot's password appears in the hub's log")
	}
}

// helmDescription decodes a Helm release Secret's payload (base64 of gzip of
// JSON) and returns the release's description.
func helmDescription(t *testing.T, payload []byte) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(string(payload))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var rel struct {
		Info struct {
			Description string `json:"description"`
		} `json:"info"`
	}
	if err := json.NewDecoder(zr).Decode(&rel); err != nil {
		t.Fatal(err)
	}
	return rel.Info.Description
}
