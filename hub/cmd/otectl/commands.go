package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type tokenData struct {
	Token      string `json:"token"`
	ExpireTime int64  `json:"expireTime"`
}

// call sends one request for the session and prints its answer.
func (a *app) call(cmd *cobra.Command, method, path string, q url.Values, body any, cols []column) error {
	c, err := a.session(cmd.Context())
	if err != nil {
		return err
	}
	env, err := c.do(cmd.Context(), method, path, q, body)
	if err != nil {
		return err
	}
	return a.print(env, cols)
}

// query collects the flags that are query parameters.
type query struct {
	vals map[string]*string
	ints map[string]*int
	cmd  *cobra.Command
}

func newQuery(cmd *cobra.Command) *query {
	return &query{vals: map[string]*string{}, ints: map[string]*int{}, cmd: cmd}
}

// str adds --flag for query parameter param.
func (q *query) str(flag, param, usage string) *query {
	q.vals[param] = q.cmd.Flags().String(flag, "", usage)
	return q
}

func (q *query) paged() *query {
	q.ints["page"] = q.cmd.Flags().Int("page", 1, "the page number")
	q.ints["pageSize"] = q.cmd.Flags().Int("page-size", 50, "items per page")
	return q
}

func (q *query) values() url.Values {
	v := url.Values{}
	for k, p := range q.vals {
		if *p != "" {
			v.Set(k, *p)
		}
	}
	for k, p := range q.ints {
		v.Set(k, strconv.Itoa(*p))
	}
	return v
}

func idArg(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usageErr("%q is not an id (a positive integer)", s)
	}
	return id, nil
}

// secret reads a password: from the environment variable env, else one
// line of standard input. It is never taken from a flag, where ps and
// shell histories would show it.
func (a *app) secret(env, what string) (string, error) {
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	if f, ok := a.in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintf(a.errOut, "%s: ", what)
		}
	}
	line, err := bufio.NewReader(a.in).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err != nil {
			return "", usageErr("no %s: set $%s or send it on standard input", what, env)
		}
		return "", usageErr("the %s is empty", what)
	}
	return line, nil
}

func (a *app) loginCommand() *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use:   "login --hub URL --user NAME",
		Short: "Log in and keep the token (password from $OTECTL_PASSWORD or standard input)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cn, err := a.connect(usageErr("--hub is required the first time"))
			if err != nil {
				return err
			}
			if user == "" {
				return usageErr("--user is required")
			}
			pw, err := a.secret("OTECTL_PASSWORD", "password")
			if err != nil {
				return err
			}
			tok, err := cn.token(cmd.Context(), http.MethodPost, "/v1/authorization", map[string]string{"user": user, "password": pw}, user)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.errOut, "logged in to %s as %s until %s\n", cn.client.base, user, time.Unix(tok.ExpireTime, 0).Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVarP(&user, "user", "u", "", "the user name")
	return cmd
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the token and forget it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cn, err := a.sessionConn(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := cn.client.do(cmd.Context(), http.MethodDelete, "/v1/authorization", nil, nil); err != nil {
				return err
			}
			cn.cfg.Token, cn.cfg.ExpireTime = "", 0
			return cn.cfg.save(cn.path)
		},
	}
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the logged-in user, role and the hub's features",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, http.MethodGet, "/v1/authorization", nil, nil, []column{
				col("USER-ID", "userId"), col("NAME", "displayName"), colWith("ROLE", "role", enumOf(roleNames)),
				col("BUSINESS-ID", "businessId"), col("REGISTRY-ACCOUNT", "hasRepoAccount"), col("AUTO-DEPLOY", "enableAdminAutoDeploy"),
				col("ALERTS", "enableAlert"),
			})
		},
	}
}

var userCols = []column{
	col("ID", "id"), col("USER", "user"), colWith("STATUS", "status", enumOf(userStatus)), col("ADMIN", "isAdmin"),
	col("BUSINESS-ID", "businessId"), col("REAL-NAME", "realName"), colWith("CREATED", "createTime", unixTime),
}

