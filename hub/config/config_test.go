package config

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, env map[string]string, args ...string) (*Options, error) {
	t.Helper()
	o := Default()
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.Bind(fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, o.Validate()
}

func TestDefaults(t *testing.T) {
	o, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != ":8080" || o.DBDSN() != "sqlite://data/hub.db" || o.AdminUser != "admin" || !o.PrivateProject {
		t.Fatalf("defaults: %+v dsn %s", o, o.DBDSN())
	}
}

func TestEnvThenFlagsWin(t *testing.T) {
	env := map[string]string{
		"OTE_LISTEN": ":9000", "OTE_DB": "postgres://u@h/db", "OTE_DATA_DIR": "/var/lib/ote",
		"OTE_ENABLE_ADMIN_AUTO_DEPLOY": "true", "OTE_SHUTDOWN_TIMEOUT": "3s",
	}
	o, err := parse(t, env, "--listen", ":9100")
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != ":9100" || o.DBDSN() != "postgres://u@h/db" || !o.EnableAdminAutoDeploy || o.ShutdownTimeout != 3*time.Second {
		t.Fatalf("got %+v", o)
	}
	if o.JWTKeyFile() != "/var/lib/ote/jwt.key" {
		t.Fatalf("key file %s", o.JWTKeyFile())
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	env := map[string]string{"OTE_ENABLE_ALERT": "maybe", "OTE_BODY_LIMIT": "lots"}
	_, err := parse(t, env, "--db", "mysql://x", "--admin-password", "weak", "--jwt-key", "short", "--log-level", "loud")
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"OTE_ENABLE_ALERT", "OTE_BODY_LIMIT", "--db", "--admin-password", "--jwt-key", "--log-level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "weak") {
		t.Errorf("error repeats the password: %v", err)
	}
}

func TestTLSFlags(t *testing.T) {
	o, err := parse(t, map[string]string{"OTE_TLS_CERT": "/tls/tls.crt", "OTE_TLS_KEY": "/tls/tls.key"})
	if err != nil || o.TLSCert != "/tls/tls.crt" || o.TLSKey != "/tls/tls.key" {
		t.Fatalf("from the environment: %v %+v", err, o)
	}
	if _, err := parse(t, nil, "--tls-cert", "/tls/tls.crt"); err == nil || !strings.Contains(err.Error(), "--tls-cert and --tls-key go together") {
		t.Fatalf("a certificate without its key: %v", err)
	}
	if _, err := parse(t, map[string]string{"OTE_TLS_KEY": "/tls/tls.key"}); err == nil || !strings.Contains(err.Error(), "--tls-cert and --tls-key") {
		t.Fatalf("a key without its certificate: %v", err)
	}
}

func TestThrottleFlags(t *testing.T) {
	o, err := parse(t, map[string]string{"OTE_MAX_PENDING_USERS": "50"}, "--register-burst", "7", "--register-every", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if o.RegisterBurst != 7 || o.RegisterEvery != time.Minute || o.MaxPendingUsers != 50 {
		t.Fatalf("got %+v", o)
	}
	if o.ChartUploads != 2 || o.UnpackedChartLimit() != 4*int64(o.ChartLimit) {
		t.Fatalf("chart defaults: %d uploads, %d unpacked", o.ChartUploads, o.UnpackedChartLimit())
	}
	o, err = parse(t, map[string]string{"OTE_CHART_UPLOADS": "5"}, "--chart-unpacked-limit", "1048576")
	if err != nil || o.ChartUploads != 5 || o.UnpackedChartLimit() != 1<<20 {
		t.Fatalf("chart flags: %+v %v", o, err)
	}
	if _, err := parse(t, nil, "--chart-uploads", "0"); err == nil || !strings.Contains(err.Error(), "--chart-uploads") {
		t.Fatalf("no chart uploads: %v", err)
	}
	if _, err := parse(t, nil, "--max-pending-users", "-1"); err == nil || !strings.Contains(err.Error(), "--max-pending-users") {
		t.Fatalf("negative cap: %v", err)
	}
	// An admin password of 20 characters but 80 bytes is refused at start.
	if _, err := parse(t, nil, "--admin-password", "𐐀𝟎"+strings.Repeat("𐐨", 18)); err == nil || !strings.Contains(err.Error(), "72 bytes") {
		t.Fatalf("80-byte admin password: %v", err)
	}
}

func TestAuditRetention(t *testing.T) {
	o, err := parse(t, nil)
	if err != nil || o.AuditRetention != 400*24*time.Hour {
		t.Fatalf("default retention %v, %v", o.AuditRetention, err)
	}
	if o, err := parse(t, map[string]string{"OTE_AUDIT_RETENTION": "0"}); err != nil || o.AuditRetention != 0 {
		t.Fatalf("retention 0 (forever): %v %v", o.AuditRetention, err)
	}
	if _, err := parse(t, nil, "--audit-retention", "1h"); err == nil || !strings.Contains(err.Error(), "--audit-retention") {
		t.Fatalf("an hour's retention: %v", err)
	}
}

func TestTrustedProxies(t *testing.T) {
	o, err := parse(t, map[string]string{"OTE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7"})
	if err != nil || !slices.Equal(o.Proxies(), []string{"10.0.0.0/8", "192.0.2.7"}) || o.ProxyHeader != "X-Real-IP" {
		t.Fatalf("proxies %v header %q: %v", o.Proxies(), o.ProxyHeader, err)
	}
	if _, err := parse(t, nil, "--trusted-proxies", "10.0.0.0/8,ingress"); err == nil || !strings.Contains(err.Error(), `"ingress"`) {
		t.Fatalf("a proxy that is no address: %v", err)
	}
	if _, err := parse(t, nil, "--trusted-proxies", "10.0.0.1", "--proxy-header", ""); err == nil || !strings.Contains(err.Error(), "--proxy-header") {
		t.Fatalf("no header: %v", err)
	}
}
