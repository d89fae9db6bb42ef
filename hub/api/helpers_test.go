package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/secrets"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
	"github.com/ote-stack/ote/hub/tunnel"
	"github.com/ote-stack/ote/test/apicheck"
)

func init() {
	// Creating users dominates these tests; the cost does not change behaviour.
	auth.BcryptCost = bcrypt.MinCost
}

const (
	adminName      = "admin"
	adminPass      = "Admin-Pass1"
	bootstrapToken = "bootstrap-token-for-tests"
	testHeartbeat  = time.Second // generous: a loaded machine must not miss beats
)

// syncBuffer collects log output written from server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hub is a running API over a real listener and a real store.
type hub struct {
	t       testing.TB
	url     string
	store   *sqlstore.Store
	logs    *syncBuffer
	secrets []string // passwords used in the test; never to be seen in output
	tunnel  *tunnel.Hub
	// app is the API's fiber app: its route table drives the role matrix.
	app    *api.Server
	stop   func()
	client *http.Client // nil: http.DefaultClient
}

// from is h seen from another client address (any of 127.0.0.0/8).
func (h *hub) from(ip string) *hub {
	c := *h
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c.client = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	h.t.Cleanup(c.client.CloseIdleConnections)
	return &c
}

func (h *hub) httpClient() *http.Client {
	if h.client != nil {
		return h.client
	}
	return http.DefaultClient
}

type option func(*api.Config)

func withLogin(l api.LoginLimits) option { return func(c *api.Config) { c.Login = l } }
func withFeatures(f api.Features) option { return func(c *api.Config) { c.Features = f } }
func withBodyLimit(n int) option         { return func(c *api.Config) { c.BodyLimit = n } }

var jwtKey = []byte("0123456789abcdef0123456789abcdef")

// startHub serves the API on 127.0.0.1 backed by st, seeding the system
// administrator when st has none.
func startHub(t testing.TB, st *sqlstore.Store, opts ...option) *hub {
	t.Helper()
	return startHubWith(t, st, tunnel.Options{Heartbeat: testHeartbeat, PollEvery: 100 * time.Millisecond}, opts...)
}

func startHubWith(t testing.TB, st *sqlstore.Store, topts tunnel.Options, opts ...option) *hub {
	t.Helper()
	logs := &syncBuffer{}
	hash, _ := auth.HashPassword(adminPass)
	if _, err := st.EnsureSysAdmin(context.Background(), &store.User{Name: adminName, PasswordHash: hash, RealName: "Root", Phone: "00000"}); err != nil {
		t.Fatal(err)
	}
	tokens, _ := auth.NewTokens(jwtKey)
	tun, err := tunnel.New(st, slog.New(slog.NewTextHandler(logs, nil)), nil, topts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tun.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sealer, _ := secrets.New([]byte("test-secret-key-0123456789abcdef"))
	cfg := api.Config{
		Sealer:         sealer,
		Store:          st,
		Tokens:         tokens,
		Tunnel:         tun,
		BootstrapToken: bootstrapToken,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Login:          api.LoginLimits{}, // unlimited unless a test asks
	}
	for _, o := range opts {
		o(&cfg)
	}
	app, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = app.Serve(ln) }()
	rolloutCtx, stopRollouts := context.WithCancel(context.Background())
	rolled := make(chan struct{})
	go func() {
		defer close(rolled)
		deploy.RunRollouts(rolloutCtx, st, 100*time.Millisecond, tun.Notify, slog.New(slog.NewTextHandler(logs, nil)))
	}()
	h := &hub{t: t, url: "http://" + ln.Addr().String(), store: st, logs: logs, secrets: []string{adminPass}}
	var once sync.Once
	h.tunnel, h.app = tun, app
	h.stop = func() {
		once.Do(func() {
			stopRollouts()
			<-rolled
			tun.Stop()
			_ = app.ShutdownWithTimeout(5 * time.Second)
			<-done
		})
	}
	t.Cleanup(func() {
		h.stop()
		for _, s := range h.secrets {
			if strings.Contains(logs.String(), s) {
				t.Errorf("a password appears in the hub's log")
			}
		}
		if strings.Contains(logs.String(), "$2a$") {
			t.Errorf("a password hash appears in the hub's log")
		}
	})
	return h
}

// eachHub runs fn against a hub on a fresh store of every dialect.
func eachHub(t *testing.T, fn func(t *testing.T, h *hub), opts ...option) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		fn(t, startHub(t, s, opts...))
	})
}

// reply is a decoded response.
type reply struct {
	Status  int
	Header  http.Header
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Total   *int64          `json:"total"`
	Raw     string
}

func (r *reply) into(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

// do sends a request; body is JSON-encoded unless it is a string or []byte.
func (h *hub) do(method, path, token string, body any) *reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.httpClient().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if err := h.spec().Check(req, resp.StatusCode, resp.Header, raw); err != nil {
		h.t.Fatalf("%v", err)
	}
	if strings.HasPrefix(path, "/v1") && path != "/v1/docs" {
		if err := json.Unmarshal(raw, r); err != nil {
			h.t.Fatalf("%s %s: body is not the envelope: %q", method, path, raw)
		}
		wantCode := 0
		if resp.StatusCode >= 300 {
			wantCode = resp.StatusCode
		}
		if r.Code != wantCode {
			h.t.Fatalf("%s %s: envelope code %d with HTTP %d", method, path, r.Code, resp.StatusCode)
		}
	}
	if strings.Contains(r.Raw, "$2a$") || strings.Contains(strings.ToLower(r.Raw), "passwordhash") {
		h.t.Fatalf("%s %s: response carries a password hash: %s", method, path, raw)
	}
	for _, s := range h.secrets {
		if strings.Contains(r.Raw, s) {
			h.t.Fatalf("%s %s: response carries a password", method, path)
		}
	}
	return r
}