func (a *app) userCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Users: list, register, create, approve, delete, passwords"}

	list := &cobra.Command{Use: "list", Short: "List users (administrators)", Args: cobra.NoArgs}
	lq := newQuery(list).str("order-by", "orderBy", "id or user_name").str("order", "order", "asc or desc").paged()
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/admin/user", lq.values(), nil, userCols)
	}

	newUser := func(use, short, path string, public bool) *cobra.Command {
		var name, realName, phone string
		var isAdmin bool
		c := &cobra.Command{Use: use, Short: short + " (password from $OTECTL_NEW_PASSWORD or standard input)", Args: cobra.NoArgs}
		c.Flags().StringVar(&name, "user", "", "the user name")
		c.Flags().StringVar(&realName, "real-name", "", "the real name")
		c.Flags().StringVar(&phone, "phone", "", "the phone number")
		c.Flags().BoolVar(&isAdmin, "admin", false, "a general administrator (may apply for a business)")
		c.RunE = func(cmd *cobra.Command, _ []string) error {
			pw, err := a.secret("OTECTL_NEW_PASSWORD", "new user's password")
			if err != nil {
				return err
			}
			body := map[string]any{"user": name, "password": pw, "realName": realName, "phone": phone, "isAdmin": isAdmin}
			if !public {
				return a.call(cmd, http.MethodPost, path, nil, body, userCols)
			}
			// Registration needs no session: only the hub's address.
			cn, err := a.connect(usageErr("--hub is required"))
			if err != nil {
				return err
			}
			env, err := cn.client.do(cmd.Context(), http.MethodPost, path, nil, body)
			if err != nil {
				return err
			}
			return a.print(env, userCols)
		}
		return c
	}

	audit := func(use, short string, status int) *cobra.Command {
		return &cobra.Command{Use: use + " USER-ID", Short: short + " (system administrator)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := idArg(args[0])
				if err != nil {
					return err
				}
				return a.call(cmd, http.MethodPut, fmt.Sprintf("/v1/admin/user/%d", id), nil, map[string]int{"status": status}, userCols)
			}}
	}

	del := &cobra.Command{Use: "delete USER-ID", Short: "Delete a user", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodDelete, fmt.Sprintf("/v1/admin/user/%d", id), nil, nil, nil)
		}}
	reset := &cobra.Command{Use: "reset-password USER-ID", Short: "Set a user's password (from $OTECTL_NEW_PASSWORD or standard input)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			pw, err := a.secret("OTECTL_NEW_PASSWORD", "new password")
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodPut, fmt.Sprintf("/v1/admin/user/%d/password", id), nil, map[string]string{"password": pw}, nil)
		}}
	passwd := &cobra.Command{Use: "passwd", Short: "Change your password ($OTECTL_PASSWORD and $OTECTL_NEW_PASSWORD, or two lines of standard input)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			old, err := a.secret("OTECTL_PASSWORD", "current password")
			if err != nil {
				return err
			}
			pw, err := a.secret("OTECTL_NEW_PASSWORD", "new password")
			if err != nil {
				return err
			}
			cn, err := a.sessionConn(cmd.Context())
			if err != nil {
				return err
			}
			// The hub revokes the old token and answers a new one.
			_, err = cn.token(cmd.Context(), http.MethodPut, "/v1/user", map[string]string{"oldPassword": old, "password": pw}, "")
			return err
		}}
	cmd.AddCommand(list,
		newUser("register", "Register yourself; a system administrator approves you", "/v1/user", true),
		newUser("create", "Create an approved user in your business (business administrators)", "/v1/admin/user", false),
		audit("approve", "Approve a user", 1), audit("deny", "Disapprove a user", 2), audit("forbid", "Forbid a user", 3),
		del, reset, passwd)
	return cmd
}

var businessCols = []column{
	col("ID", "id"), col("NAME", "name"), colWith("STATUS", "status", enumOf(bizStatus)), col("NAMESPACE", "namespace"),
	col("POD-SECURITY", "podSecurity"), col("OWNER-ID", "userId"), colWith("CREATED", "createTime", unixTime),
}

