package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

var deployCols = []column{
	col("ID", "id"), col("NAME", "deployName"), col("APP", "appName"), col("VERSION", "version"), col("CLUSTERS", "cluster"),
	colWith("TYPE", "deployType", enumOf(deployType)), colWith("STATUS", "status", enumOf(deployStatus)),
	col("EDITABLE", "editable"), col("STATE", "errorMessage"),
}

// watchFlags are --watch and its bounds, for the commands that change a
// deployment.
type watchFlags struct {
	watch    bool
	timeout  time.Duration
	interval time.Duration
}

func (w *watchFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&w.watch, "watch", "w", false, "follow the deployment until it succeeds or fails, a line per change")
	cmd.Flags().DurationVar(&w.timeout, "timeout", 10*time.Minute, "with --watch: give up after this long (exit 6)")
	cmd.Flags().DurationVar(&w.interval, "interval", time.Second, "with --watch: how often to ask the hub")
}

type deployData struct {
	ID           uint64 `json:"id"`
	DeployName   string `json:"deployName"`
	Status       int    `json:"status"`
	DeployType   int    `json:"deployType"`
	Version      string `json:"version"`
	ErrorMessage string `json:"errorMessage"`
	AuditComment string `json:"auditComment"`
}

// change sends a request that answers a deployment, prints it and, with
// --watch, follows it.
func (a *app) change(cmd *cobra.Command, w *watchFlags, method, path string, body any) error {
	c, err := a.session(cmd.Context())
	if err != nil {
		return err
	}
	env, err := c.do(cmd.Context(), method, path, nil, body)
	if err != nil {
		return err
	}
	if !w.watch {
		return a.print(env, deployCols)
	}
	var d deployData
	if err := decode(env.Data, &d); err != nil {
		return err
	}
	return a.watch(cmd.Context(), c, d.ID, w)
}

// watch polls the deployment and prints a line whenever its status or
// per-cluster state changes, until success (exit 0), a failure or
// disapproval (exit 5), deletion after a delete request (exit 0), or the
// timeout (exit 6).
func (a *app) watch(ctx context.Context, c *client, id uint64, w *watchFlags) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	last := ""
	for {
		env, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/deploy/id/%d", id), nil, nil)
		if ctx.Err() != nil {
			return &cliError{code: exitTimeout, msg: fmt.Sprintf("deployment %d: no outcome within %s (last: %s)", id, w.timeout, last)}
		}
		var d deployData
		switch {
		case err != nil:
			ce, ok := err.(*cliError)
			if !ok || ce.code != exitUnavailable {
				return err
			}
			// The hub is away for a moment: keep watching.
			fmt.Fprintf(a.errOut, "%s  %s\n", time.Now().Format("15:04:05"), ce.msg)
		default:
			if err := decode(env.Data, &d); err != nil {
				return err
			}
			line := fmt.Sprintf("%s %s  %s", d.DeployName, d.Version, enumOf(deployStatus)(jsonNumber(d.Status)))
			if d.ErrorMessage != "" {
				line += "  " + d.ErrorMessage
			}
			if line != last {
				fmt.Fprintf(a.out, "%s  %s\n", time.Now().Format("15:04:05"), line)
				last = line
			}
			switch d.Status {
			case 5, 9: // success; deleted
				return nil
			case 2:
				return &cliError{code: exitFailed, msg: fmt.Sprintf("deployment %s was disapproved: %s", d.DeployName, d.AuditComment)}
			case 6, 7, 8:
				return &cliError{code: exitFailed, msg: fmt.Sprintf("deployment %s %s: %s", d.DeployName, deployStatus[d.Status], d.ErrorMessage)}
			}
		}
		select {
		case <-ctx.Done():
			return &cliError{code: exitTimeout, msg: fmt.Sprintf("deployment %d: no outcome within %s (last: %s)", id, w.timeout, last)}
		case <-tick.C:
		}
	}
}

