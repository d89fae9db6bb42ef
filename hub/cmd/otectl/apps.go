package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

var appCols = []column{
	col("ID", "id"), col("APP", "appName"), col("VERSION", "version"), col("KIND", "kind"), col("TYPE", "deployType"),
	col("IMAGE", "image"), col("CHART", "chartName"), colWith("CREATED", "createTime", unixTime),
}

func (a *app) appCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Applications: container specs and Helm charts, by version"}
	list := &cobra.Command{Use: "list", Short: "List applications", Args: cobra.NoArgs}
	lq := newQuery(list).str("name", "appName", "application name filter").str("name-mode", "appNameMode", "strict, partial or prefix").
		str("version", "version", "only this version").paged()
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/app", lq.values(), nil, appCols)
	}
	get := &cobra.Command{Use: "get APP-ID", Short: "Show an application version", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodGet, fmt.Sprintf("/v1/app/id/%d", id), nil, nil, appCols)
		}}
	del := &cobra.Command{Use: "delete APP-ID...", Short: "Delete application versions no deployment uses", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := idArgs(args)
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodDelete, "/v1/app", nil, map[string]any{"appId": ids}, nil)
		}}
	chart := &cobra.Command{Use: "chart", Short: "Helm chart applications"}
	chart.AddCommand(a.chartPushCommand())
	cmd.AddCommand(list, get, a.appCreateCommand(), del, chart)
	return cmd
}

// appSpec is the container app of otectl app create's flags.
type appFlags struct {
	file, name, version, image, deployType, command, repo string
	ports, envs, volumes                                  []string
	replicas, gpu, maxSurge, maxUnavailable, minReady     uint32
	cpu, memory                                           string
}

func (a *app) appCreateCommand() *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   "create (-f FILE | --name NAME --version X.Y --image IMAGE --port PORT)",
		Short: "Create a container application version",
		Long: `Create a container application version, from flags or from a YAML or JSON file
with the fields of POST /v1/app (see /v1/docs). With -f, flags given override
the file's fields, and fields the file leaves out take the flags' defaults.

  --port [NAME=][SERVICE:]CONTAINER[/PROTOCOL]   e.g. http=80:8080/TCP (repeat)
  --env NAME=VALUE                               (repeat)
  --volume NAME:MOUNT-PATH                       an emptyDir (repeat)
  --cpu MIN:MAX     percent of a core            --memory MIN:MAX   MB`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := f.body(cmd)
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodPost, "/v1/app", nil, body, appCols)
		},
	}
	f.bind(cmd.Flags())
	return cmd
}

// bind defines app create's flags on fl.
func (f *appFlags) bind(fl *pflag.FlagSet) {
	fl.StringVarP(&f.file, "file", "f", "", "a YAML or JSON file of the app (- for standard input)")
	fl.StringVar(&f.name, "name", "", "the application's name")
	fl.StringVar(&f.version, "version", "", "the version, x.y")
	fl.StringVar(&f.image, "image", "", "the image, with a tag or digest")
	fl.StringVar(&f.deployType, "deploy-type", "deployment", "deployment or daemonset")
	fl.StringVar(&f.command, "command", "", "the container's command line")
	fl.StringVar(&f.repo, "repository-id", "", "an external registry to pull from (otectl repo)")
	fl.StringArrayVar(&f.ports, "port", nil, "a port (repeat)")
	fl.StringArrayVar(&f.envs, "env", nil, "an environment variable NAME=VALUE (repeat)")
	fl.StringArrayVar(&f.volumes, "volume", nil, "an emptyDir volume NAME:MOUNT-PATH (repeat)")
	fl.Uint32Var(&f.replicas, "replicas", 1, "pods per cluster (deployments)")
	fl.Uint32Var(&f.gpu, "gpu", 0, "GPUs per pod")
	fl.StringVar(&f.cpu, "cpu", "100:500", "CPU request:limit, percent of a core")
	fl.StringVar(&f.memory, "memory", "64:256", "memory request:limit, MB")
	fl.Uint32Var(&f.maxSurge, "max-surge", 1, "pods above replicas during an update")
	fl.Uint32Var(&f.maxUnavailable, "max-unavailable", 0, "pods that may be unavailable during an update")
	fl.Uint32Var(&f.minReady, "min-ready-seconds", 0, "seconds a new pod must be ready to count")
}

