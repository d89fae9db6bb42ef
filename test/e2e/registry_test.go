package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

type imageView struct {
	ProjectName  string `json:"projectName"`
	Public       bool   `json:"public"`
	ImageName    string `json:"imageName"`
	ImageAddress string `json:"imageAddress"`
	CreateTime   int64  `json:"createTime"`
	UpdateTime   int64  `json:"updateTime"`
}

type tagView struct {
	Tag          string `json:"tag"`
	ImageAddress string `json:"imageAddress"`
	Digest       string `json:"digest"`
}

type projectView struct {
	ProjectID   uint64 `json:"projectId"`
	ProjectName string `json:"projectName"`
	Public      bool   `json:"public"`
	ImageCount  int64  `json:"imageCount"`
}

func basic(user, pw string) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: user, Password: pw})
}

var anonymous = remote.WithAuth(authn.Anonymous)

// push writes img to reg/repo:tag through the registry's token auth.
func push(t *testing.T, reg, repo string, img v1.Image, opt remote.Option) error {
	t.Helper()
	ref, err := name.NewTag(reg+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Write(ref, img, opt)
}

func pull(t *testing.T, reg, repo string, opt remote.Option) (v1.Hash, error) {
	t.Helper()
	ref, err := name.ParseReference(reg+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, opt)
	if err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

// registryTags is the registry's own /v2/<name>/tags/list.
func registryTags(t *testing.T, reg, repo string, opt remote.Option) ([]string, error) {
	t.Helper()
	r, err := name.NewRepository(reg+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r, opt)
	slices.Sort(tags)
	return tags, err
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// status is the HTTP status of a registry error (0 when it is not one).
func status(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

func (h *hubProc) images(tok, project string) ([]imageView, int64) {
	h.t.Helper()
	e := h.must(200, "GET", "/v1/repository/image?projectName="+project, tok, nil)
	var out []imageView
	json.Unmarshal(e.Data, &out)
	return out, *e.Total
}

func (h *hubProc) tags(tok, image string) []tagView {
	h.t.Helper()
	var out []tagView
	json.Unmarshal(h.must(200, "GET", "/v1/repository/image/tag?pageSize=0&imageName="+image, tok, nil).Data, &out)
	return out
}

func tagNames(ts []tagView) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Tag)
	}
	slices.Sort(out)
	return out
}

func (h *hubProc) project(tok, name string) projectView {
	h.t.Helper()
	var ps []projectView
	json.Unmarshal(h.must(200, "GET", "/v1/repository/project?projectName="+name, tok, nil).Data, &ps)
	for _, p := range ps {
		if p.ProjectName == name {
			return p
		}
	}
	h.t.Fatalf("project %s not listed", name)
	return projectView{}
}

// TestImageRegistry pushes and pulls real images with go-containerregistry
// through the hub's token server and the embedded registry, and checks the
// API's view and the access rules.
func TestImageRegistry(t *testing.T) {
	const rootPass = "Root-pass1"
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", rootPass, "--secret-key", strings.Repeat("s", 32))
	if h.registry == "" {
		t.Fatalf("no embedded registry address in the log:\n%s", h.logs())
	}
	reg := h.registry
	root := h.login("admin", rootPass)
	h.approveBusiness(root, "alice")
	h.approveBusiness(root, "bobby")
	alice, bob := h.login("alice", "Pw-alice9"), h.login("bobby", "Pw-bobby9")

	// Registry accounts.
	var info struct {
		HasRepoAccount bool `json:"hasRepoAccount"`
	}
	json.Unmarshal(h.must(200, "GET", "/v1/authorization", alice, nil).Data, &info)
	if info.HasRepoAccount {
		t.Fatal("hasRepoAccount before an account exists")
	}
	h.must(200, "POST", "/v1/repository/user", alice, map[string]string{"user": "alice-reg", "password": "Alice-reg1"})
	h.must(409, "POST", "/v1/repository/user", alice, map[string]string{"user": "alice-reg2", "password": "Alice-reg1"})
	h.must(409, "POST", "/v1/repository/user", bob, map[string]string{"user": "alice-reg", "password": "Bob-reg12"})
	h.must(422, "POST", "/v1/repository/user", bob, map[string]string{"user": "bob-reg", "password": "short"})
	h.must(200, "POST", "/v1/repository/user", bob, map[string]string{"user": "bob-reg", "password": "Bob-reg12"})
	h.must(200, "POST", "/v1/repository/user", root, map[string]string{"user": "root-reg", "password": "Root-reg1"})
	json.Unmarshal(h.must(200, "GET", "/v1/authorization", alice, nil).Data, &info)
	if !info.HasRepoAccount {
		t.Fatal("hasRepoAccount false after POST /v1/repository/user")
	}
	aliceReg, bobReg, rootReg := basic("alice-reg", "Alice-reg1"), basic("bob-reg", "Bob-reg12"), basic("root-reg", "Root-reg1")

	// Projects.
	h.must(422, "POST", "/v1/repository/project", alice, map[string]any{"projectName": "../etc", "public": false})
	h.must(422, "POST", "/v1/repository/project", alice, map[string]any{"projectName": "Alpha", "public": false})
	h.must(422, "POST", "/v1/repository/project", alice, map[string]any{"projectName": "alpha"})
	h.must(403, "POST", "/v1/repository/project", alice, map[string]any{"projectName": "alpha", "public": true}) // --private-project
	h.must(201, "POST", "/v1/repository/project", alice, map[string]any{"projectName": "alpha", "public": false})
	h.must(409, "POST", "/v1/repository/project", bob, map[string]any{"projectName": "alpha", "public": false})
	h.must(201, "POST", "/v1/repository/project", root, map[string]any{"projectName": "pub", "public": true})

	// Alice pushes three tags, two of them the same image.
	img1, img2 := randomImage(t), randomImage(t)
	d1, _ := img1.Digest()
	for tag, img := range map[string]v1.Image{"v1": img1, "v2": img2, "v3": img1} {
		if err := push(t, reg, "alpha/web:"+tag, img, aliceReg); err != nil {
			t.Fatalf("alice pushes alpha/web:%s: %v", tag, err)
		}
	}
	if got, err := pull(t, reg, "alpha/web:v1", aliceReg); err != nil || got != d1 {
		t.Fatalf("alice pulls alpha/web:v1: %v %v, want %v", got, err, d1)
	}

	// The API sees them at once.
	imgs, total := h.images(alice, "alpha")
	if total != 1 || len(imgs) != 1 || imgs[0].ImageName != "alpha/web" || imgs[0].ImageAddress != reg+"/alpha/web" ||
		imgs[0].Public || imgs[0].ProjectName != "alpha" || imgs[0].CreateTime == 0 || imgs[0].UpdateTime < imgs[0].CreateTime {
		t.Fatalf("images of alpha: %+v total %d", imgs, total)
	}
	if p := h.project(alice, "alpha"); p.ImageCount != 1 || p.Public {
		t.Fatalf("project alpha: %+v", p)
	}
	tags := h.tags(alice, "alpha/web")
	if got := tagNames(tags); !slices.Equal(got, []string{"v1", "v2", "v3"}) {
		t.Fatalf("tags of alpha/web: %v", got)
	}
	for _, tg := range tags {
		if (tg.Tag == "v1" || tg.Tag == "v3") && tg.Digest != d1.String() {
			t.Fatalf("tag %s digest %s, want %s", tg.Tag, tg.Digest, d1)
		}
	}

	// Another business's user, anonymous and a wrong password get nothing.
	if err := push(t, reg, "alpha/evil:v1", img2, bobReg); status(err) != http.StatusUnauthorized && status(err) != http.StatusForbidden {
		t.Fatalf("bob pushes to alpha: %v, want a refusal", err)
	}
	if _, err := pull(t, reg, "alpha/web:v1", bobReg); err == nil {
		t.Fatal("bob pulled from alice's private project")
	}
	if _, err := pull(t, reg, "alpha/web:v1", anonymous); err == nil {
		t.Fatal("anonymous pulled from a private project")
	}
	if _, err := pull(t, reg, "alpha/web:v1", basic("alice-reg", "Wrong-pass1")); status(err) != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v, want 401", err)
	}
	h.must(404, "GET", "/v1/repository/image?projectName=alpha", bob, nil)
	h.must(404, "GET", "/v1/repository/image/tag?imageName=alpha/web", bob, nil)
	h.must(404, "DELETE", "/v1/repository/image", bob, map[string]any{"imageName": []string{"alpha/web"}})
	// A push outside any project is refused too.
	if err := push(t, reg, "noproject/x:v1", img2, aliceReg); err == nil {
		t.Fatal("pushed to a project that does not exist")
	}

	// A public project: anyone pulls, only the system administrator pushes.
	if err := push(t, reg, "pub/base:1.0", img2, rootReg); err != nil {
		t.Fatalf("root pushes pub/base: %v", err)
	}
	if err := push(t, reg, "pub/base:evil", img1, aliceReg); err == nil {
		t.Fatal("alice pushed to the platform's public project")
	}
	if _, err := pull(t, reg, "pub/base:1.0", anonymous); err != nil {
		t.Fatalf("anonymous pull of a public project: %v", err)
	}
	if imgs, _ := h.images(bob, "pub"); len(imgs) != 1 || !imgs[0].Public {
		t.Fatalf("bob lists pub: %+v", imgs)
	}

	// Bad input.
	h.must(422, "GET", "/v1/repository/image", alice, nil)
	h.must(422, "GET", "/v1/repository/image/tag?imageName=../../etc/passwd", alice, nil)
	h.must(422, "GET", "/v1/repository/image/tag?imageName=alpha/../web", alice, nil)
	h.must(422, "DELETE", "/v1/repository/image/tag", alice, map[string]any{"imageName": "alpha/web", "tag": []string{"../v1"}})
	h.must(404, "DELETE", "/v1/repository/image/tag", alice, map[string]any{"imageName": "alpha/web", "tag": []string{"v1", "nope"}})

	// Deleting a tag: it leaves the registry's tag list; the image stays.
	h.must(200, "DELETE", "/v1/repository/image/tag", alice, map[string]any{"imageName": "alpha/web", "tag": []string{"v2"}})
	if got, err := registryTags(t, reg, "alpha/web", aliceReg); err != nil || !slices.Equal(got, []string{"v1", "v3"}) {
		t.Fatalf("registry tags after deleting v2: %v %v", got, err)
	}
	// v1 and v3 are one manifest: untagging v1 leaves v3 pullable.
	h.must(200, "DELETE", "/v1/repository/image/tag", alice, map[string]any{"imageName": "alpha/web", "tag": []string{"v1"}})
	if got, err := registryTags(t, reg, "alpha/web", aliceReg); err != nil || !slices.Equal(got, []string{"v3"}) {
		t.Fatalf("registry tags after deleting v1: %v %v", got, err)
	}
	if got, err := pull(t, reg, "alpha/web:v3", aliceReg); err != nil || got != d1 {
		t.Fatalf("pull v3 after untagging v1: %v %v", got, err)
	}
	if got := tagNames(h.tags(alice, "alpha/web")); !slices.Equal(got, []string{"v3"}) {
		t.Fatalf("API tags after deletes: %v", got)
	}

	// A project with images is not deleted; deleting the image empties it.
	p := h.project(alice, "alpha")
	e := h.must(409, "DELETE", "/v1/repository/project", alice, map[string]any{"projectId": []uint64{p.ProjectID}})
	if !strings.Contains(e.Message, "alpha") || !strings.Contains(e.Message, "images") {
		t.Fatalf("409 message %q", e.Message)
	}
	h.must(200, "DELETE", "/v1/repository/image", alice, map[string]any{"imageName": []string{"alpha/web"}})
	if imgs, total := h.images(alice, "alpha"); total != 0 || len(imgs) != 0 {
		t.Fatalf("images after delete: %+v", imgs)
	}
	if got, _ := registryTags(t, reg, "alpha/web", aliceReg); len(got) != 0 {
		t.Fatalf("registry still lists tags %v", got)
	}
	if _, err := pull(t, reg, "alpha/web@"+d1.String(), aliceReg); err == nil {
		t.Fatal("deleted manifest still pullable")
	}
	h.must(404, "DELETE", "/v1/repository/project", bob, map[string]any{"projectId": []uint64{p.ProjectID}})
	h.must(200, "DELETE", "/v1/repository/project", alice, map[string]any{"projectId": []uint64{p.ProjectID}})

	// Password change: the old one stops working.
	h.must(200, "PUT", "/v1/repository/user", bob, map[string]string{"password": "Bob-new12"})
	if _, err := pull(t, reg, "pub/base:1.0", bobReg); status(err) != http.StatusUnauthorized {
		t.Fatalf("old registry password: %v, want 401", err)
	}
	if _, err := pull(t, reg, "pub/base:1.0", basic("bob-reg", "Bob-new12")); err != nil {
		t.Fatalf("new registry password: %v", err)
	}

	// Prometheus sees the registry's traffic by route kind.
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`ote_hub_registry_requests_total{method="PUT",route="manifests",status="201"}`, `route="token"`, `route="uploads"`} {
		if !strings.Contains(string(metrics), want) {
			t.Fatalf("/metrics has no %s", want)
		}
	}

	// No password reaches the log.
	for _, secret := range []string{"Alice-reg1", "Bob-reg12", "Bob-new12", "Root-reg1", "Wrong-pass1"} {
		if strings.Contains(h.logs(), secret) {
			t.Fatalf("the hub logged the password %q", secret)
		}
	}
}

