// Package apicheck checks the hub's answers against the OpenAPI description
// the hub serves, with kin-openapi: the API's tests (hub/api, test/e2e)
// pass every response they receive through a Checker, so a handler that
// answers a field, a type or a status its description does not have fails
// the test that saw it.
//
// The check is stricter than the description: objects described with
// properties may carry no others here, so a field added to a response type
// without its description fails. Clients may still ignore unknown fields.
package apicheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func init() {
	// The page and the metrics are text; chart archives are bytes.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder) // the console's scripts
	openapi3filter.RegisterBodyDecoder("text/css", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/gzip", openapi3filter.FileBodyDecoder)
}

// Checker validates responses against one description.
type Checker struct {
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	checked map[string]int // operation id → responses checked
}

// Load parses and validates a description (the bytes of /v1/openapi.json).
func Load(raw []byte) (*Checker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("apicheck: load: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("apicheck: the description is OpenAPI %s, not 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("apicheck: the description is invalid: %w", err)
	}
	seen := map[*openapi3.Schema]bool{}
	for _, s := range doc.Components.Schemas {
		closeObjects(s, seen)
	}
	for _, p := range doc.Paths.Map() {
		for _, op := range p.Operations() {
			for _, r := range op.Responses.Map() {
				if r.Value == nil {
					continue
				}
				for _, mt := range r.Value.Content {
					closeObjects(mt.Schema, seen)
				}
			}
		}
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("apicheck: router: %w", err)
	}
	return &Checker{doc: doc, router: router, checked: map[string]int{}}, nil
}

// Fetch loads the description a hub serves at base (http://host:port).
func Fetch(client *http.Client, base string) (*Checker, error) {
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(base + "/v1/openapi.json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("apicheck: GET /v1/openapi.json: %d %s", resp.StatusCode, raw)
	}
	return Load(raw)
}

// closeObjects forbids properties that are not described.
func closeObjects(ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Value == nil || seen[ref.Value] {
		return
	}
	s := ref.Value
	seen[s] = true
	if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
		no := false
		s.AdditionalProperties.Has = &no
	}
	for _, p := range s.Properties {
		closeObjects(p, seen)
	}
	closeObjects(s.Items, seen)
	closeObjects(s.AdditionalProperties.Schema, seen)
	for _, alt := range s.OneOf {
		closeObjects(alt, seen)
	}
}

// ErrUnrouted is returned for a request that matches no documented
// operation: the hub answers those 404 or 405 with the error envelope, which
// Check verifies.
var ErrUnrouted = errors.New("apicheck: no documented operation")

// Check validates one exchange: the request (its body is not read) and the
// status, header and body of its response. Requests to no documented
// operation must have been answered 404 or 405.
func (c *Checker) Check(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := c.router.FindRoute(req)
	if err != nil && strings.HasSuffix(req.URL.Path, "/") {
		// The hub's routing ignores a trailing slash.
		r2 := req.Clone(req.Context())
		r2.URL.Path = strings.TrimSuffix(req.URL.Path, "/")
		route, params, err = c.router.FindRoute(r2)
	}
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return nil
		}
		if strings.HasPrefix(req.URL.Path, "/v1/") {
			return fmt.Errorf("%s %s answered %d: %w", req.Method, req.URL.Path, status, ErrUnrouted)
		}
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s answered %d, not as its description says: %v\nbody: %.600s", req.Method, req.URL.Path, status, err, body)
	}
	c.mu.Lock()
	c.checked[route.Operation.OperationID]++
	c.mu.Unlock()
	return nil
}

// Operations lists every documented operation's id.
func (c *Checker) Operations() []string {
	var out []string
	for _, p := range c.doc.Paths.Map() {
		for _, op := range p.Operations() {
			out = append(out, op.OperationID)
		}
	}
	return out
}

// Checked says how many responses of each operation were checked.
func (c *Checker) Checked() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.checked))
	for k, v := range c.checked {
		out[k] = v
	}
	return out
}
