// Package tunnel is the agent's end of the tunnel: it joins the hub once,
// keeps the cluster's credential, dials the hub's websocket, reports the
// inventory, applies desired items and reports their status, and reconnects
// with jittered exponential backoff whenever the connection is lost.
package tunnel

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ote-stack/ote/pkg/backoff"
	"github.com/ote-stack/ote/protocol"
)

// Credentials keep the cluster's credential (package credential).
type Credentials interface {
	Load(ctx context.Context, cluster string) (string, error)
	Save(ctx context.Context, cluster, credential string) error
}

// Inventory reports the cluster's nodes (package inventory).
type Inventory interface {
	Snapshot() []protocol.Node
	Delta() (nodes []protocol.Node, removed []string)
	Changed() <-chan struct{}
}

// Applier applies desired items (package apply).
type Applier interface {
	Apply(ctx context.Context, item protocol.Item) error
}

// PodCounter counts workloads' pods (package podstatus).
type PodCounter interface {
	Changed() <-chan struct{}
	// Drain returns the workloads ("<namespace>/<name>") whose pods changed.
	Drain() []string
	// Counts counts the pods of workload namespace/name running version.
	Counts(namespace, name, version string) protocol.PodCounts
}

// DriftChecker compares an applied workload with what its cluster holds
// now (package podstatus).
type DriftChecker interface {
	Drift(namespace, name string, spec *protocol.WorkloadSpec) []protocol.Drift
}

// ChartDrifter finds and puts back out-of-band changes of chart workloads
// (package apply's Releases).
type ChartDrifter interface {
	Drift(ctx context.Context, namespace, name string) ([]protocol.Drift, error)
	Repair(ctx context.Context, namespace, name string) error
}