// body is the app's request: without -f, every flag's value; with it, the
// file's fields, over them the flags given, and under them the flags'
// defaults for fields the file leaves out.
func (f *appFlags) body(cmd *cobra.Command) (map[string]any, error) {
	body := map[string]any{}
	if f.file != "" {
		var raw []byte
		var err error
		if f.file == "-" {
			raw, err = io.ReadAll(cmd.InOrStdin())
		} else {
			raw, err = os.ReadFile(f.file)
		}
		if err != nil {
			return nil, usageErr("-f: %v", err)
		}
		j, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, usageErr("%s is not YAML or JSON: %v", f.file, err)
		}
		if err := json.Unmarshal(j, &body); err != nil || body == nil {
			return nil, usageErr("%s: want an object with the fields of POST /v1/app", f.file)
		}
	}
	// With -f, a flag given overrides the file; a flag not given fills in
	// its default where the file leaves the field out (and leaves out a
	// field whose flag has no default: the hub names what is missing).
	fromFile := func(flag, key string) bool {
		if f.file == "" || cmd.Flags().Changed(flag) {
			return false
		}
		_, inFile := body[key]
		return inFile
	}
	set := func(flag, key string, v func() (any, error)) error {
		if fromFile(flag, key) {
			return nil
		}
		val, err := v()
		if err != nil {
			return err
		}
		if f.file != "" && !cmd.Flags().Changed(flag) && empty(val) {
			return nil
		}
		body[key] = val
		return nil
	}
	str := func(s string) func() (any, error) { return func() (any, error) { return s, nil } }
	num := func(n uint32) func() (any, error) { return func() (any, error) { return n, nil } }
	steps := []error{
		set("name", "appName", str(f.name)), set("version", "version", str(f.version)), set("image", "image", str(f.image)),
		set("deploy-type", "deployType", str(f.deployType)), set("command", "command", str(f.command)),
		set("repository-id", "repositoryId", str(f.repo)),
		set("port", "port", func() (any, error) { return parsePorts(f.ports) }),
		set("env", "env", func() (any, error) { return parseEnv(f.envs) }),
		set("volume", "volume", func() (any, error) { return parseVolumes(f.volumes) }),
		set("replicas", "replicas", num(f.replicas)), set("gpu", "GPU", num(f.gpu)),
		set("max-surge", "maxSurge", num(f.maxSurge)), set("max-unavailable", "maxUnavailable", num(f.maxUnavailable)),
		set("min-ready-seconds", "minReadySeconds", num(f.minReady)),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}
	for _, r := range []struct{ flag, value, lo, hi string }{
		{"cpu", f.cpu, "minCPU", "maxCPU"}, {"memory", f.memory, "minMemory", "maxMemory"},
	} {
		if fromFile(r.flag, r.lo) && fromFile(r.flag, r.hi) {
			continue
		}
		lo, hi, err := pair("--"+r.flag, r.value)
		if err != nil {
			return nil, err
		}
		if !fromFile(r.flag, r.lo) {
			body[r.lo] = lo
		}
		if !fromFile(r.flag, r.hi) {
			body[r.hi] = hi
		}
	}
	// The seed requires the autoscaling fields: none, unless the file
	// asks for it.
	if _, ok := body["isHPA"]; !ok {
		body["isHPA"], body["minReplicas"], body["maxReplicas"] = false, body["replicas"], body["replicas"]
	}
	for _, k := range []string{"targetCPUUtilization", "targetMemUtilization"} {
		if _, ok := body[k]; !ok {
			body[k] = 0
		}
	}
	return body, nil
}