// TestExternalRegistry runs a second hub in front of the first one's
// registry (--registry-url): it trusts the same key (shared --secret-key),
// indexes what was pushed before it started by reconciling with the
// registry's catalog, and deletes through it.
func TestExternalRegistry(t *testing.T) {
	const rootPass, key = "Root-pass1", "ssssssssssssssssssssssssssssssss"
	a := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", rootPass, "--secret-key", key)
	rootA := a.login("admin", rootPass)
	a.must(200, "POST", "/v1/repository/user", rootA, map[string]string{"user": "root-reg", "password": "Root-reg1"})
	a.must(201, "POST", "/v1/repository/project", rootA, map[string]any{"projectName": "shared", "public": false})
	for _, tag := range []string{"1.0", "2.0"} {
		if err := push(t, a.registry, "shared/app:"+tag, randomImage(t), basic("root-reg", "Root-reg1")); err != nil {
			t.Fatal(err)
		}
	}

	b := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", rootPass, "--secret-key", key,
		"--registry-listen", "off", "--registry-url", "http://"+a.registry, "--registry-host", "images.example.com", "--registry-resync", "1s")
	rootB := b.login("admin", rootPass)
	b.must(201, "POST", "/v1/repository/project", rootB, map[string]any{"projectName": "shared", "public": false})
	var imgs []imageView
	eventually(t, 20*time.Second, "hub B indexes shared/app from the registry", func() bool {
		imgs, _ = b.images(rootB, "shared")
		return len(imgs) == 1
	})
	if imgs[0].ImageAddress != "images.example.com/shared/app" {
		t.Fatalf("imageAddress %q", imgs[0].ImageAddress)
	}
	if got := tagNames(b.tags(rootB, "shared/app")); !slices.Equal(got, []string{"1.0", "2.0"}) {
		t.Fatalf("tags via B: %v", got)
	}
	b.must(200, "DELETE", "/v1/repository/image/tag", rootB, map[string]any{"imageName": "shared/app", "tag": []string{"1.0"}})
	if got, _ := registryTags(t, a.registry, "shared/app", basic("root-reg", "Root-reg1")); !slices.Equal(got, []string{"2.0"}) {
		t.Fatalf("tags left in the registry: %v", got)
	}
	// Hub A heard of the delete through its registry's hook.
	if got := tagNames(a.tags(rootA, "shared/app")); !slices.Equal(got, []string{"2.0"}) {
		t.Fatalf("hub A lists tags %v", got)
	}

	// The registry goes down: B answers 503 with a message, loses nothing
	// and keeps serving the rest of the API.
	a.stop()
	e := b.must(503, "DELETE", "/v1/repository/image/tag", rootB, map[string]any{"imageName": "shared/app", "tag": []string{"2.0"}})
	if !strings.Contains(e.Message, "registry") {
		t.Fatalf("503 message %q", e.Message)
	}
	if got := tagNames(b.tags(rootB, "shared/app")); !slices.Equal(got, []string{"2.0"}) {
		t.Fatalf("tags via B after the failed delete: %v", got)
	}
	b.must(200, "GET", "/v1/repository/project", rootB, nil)
	b.must(200, "GET", "/v1/authorization", rootB, nil)
	if strings.Contains(b.logs(), "panic") {
		t.Fatalf("hub B panicked:\n%s", b.logs())
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "registry.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestRegistryTLS: with --registry-tls-cert/--registry-tls-key the embedded
// registry and its realm speak HTTPS; clients that trust the certificate
// push through token auth, and the hub's own calls still work.
func TestRegistryTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	h := startHub(t, "", "--data-dir", dir, "--admin-password", "Root-pass1", "--registry-tls-cert", cert, "--registry-tls-key", key)
	if !strings.Contains(h.logs(), "realm=https://"+h.registry+"/auth/token") {
		t.Fatalf("realm is not https:\n%s", h.logs())
	}
	root := h.login("admin", "Root-pass1")
	h.must(200, "POST", "/v1/repository/user", root, map[string]string{"user": "root-reg", "password": "Root-reg1"})
	h.must(201, "POST", "/v1/repository/project", root, map[string]any{"projectName": "secure", "public": false})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	ref, err := name.NewTag(h.registry + "/secure/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, randomImage(t), basic("root-reg", "Root-reg1"), remote.WithTransport(tr)); err != nil {
		t.Fatalf("push over TLS: %v", err)
	}
	if imgs, _ := h.images(root, "secure"); len(imgs) != 1 {
		t.Fatalf("images %+v", imgs)
	}
	h.must(200, "DELETE", "/v1/repository/image", root, map[string]any{"imageName": []string{"secure/app"}})
	if imgs, _ := h.images(root, "secure"); len(imgs) != 0 {
		t.Fatalf("images after delete %+v", imgs)
	}
	// Plain HTTP is not served.
	if resp, err := http.Get("http://" + h.registry + "/v2/"); err == nil && resp.StatusCode < 400 {
		t.Fatalf("plain HTTP answered %d", resp.StatusCode)
	}
}