// Config wires a Client.
type Config struct {
	HubURL         string
	ClusterName    string
	BootstrapToken string
	// TLS verifies the hub (nil: system roots).
	TLS         *tls.Config
	Credentials Credentials
	Inventory   Inventory
	Applier     Applier
	// Pods, when set, adds pod counts to workload statuses and reports
	// them again whenever they change.
	Pods PodCounter
	// Drift, when set with Pods, checks the workloads whose objects
	// changed for out-of-band changes, reports them, and applies the
	// workload again unless its drift policy is "report".
	Drift DriftChecker
	// Charts, when set, checks the chart workloads every ChartDriftEvery
	// (default 30s) against their releases' manifests, reports what
	// others changed, and puts it back unless the policy is "report".
	Charts          ChartDrifter
	ChartDriftEvery time.Duration
	Log             *slog.Logger
	Registerer      prometheus.Registerer
	AgentVersion    string
	// Backoff between connection attempts (default 1s to 30s, jittered).
	Backoff *backoff.Backoff
	// RetryFailedEvery re-applies failed items (default 15s).
	RetryFailedEvery time.Duration
	// CoalesceInventory waits this long after a node change to gather more
	// changes into one delta (default 500ms).
	CoalesceInventory time.Duration
	// ApplyConcurrency is how many items (of different keys) apply at once
	// (default 4). Revisions of one key apply one after the other.
	ApplyConcurrency int
	// ApplyTimeout bounds one apply (default 10m: a Helm install may take
	// minutes).
	ApplyTimeout time.Duration
	// ReportApplyingAfter reports an item as applying once its apply has
	// run this long (default: one heartbeat period).
	ReportApplyingAfter time.Duration
	// DialTunnel, when set, opens the tunnel's TCP connections instead of
	// a net.Dialer: a client-side choice among hub replicas (test/fleet
	// spreads its simulated agents so, with no balancer in between).
	DialTunnel func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client maintains the tunnel. Run it once.
type Client struct {
	cfg     Config
	base    *url.URL
	http    *retryablehttp.Client
	dialer  *websocket.Dialer
	log     *slog.Logger
	metrics *metrics

	applied atomic.Uint64 // highest revision recorded, across sessions
	// speaks is the protocol version of the current session: the lower
	// of the agent's and the hub's.
	speaks    atomic.Int32
	connected atomic.Bool
	// syncedAt is when the agent last had applied everything the hub had
	// sent it (Unix seconds).
	syncedAt atomic.Int64
	// life is Run's context: the applies run on it, beyond their session
	// (dispatch). Set before the first session starts.
	life context.Context

	// queue and box outlive sessions; wake tells the current session's
	// dispatcher that either has work.
	wake  chan struct{}
	queue *applyQueue
	box   *outbox
	// lastCut is when the previous session ended and unsure how far back
	// its sends may not have arrived; only Run's goroutine uses it.
	lastCut time.Time

	mu        sync.Mutex               // guards workloads
	workloads map[string]protocol.Item // applied workload items by name
}

// New returns a client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.HubURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("hub URL: %w", err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Backoff == nil {
		cfg.Backoff = backoff.New(time.Second, 30*time.Second)
	}
	if cfg.RetryFailedEvery <= 0 {
		cfg.RetryFailedEvery = 15 * time.Second
	}
	if cfg.CoalesceInventory <= 0 {
		cfg.CoalesceInventory = 500 * time.Millisecond
	}
	if cfg.ApplyConcurrency <= 0 {
		cfg.ApplyConcurrency = 4
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 10 * time.Minute
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	hc := retryablehttp.NewClient()
	hc.RetryMax = 4
	hc.RetryWaitMin, hc.RetryWaitMax = 500*time.Millisecond, 5*time.Second
	hc.Logger = nil
	hc.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg.TLS, Proxy: http.ProxyFromEnvironment}}
	wake := make(chan struct{}, 1)
	c := &Client{
		cfg: cfg, base: base, http: hc, log: cfg.Log.With("cluster", cfg.ClusterName), metrics: m,
		dialer: &websocket.Dialer{TLSClientConfig: cfg.TLS, HandshakeTimeout: 15 * time.Second, Proxy: http.ProxyFromEnvironment, NetDialContext: cfg.DialTunnel},
		wake:   wake, queue: newApplyQueue(wake), box: newOutbox(wake), workloads: map[string]protocol.Item{},
	}
	if cfg.Registerer != nil {
		// Resyncs completed: every item of a hub's resync applied (or
		// failed). What a test or an operator waits for after a reconnect.
		resyncs := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ote_agent_resyncs_total", Help: "Resyncs completed: every item of the hub's resync has been applied or has failed.",
		}, func() float64 { return float64(c.queue.resyncCount()) })
		// In sync now while connected with nothing to apply; otherwise
		// the last moment it was.
		synced := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ote_agent_last_sync_timestamp_seconds",
			Help: "When the agent last had applied everything the hub sent it (Unix time; 0 before the first sync).",
		}, func() float64 {
			if c.connected.Load() && c.syncedAt.Load() > 0 {
				if running, waiting := c.queue.load(); running == 0 && waiting == 0 {
					return float64(time.Now().Unix())
				}
			}
			return float64(c.syncedAt.Load())
		})
		for _, col := range []prometheus.Collector{resyncs, synced} {
			if err := cfg.Registerer.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// Connected reports whether a session is up (for /healthz).
func (c *Client) Connected() bool { return c.connected.Load() }

// Resyncs counts the sessions whose resync (everything the hub had for this
// agent when it connected) has been applied.
func (c *Client) Resyncs() uint64 { return c.queue.resyncCount() }

// AppliedRevision is the highest revision processed: taken in, to be
// applied by this process (the revision Hello names).
func (c *Client) AppliedRevision() uint64 { return c.applied.Load() }

// Run keeps a session with the hub until ctx ends.
func (c *Client) Run(ctx context.Context) error {
	c.life = ctx
	if c.cfg.Charts != nil {
		checked := make(chan struct{})
		go func() { defer close(checked); c.chartDriftLoop(ctx) }()
		defer func() { <-checked }()
	}
	// The applies run beyond their sessions on ctx: when it ends, they
	// are cancelled and waited for.
	defer func() {
		select {
		case <-c.queue.idleChan():
		case <-time.After(drainApplies):
			c.log.Warn("applies still running as the agent stops", "waited", drainApplies)
		}
	}()
	// hint is when a shutting-down hub asked this agent to come back; until
	// hintUntil, while the hub restarts, dials are that far apart at most.
	var hint time.Duration
	var hintUntil time.Time
	for {
		established, err := c.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if established {
			c.cfg.Backoff.Reset()
			hint = 0
		}
		wait := c.cfg.Backoff.Next()
		if after, ok := comeBackAfter(err); ok {
			// The hub spreads its agents' reconnects over its restart:
			// come back when it said, not on the backoff's schedule, and
			// keep to that pace while it is not back yet (a refused dial
			// costs the restarting hub nothing).
			wait, hint, hintUntil = after, after, time.Now().Add(maxComeBack)
		} else if hint > 0 && time.Now().Before(hintUntil) {
			wait = min(wait, hint)
		}
		c.log.Warn("tunnel down; reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		c.metrics.reconnects.Inc()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// runOnce obtains the credential and runs one session; it reports whether
// the session got as far as the hub's welcome.
func (c *Client) runOnce(ctx context.Context) (bool, error) {
	cred, err := c.credential(ctx)
	if err != nil {
		return false, err
	}
	return c.session(ctx, cred)
}

// credential loads the stored credential or joins the hub for one.
func (c *Client) credential(ctx context.Context) (string, error) {
	cred, err := c.cfg.Credentials.Load(ctx, c.cfg.ClusterName)
	if err != nil || cred != "" {
		return cred, err
	}
	if c.cfg.BootstrapToken == "" {
		return "", errors.New("no stored credential and no bootstrap token to join with")
	}
	cred, err = c.join(ctx)
	if err != nil {
		return "", err
	}
	if err := c.cfg.Credentials.Save(ctx, c.cfg.ClusterName, cred); err != nil {
		// The hub lets a cluster that never connected join again, so the
		// next attempt recovers.
		return "", fmt.Errorf("keep credential: %w", err)
	}
	c.log.Info("joined the hub; credential kept")
	return cred, nil
}

type envelope struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (c *Client) join(ctx context.Context) (string, error) {
	body, _ := json.Marshal(protocol.JoinRequest{ClusterName: c.cfg.ClusterName})
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+protocol.JoinPath, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(protocol.HeaderBootstrapToken, c.cfg.BootstrapToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("join: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var env envelope
	_ = json.Unmarshal(raw, &env)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("join refused by the hub: HTTP %d: %s", resp.StatusCode, env.Message)
	}
	var jr protocol.JoinResponse
	if err := json.Unmarshal(env.Data, &jr); err != nil || jr.Credential == "" {
		return "", fmt.Errorf("join: unexpected answer")
	}
	return jr.Credential, nil
}

func (c *Client) tunnelURL() string {
	u := *c.base
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = strings.TrimRight(u.Path, "/") + protocol.TunnelPath
	return u.String()
}

// FetchChart downloads a chart archive from the hub, authenticated by the
// cluster's credential, with bounded retries. The caller checks the digest.
func (c *Client) FetchChart(ctx context.Context, digest string) ([]byte, error) {
	return c.fetch(ctx, protocol.ChartsPath+"/"+digest)
}

// FetchPullSecret downloads the .dockerconfigjson of an external repository
// of the business of namespace.
func (c *Client) FetchPullSecret(ctx context.Context, namespace, repoID string) ([]byte, error) {
	return c.fetch(ctx, protocol.PullSecretsPath+"/"+url.PathEscape(namespace)+"/"+url.PathEscape(repoID))
}

// fetch GETs path from the hub with the cluster's credential and retries.
func (c *Client) fetch(ctx context.Context, path string) ([]byte, error) {
	cred, err := c.cfg.Credentials.Load(ctx, c.cfg.ClusterName)
	if err != nil {
		return nil, err
	}
	if cred == "" {
		return nil, errors.New("no credential yet")
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(protocol.HeaderCluster, c.cfg.ClusterName)
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var env envelope
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env)
		return nil, fmt.Errorf("hub answered HTTP %d: %s", resp.StatusCode, env.Message)
	}
	// The hub caps archives at its --chart-limit; 256 MiB bounds a rogue answer.
	return io.ReadAll(io.LimitReader(resp.Body, 256<<20))
}
