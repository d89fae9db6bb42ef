package registry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
)

// Client is how the hub reads and deletes images in a registry: catalog,
// tags, manifests. Every call goes through go-retryablehttp (bounded retries
// with backoff on connection errors, 429 and 5xx; a timeout per attempt) and
// carries a token the hub signs for itself with exactly the access it needs.
type Client struct {
	base   *url.URL
	issuer *Issuer
	http   *retryablehttp.Client
}

// Subject is the token subject of the hub's own registry calls.
const Subject = "ote-hub"

// manifestAccept lists the manifest types the hub resolves tags to.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

// NewClient talks to the registry at baseURL (e.g. http://127.0.0.1:5000).
func NewClient(baseURL string, is *Issuer, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("registry URL %q: want http(s)://host[:port]", baseURL)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	rc := retryablehttp.NewClient()
	rc.RetryMax = 3
	rc.RetryWaitMin = 100 * time.Millisecond
	rc.RetryWaitMax = time.Second
	rc.HTTPClient.Timeout = timeout
	rc.Logger = nil
	// Give the caller the registry's last answer rather than a bare
	// "giving up" error.
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return &Client{base: u, issuer: is, http: rc}, nil
}

// SkipTLSVerify stops checking the registry's certificate: only for the
// embedded registry reached over loopback in the same process, whose
// certificate names the public host, not 127.0.0.1.
func (c *Client) SkipTLSVerify() {
	t := cleanhttp.DefaultPooledTransport()
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback to our own listener
	c.http.HTTPClient.Transport = t
}

// Error is a registry answer the hub did not expect, or no answer at all.
type Error struct {
	// Status is the registry's HTTP status; 0 when it could not be reached.
	Status int
	Msg    string
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "image registry unreachable: " + e.Msg
	}
	return fmt.Sprintf("image registry answered %d: %s", e.Status, e.Msg)
}

// ErrNotFound: the registry has no such repository or manifest.
var ErrNotFound = errors.New("not found in the registry")

func (c *Client) do(ctx context.Context, method, path string, query url.Values, access Access, accept string) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	token, _, err := c.issuer.Issue(Subject, []Access{access}, time.Now())
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Msg: unwrapURLError(err)}
	}
	return resp, nil
}

// unwrapURLError drops the URL (which carries nothing secret, but is noise)
// from a transport error.
func unwrapURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// check turns an unexpected answer into an *Error (or ErrNotFound) and
// closes its body.
func check(resp *http.Response, want ...int) error {
	for _, w := range want {
		if resp.StatusCode == w {
			return nil
		}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		msg = e.Errors[0].Code + ": " + e.Errors[0].Message
	}
	if msg == "" { // HEAD, or a bare status
		msg = http.StatusText(resp.StatusCode)
	}
	return &Error{Status: resp.StatusCode, Msg: msg}
}

// Ping checks that the registry answers and accepts the hub's tokens.
func (c *Client) Ping(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodGet, "/v2/", nil, Access{Type: "registry", Name: "catalog", Actions: []string{"*"}}, "")
	if err != nil {
		return err
	}
	if err := check(resp, http.StatusOK); err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Catalog lists every repository, following the registry's pages.
func (c *Client) Catalog(ctx context.Context) ([]string, error) {
	return c.listAll(ctx, "/v2/_catalog", Access{Type: "registry", Name: "catalog", Actions: []string{"*"}})
}

// Tags lists the tags of repository name (none when it does not exist).
func (c *Client) Tags(ctx context.Context, name string) ([]string, error) {
	tags, err := c.listAll(ctx, "/v2/"+name+"/tags/list", Access{Type: "repository", Name: name, Actions: []string{"pull"}})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return tags, err
}

// listAll reads every page of a list (the catalog's repositories or a
// repository's tags), following the Link headers.
func (c *Client) listAll(ctx context.Context, path string, access Access) ([]string, error) {
	var all []string
	q := url.Values{"n": {"1000"}}
	for {
		resp, err := c.do(ctx, http.MethodGet, path, q, access, "")
		if err != nil {
			return nil, err
		}
		if err := check(resp, http.StatusOK); err != nil {
			return nil, err
		}
		var page struct {
			Repositories []string `json:"repositories"`
			Tags         []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&page)
		next := nextLast(resp.Header.Get("Link"))
		resp.Body.Close()
		if err != nil {
			return nil, &Error{Status: resp.StatusCode, Msg: path + ": " + err.Error()}
		}
		items := append(page.Repositories, page.Tags...)
		all = append(all, items...)
		if next == "" || len(items) == 0 {
			return all, nil
		}
		q.Set("last", next)
	}
}

// Digest resolves name:reference to its manifest digest.
func (c *Client) Digest(ctx context.Context, name, reference string) (string, error) {
	resp, err := c.do(ctx, http.MethodHead, "/v2/"+name+"/manifests/"+reference, nil, Access{Type: "repository", Name: name, Actions: []string{"pull"}}, manifestAccept)
	if err != nil {
		return "", err
	}
	if err := check(resp, http.StatusOK); err != nil {
		return "", err
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if d == "" {
		return "", &Error{Status: resp.StatusCode, Msg: "no Docker-Content-Digest for " + name + ":" + reference}
	}
	return d, nil
}

// DeleteManifest deletes name@digest (and every tag on it), or untags
// name:tag when reference is a tag.
func (c *Client) DeleteManifest(ctx context.Context, name, reference string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/v2/"+name+"/manifests/"+reference, nil, Access{Type: "repository", Name: name, Actions: []string{"delete"}}, "")
	if err != nil {
		return err
	}
	if err := check(resp, http.StatusAccepted); err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// nextLast reads the "last" parameter of a Link: <...>; rel="next" header.
func nextLast(link string) string {
	if link == "" {
		return ""
	}
	start, end := strings.IndexByte(link, '<'), strings.IndexByte(link, '>')
	if start < 0 || end <= start || !strings.Contains(link[end:], `rel="next"`) {
		return ""
	}
	u, err := url.Parse(link[start+1 : end])
	if err != nil {
		return ""
	}
	return u.Query().Get("last")
}
