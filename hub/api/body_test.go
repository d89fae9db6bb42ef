package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ote-stack/ote/hub/api"
	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
)

// rawRequest writes head (request line and headers) and then only prefix
// of the body it declares, and reads the answer: a server that waited for
// the whole body would not answer before the deadline. (fasthttp reads
// a little over 8 KiB of a body before the handlers run: prefix is more.)
func rawRequest(t *testing.T, h *hub, head string, prefix []byte) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	conn.Write(prefix)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func header(method, path, token string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: hub\r\n", method, path)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	return b.String()
}

// Bodies are refused by their declared length before they are read:
// unauthenticated routes beyond 64 KiB, authenticated ones beyond
// --body-limit, and a chart upload's token is checked before its body.
func TestOversizedBodiesRefusedUnread(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), withRegistry(t, "http://127.0.0.1:1"))
	root := h.login(adminName, adminPass)
	tn := h.newTenant(root, "acme")
	eight := "Content-Length: 8388608"
	for _, c := range []struct {
		name, head string
		status     int
		want       string
	}{
		{"login", header("POST", "/v1/authorization", "", "Content-Type: application/json", "Content-Length: 70000"), 413, "65536"},
		{"register", header("POST", "/v1/user", "", "Content-Type: application/json", eight), 413, "65536"},
		{"join", header("POST", "/v1/agent/join", "", "Content-Type: application/json", "X-OTE-Bootstrap-Token: "+bootstrapToken, eight), 413, "65536"},
		{"realm", header("POST", "/v1/registry/token", "", "Content-Type: application/x-www-form-urlencoded", eight), 413, ""},
		{"no token", header("POST", "/v1/app", "", "Content-Type: application/json", eight), 401, ""},
		{"chart without token", header("POST", "/v1/app/chart", "", "Content-Type: multipart/form-data; boundary=x", eight), 401, ""},
		{"chart with a bad token", header("POST", "/v1/app/chart", "not-a-token", "Content-Type: multipart/form-data; boundary=x", eight), 401, ""},
		{"authenticated over --body-limit", header("POST", "/v1/app", tn.token, "Content-Type: application/json", "Content-Length: 1048577"), 413, "1048576"},
		{"chart over --chart-limit", header("POST", "/v1/app/chart", tn.token, "Content-Type: multipart/form-data; boundary=x", "Content-Length: 9000000"), 413, "8454144"},
		{"beyond every route", header("POST", "/v1/app/chart", "", "Content-Type: multipart/form-data; boundary=x", "Content-Length: 100000000"), 413, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := rawRequest(t, h, c.head, bytes.Repeat([]byte("{"), 16<<10))
			if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
				t.Fatalf("%d %s, want %d mentioning %q", resp.StatusCode, body, c.status, c.want)
			}
			if c.status == 413 && !resp.Close {
				t.Fatalf("413 keeps the connection whose body was not read")
			}
		})
	}
}

