package api_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

func appBody(name, version string) map[string]any {
	return map[string]any{
		"appName": name, "deployType": "deployment", "image": "registry.example.com/team/" + name + ":" + version, "version": version,
		"port":     []map[string]any{{"containerPort": 8080, "servicePort": 80, "name": "http"}},
		"command":  `/app --greeting "hello world"`,
		"env":      []map[string]any{{"name": "MODE", "value": "edge"}},
		"volume":   []map[string]any{{"name": "cache", "mountPath": "/cache", "type": "emptyDir"}},
		"replicas": 2, "minReplicas": 1, "maxReplicas": 4, "minCPU": 50, "maxCPU": 200, "GPU": 1,
		"isHPA": true, "targetCPUUtilization": 70, "targetMemUtilization": 0, "minMemory": 128, "maxMemory": 512,
		"maxUnavailable": 0, "maxSurge": 1, "minReadySeconds": 5,
	}
}

func with(body map[string]any, field string, value any) map[string]any {
	out := map[string]any{}
	for k, v := range body {
		out[k] = v
	}
	if value == nil {
		delete(out, field)
	} else {
		out[field] = value
	}
	return out
}

func TestAppValidation(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	root := h.login(adminName, adminPass)
	tn := h.newTenant(root, "acme")
	good := appBody("web", "1.0")
	cases := []struct {
		field string
		value any
		want  string
	}{
		{"appName", nil, "appName"}, {"appName", "Web_1", "appName"}, {"appName", strings.Repeat("a", 54), "appName"},
		{"version", nil, "version"}, {"version", "1", "version"}, {"version", "1.2.3", "version"}, {"version", "v1.0", "version"},
		{"deployType", nil, "deployType"}, {"deployType", "statefulset", "deployType"},
		{"image", nil, "image"}, {"image", "nginx", "image"}, {"image", "bad image:1", "image"},
		{"repositoryId", "no spaces", "repositoryId"},
		{"port", nil, "port"}, {"port", []map[string]any{{"containerPort": 0}}, "port[0].containerPort"},
		{"port", []map[string]any{{"containerPort": 80, "protocol": "HTTP"}}, "port[0].protocol"},
		{"port", []map[string]any{{"containerPort": 80}, {"containerPort": 81, "servicePort": 80}}, "port[1].servicePort"},
		{"port", "8080", "port"},
		{"command", `/app "unterminated`, "command"},
		{"env", []map[string]any{{"name": "1BAD", "value": "x"}}, "env[0].name"},
		{"env", []map[string]any{{"name": "A", "value": "x"}, {"name": "A", "value": "y"}}, "env[1].name"},
		{"volume", []map[string]any{{"name": "v", "mountPath": "relative", "type": "emptyDir"}}, "volume[0].mountPath"},
		{"volume", []map[string]any{{"name": "v", "mountPath": "/v", "type": "nfs"}}, "volume[0].type"},
		{"volume", []map[string]any{{"name": "v", "mountPath": "/v", "type": "hostPath", "hostPath": "../etc"}}, "volume[0].hostPath"},
		{"minCPU", nil, "minCPU"}, {"minCPU", 0, "minCPU"}, {"maxCPU", 10, "maxCPU"},
		{"minMemory", nil, "minMemory"}, {"maxMemory", 64, "maxMemory"}, {"GPU", 99, "GPU"}, {"GPU", -1, "GPU"},
		{"isHPA", nil, "isHPA"}, {"targetCPUUtilization", nil, "targetCPUUtilization"}, {"targetCPUUtilization", 101, "targetCPUUtilization"},
		{"targetMemUtilization", nil, "targetMemUtilization"},
		{"minReplicas", 0, "minReplicas"}, {"maxReplicas", 0, "maxReplicas"}, {"replicas", 9, "replicas"},
		{"maxUnavailable", nil, "maxUnavailable"}, {"maxSurge", 0, "maxSurge"}, {"minReadySeconds", nil, "minReadySeconds"},
		{"minReadySeconds", 99999, "minReadySeconds"},
	}
	for _, c := range cases {
		r := h.expect(422, "POST", "/v1/app", tn.token, with(good, c.field, c.value))
		if !strings.HasPrefix(r.Message, c.want+":") {
			t.Errorf("%s=%v: message %q does not start with %q", c.field, c.value, r.Message, c.want)
		}
	}
	r := h.expect(422, "POST", "/v1/app", tn.token, with(with(good, "deployType", "daemonset"), "isHPA", true))
	if !strings.HasPrefix(r.Message, "isHPA:") {
		t.Errorf("autoscaled daemonset: %q", r.Message)
	}
	if r := h.expect(200, "GET", "/v1/app", tn.token, nil); *r.Total != 0 {
		t.Fatalf("refused apps were created: %d", *r.Total)
	}
}

