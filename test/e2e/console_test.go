package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ote-stack/ote/test/harness"
)

// The web console (hub/console) in a real browser: Debian's chromium,
// driven by chromedp, against the real hub and agent binaries on the
// harness's kube-apiserver. Each user has a tab of their own (session
// storage, where the console keeps the token, is per tab).

// chromiumPath finds the browser; CI installs it (.ci/run), elsewhere a
// missing browser skips the console's tests, saying so.
func chromiumPath(t testing.TB) string {
	// Debian's /usr/bin/chromium is a shell script that adds flags of a
	// desktop (GPU rasterization, extensions); the browser itself is run
	// without them.
	if _, err := os.Stat("/usr/lib/chromium/chromium"); err == nil {
		return "/usr/lib/chromium/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("OTE_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium on PATH: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("!!! no chromium on PATH: the console's browser tests did not run (apt-get install chromium)")
	return ""
}

// artifactDir is where screenshots go: $OTE_ARTIFACTS/console, or
// artifacts/console at the top of the tree.
func artifactDir(t testing.TB) string {
	base := os.Getenv("OTE_ARTIFACTS")
	if base == "" {
		base = "../../artifacts"
	}
	dir := filepath.Join(base, "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// browser is one chromium process; tabs are its users.
type browser struct {
	t      testing.TB
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	errs   []string
	// expect401 is set while a step makes the hub refuse a token on
	// purpose (revoked, replaced): the browser logs those loads as failed.
	expect401 atomic.Bool
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // root in CI
		chromedp.WindowSize(1280, 800),
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, cancel: func() { cancel(); acancel() }}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		b.cancel()
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(b.cancel)
	return b
}

// tab is a user's tab. Every exception, console error, CSP violation or
// failed load in it is recorded; the test fails on any at its end.
type tab struct {
	b    *browser
	name string
	ctx  context.Context
	base string
}

func (b *browser) tab(name, base string) *tab {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	tb := &tab{b: b, name: name, ctx: ctx, base: base}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = "console." + string(e.Type) + ": " + strings.Join(parts, " ")
			}
		case *cdplog.EventEntryAdded:
			// The API's refusals that the walk provokes on purpose (422 on bad
			// input, 401 while expect401 is set) are logged by the browser as
			// failed loads; anything else is an error of the console.
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				if e.Entry.Source == cdplog.EntrySourceNetwork && (strings.Contains(e.Entry.Text, "status of 422") ||
					(b.expect401.Load() && strings.Contains(e.Entry.Text, "status of 401"))) {
					return
				}
				msg = fmt.Sprintf("log %s %s: %s %s", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL)
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errs = append(b.errs, name+": "+msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		b.t.Fatal(err)
	}
	return tb
}

func (b *browser) checkNoErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		b.t.Errorf("browser: %s", e)
	}
}

func (tb *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.b.t.Fatalf("%s: %s: %v\npage text:\n%s", tb.name, what, err, tb.mainText())
	}
}

// eval runs a script in the page and decodes its result into out.
func (tb *tab) eval(js string, out *string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err == nil {
		*out = v
	}
	return err
}

func (tb *tab) mainText() string {
	var s string
	if err := tb.eval(`document.getElementById('view') ? document.getElementById('view').innerText : ''`, &s); err != nil {
		return "(cannot read the page: " + err.Error() + ")"
	}
	return s
}

// open goes to a screen of the console by its address, as a user typing it.
func (tb *tab) open(hash string) {
	tb.b.t.Helper()
	// The same address again is a reload, as a browser's address bar
	// makes it (a navigation to the same fragment changes nothing).
	if tb.hash() == "#"+hash {
		tb.run("reload "+hash, chromedp.Reload())
	} else {
		tb.run("open "+hash, chromedp.Navigate(tb.base+"/#"+hash))
	}
	tb.ready()
}

// ready waits until the console has drawn the screen of the address it is
// at (app.js sets body's data-shown when it has), so that nothing is
// looked for on the screen being left.
func (tb *tab) ready() {
	tb.b.t.Helper()
	tb.until("the console draws the screen of its address", func() bool {
		var s string
		err := tb.eval(`location.hash !== '' && document.body.dataset.shown === location.hash ? 'yes' : ''`, &s)
		return err == nil && s == "yes"
	})
}