// empty: a flag's value that says nothing (no string, no list).
func empty(v any) bool {
	switch v := v.(type) {
	case string:
		return v == ""
	case []map[string]any:
		return len(v) == 0
	case []map[string]string:
		return len(v) == 0
	case nil:
		return true
	}
	return false
}

func pair(flag, s string) (uint64, uint64, error) {
	a, b, ok := strings.Cut(s, ":")
	lo, err1 := strconv.ParseUint(a, 10, 32)
	hi, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, usageErr("%s %q: want MIN:MAX, such as 100:500", flag, s)
	}
	return lo, hi, nil
}

func parsePorts(specs []string) ([]map[string]any, error) {
	out := []map[string]any{}
	for _, s := range specs {
		p := map[string]any{}
		rest := s
		if name, r, ok := strings.Cut(rest, "="); ok {
			p["name"], rest = name, r
		}
		if r, proto, ok := strings.Cut(rest, "/"); ok {
			p["protocol"], rest = strings.ToUpper(proto), r
		}
		svc, ctr, hasSvc := strings.Cut(rest, ":")
		if !hasSvc {
			ctr, svc = svc, ""
		}
		cp, err := strconv.ParseUint(ctr, 10, 16)
		if err != nil {
			return nil, usageErr("--port %q: want [NAME=][SERVICE:]CONTAINER[/PROTOCOL]", s)
		}
		p["containerPort"] = cp
		if svc != "" {
			sp, err := strconv.ParseUint(svc, 10, 16)
			if err != nil {
				return nil, usageErr("--port %q: the service port is not a number", s)
			}
			p["servicePort"] = sp
		}
		out = append(out, p)
	}
	return out, nil
}

func parseEnv(specs []string) ([]map[string]string, error) {
	out := []map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usageErr("--env %q: want NAME=VALUE", s)
		}
		out = append(out, map[string]string{"name": k, "value": v})
	}
	return out, nil
}

func parseVolumes(specs []string) ([]map[string]string, error) {
	out := []map[string]string{}
	for _, s := range specs {
		n, p, ok := strings.Cut(s, ":")
		if !ok || n == "" || p == "" {
			return nil, usageErr("--volume %q: want NAME:MOUNT-PATH", s)
		}
		out = append(out, map[string]string{"name": n, "mountPath": p, "type": "emptyDir"})
	}
	return out, nil
}

func (a *app) chartPushCommand() *cobra.Command {
	var name, version string
	cmd := &cobra.Command{
		Use:   "push CHART-DIR|CHART.tgz --name NAME --version X.Y",
		Short: "Upload a Helm chart (a directory is packaged first) as an application version",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			archive, err := chartArchive(args[0])
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			w := multipart.NewWriter(&buf)
			_ = w.WriteField("appName", name)
			_ = w.WriteField("version", version)
			part, _ := w.CreateFormFile("chart", filepath.Base(args[0])+".tgz")
			_, _ = part.Write(archive)
			_ = w.Close()
			c, err := a.session(cmd.Context())
			if err != nil {
				return err
			}
			env, err := c.send(cmd.Context(), http.MethodPost, "/v1/app/chart", url.Values{}, w.FormDataContentType(), &buf)
			if err != nil {
				return err
			}
			return a.print(env, appCols)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the application's name")
	cmd.Flags().StringVar(&version, "version", "", "the version, x.y")
	return cmd
}

// chartArchive reads a chart archive, or packages a chart directory the
// way helm package does.
func chartArchive(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, usageErr("chart: %v", err)
	}
	if !st.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErr("chart: %v", err)
		}
		return b, nil
	}
	ch, err := loader.LoadDir(path)
	if err != nil {
		return nil, usageErr("chart %s: %v", path, err)
	}
	tmp, err := os.MkdirTemp("", "otectl-chart-")
	if err != nil {
		return nil, usageErr("package the chart: %v", err)
	}
	defer os.RemoveAll(tmp)
	file, err := chartutil.Save(ch, tmp)
	if err != nil {
		return nil, usageErr("package the chart: %v", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, usageErr("package the chart: %v", err)
	}
	return b, nil
}