type appOut struct {
	ID         uint64 `json:"id"`
	Kind       string `json:"kind"`
	AppName    string `json:"appName"`
	Version    string `json:"version"`
	DeployType string `json:"deployType"`
	Image      string `json:"image"`
	Port       []struct {
		ContainerPort int    `json:"containerPort"`
		ServicePort   int    `json:"servicePort"`
		Protocol      string `json:"protocol"`
	} `json:"port"`
	Command      string `json:"command"`
	Replicas     int    `json:"replicas"`
	MaxCPU       int    `json:"maxCPU"`
	GPU          int    `json:"GPU"`
	IsHPA        bool   `json:"isHPA"`
	ChartName    string `json:"chartName"`
	ChartVersion string `json:"chartVersion"`
	ChartDigest  string `json:"chartDigest"`
	CreateTime   int64  `json:"createTime"`
}

func TestApps(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		acme := h.newTenant(root, "acme")
		beta := h.newTenant(root, "beta")
		_, worker := h.subUser(acme.token, "worker", false)

		var a appOut
		h.expect(200, "POST", "/v1/app", worker, appBody("web", "1.0")).into(t, &a)
		if a.ID == 0 || a.Kind != "container" || a.Image != "registry.example.com/team/web:1.0" || a.Port[0].ServicePort != 80 ||
			a.Port[0].Protocol != "TCP" || a.Command != `/app --greeting "hello world"` || a.Replicas != 2 || a.GPU != 1 || !a.IsHPA || a.CreateTime == 0 {
			t.Fatalf("created %+v", a)
		}
		h.expect(409, "POST", "/v1/app", acme.token, appBody("web", "1.0"))
		h.expect(200, "POST", "/v1/app", acme.token, appBody("web", "1.1"))
		h.expect(200, "POST", "/v1/app", acme.token, appBody("webhook", "1.0"))
		h.expect(200, "POST", "/v1/app", acme.token, appBody("my-web", "2.0"))
		h.expect(200, "POST", "/v1/app", beta.token, appBody("web", "1.0")) // another business may use the name
		h.expect(403, "POST", "/v1/app", root, appBody("root-app", "1.0"))

		names := func(token, query string) string {
			var apps []appOut
			h.expect(200, "GET", "/v1/app?"+query, token, nil).into(t, &apps)
			var out []string
			for _, a := range apps {
				out = append(out, a.AppName+"@"+a.Version)
			}
			return strings.Join(out, ",")
		}
		if got := names(acme.token, "appName=web&appNameMode=strict"); got != "web@1.0,web@1.1" {
			t.Fatalf("strict: %s", got)
		}
		if got := names(acme.token, "appName=web&appNameMode=prefix"); got != "web@1.0,web@1.1,webhook@1.0" {
			t.Fatalf("prefix: %s", got)
		}
		if got := names(acme.token, "appName=web"); got != "web@1.0,web@1.1,webhook@1.0,my-web@2.0" {
			t.Fatalf("partial (default): %s", got)
		}
		if got := names(acme.token, "version=1.1"); got != "web@1.1" {
			t.Fatalf("version: %s", got)
		}
		if got := names(acme.token, "pageSize=0"); strings.Count(got, ",") != 3 {
			t.Fatalf("pageSize=0 is no limit: %s", got)
		}
		if got := names(beta.token, ""); got != "web@1.0" {
			t.Fatalf("beta sees %s", got)
		}
		if got := names(root, "appName=web&appNameMode=strict"); got != "web@1.0,web@1.1,web@1.0" {
			t.Fatalf("the system administrator sees %s", got)
		}
		h.expect(422, "GET", "/v1/app?appNameMode=fuzzy", acme.token, nil)
		h.expect(422, "GET", "/v1/app?version=latest", acme.token, nil)

		h.expect(200, "GET", fmt.Sprintf("/v1/app/id/%d", a.ID), worker, nil)
		h.expect(404, "GET", fmt.Sprintf("/v1/app/id/%d", a.ID), beta.token, nil)
		h.expect(404, "GET", "/v1/app/id/99999", acme.token, nil)

		// Deleting is all or nothing, and only within one's business.
		var betaApps []appOut
		h.expect(200, "GET", "/v1/app", beta.token, nil).into(t, &betaApps)
		r := h.expect(404, "DELETE", "/v1/app", acme.token, map[string]any{"appId": []uint64{a.ID, betaApps[0].ID}})
		if !strings.Contains(r.Message, fmt.Sprint(betaApps[0].ID)) {
			t.Errorf("404 does not name the app: %q", r.Message)
		}
		h.expect(200, "GET", fmt.Sprintf("/v1/app/id/%d", a.ID), worker, nil)
		h.expect(422, "DELETE", "/v1/app", acme.token, map[string]any{"appId": []uint64{}})
		h.expect(200, "DELETE", "/v1/app", worker, map[string]any{"appId": []uint64{a.ID}})
		h.expect(404, "GET", fmt.Sprintf("/v1/app/id/%d", a.ID), worker, nil)
		h.expect(200, "GET", fmt.Sprintf("/v1/app/id/%d", betaApps[0].ID), beta.token, nil)
	})
}