func (a *app) deployCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "deploy", Short: "Deployments: create, upgrade, rollback, delete, watch, history"}

	list := &cobra.Command{Use: "list", Short: "List deployments", Args: cobra.NoArgs}
	lq := newQuery(list).str("app", "appName", "application name filter").str("name-mode", "appNameMode", "strict, partial or prefix").
		str("editable", "editable", "true, false or all").str("running", "running", "true or all").paged()
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/deploy", lq.values(), nil, deployCols)
	}
	get := &cobra.Command{Use: "get DEPLOY-ID", Short: "Show a deployment", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodGet, fmt.Sprintf("/v1/deploy/id/%d", id), nil, nil, deployCols)
		}}
	history := &cobra.Command{Use: "history DEPLOY-ID", Short: "The versions that have been live, newest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			q := map[string][]string{"field": {"historyVersion"}}
			return a.call(cmd, http.MethodGet, fmt.Sprintf("/v1/deploy/id/%d", id), q, nil,
				[]column{col("VERSION", "version"), colWith("SINCE", "deployTime", unixTime)})
		}}

	var cw watchFlags
	var name, appName, version, cluster, nodeLabel, comment string
	create := &cobra.Command{Use: "create --name NAME --app APP --version X.Y --cluster LABEL", Short: "Deploy an application version to the clusters with a label",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]string{"deployName": name, "appName": appName, "version": version, "cluster": cluster, "comment": comment}
			if nodeLabel != "" {
				body["nodeLabel"] = nodeLabel
			}
			return a.change(cmd, &cw, http.MethodPost, "/v1/deploy", body)
		}}
	create.Flags().StringVar(&name, "name", "", "the deployment's name")
	create.Flags().StringVar(&appName, "app", "", "the application")
	create.Flags().StringVar(&version, "version", "", "the application's version")
	create.Flags().StringVar(&cluster, "cluster", "", "the cluster label to deploy to")
	create.Flags().StringVar(&nodeLabel, "node-label", "", "only nodes with this label (key=value)")
	create.Flags().StringVar(&comment, "comment", "", "a comment for the audit")
	cw.add(create)

	changeCmd := func(use, short, method string, needsVersion bool) *cobra.Command {
		var w watchFlags
		var version, comment string
		c := &cobra.Command{Use: use + " DEPLOY-ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := idArg(args[0])
				if err != nil {
					return err
				}
				var body any
				if needsVersion {
					body = map[string]string{"version": version, "comment": comment}
				}
				return a.change(cmd, &w, method, fmt.Sprintf("/v1/deploy/id/%d", id), body)
			}}
		if needsVersion {
			c.Flags().StringVar(&version, "version", "", "the version to go to")
			c.Flags().StringVar(&comment, "comment", "", "a comment for the audit")
		}
		w.add(c)
		return c
	}
	var ww watchFlags
	watch := &cobra.Command{Use: "watch DEPLOY-ID", Short: "Follow a deployment until it succeeds or fails", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			c, err := a.session(cmd.Context())
			if err != nil {
				return err
			}
			return a.watch(cmd.Context(), c, id, &ww)
		}}
	ww.add(watch)
	watch.Flags().Lookup("watch").Hidden = true

	cmd.AddCommand(list, get, history, create,
		changeCmd("upgrade", "Upgrade a deployment to another version", http.MethodPost, true),
		changeCmd("rollback", "Roll a deployment back to a version it ran", http.MethodPut, true),
		changeCmd("delete", "Delete a deployment (after its audit)", http.MethodDelete, false),
		watch)
	return cmd
}

func (a *app) auditCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The deployment requests waiting for an administrator"}
	list := &cobra.Command{Use: "list", Short: "List audit requests (administrators)", Args: cobra.NoArgs}
	lq := newQuery(list).str("business", "businessName", "only this business's requests").paged()
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/admin/deploy", lq.values(), nil, []column{
			col("ID", "id"), col("BUSINESS", "businessName"), col("APP", "appName"), col("VERSION", "version"), col("CLUSTERS", "cluster"),
			col("DEPLOY-ID", "deployId"), colWith("TYPE", "deployType", enumOf(deployType)), colWith("STATUS", "status", enumOf(auditStatus)),
			col("COMMENT", "comment"), colWith("FILED", "createTime", unixTime),
		})
	}
	decide := func(use, short string, status int) *cobra.Command {
		var w watchFlags
		var comment string
		c := &cobra.Command{Use: use + " AUDIT-ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := idArg(args[0])
				if err != nil {
					return err
				}
				return a.change(cmd, &w, http.MethodPut, "/v1/admin/deploy", map[string]any{"id": id, "status": status, "comment": comment})
			}}
		c.Flags().StringVar(&comment, "comment", "", "the decision's comment")
		w.add(c)
		return c
	}
	cmd.AddCommand(list, decide("approve", "Approve a request; --watch follows the deployment", 1), decide("deny", "Disapprove a request", 2))
	return cmd
}