func (a *app) businessCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "business", Short: "Businesses (tenants): list, create, approve"}
	list := &cobra.Command{Use: "list", Short: "List businesses", Args: cobra.NoArgs}
	lq := newQuery(list).str("name", "name", "business name filter").paged()
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/business", lq.values(), nil, businessCols)
	}
	get := &cobra.Command{Use: "get BUSINESS-ID", Short: "Show a business", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodGet, fmt.Sprintf("/v1/business/id/%d", id), nil, nil, businessCols)
		}}
	var name, introduce, objective, scale string
	create := &cobra.Command{Use: "create --name NAME", Short: "Apply for a business (approved general administrators)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, http.MethodPost, "/v1/business", nil, map[string]string{"name": name, "introduce": introduce, "objective": objective, "scale": scale}, businessCols)
		}}
	create.Flags().StringVar(&name, "name", "", "the business's name")
	create.Flags().StringVar(&introduce, "introduce", "", "what the business does")
	create.Flags().StringVar(&objective, "objective", "", "what it runs at the edge")
	create.Flags().StringVar(&scale, "scale", "", "how large it is")
	audit := func(use, short string, status int) *cobra.Command {
		var comment, podSecurity string
		c := &cobra.Command{Use: use + " BUSINESS-ID", Short: short + " (system administrator)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := idArg(args[0])
				if err != nil {
					return err
				}
				body := map[string]any{"status": status, "comment": comment}
				if podSecurity != "" {
					body["podSecurity"] = podSecurity
				}
				return a.call(cmd, http.MethodPut, fmt.Sprintf("/v1/business/id/%d", id), nil, body, businessCols)
			}}
		c.Flags().StringVar(&comment, "comment", "", "the audit's comment")
		c.Flags().StringVar(&podSecurity, "pod-security", "", "the namespace's Pod Security level: restricted, baseline or privileged")
		return c
	}
	podSec := &cobra.Command{Use: "pod-security BUSINESS-ID LEVEL", Short: "Set a business's Pod Security level (system administrator)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodPut, fmt.Sprintf("/v1/business/id/%d", id), nil, map[string]string{"podSecurity": args[1]}, businessCols)
		}}
	cmd.AddCommand(list, get, create, audit("approve", "Approve a business", 1), audit("deny", "Disapprove a business", 2), podSec)
	return cmd
}

func (a *app) clusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Edge clusters and their labels"}
	list := &cobra.Command{Use: "list", Short: "List clusters", Args: cobra.NoArgs}
	lq := newQuery(list).str("label", "clusterLabel", "only clusters with this label")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/cluster", lq.values(), nil, []column{
			col("NAME", "clusterName"), col("READY", "isReady"), col("NODES", "nodeCount"), col("READY-NODES", "readyNodeCount"),
			col("LABELS", "labels"), col("AGENT", "agentVersion"), colWith("LAST-SEEN", "lastSeenTime", unixTime),
		})
	}
	label := &cobra.Command{Use: "label", Short: "Cluster labels"}
	change := func(use, short, method string) *cobra.Command {
		return &cobra.Command{Use: use + " LABEL CLUSTER...", Short: short + " (system administrator)", Args: cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.call(cmd, method, "/v1/cluster/label", nil, map[string]any{"clusterLabel": args[0], "clusterName": args[1:]}, nil)
			}}
	}
	labels := &cobra.Command{Use: "list [CLUSTER]", Short: "List the labels in use, or one cluster's", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return a.call(cmd, http.MethodGet, "/v1/cluster/label", nil, nil, []column{col("LABEL", "")})
			}
			return a.call(cmd, http.MethodGet, "/v1/cluster/label/"+url.PathEscape(args[0]), nil, nil,
				[]column{col("LABEL", "clusterLabel"), colWith("SINCE", "createTime", unixTime)})
		}}
	label.AddCommand(change("add", "Label clusters", http.MethodPost), change("remove", "Remove a label from clusters", http.MethodDelete), labels)
	cmd.AddCommand(list, label)
	return cmd
}