// tgz builds a gzipped tar of files.
func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
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

func validChart(name, version string) map[string]string {
	return map[string]string{
		name + "/Chart.yaml":        fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version),
		name + "/values.yaml":       "replicas: 1\n",
		name + "/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  r: \"{{ .Values.replicas }}\"\n",
	}
}

func (h *hub) upload(token string, fields map[string]string, chart []byte) *reply {
	h.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if chart != nil {
		fw, _ := w.CreateFormFile("chart", "chart.tgz")
		fw.Write(chart)
	}
	w.Close()
	req, _ := http.NewRequest("POST", h.url+"/v1/app/chart", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &reply{Status: resp.StatusCode, Raw: string(raw)}
	json.Unmarshal(raw, r)
	return r
}

func TestChartApps(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		tn := h.newTenant(root, "acme")
		fields := map[string]string{"appName": "metrics", "version": "1.2"}

		r := h.upload(tn.token, fields, tgz(t, validChart("prom-lite", "0.3.1")))
		if r.Status != 200 {
			t.Fatalf("upload: %d %s", r.Status, r.Message)
		}
		var a appOut
		r.into(t, &a)
		if a.Kind != "chart" || a.DeployType != "helm" || a.ChartName != "prom-lite" || a.ChartVersion != "0.3.1" || !strings.HasPrefix(a.ChartDigest, "sha256:") {
			t.Fatalf("chart app %+v", a)
		}
		archive, err := h.store.Chart(t.Context(), a.ChartDigest)
		if err != nil || len(archive) == 0 {
			t.Fatalf("stored archive: %d bytes, %v", len(archive), err)
		}
		if r := h.upload(tn.token, fields, tgz(t, validChart("prom-lite", "0.3.1"))); r.Status != 409 {
			t.Fatalf("same name and version: %d", r.Status)
		}

		bomb := func() []byte {
			var buf bytes.Buffer
			gz := gzip.NewWriter(&buf)
			tw := tar.NewWriter(gz)
			tw.WriteHeader(&tar.Header{Name: "bomb/Chart.yaml", Mode: 0o644, Size: 64 << 20, Typeflag: tar.TypeReg})
			tw.Write(make([]byte, 64<<20))
			tw.Close()
			gz.Close()
			return buf.Bytes()
		}()
		for name, c := range map[string]struct {
			fields map[string]string
			chart  []byte
			status int
			want   string
		}{
			"not a chart":      {fields, []byte("hello, I am not a tarball"), 422, "chart: not a valid Helm chart"},
			"no Chart.yaml":    {fields, tgz(t, map[string]string{"x/values.yaml": "a: 1\n"}), 422, "Chart.yaml"},
			"escaping path":    {fields, tgz(t, map[string]string{"x/Chart.yaml": "apiVersion: v2\nname: x\nversion: 1.0.0\n", "../../etc/evil": "x"}), 422, "chart"},
			"absolute path":    {fields, tgz(t, map[string]string{"/etc/evil": "x"}), 422, "chart"},
			"gzip bomb":        {fields, bomb, 413, "decompresses to more than"},
			"missing file":     {fields, nil, 422, "chart: is required"},
			"bad version":      {map[string]string{"appName": "metrics", "version": "1"}, tgz(t, validChart("a", "1.0.0")), 422, "version:"},
			"missing app name": {map[string]string{"version": "1.0"}, tgz(t, validChart("a", "1.0.0")), 422, "appName:"},
		} {
			r := h.upload(tn.token, c.fields, c.chart)
			if r.Status != c.status || !strings.Contains(r.Message, c.want) {
				t.Errorf("%s: %d %q, want %d containing %q", name, r.Status, r.Message, c.status, c.want)
			}
		}
		// Only multipart is accepted.
		h.expect(415, "POST", "/v1/app/chart", tn.token, map[string]any{"appName": "x", "version": "1.0"})
	})
}

func TestChartUploadLimit(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), func(c *api.Config) { c.ChartLimit, c.BodyLimit = 64<<10, 16<<10 })
	root := h.login(adminName, adminPass)
	tn := h.newTenant(root, "acme")
	files := validChart("big", "1.0.0")
	random := make([]byte, 100<<10) // incompressible: the archive stays over 64 KiB
	rand.Read(random)
	files["big/templates/data.txt"] = string(random)
	r := h.upload(tn.token, map[string]string{"appName": "big", "version": "1.0"}, tgz(t, files))
	if r.Status != 413 {
		t.Fatalf("oversized upload: %d %s", r.Status, r.Message)
	}
	// A JSON body larger than the API's limit is still refused, though the
	// server reads chart-sized bodies.
	big := appBody("web", "1.0")
	big["command"] = strings.Repeat("x", 32<<10)
	h.expect(413, "POST", "/v1/app", tn.token, big)
}