// A chunked body declares no length: it is read up to the limit and
// refused beyond it.
func TestChunkedBodyBounded(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	// On a connection of its own: the hub answers 413 and closes it with
	// the rest of the body unread, so the client's write may end in a
	// reset before an http.Client would read the answer.
	big := `{"user":"` + strings.Repeat("a", 100<<10) + `","password":"x"}`
	resp, b := rawRequest(t, h, header("POST", "/v1/authorization", "", "Content-Type: application/json", "Transfer-Encoding: chunked"),
		[]byte(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big)))
	if resp.StatusCode != 413 || !strings.Contains(b, "65536") {
		t.Fatalf("chunked 100 KiB login: %d %s", resp.StatusCode, b)
	}
	// A small chunked body is read whole.
	req, _ := http.NewRequest("POST", h.url+"/v1/authorization", io.NopCloser(strings.NewReader(`{"user":"admin","password":"`+adminPass+`"}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chunked login: %d", resp.StatusCode)
	}
}

// Beyond Config.ChartUploads uploads at once, 503 with Retry-After.
func TestChartUploadConcurrencyBound(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), func(c *api.Config) { c.ChartUploads = 1 })
	root := h.login(adminName, adminPass)
	tn := h.newTenant(root, "acme")
	// A stalled upload sends 64 KiB of its chart of a 1 MiB body and
	// waits: its handler holds the only slot while it waits for the rest.
	stall := func() net.Conn {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, header("POST", "/v1/app/chart", tn.token, "Content-Type: multipart/form-data; boundary=b", "Content-Length: 1048576")+"\r\n")
		io.WriteString(conn, "--b\r\nContent-Disposition: form-data; name=\"chart\"; filename=\"c.tgz\"\r\n\r\n")
		conn.Write(bytes.Repeat([]byte("x"), 64<<10))
		return conn
	}
	// answered says whether the hub has answered conn (it was refused).
	answered := func(conn net.Conn) bool {
		conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var b [1]byte
		n, _ := conn.Read(b[:])
		return n > 0
	}
	stalled := stall()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		// Until the stalled upload holds the slot, these are accepted
		// (or the stalled one is the one refused: then it stalls again).
		r := h.upload(tn.token, map[string]string{"appName": "web", "version": fmt.Sprintf("1.%d", i)}, tgz(t, validChart("web", "1.0.0")))
		if r.Status == 503 {
			if !strings.Contains(r.Message, "chart uploads in progress") {
				t.Fatalf("503 message %q", r.Message)
			}
			break
		}
		if r.Status != 200 || time.Now().After(deadline) {
			t.Fatalf("upload while another may hold the slot: %d %s", r.Status, r.Message)
		}
		if answered(stalled) {
			stalled.Close()
			stalled = stall()
		}
	}
	req := chartRequest(t, h, tn.token, map[string]string{"appName": "web", "version": "2.0"}, tgz(t, validChart("web", "1.0.0")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("busy: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The stalled upload gives its slot back when its connection ends.
	stalled.Close()
	for {
		r := h.upload(tn.token, map[string]string{"appName": "web", "version": "2.0"}, tgz(t, validChart("web", "1.0.0")))
		if r.Status == 200 {
			break
		}
		if r.Status != 503 || time.Now().After(deadline) {
			t.Fatalf("after the stalled upload ended: %d %s", r.Status, r.Message)
		}
	}
}

func chartRequest(t *testing.T, h *hub, token string, fields map[string]string, chart []byte) *http.Request {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("chart", "chart.tgz")
	fw.Write(chart)
	w.Close()
	req, _ := http.NewRequest("POST", h.url+"/v1/app/chart", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// A gzip bomb is refused by its decompressed size, naming the limit.
func TestChartGzipBombRefused(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite), func(c *api.Config) { c.ChartUnpackedLimit = 1 << 20 })
	root := h.login(adminName, adminPass)
	tn := h.newTenant(root, "acme")
	files := validChart("bomb", "1.0.0")
	files["bomb/templates/zeros.txt"] = strings.Repeat("\x00", 2<<20)
	r := h.upload(tn.token, map[string]string{"appName": "bomb", "version": "1.0"}, tgz(t, files))
	if r.Status != 413 || !strings.Contains(r.Message, "decompresses to more than 1048576 bytes") {
		t.Fatalf("bomb: %d %q", r.Status, r.Message)
	}
	// Within the limit the same chart is accepted.
	delete(files, "bomb/templates/zeros.txt")
	if r := h.upload(tn.token, map[string]string{"appName": "bomb", "version": "1.0"}, tgz(t, files)); r.Status != 200 {
		t.Fatalf("chart: %d %q", r.Status, r.Message)
	}
}

// curl sends large uploads with Expect: 100-continue.
func TestChartUploadWithExpectContinue(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	root := h.login(adminName, adminPass)
	tn := h.newTenant(root, "acme")
	files := validChart("web", "1.0.0")
	files["web/templates/notes.txt"] = strings.Repeat("notes ", 300<<10)
	req := chartRequest(t, h, tn.token, map[string]string{"appName": "web", "version": "1.0"}, tgz(t, files))
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload with Expect: 100-continue: %d %s", resp.StatusCode, b)
	}
}

// GET routes take no body: /metrics hands its request to a net/http
// adaptor that would read a chunked one whole.
func TestGetWithBodyRefused(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	for _, path := range []string{"/metrics", "/healthz", "/v1/registry/token"} {
		resp, body := rawRequest(t, h, header("GET", path, "", "Transfer-Encoding: chunked"), []byte("4000\r\n"+strings.Repeat("a", 16<<10)))
		if resp.StatusCode != 413 || !strings.Contains(body, "take no body") {
			t.Errorf("GET %s with a chunked body: %d %s", path, resp.StatusCode, body)
		}
	}
	h.expect(200, "GET", "/healthz", "", nil)
}