func (a *app) nodeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "The nodes the agents report, and their labels"}
	list := &cobra.Command{Use: "list", Short: "List nodes", Args: cobra.NoArgs}
	lq := newQuery(list).str("cluster", "clusterName", "only this cluster's nodes").str("node", "nodeName", "only nodes of this name").
		str("label", "nodeLabel", "only nodes with this label (key=value)").paged()
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/node", lq.values(), nil, []column{
			col("CLUSTER", "clusterName"), col("NODE", "nodeName"), col("READY", "isReady"), col("CPU", "cpu"),
			colWith("MEMORY", "memory", bytesSize), col("GPUS", "gpuCount"), colWith("GPU-MEMORY", "gpu", bytesSize),
			colWith("DISK", "disk", bytesSize), col("IP", "ip"), col("LABELS", "labels"),
		})
	}
	label := &cobra.Command{Use: "label", Short: "Node labels"}
	var deleteDeploy bool
	change := func(use, short, method string) *cobra.Command {
		c := &cobra.Command{Use: use + " CLUSTER LABEL NODE...", Short: short + " (system administrator)", Args: cobra.MinimumNArgs(3),
			RunE: func(cmd *cobra.Command, args []string) error {
				body := map[string]any{"clusterName": args[0], "nodeLabel": args[1], "nodeName": args[2:]}
				if method == http.MethodDelete {
					body["deleteDeploy"] = deleteDeploy
				}
				return a.call(cmd, method, "/v1/node/label", nil, body, nil)
			}}
		if method == http.MethodDelete {
			c.Flags().BoolVar(&deleteDeploy, "delete-deploy", false, "also delete the deployments that target the label")
		}
		return c
	}
	labels := &cobra.Command{Use: "list", Short: "List node labels in use", Args: cobra.NoArgs}
	labq := newQuery(labels).str("cluster", "clusterName", "only this cluster's nodes")
	labels.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/node/label", labq.values(), nil, []column{col("LABEL", "")})
	}
	label.AddCommand(change("add", "Label nodes", http.MethodPost), change("remove", "Remove a label from nodes", http.MethodDelete), labels)
	cmd.AddCommand(list, label)
	return cmd
}

var projectCols = []column{
	col("ID", "projectId"), col("PROJECT", "projectName"), col("PUBLIC", "public"), col("IMAGES", "imageCount"), colWith("CREATED", "createTime", unixTime),
}

func (a *app) projectCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Projects of the image registry"}
	list := &cobra.Command{Use: "list", Short: "List projects", Args: cobra.NoArgs}
	lq := newQuery(list).str("name", "projectName", "project name filter").str("public", "public", "true or false").paged()
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/repository/project", lq.values(), nil, projectCols)
	}
	var public bool
	create := &cobra.Command{Use: "create NAME", Short: "Create a project", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"projectName": args[0], "public": public}
			return a.call(cmd, http.MethodPost, "/v1/repository/project", nil, body, projectCols)
		}}
	create.Flags().BoolVar(&public, "public", false, "anyone may pull its images (default: only the business's members)")
	del := &cobra.Command{Use: "delete PROJECT-ID...", Short: "Delete empty projects", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := idArgs(args)
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodDelete, "/v1/repository/project", nil, map[string]any{"projectId": ids}, nil)
		}}
	cmd.AddCommand(list, create, del)
	return cmd
}

