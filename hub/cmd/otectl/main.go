// Command otectl is the OTE hub's command-line client: every /v1 operation
// a person or a script needs, with the session's token kept in a 0600
// file and refreshed before it expires.
//
// It lives under hub/cmd beside the hub because it is the hub's client and
// moves with the hub's API: a release builds hub, agent and otectl from one
// tree (make build), and the API it speaks is the one in hub/api.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// version is stamped by the Makefile (-ldflags -X main.version=...).
var version = "dev"

// app is one run of otectl: its flags, its configuration and its output.
type app struct {
	hubFlag    string
	configFlag string
	output     string
	timeout    time.Duration
	caFile     string

	out, errOut io.Writer
	in          io.Reader
	now         func() time.Time
}

// refreshBefore: a token this close to its expiry is refreshed first.
const refreshBefore = 10 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code; errors are
// printed as one line, never with a stack trace or a secret.
func run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	a := &app{out: out, errOut: errOut, in: in, now: time.Now}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ce *cliError
	if errors.As(err, &ce) {
		fmt.Fprintln(errOut, "otectl:", ce.msg)
		return ce.code
	}
	// cobra's own errors: unknown commands and flags, wrong arguments.
	fmt.Fprintln(errOut, "otectl:", err)
	return exitUsage
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "otectl",
		Short: "The OTE hub's command-line client",
		Long: `otectl calls the OTE hub's /v1 API: users, businesses, clusters and nodes,
applications, deployments and their audit, the image repository.

Log in once with "otectl login"; the token is kept in a 0600 file and
refreshed before it expires. Output is a table, or -o json|yaml for scripts.

Exit codes: 0 success, 1 the hub refused the request, 2 wrong usage or
input file, 3 not logged in or the token expired, 4 the hub cannot be
reached or failed, 5 a watched deployment failed, 6 a watch timed out.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch a.output {
			case "table", "json", "yaml":
				return nil
			}
			return usageErr("-o %s: want table, json or yaml", a.output)
		},
	}
	root.SetVersionTemplate("otectl {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&a.hubFlag, "hub", "", "the hub's URL (default: $OTECTL_HUB, then the one logged in to)")
	pf.StringVar(&a.configFlag, "config", "", "the configuration file (default: $OTECTL_CONFIG, then ~/.config/otectl/config.json)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml")
	pf.DurationVar(&a.timeout, "request-timeout", 30*time.Second, "the longest wait for one answer of the hub")
	pf.StringVar(&a.caFile, "ca-file", "", "a PEM file of the hub's certificate authority (HTTPS hubs not signed by a system CA)")

	root.AddCommand(
		a.loginCommand(), a.logoutCommand(), a.whoamiCommand(),
		a.userCommand(), a.businessCommand(),
		a.clusterCommand(), a.nodeCommand(),
		a.appCommand(), a.deployCommand(), a.auditCommand(),
		a.projectCommand(), a.imageCommand(), a.repoCommand(), a.trailCommand(),
	)
	return root
}

// httpClient trusts --ca-file (or the configuration's CA) besides the
// system's authorities.
func (a *app) httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usageErr("--ca-file: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErr("--ca-file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

// conn is the hub to talk to and the configuration it came from.
type conn struct {
	client *client
	cfg    *config
	path   string
	caFile string
}

// connect makes a client of the hub of --hub, $OTECTL_HUB or the
// configuration (without a token); noHub is the error when none is set.
func (a *app) connect(noHub error) (*conn, error) {
	path, err := configPath(a.configFlag)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	hub := firstOf(a.hubFlag, os.Getenv("OTECTL_HUB"), cfg.Hub)
	if hub == "" {
		return nil, noHub
	}
	caFile := firstOf(a.caFile, cfg.CA)
	hc, err := a.httpClient(caFile)
	if err != nil {
		return nil, err
	}
	c, err := newClient(hub, hc, a.timeout)
	if err != nil {
		return nil, err
	}
	return &conn{client: c, cfg: cfg, path: path, caFile: caFile}, nil
}

// token sends a request that answers a token (login, refresh, password
// change) and keeps the token for the session.
func (cn *conn) token(ctx context.Context, method, path string, body any, user string) (tokenData, error) {
	var tok tokenData
	env, err := cn.client.do(ctx, method, path, nil, body)
	if err != nil {
		return tok, err
	}
	if err := decode(env.Data, &tok); err != nil {
		return tok, err
	}
	cn.client.token = tok.Token
	if os.Getenv("OTECTL_TOKEN") != "" && user == "" {
		return tok, nil // the script's own token: nothing to keep
	}
	if user != "" {
		*cn.cfg = config{Hub: cn.client.base, User: user, CA: cn.caFile}
	}
	cn.cfg.Token, cn.cfg.ExpireTime = tok.Token, tok.ExpireTime
	return tok, cn.cfg.save(cn.path)
}

// session is a client for the hub logged in to, with a token that is
// valid for a while yet: refreshed (and saved) when it expires soon.
func (a *app) session(ctx context.Context) (*client, error) {
	cn, err := a.sessionConn(ctx)
	if err != nil {
		return nil, err
	}
	return cn.client, nil
}

func (a *app) sessionConn(ctx context.Context) (*conn, error) {
	cn, err := a.connect(&cliError{code: exitAuth, msg: "no hub: log in first (otectl login --hub URL --user NAME)"})
	if err != nil {
		return nil, err
	}
	c, cfg := cn.client, cn.cfg
	// A token from the environment is the script's own: used as it is.
	if tok := os.Getenv("OTECTL_TOKEN"); tok != "" {
		c.token = tok
		return cn, nil
	}
	if cfg.Token == "" || strings.TrimRight(cfg.Hub, "/") != c.base {
		return nil, &cliError{code: exitAuth, msg: fmt.Sprintf("not logged in to %s: otectl login --hub %s --user NAME", c.base, c.base)}
	}
	c.token = cfg.Token
	expires := time.Unix(cfg.ExpireTime, 0)
	now := a.now()
	if !now.Before(expires) {
		return nil, &cliError{code: exitAuth, msg: fmt.Sprintf("the token of %s expired at %s: otectl login", cfg.User, expires.Format(time.RFC3339))}
	}
	if expires.Sub(now) < refreshBefore {
		if _, err := cn.token(ctx, http.MethodPut, "/v1/authorization", nil, ""); err != nil {
			return nil, err
		}
	}
	return cn, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
