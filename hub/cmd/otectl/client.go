package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Exit codes scripts can rely on (README, "otectl").
const (
	exitOK          = 0
	exitRefused     = 1 // the hub refused the request (4xx other than 401)
	exitUsage       = 2 // wrong flags or arguments, or a file that cannot be read
	exitAuth        = 3 // not logged in, or the token is expired or revoked (401)
	exitUnavailable = 4 // the hub cannot be reached, or answered 5xx
	exitFailed      = 5 // --watch: the deployment failed or was disapproved
	exitTimeout     = 6 // --watch: no outcome within --timeout
)

// cliError is an error with the exit code it ends otectl with.
type cliError struct {
	code int
	msg  string
}

func (e *cliError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// apiError is the hub's answer to a refused request: its status and the
// envelope's message (which names the field of a 422).
func apiError(status int, msg, retryAfter string, hadToken bool) error {
	code := exitRefused
	switch {
	case status == http.StatusUnauthorized:
		code = exitAuth
		if hadToken {
			msg += " (log in again: otectl login)"
		}
	case status >= 500:
		code = exitUnavailable
	}
	if retryAfter != "" {
		msg += "; retry after " + retryAfter + "s"
	}
	return &cliError{code: code, msg: fmt.Sprintf("the hub answered %d: %s", status, msg)}
}

// config is what otectl keeps between runs: the hub and the session's
// token. It is written 0600: the token is a credential.
type config struct {
	Hub        string `json:"hub"`
	User       string `json:"user"`
	Token      string `json:"token"`
	ExpireTime int64  `json:"expireTime"`
	// CA is a PEM file of the hub's certificate authority ("" for the
	// system's).
	CA string `json:"ca,omitempty"`
}

// configPath is --config, $OTECTL_CONFIG, or otectl/config.json in the
// user's configuration directory.
func configPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv("OTECTL_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", usageErr("no configuration directory (%v): use --config", err)
	}
	return filepath.Join(dir, "otectl", "config.json"), nil
}

func loadConfig(path string) (*config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &config{}, nil
	}
	if err != nil {
		return nil, usageErr("read %s: %v", path, err)
	}
	var c config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, usageErr("%s is not otectl's configuration: %v", path, err)
	}
	return &c, nil
}

// save writes the configuration through a temporary file, so that a
// crash leaves the old one whole.
func (c *config) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return usageErr("save the configuration: %v", err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*")
	if err != nil {
		return usageErr("save the configuration: %v", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return usageErr("save the configuration: %v", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return usageErr("save the configuration: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return usageErr("save the configuration: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return usageErr("save the configuration: %v", err)
	}
	return nil
}

// methodKey carries a request's method to CheckRetry, which may see no
// response.
type methodKey struct{}

// client calls the hub's API.
type client struct {
	base  string
	token string
	http  *retryablehttp.Client
}

// envelope is every /v1 answer.
type envelope struct {
	Code           int             `json:"code"`
	Message        string          `json:"message"`
	Data           json.RawMessage `json:"data"`
	Total          *int64          `json:"total,omitempty"`
	ReadyNodeCount *int64          `json:"readyNodeCount,omitempty"`
}

func newClient(base string, hc *http.Client, timeout time.Duration) (*client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr("hub URL %q: want http(s)://host[:port]", base)
	}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = hc
	rc.HTTPClient.Timeout = timeout
	rc.Logger = nil
	rc.RetryMax = 3
	rc.RetryWaitMin = 500 * time.Millisecond
	rc.RetryWaitMax = 10 * time.Second
	// Reads are retried on 429 and 503 (after Retry-After) and on network
	// errors; writes never, so that a retry cannot do a write twice.
	rc.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		method, _ := ctx.Value(methodKey{}).(string)
		if method != http.MethodGet {
			return false, nil
		}
		if err != nil {
			return true, nil
		}
		return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable, nil
	}
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return &client{base: strings.TrimRight(u.String(), "/"), http: rc}, nil
}

// do sends a request with a JSON body (nil: none) and returns the envelope
// of a success; a refusal is an apiError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) (*envelope, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, usageErr("encode the request: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	return c.send(ctx, method, path, query, "application/json", rd)
}

func (c *client) send(ctx context.Context, method, path string, query url.Values, contentType string, body io.Reader) (*envelope, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var payload any
	if body != nil {
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, usageErr("read the request body: %v", err)
		}
		payload = b
	}
	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, methodKey{}, method), method, u, payload)
	if err != nil {
		return nil, usageErr("%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &cliError{code: exitUnavailable, msg: fmt.Sprintf("cannot reach the hub at %s: %v", c.base, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &cliError{code: exitUnavailable, msg: fmt.Sprintf("reading the hub's answer: %v", err)}
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		if resp.StatusCode >= 400 {
			return nil, apiError(resp.StatusCode, http.StatusText(resp.StatusCode), resp.Header.Get("Retry-After"), c.token != "")
		}
		return nil, &cliError{code: exitUnavailable, msg: fmt.Sprintf("%s does not answer as an OTE hub (%d, %s)", c.base, resp.StatusCode, resp.Header.Get("Content-Type"))}
	}
	if resp.StatusCode >= 300 {
		msg := env.Message
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return nil, apiError(resp.StatusCode, msg, resp.Header.Get("Retry-After"), c.token != "")
	}
	return &env, nil
}

// unwrapURLError drops net/url's "Get \"http://...\":" prefix, which
// repeats the URL said before it.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