// TestRegistryGC: "hub registry-gc" frees what deleted images leave on disk,
// refuses to run while a hub serves the storage, and keeps what is still
// referenced.
func TestRegistryGC(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--admin-password", "Root-pass1"}
	h := startHub(t, "", args...)
	root := h.login("admin", "Root-pass1")
	h.must(200, "POST", "/v1/repository/user", root, map[string]string{"user": "root-reg", "password": "Root-reg1"})
	h.must(201, "POST", "/v1/repository/project", root, map[string]any{"projectName": "gc", "public": false})
	creds := basic("root-reg", "Root-reg1")
	kept := randomImage(t)
	gone, err := random.Image(256<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	for repo, img := range map[string]v1.Image{"gc/gone:1": gone, "gc/kept:1": kept} {
		if err := push(t, h.registry, repo, img, creds); err != nil {
			t.Fatal(err)
		}
	}
	goneDigest, _ := gone.Digest()
	keptDigest, _ := kept.Digest()
	h.must(200, "DELETE", "/v1/repository/image", root, map[string]any{"imageName": []string{"gc/gone"}})

	gc := func() (string, error) {
		cmd := exec.Command(hubBin, "registry-gc", "--data-dir", dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return string(out) + stderr.String(), err
	}
	if out, err := gc(); err == nil || !strings.Contains(out, "stop the hub") {
		t.Fatalf("gc while the hub runs: %v %s", err, out)
	}
	h.stop()
	out, err := gc()
	if err != nil {
		t.Fatalf("gc: %v %s", err, out)
	}
	var before, after, freed int64
	if _, err := fmt.Sscanf(out, "registry storage: %d bytes before, %d after (%d freed)", &before, &after, &freed); err != nil || freed < 512<<10 {
		t.Fatalf("gc freed too little: %q", out)
	}

	h = startHub(t, "", args...)
	root = h.login("admin", "Root-pass1")
	if got, err := pull(t, h.registry, "gc/kept:1", creds); err != nil || got != keptDigest {
		t.Fatalf("kept image after gc: %v %v", got, err)
	}
	if _, err := pull(t, h.registry, "gc/gone@"+goneDigest.String(), creds); err == nil {
		t.Fatal("deleted image pullable after gc")
	}
	if imgs, _ := h.images(root, "gc"); len(imgs) != 1 || imgs[0].ImageName != "gc/kept" {
		t.Fatalf("images after gc and restart: %+v", imgs)
	}
}