func idArgs(args []string) ([]uint64, error) {
	ids := make([]uint64, len(args))
	for i, s := range args {
		id, err := idArg(s)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

func (a *app) imageCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Images and tags of the image registry, and your registry account"}
	list := &cobra.Command{Use: "list", Short: "List images", Args: cobra.NoArgs}
	lq := newQuery(list).str("project", "projectName", "the project").str("name", "imageName", "image name filter").paged()
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/repository/image", lq.values(), nil, []column{
			col("IMAGE", "imageName"), col("PROJECT", "projectName"), col("PUBLIC", "public"), col("ADDRESS", "imageAddress"), colWith("UPDATED", "updateTime", unixTime),
		})
	}
	del := &cobra.Command{Use: "delete IMAGE...", Short: "Delete images (project/name)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, http.MethodDelete, "/v1/repository/image", nil, map[string]any{"imageName": args}, nil)
		}}
	tags := &cobra.Command{Use: "tags IMAGE", Short: "List an image's tags", Args: cobra.ExactArgs(1)}
	tq := newQuery(tags).paged()
	tags.RunE = func(cmd *cobra.Command, args []string) error {
		q := tq.values()
		q.Set("imageName", args[0])
		return a.call(cmd, http.MethodGet, "/v1/repository/image/tag", q, nil, []column{
			col("TAG", "tag"), col("DIGEST", "digest"), col("ADDRESS", "imageAddress"), colWith("UPDATED", "updateTime", unixTime),
		})
	}
	delTag := &cobra.Command{Use: "delete-tag IMAGE TAG...", Short: "Delete tags of an image", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, http.MethodDelete, "/v1/repository/image/tag", nil, map[string]any{"imageName": args[0], "tag": args[1:]}, nil)
		}}
	account := func(use, short, method string) *cobra.Command {
		return &cobra.Command{Use: use + " NAME", Short: short + " (password from $OTECTL_NEW_PASSWORD or standard input)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				pw, err := a.secret("OTECTL_NEW_PASSWORD", "registry password")
				if err != nil {
					return err
				}
				return a.call(cmd, method, "/v1/repository/user", nil, map[string]string{"user": args[0], "password": pw},
					[]column{col("USER", "user"), colWith("CREATED", "createTime", unixTime)})
			}}
	}
	cmd.AddCommand(list, del, tags, delTag,
		account("account-create", "Create your registry account, for docker login", http.MethodPost),
		account("account-passwd", "Change your registry account's password", http.MethodPut))
	return cmd
}

var repoCols = []column{col("ID", "repositoryId"), col("ADDRESS", "address"), col("USER", "user"), colWith("CREATED", "createTime", unixTime)}

func (a *app) repoCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Your business's external image registries"}
	list := &cobra.Command{Use: "list", Short: "List external registries", Args: cobra.NoArgs}
	lq := newQuery(list).paged()
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/repository/third", lq.values(), nil, repoCols)
	}
	get := &cobra.Command{Use: "get ID", Short: "Show an external registry", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, http.MethodGet, "/v1/repository/third/"+url.PathEscape(args[0]), nil, nil, repoCols)
		}}
	var address, user string
	create := &cobra.Command{Use: "create ID --address HOST --user NAME", Short: "Add an external registry (password from $OTECTL_NEW_PASSWORD or standard input)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.secret("OTECTL_NEW_PASSWORD", "registry password")
			if err != nil {
				return err
			}
			return a.call(cmd, http.MethodPost, "/v1/repository/third", nil, map[string]string{"repositoryId": args[0], "address": address, "user": user, "password": pw}, repoCols)
		}}
	create.Flags().StringVar(&address, "address", "", "the registry's host[:port]")
	create.Flags().StringVar(&user, "user", "", "the registry account")
	del := &cobra.Command{Use: "delete ID...", Short: "Remove external registries", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, http.MethodDelete, "/v1/repository/third", nil, map[string]any{"repositoryId": args}, nil)
		}}
	cmd.AddCommand(list, get, create, del)
	return cmd
}

func (a *app) trailCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "trail", Short: "The audit trail of administrative writes (administrators)", Args: cobra.NoArgs}
	q := newQuery(cmd).str("user", "user", "only this user's writes").str("action", "action", "only this action, such as deploy.create").
		str("from", "from", "from this Unix time").str("to", "to", "before this Unix time").paged()
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd, http.MethodGet, "/v1/admin/audit", q.values(), nil, []column{
			col("ID", "id"), colWith("TIME", "time", unixTime), col("USER", "user"), col("ACTION", "action"), col("TARGET", "target"),
			col("STATUS", "status"), col("RESULT", "result"), col("ADDRESS", "address"),
		})
	}
	return cmd
}