// until waits for cond, checked every 50 ms for 30 s; the test fails with
// what the page shows otherwise.
func (tb *tab) until(what string, cond func() bool) {
	tb.b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.b.t.Fatalf("%s: never %s; at %s the page shows:\n%s", tb.name, what, tb.hash(), tb.mainText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// see waits until the main part of the page shows text.
func (tb *tab) see(text string) {
	tb.b.t.Helper()
	tb.until(fmt.Sprintf("showed %q", text), func() bool { return strings.Contains(tb.mainText(), text) })
}

// control is the selector of the form control a label names: the test
// finds fields as a user does, by their labels, so a field without one
// cannot be filled.
func (tb *tab) control(label string) string {
	tb.b.t.Helper()
	var id string
	js := fmt.Sprintf(`(() => { const l = [...document.querySelectorAll('#view label')].find(l => l.textContent.trim() === %q);
		return l && l.htmlFor && document.getElementById(l.htmlFor) ? l.htmlFor : ''; })()`, label)
	tb.until(fmt.Sprintf("showed a field labelled %q", label), func() bool {
		tb.ready()
		return tb.eval(js, &id) == nil && id != ""
	})
	return "#" + id
}

// fill types into the field a label names, after clearing it.
func (tb *tab) fill(label, value string) {
	tb.b.t.Helper()
	sel := tb.control(label)
	var out string
	if err := tb.eval(fmt.Sprintf(`(() => { document.querySelector(%q).value = ''; return 'ok'; })()`, sel), &out); err != nil {
		tb.b.t.Fatalf("%s: clearing %s: %v", tb.name, label, err)
	}
	tb.run("fill "+label, chromedp.SendKeys(chromedp.CSS(sel), value))
}

func (tb *tab) choose(label, value string) {
	tb.b.t.Helper()
	sel := tb.control(label)
	var out string
	js := fmt.Sprintf(`(() => { const s = document.querySelector(%q); if (![...s.options].some(o => o.value === %q)) return 'no option';
		s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); return 'ok'; })()`, sel, value, value)
	if err := tb.eval(js, &out); err != nil || out != "ok" {
		tb.b.t.Fatalf("%s: choosing %q in %s: %v %s", tb.name, value, label, err, out)
	}
}

func (tb *tab) check(label string) {
	tb.b.t.Helper()
	tb.run("check "+label, chromedp.Click(chromedp.CSS(tb.control(label))))
}

// press clicks the button (or link) that says text.
func (tb *tab) press(text string) {
	tb.b.t.Helper()
	tb.ready()
	xp := fmt.Sprintf(`//*[@id="view"]//*[(self::button or self::a) and normalize-space(.)=%s]`, xpathString(text))
	tb.run("press "+text, chromedp.Click(xp, chromedp.NodeVisible))
}

// fieldError is the error shown under the field a label names.
func (tb *tab) fieldError(label string) string {
	tb.b.t.Helper()
	sel := tb.control(label)
	var s string
	tb.until(fmt.Sprintf("showed an error under %q", label), func() bool {
		_ = tb.eval(fmt.Sprintf(`(() => { const i = document.querySelector(%q); if (!i || i.getAttribute('aria-invalid') !== 'true') return '';
			return document.getElementById(i.id + '-err').textContent; })()`, sel), &s)
		return s != ""
	})
	return s
}

func (tb *tab) nav() string {
	var s string
	if err := tb.eval(`location.href + ' ' + document.getElementById('nav').innerText`, &s); err != nil {
		tb.b.t.Fatalf("%s: reading the navigation: %v", tb.name, err)
	}
	return s
}

func (tb *tab) hash() string {
	var s string
	_ = tb.eval(`location.hash`, &s)
	return s
}

// shot saves a screenshot of the viewport as an artifact, after checking
// that every control on the screen has a name a screen reader can say: a
// form field its label, a button its text or aria-label.
func (tb *tab) shot(dir, name string) {
	tb.b.t.Helper()
	var unnamed string
	if err := tb.eval(`JSON.stringify([
		...[...document.querySelectorAll('input, select, textarea')].filter(i => !(i.labels && i.labels.length) && !i.getAttribute('aria-label')).map(i => i.outerHTML.slice(0, 100)),
		...[...document.querySelectorAll('button, a')].filter(x => !x.textContent.trim() && !x.getAttribute('aria-label')).map(x => x.outerHTML.slice(0, 100))])`, &unnamed); err != nil {
		tb.b.t.Fatal(err)
	}
	if unnamed != "[]" {
		tb.b.t.Errorf("%s: controls without a name on the screen of %s: %s", tb.name, name, unnamed)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.b.t.Fatal(err)
	}
}

func xpathString(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return `"` + s + `"`
}

// TestConsoleWalk: a new general administrator registers in the console,
// the system administrator approves her and then her business, she sees
// the cluster and its nodes, creates an app (after the form has shown the
// API's refusal under the field), deploys it, approves the audit request
// and watches the status turn to success without reloading. A general
// user of her business sees no admin screen, also by address, and an
// ended session returns to sign-in and then to the page it was on.
func TestConsoleWalk(t *testing.T) {
	chromiumPath(t) // before anything starts
	api := harness.Start(t)
	cs := api.Clientset()
	fakeNode(t, cs, "gpu-1", 16, 64, 500, 2, "24576", true, "10.0.0.21")
	fakeNode(t, cs, "cpu-1", 8, 32, 200, 0, "", true, "10.0.0.22")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s")
	root := h.login("admin", "Root-pass1")
	startAgent(t, h, api, "edge-1", bootstrap)
	eventually(t, 30*time.Second, "edge-1 ready", func() bool { return h.clusterReady(root, "edge-1") })
	shots := artifactDir(t)

	b := newBrowser(t)
	defer b.checkNoErrors()
	alice := b.tab("alice", h.url)
	adm := b.tab("admin", h.url)

	// Register: the console shows the API's refusal under the field.
	alice.open("/")
	alice.see("Sign in to OTE")
	alice.press("Register")
	alice.titled("Register")
	alice.fill("User name", "alice")
	alice.fill("Real name", "Alice")
	alice.fill("Phone", "13800000000")
	alice.fill("Password", "short")
	alice.check("I will administer a business (a general administrator)")
	alice.press("Register")
	if e := alice.fieldError("Password"); !strings.HasPrefix(e, "password:") {
		t.Fatalf("the password's refusal reads %q", e)
	}
	alice.shot(shots, "01-register-refused")
	alice.fill("Password", "Alice-pass1")
	alice.press("Register")
	alice.see("Registered as alice")

	// The system administrator approves her.
	adm.open("/signin")
	adm.signIn("admin", "Root-pass1")
	adm.see("You are signed in as system administrator.")
	for _, n := range []string{"Approvals", "Businesses", "Audit queue", "Audit trail", "Clusters"} {
		if !strings.Contains(adm.nav(), n) {
			t.Errorf("the system administrator's navigation has no %s: %q", n, adm.nav())
		}
	}
	adm.open("/admin/approvals")
	adm.see("alice")
	adm.shot(shots, "02-approvals")
	adm.press("Approve alice")
	adm.see("No user waits for approval.")

	// She signs in and applies for her business, which is approved.
	alice.open("/signin")
	alice.signIn("alice", "Alice-pass1")
	alice.see("Apply for a business")
	alice.fill("Business name", "acme")
	alice.fill("Introduction", "vision at the edge")
	alice.fill("Objective", "inference")
	alice.fill("Scale", "20 clusters")
	alice.press("Apply for the business")
	alice.see("waits for a system administrator's approval")

	adm.open("/admin/approvals")
	adm.see("acme")
	adm.choose("Pod Security level", "baseline")
	adm.fill("Comment to acme", "welcome")
	adm.press("Approve acme")
	adm.see("No business waits for approval.")
	var biz []struct{ PodSecurity string }
	json.Unmarshal(h.must(200, "GET", "/v1/business", root, nil).Data, &biz)
	if len(biz) != 1 || biz[0].PodSecurity != "baseline" {
		t.Fatalf("the business approved in the console: %+v", biz)
	}
	adm.open("/admin/businesses")
	adm.see("approved")
	adm.shot(shots, "03-businesses")

	// The cluster and its nodes; the administrator labels the cluster.
	adm.open("/clusters")
	adm.see("edge-1")
	adm.see("2 / 2")
	adm.press("edge-1")
	adm.see("gpu-1")
	adm.fill("New label for edge-1", "east")
	adm.press("Add label")
	adm.see("east")
	adm.shot(shots, "04-cluster")

	alice.open("/")
	alice.see("You are signed in as business administrator.")
	alice.open("/clusters/edge-1")
	alice.see("gpu-1")
	page := alice.mainText()
	for _, want := range []string{"cpu-1", "16", "64 GiB", "500 GiB", "48 GiB", "east", "ready"} {
		if !strings.Contains(page, want) {
			t.Errorf("the cluster page does not show %q:\n%s", want, page)
		}
	}

	// An app: a refusal under the field it names, then the app.
	alice.open("/apps/new")
	alice.fill("App name", "web")
	alice.fill("Version", "1")
	alice.fill("Image", "registry.example.com/web:1.0")
	alice.fill("Replicas", "2")
	alice.press("Create app")
	if e := alice.fieldError("Version"); !strings.HasPrefix(e, "version: must be a main version") {
		t.Fatalf("the version's refusal reads %q", e)
	}
	if v := alice.value("Image"); v != "registry.example.com/web:1.0" {
		t.Fatalf("the refused form lost the image: %q", v)
	}
	alice.shot(shots, "05-app-refused")
	alice.fill("Version", "1.0")
	alice.press("Create app")
	alice.see("App web 1.0")

	// Deploy it to the clusters labelled east.
	alice.press("Deploy this version")
	alice.see("New deployment")
	alice.fill("Deployment name", "web")
	alice.choose("Cluster label", "east")
	alice.fill("Comment for the auditor", "first")
	alice.press("Create deployment")
	alice.see("Deployment web")
	alice.see("waiting for audit")

	// A general user of her business, made in the console.
	alice.open("/admin/users")
	alice.fill("User name", "dev")
	alice.fill("Real name", "Dev")
	alice.fill("Phone", "13800000001")
	alice.fill("Password", "Dev-pass1")
	alice.press("Create a user of the business")
	alice.see("dev")

	// She approves the audit request in the audit queue, then watches the
	// deployment's page turn to success as the pods start.
	alice.open("/audit")
	alice.see("create to version 1.0")
	alice.shot(shots, "06-audit-queue")
	alice.press("Approve")
	alice.see("Nothing waits for audit.")
	var ds []deployView
	json.Unmarshal(h.must(200, "GET", "/v1/deploy", root, nil).Data, &ds)
	if len(ds) != 1 {
		t.Fatalf("deployments: %+v", ds)
	}
	alice.open(fmt.Sprintf("/deploys/%d", ds[0].ID))
	alice.see("deploying")
	alice.see("edge-1: 0/2 pods running")
	eventually(t, 30*time.Second, "web in edge-1", func() bool { return deploymentImage(cs, "ns1", "web") == "registry.example.com/web:1.0" })
	for _, p := range []string{"web-1", "web-2"} {
		fakePod(t, cs, "ns1", p, "web", true, "")
	}
	alice.see("success") // the page polls: no reload
	alice.see("edge-1: 2/2 pods running")
	alice.shot(shots, "07-deployment")

	// The general user: no admin screen in the navigation, and none by address.
	dev := b.tab("dev", h.url)
	dev.open("/deploys")
	dev.see("Sign in to OTE")
	dev.signIn("dev", "Dev-pass1")
	dev.see("web") // back on the deployments it asked for
	for _, n := range []string{"Approvals", "Businesses", "Audit queue", "Users", "Audit trail"} {
		if strings.Contains(dev.nav(), n) {
			t.Errorf("a general user's navigation has %s: %q", n, dev.nav())
		}
	}
	for _, screen := range []string{"/admin/approvals", "/admin/businesses", "/admin/users", "/admin/trail", "/audit"} {
		dev.open(screen)
		dev.see("Not allowed")
		if strings.Contains(dev.mainText(), "alice") {
			t.Errorf("%s shows a general user other users' data:\n%s", screen, dev.mainText())
		}
	}
	dev.shot(shots, "08-not-allowed")

	// An ended session (the token revoked, as an expiry or a password
	// change elsewhere would) returns to sign-in, then to the page.
	dev.open(fmt.Sprintf("/deploys/%d", ds[0].ID))
	dev.see("Deployment web")
	var tok string
	if err := dev.eval(`JSON.parse(sessionStorage.getItem('ote.session')).token`, &tok); err != nil || tok == "" {
		t.Fatalf("no token in session storage: %v", err)
	}
	b.expect401.Store(true)
	h.must(200, "DELETE", "/v1/authorization", tok, nil)
	dev.see("Your session ended") // the page's next poll got 401
	b.expect401.Store(false)
	if hs := dev.hash(); !strings.Contains(hs, "next="+urlEscape(fmt.Sprintf("/deploys/%d", ds[0].ID))) {
		t.Fatalf("sign-in does not remember the page: %s", hs)
	}
	dev.signIn("dev", "Dev-pass1")
	dev.see("Deployment web")
	if hs := dev.hash(); hs != fmt.Sprintf("#/deploys/%d", ds[0].ID) {
		t.Fatalf("after sign-in the console is at %s", hs)
	}
	// The password was never stored; only the token, in session storage.
	var stored string
	_ = dev.eval(`JSON.stringify({...sessionStorage}) + JSON.stringify({...localStorage})`, &stored)
	if strings.Contains(stored, "Dev-pass1") || !strings.Contains(stored, "token") {
		t.Errorf("the browser's storage holds %s", stored)
	}

	// The trail shows what was done, to the system administrator.
	adm.open("/admin/trail")
	adm.see("deploy.audit")
	adm.shot(shots, "09-audit-trail")
	t.Logf("screenshots in %s", shots)
}

// titled waits until the screen's heading is title.
func (tb *tab) titled(title string) {
	tb.b.t.Helper()
	tb.until(fmt.Sprintf("showed the heading %q", title), func() bool {
		var s string
		_ = tb.eval(`(() => { const h = document.querySelector('#view h1'); return h ? h.textContent : ''; })()`, &s)
		return s == title
	})
}

// signIn fills the sign-in form on the screen and sends it.
func (tb *tab) signIn(user, password string) {
	tb.b.t.Helper()
	tb.fill("User name", user)
	tb.fill("Password", password)
	tb.press("Sign in")
}

func (tb *tab) value(label string) string {
	var s string
	_ = tb.eval(fmt.Sprintf(`document.querySelector(%q).value`, tb.control(label)), &s)
	return s
}

func urlEscape(s string) string { return strings.ReplaceAll(s, "/", "%2F") }

// TestConsoleChanges: what follows a first deployment, in the console. A
// chart is uploaded; an upgrade in waves is refused under its strategy
// field, then filed, approved, paused and resumed, and its next wave
// approved on the deployment's page; a change made in a cluster shows as
// drift with who made it; a rollback in waves is aborted; the deployment
// is deleted. Then images, the registry account and external
// repositories; a cluster label removed; the keyboard, a tablet's screen,
// the token's refresh and a password change.
func TestConsoleChanges(t *testing.T) {
	chromiumPath(t)
	apiA, apiB := harness.Start(t), harness.Start(t)
	csA, csB := apiA.Clientset(), apiB.Clientset()
	fakeNode(t, csA, "node-a", 8, 32, 100, 0, "", true, "10.0.0.11")
	fakeNode(t, csB, "node-b", 8, 32, 100, 0, "", true, "10.0.1.11")
	h := startHub(t, "", "--data-dir", t.TempDir(), "--admin-password", "Root-pass1", "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "1s")
	root := h.login("admin", "Root-pass1")
	startAgent(t, h, apiA, "edge-a", bootstrap)
	startAgent(t, h, apiB, "edge-b", bootstrap)
	eventually(t, 60*time.Second, "both clusters ready", func() bool { return h.clusterReady(root, "edge-a") && h.clusterReady(root, "edge-b") })
	h.must(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-a", "edge-b"}, "clusterLabel": "edge"})
	h.must(200, "POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"edge-a"}, "clusterLabel": "canary"})
	ns := h.approveBusiness(root, "acme")
	acme := h.login("acme", "Pw-acme9")
	for _, v := range []string{"1.0", "2.0"} {
		h.must(200, "POST", "/v1/app", acme, containerApp(v))
	}
	var d deployView
	json.Unmarshal(h.must(200, "POST", "/v1/deploy", acme, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "edge"}).Data, &d)
	h.audit(acme, d.ID, 1)
	eventually(t, 60*time.Second, "1.0 in both clusters", func() bool {
		return deploymentImage(csA, ns, "web") != "" && deploymentImage(csB, ns, "web") != ""
	})
	kubelet(t, csA, ns, "web", 2, "")
	kubelet(t, csB, ns, "web", 2, "")
	eventually(t, 60*time.Second, "1.0 succeeds", func() bool { return h.deploy(acme, d.ID).Status == 5 })
	shots := artifactDir(t)

	b := newBrowser(t)
	defer b.checkNoErrors()
	tb := b.tab("acme", h.url)

	// The keyboard alone signs in: Tab from the name to the password, Enter.
	tb.open("/signin")
	tb.run("type the sign-in", chromedp.SendKeys(chromedp.CSS(tb.control("User name")), "acme\tPw-acme9\r"))
	tb.see("You are signed in as business administrator.")
	// The menu by keyboard, on a fresh load: the first Tab reaches the skip
	// link, the next ones the menu's links in order, and Enter opens one.
	tb.run("reload", chromedp.Reload())
	tb.ready()
	var seen []string
	for len(seen) < 20 && !slices.Contains(seen, "nav:Apps") {
		tb.run("Tab", chromedp.KeyEvent("\t"))
		var focus string
		_ = tb.eval(`(() => { const a = document.activeElement; if (!a) return ''; return (a.closest('#nav') ? 'nav:' : '') + a.textContent.trim(); })()`, &focus)
		seen = append(seen, focus)
	}
	if len(seen) < 3 || seen[0] != "Skip to content" || seen[len(seen)-2] != "nav:Clusters" || seen[len(seen)-1] != "nav:Apps" {
		t.Fatalf("Tab went %q, not from the skip link through the menu to Apps", seen)
	}
	tb.run("Enter", chromedp.KeyEvent("\r"))
	tb.titled("Apps")

	// A chart, uploaded with the form.
	chart := filepath.Join(t.TempDir(), "hello-0.1.0.tgz")
	if err := os.WriteFile(chart, chartArchive(t, "0.1.0", "hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb.open("/apps/chart")
	tb.fill("App name", "hello")
	tb.fill("Version", "1.0")
	tb.run("choose the chart", chromedp.SetUploadFiles(chromedp.CSS(tb.control("Chart archive (.tgz)")), []string{chart}))
	tb.press("Upload chart")
	tb.see("App hello 1.0")
	tb.see("Helm chart")

	// An upgrade in waves: the API's refusal of the strategy under its field.
	page := fmt.Sprintf("/deploys/%d", d.ID)
	tb.open(page)
	tb.see("success")
	tb.fill("Version to upgrade to", "2.0")
	tb.fill("Rollout strategy of the upgrade", `{"waves":[{"name":"canary","clusterLabel":"nowhere","approval":true},{}],"soakSeconds":1}`)
	tb.press("Upgrade")
	if e := tb.fieldError("Rollout strategy of the upgrade"); !strings.Contains(e, "strategy.waves[0].clusterLabel") {
		t.Fatalf("the strategy's refusal reads %q", e)
	}
	tb.fill("Rollout strategy of the upgrade", `{"waves":[{"name":"canary","clusterLabel":"canary","approval":true},{}],"soakSeconds":1,"deadlineSeconds":300}`)
	tb.fill("Comment on the upgrade", "waves")
	tb.press("Upgrade")
	tb.see("Waiting for audit")
	tb.see("upgrade to 2.0")
	tb.press("Approve")
	tb.see("Rollout")
	tb.see("canary")
	tb.press("Pause")
	tb.see("paused")
	tb.press("Resume")
	eventually(t, 60*time.Second, "2.0 in the canary", func() bool { return deploymentImage(csA, ns, "web") == "registry.example.com/web:2.0" })
	kubelet(t, csA, ns, "web", 2, "")
	tb.see("waiting for approval")
	tb.see("upgrade to 2.0, wave 2 (edge-b)")
	tb.shot(shots, "10-rollout-approval")
	if deploymentImage(csB, ns, "web") != "registry.example.com/web:1.0" {
		t.Fatal("edge-b changed before its wave was approved")
	}
	tb.press("Approve")
	eventually(t, 60*time.Second, "2.0 in edge-b", func() bool { return deploymentImage(csB, ns, "web") == "registry.example.com/web:2.0" })
	kubelet(t, csB, ns, "web", 2, "")
	tb.see("succeeded")
	tb.see("edge-b: 2.0") // the last wave's cluster runs the new version

	// Drift: someone scales the Deployment in edge-b; the agent puts it
	// back, and the page names who did it.
	eventually(t, 30*time.Second, "a scale by hand", func() bool {
		dep, err := csB.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return false
		}
		dep.Spec.Replicas = new(int32)
		*dep.Spec.Replicas = 5
		_, err = csB.AppsV1().Deployments(ns).Update(context.Background(), dep, metav1.UpdateOptions{FieldManager: "console-test"})
		return err == nil
	})
	tb.see("console-test")
	tb.shot(shots, "11-drift")

	// A rollback, refused by the auditor with a comment; then one in waves,
	// aborted while its next wave waits.
	tb.fill("Version to roll back to", "1.0")
	tb.press("Rollback")
	tb.see("rollback to 1.0")
	tb.fill(fmt.Sprintf("Comment on request %d: rollback to 1.0", h.pendingAudit(acme, d.ID)), "not now")
	tb.press("Refuse")
	tb.titled("Deployment web")
	tb.control("Version to roll back to") // the forms are back: it takes a change again
	var after struct {
		AuditComment string `json:"auditComment"`
	}
	json.Unmarshal(h.must(200, "GET", fmt.Sprintf("/v1/deploy/id/%d", d.ID), acme, nil).Data, &after)
	if a := h.auditOf(acme, d.ID, 3); a.Status != 2 || after.AuditComment != "not now" {
		t.Fatalf("the refused rollback's request: %+v, the auditor's comment %q", a, after.AuditComment)
	}
	if deploymentImage(csA, ns, "web") != "registry.example.com/web:2.0" {
		t.Fatal("a refused rollback reached edge-a")
	}
	tb.fill("Version to roll back to", "1.0")
	tb.fill("Rollout strategy of the rollback", `{"waves":[{"name":"canary","clusterLabel":"canary","approval":true},{}],"soakSeconds":1,"deadlineSeconds":300}`)
	tb.press("Rollback")
	tb.see("rollback to 1.0")
	tb.press("Approve")
	eventually(t, 60*time.Second, "1.0 in the canary", func() bool { return deploymentImage(csA, ns, "web") == "registry.example.com/web:1.0" })
	kubelet(t, csA, ns, "web", 2, "")
	tb.see("rollback to 1.0, wave 2 (edge-b)")
	tb.press("Abort")
	tb.press("Really abort?")
	tb.see("aborted")
	if deploymentImage(csB, ns, "web") != "registry.example.com/web:2.0" {
		t.Fatal("an aborted rollback reached edge-b")
	}

	// Deleted, after its audit.
	tb.press("Delete deployment")
	tb.press("Really delete?")
	tb.see("delete to")
	tb.press("Approve")
	tb.see("This deployment was deleted.")
	eventually(t, 60*time.Second, "web gone from both clusters", func() bool {
		return deploymentImage(csA, ns, "web") == "" && deploymentImage(csB, ns, "web") == ""
	})

	// Images: the registry account, a project, a pushed image and its tag;
	// an external repository added and deleted.
	tb.open("/images")
	tb.fill("Registry user name", "acme-reg")
	tb.fill("Registry password", "Acme-reg1")
	tb.fill("Registry password again", "Acme-reg1")
	tb.press("Create registry account")
	tb.see("Change password") // the account exists now
	tb.fill("Project name", "vision")
	tb.press("Create project")
	tb.see("vision")
	if err := push(t, h.registry, "vision/detector:v1", randomImage(t), basic("acme-reg", "Acme-reg1")); err != nil {
		t.Fatalf("pushing with the account made in the console: %v", err)
	}
	tb.open("/images")
	tb.press("vision")
	tb.see("vision/detector")
	tb.press("vision/detector")
	tb.see("Tags of vision/detector")
	tb.see("v1")
	tb.fill("Repository id", "ext")
	tb.fill("Repository address", "registry.example.com")
	tb.fill("Repository user", "bot")
	tb.fill("Repository password", "Bot-pass12")
	tb.press("Add repository")
	tb.see("Repository ext added.")
	if strings.Contains(tb.mainText(), "Bot-pass12") {
		t.Fatal("the page shows an external repository's password")
	}
	tb.shot(shots, "12-images")
	tb.press("Delete ext")
	tb.press("Really delete?")
	tb.see("No external repositories yet.")

	// The system administrator removes a cluster's label.
	adm := b.tab("admin", h.url)
	adm.open("/signin")
	adm.signIn("admin", "Root-pass1")
	adm.see("You are signed in as system administrator.")
	adm.open("/clusters/edge-a")
	adm.see("canary")
	remove := `//*[@id="view"]//button[@aria-label="Remove label canary from edge-a"]`
	adm.run("remove the label", chromedp.Click(remove, chromedp.NodeVisible))
	adm.see("Remove?") // it asks for a second press
	adm.run("confirm the removal", chromedp.Click(remove, chromedp.NodeVisible))
	eventually(t, 30*time.Second, "canary removed from edge-a", func() bool {
		var c []struct {
			ClusterName string   `json:"clusterName"`
			Labels      []string `json:"labels"`
		}
		json.Unmarshal(h.must(200, "GET", "/v1/cluster", root, nil).Data, &c)
		for _, x := range c {
			if x.ClusterName == "edge-a" {
				return !slices.Contains(x.Labels, "canary") && slices.Contains(x.Labels, "edge")
			}
		}
		return false
	})

	// A tablet: the pages fit its width (tables scroll inside their box).
	tb.run("a tablet's screen", chromedp.EmulateViewport(768, 1024))
	for screen, title := range map[string]string{"/clusters": "Clusters", "/apps": "Apps", "/deploys": "Deployments", page: "Deployment web", "/images": "Images"} {
		tb.open(screen)
		tb.titled(title)
		if screen == "/images" {
			tb.see("vision") // its cards load after the heading
		}
		var fits string
		_ = tb.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`, &fits)
		if fits != "true" {
			t.Errorf("%s is wider than a tablet's screen", screen)
		}
	}
	tb.open("/clusters/edge-b")
	tb.see("node-b")
	tb.shot(shots, "13-tablet-cluster")
	tb.run("back to 1280x800", chromedp.EmulateViewport(1280, 800))

	b.expect401.Store(true) // polls sent with a token just replaced
	// The token is refreshed before it expires: here its expiry is moved
	// to just over five minutes ahead, which is when the console refreshes.
	var old string
	_ = tb.eval(`(() => { const s = JSON.parse(sessionStorage.getItem('ote.session')); s.expireTime = Math.floor(Date.now() / 1000) + 301;
		sessionStorage.setItem('ote.session', JSON.stringify(s)); return s.token; })()`, &old)
	tb.run("reload", chromedp.Reload())
	eventually(t, 30*time.Second, "a new token in session storage", func() bool {
		var now string
		_ = tb.eval(`JSON.parse(sessionStorage.getItem('ote.session')).token`, &now)
		return now != "" && now != old
	})
	h.must(401, "GET", "/v1/authorization", old, nil) // the refresh revoked the old token
	tb.open("/clusters")
	tb.see("edge-a") // and the console goes on with the new one

	// A password change: the other sessions end, this one goes on.
	tb.open("/account")
	tb.fill("Current password", "Pw-acme9")
	tb.fill("New password", "Pw-acme10")
	tb.fill("New password again", "Pw-acme10")
	tb.press("Change password")
	tb.see("Password changed.")
	h.must(401, "GET", "/v1/authorization", acme, nil)
	tb.open("/deploys")
	tb.see("web")
	b.expect401.Store(false)
}

type auditView struct {
	ID         uint64 `json:"id"`
	DeployID   uint64 `json:"deployId"`
	DeployType int    `json:"deployType"`
	Status     int    `json:"status"`
	Comment    string `json:"comment"`
}

func (h *hubProc) audits(tok string) []auditView {
	h.t.Helper()
	var as []auditView
	json.Unmarshal(h.must(200, "GET", "/v1/admin/deploy?pageSize=100", tok, nil).Data, &as)
	return as
}

// pendingAudit is the id of deployment id's request that waits for its audit.
func (h *hubProc) pendingAudit(tok string, id uint64) uint64 {
	h.t.Helper()
	for _, a := range h.audits(tok) {
		if a.DeployID == id && a.Status == 0 {
			return a.ID
		}
	}
	h.t.Fatalf("no request of deployment %d waits for its audit", id)
	return 0
}

// auditOf is deployment id's newest request of a type (1 create, 2
// upgrade, 3 rollback, 4 delete).
func (h *hubProc) auditOf(tok string, id uint64, typ int) auditView {
	h.t.Helper()
	for _, a := range h.audits(tok) { // newest first
		if a.DeployID == id && a.DeployType == typ {
			return a
		}
	}
	return auditView{}
}