var (
	specOnce sync.Once
	specErr  error
	checker  *apicheck.Checker
)

// spec is the description the hub serves, loaded from the first hub of
// the test binary (every hub serves the same): each reply of do is checked
// against it.
func (h *hub) spec() *apicheck.Checker {
	h.t.Helper()
	specOnce.Do(func() { checker, specErr = apicheck.Fetch(nil, h.url) })
	if specErr != nil {
		h.t.Fatalf("the hub's OpenAPI description: %v", specErr)
	}
	return checker
}

// expect sends a request and fails the test unless the status is want.
func (h *hub) expect(want int, method, path, token string, body any) *reply {
	h.t.Helper()
	r := h.do(method, path, token, body)
	if r.Status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r
}

func (h *hub) login(user, password string) string {
	h.t.Helper()
	r := h.expect(200, "POST", "/v1/authorization", "", map[string]any{"user": user, "password": password})
	var tok struct {
		Token      string `json:"token"`
		ExpireTime int64  `json:"expireTime"`
	}
	r.into(h.t, &tok)
	if tok.Token == "" || tok.ExpireTime < time.Now().Add(59*time.Minute).Unix() {
		h.t.Fatalf("login answer %s", r.Data)
	}
	return tok.Token
}

type info struct {
	UserID                uint64 `json:"userId"`
	DisplayName           string `json:"displayName"`
	HasRepoAccount        bool   `json:"hasRepoAccount"`
	Role                  int    `json:"role"`
	BusinessID            uint64 `json:"businessId"`
	PrivateProject        bool   `json:"privateProject"`
	EnableIngress         bool   `json:"enableIngress"`
	EnableAlert           bool   `json:"enableAlert"`
	EnableAdminAutoDeploy bool   `json:"enableAdminAutoDeploy"`
}

func (h *hub) info(token string) info {
	h.t.Helper()
	var i info
	h.expect(200, "GET", "/v1/authorization", token, nil).into(h.t, &i)
	return i
}

type userOut struct {
	ID         uint64 `json:"id"`
	User       string `json:"user"`
	Status     int    `json:"status"`
	RealName   string `json:"realName"`
	Phone      string `json:"phone"`
	IsAdmin    bool   `json:"isAdmin"`
	BusinessID uint64 `json:"businessId"`
	CreateTime int64  `json:"createTime"`
	UpdateTime int64  `json:"updateTime"`
}

func newUserBody(name, pw string, isAdmin bool) map[string]any {
	return map[string]any{"user": name, "password": pw, "phone": "+86 138-0000-0000", "isAdmin": isAdmin, "realName": "Real " + name}
}

// register creates a pending user through POST /v1/user.
func (h *hub) register(name, pw string, isAdmin bool) userOut {
	h.t.Helper()
	h.secrets = append(h.secrets, pw)
	var u userOut
	h.expect(200, "POST", "/v1/user", "", newUserBody(name, pw, isAdmin)).into(h.t, &u)
	return u
}

func (h *hub) auditUser(adminTok string, id uint64, status int) {
	h.t.Helper()
	h.expect(200, "PUT", fmt.Sprintf("/v1/admin/user/%d", id), adminTok, map[string]any{"status": status})
}

type businessOut struct {
	ID         uint64 `json:"id"`
	Name       string `json:"name"`
	UserID     uint64 `json:"userId"`
	Introduce  string `json:"introduce"`
	Objective  string `json:"objective"`
	Scale      string `json:"scale"`
	Comment    string `json:"comment"`
	Status     int    `json:"status"`
	Namespace  string `json:"namespace"`
	CreateTime int64  `json:"createTime"`
	UpdateTime int64  `json:"updateTime"`
}

func businessBody(name string) map[string]any {
	return map[string]any{"name": name, "introduce": "what " + name + " does", "objective": "edge inference", "scale": "10 clusters"}
}

// tenant is an approved business with its administrator logged in.
type tenant struct {
	business businessOut
	admin    userOut
	token    string
}

// newTenant registers an administrator, approves it, creates and approves its
// business, and logs it in.
func (h *hub) newTenant(rootTok, name string) tenant {
	h.t.Helper()
	pw := "Pw-" + name + "1"
	u := h.register(name+"-admin", pw, true)
	h.auditUser(rootTok, u.ID, 1)
	tok := h.login(u.User, pw)
	var b businessOut
	h.expect(200, "POST", "/v1/business", tok, businessBody(name)).into(h.t, &b)
	h.expect(200, "PUT", fmt.Sprintf("/v1/business/id/%d", b.ID), rootTok, map[string]any{"status": 1, "comment": "welcome"})
	return tenant{business: b, admin: u, token: tok}
}

// subUser creates a user through POST /v1/admin/user and logs it in.
func (h *hub) subUser(adminTok, name string, isAdmin bool) (userOut, string) {
	h.t.Helper()
	pw := "Pw-" + name + "1"
	h.secrets = append(h.secrets, pw)
	var u userOut
	h.expect(200, "POST", "/v1/admin/user", adminTok, newUserBody(name, pw, isAdmin)).into(h.t, &u)
	return u, h.login(name, pw)
}

func postForm(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
