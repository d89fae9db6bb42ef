package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"
)

// The OpenAPI 3.1 description of the API, made from the route table
// (routes.go) and the Go types of the bodies and data, once, when the
// server is built. GET /v1/openapi.json serves it; GET /v1/docs renders it
// for people (docspage.go). Only what a client sees is described: request
// schemas list the fields a body may carry (the handlers say which are
// required, with 422 naming the field), response schemas every field the
// hub may send.

type oaDoc struct {
	OpenAPI    string                      `json:"openapi"`
	Info       oaInfo                      `json:"info"`
	Servers    []map[string]string         `json:"servers"`
	Tags       []oaTag                     `json:"tags"`
	Paths      map[string]map[string]*oaOp `json:"paths"`
	Components oaComponents                `json:"components"`
	// byTag lists the operations by tag in the table's order, for the page.
	byTag map[string][]oaOpRef
}

type oaOpRef struct {
	Method, Path string
	Op           *oaOp
}

type oaInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

type oaTag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

type oaComponents struct {
	Schemas         map[string]*oaSchema         `json:"schemas"`
	Responses       map[string]*oaResponse       `json:"responses"`
	SecuritySchemes map[string]map[string]string `json:"securitySchemes"`
}

type oaOp struct {
	OperationID string                 `json:"operationId"`
	Tags        []string               `json:"tags"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description,omitempty"`
	Parameters  []oaParam              `json:"parameters,omitempty"`
	RequestBody *oaBody                `json:"requestBody,omitempty"`
	Responses   map[string]*oaResponse `json:"responses"`
	Security    []map[string][]string  `json:"security"`
	// Access names who may call it; Roles the role numbers of
	// GET /v1/authorization that may (empty: any caller).
	Access string `json:"x-ote-access"`
	Roles  []int  `json:"x-ote-roles,omitempty"`
	// Audit is the action the audit trail records.
	Audit string `json:"x-ote-audit,omitempty"`
}

type oaParam struct {
	Name        string    `json:"name"`
	In          string    `json:"in"`
	Required    bool      `json:"required,omitempty"`
	Description string    `json:"description,omitempty"`
	Schema      *oaSchema `json:"schema"`
	Explode     *bool     `json:"explode,omitempty"`
}

type oaBody struct {
	Required bool                   `json:"required"`
	Content  map[string]oaMediaType `json:"content"`
}

type oaMediaType struct {
	Schema *oaSchema `json:"schema"`
}

type oaResponse struct {
	Ref         string                 `json:"$ref,omitempty"`
	Description string                 `json:"description,omitempty"`
	Headers     map[string]oaHeader    `json:"headers,omitempty"`
	Content     map[string]oaMediaType `json:"content,omitempty"`
}

type oaHeader struct {
	Description string    `json:"description"`
	Schema      *oaSchema `json:"schema"`
}

type oaSchema struct {
	Ref                  string               `json:"$ref,omitempty"`
	Type                 any                  `json:"type,omitempty"` // a name, or names with "null"
	Format               string               `json:"format,omitempty"`
	ContentMediaType     string               `json:"contentMediaType,omitempty"`
	Description          string               `json:"description,omitempty"`
	Properties           map[string]*oaSchema `json:"properties,omitempty"`
	Required             []string             `json:"required,omitempty"`
	Items                *oaSchema            `json:"items,omitempty"`
	AdditionalProperties *oaSchema            `json:"additionalProperties,omitempty"`
	OneOf                []*oaSchema          `json:"oneOf,omitempty"`
	Enum                 []any                `json:"enum,omitempty"`
	Const                any                  `json:"const,omitempty"`
	Default              any                  `json:"default,omitempty"`
	Minimum              *int64               `json:"minimum,omitempty"`
	// order is the properties' order in the Go type, for the page.
	order []string
}

// fieldDocs describes fields of the components, "Schema.field": the
// numbers of statuses and types are the seed's contract.
var fieldDocs = map[string]string{
	"User.status":                 "0 pending, 1 approved, 2 not approved, 3 forbidden.",
	"User.isAdmin":                "A business administrator (true) or a general user.",
	"AuthorizationInfo.role":      "0 pending, 1 approved without a business, 2 user of a business, 3 business administrator, 4 system administrator.",
	"Business.status":             "0 pending, 1 approved, 2 disapproved, 3 deleted.",
	"Business.namespace":          "The business's namespace on every edge cluster.",
	"Business.podSecurity":        "The Pod Security Standard level of the namespace: restricted, baseline or privileged.",
	"AuditBusinessRequest.status": "1 approve, 2 disapprove.",
	"AuditUserRequest.status":     "1 approve, 2 disapprove, 3 forbid.",
	"AuditDeployRequest.id":       "The audit request's id (GET /v1/admin/deploy).",
	"AuditDeployRequest.status":   "1 approve, 2 disapprove.",
	"Deploy.deployType":           "1 new deployment, 2 upgrading, 3 rolling back, 4 deleted.",
	"Deploy.status":               "0 pending, 1 approved, 2 disapproved, 3 processing, 4 deploying, 5 success, 6 partial success, 7 failed, 8 internal error, 9 deleted.",
	"Deploy.cluster":              "The cluster label the deployment targets.",
	"Deploy.editable":             "Whether the deployment can be changed now (no request is pending).",
	"Deploy.errorMessage":         "The per-cluster state: running and failed pods, or the error.",
	"Audit.deployType":            "1 new deployment, 2 upgrading, 3 rolling back, 4 deleted.",
	"Audit.status":                "0 pending, 1 approved, 2 disapproved.",
	"Node.memory":                 "Memory, bytes.",
	"Node.cpu":                    "CPU cores.",
	"Node.gpu":                    "GPU memory, bytes.",
	"Node.disk":                   "Disk, bytes.",
	"Node.isReady":                "Whether the node is ready.",
	"Cluster.isReady":             "Whether the cluster's agent was heard within the ready window.",
	"Token.expireTime":            "The token's expiry, Unix seconds.",
	"App.deployType":              "deployment, daemonset, or helm for a chart.",
	"AppRequest.deployType":       "deployment or daemonset.",
	"AppRequest.version":          "A main version x.y.",
	"AppRequest.minCPU":           "Percent of a core.",
	"AppRequest.maxCPU":           "Percent of a core.",
	"AppRequest.minMemory":        "MB.",
	"AppRequest.maxMemory":        "MB.",
	"JoinResponse.credential":     "The cluster's credential, shown this once.",
}

var accessDocs = map[access]string{
	public:    "anyone",
	signedIn:  "any signed-in user",
	approved:  "approved users",
	member:    "members of an approved business and the system administrator",
	tenant:    "members of an approved business",
	admin:     "business administrators and the system administrator",
	sysAdmin:  "the system administrator",
	agent:     "an edge cluster's agent",
	bootstrap: "a new cluster's agent, with the hub's bootstrap token",
	applicant: "approved users who registered as general administrators (isAdmin) and have no business yet",
}

var accessNames = map[access]string{
	public: "public", signedIn: "signedIn", approved: "approved", member: "member", tenant: "tenant",
	admin: "admin", sysAdmin: "sysAdmin", agent: "agent", bootstrap: "bootstrap", applicant: "applicant",
}

// pathParamDocs are the path parameters' types and descriptions.
var pathParamDocs = map[string][2]string{
	"userId":      {"integer", "The user's id."},
	"id":          {"integer", "The business's id."},
	"appId":       {"integer", "The application's id."},
	"deployId":    {"integer", "The deployment's id."},
	"deployName":  {"string", "The deployment's name."},
	"clusterName": {"string", "The cluster's name."},
	"repoId":      {"string", "The external repository's id."},
	"digest":      {"string", "sha256:<64 hex digits>."},
	"namespace":   {"string", "The business's namespace."},
	"asset":       {"string", "A file of the console, such as app.js."},
}

var tagDocs = []oaTag{
	{Name: "User", Description: "Users, tokens and roles. A registered user waits for a system administrator's approval."},
	{Name: "Business", Description: "Businesses: tenants, each with a namespace of its own on every edge cluster."},
	{Name: "Cluster", Description: "Edge clusters and their labels; deployments target clusters by label."},
	{Name: "Node", Description: "The nodes the agents report, with their labels."},
	{Name: "Application", Description: "Container applications and Helm charts, by version."},
	{Name: "Deployment", Description: "Deployments of an application version to labelled clusters, with their audit, upgrade and rollback."},
	{Name: "Audit trail", Description: "The record of administrative writes."},
	{Name: "Repository", Description: "The image registry's projects, images and accounts, and a business's external registries."},
	{Name: "Registry", Description: "The image registry's token realm."},
	{Name: "Agent", Description: "What the edge agents call."},
	{Name: "Hub", Description: "Health, readiness, metrics and this description."},
}

type openAPIDoc struct {
	doc  *oaDoc
	json []byte
	page []byte
}

func newOpenAPIDoc(routes []route) (*openAPIDoc, error) {
	d, err := buildOpenAPI(routes)
	if err != nil {
		return nil, err
	}
	j, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	page, err := renderDocsPage(d)
	if err != nil {
		return nil, err
	}
	return &openAPIDoc{doc: d, json: j, page: page}, nil
}

func (s *server) openAPIJSON(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(s.openapi.json)
}

func (s *server) openAPIPage(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	return c.Send(s.openapi.page)
}

// schemaGen turns Go types into schemas; named structs become components.
type schemaGen struct {
	components map[string]*oaSchema
	names      map[reflect.Type]string
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	timeType       = reflect.TypeFor[time.Time]()
)

// componentName is a type's schema name: appResponse is App,
// createDeployRequest CreateDeployRequest.
func componentName(t reflect.Type) string {
	n := strings.TrimSuffix(t.Name(), "Response")
	if n == "" {
		n = t.Name()
	}
	r := []rune(n)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func nullable(s *oaSchema) *oaSchema {
	if name, ok := s.Type.(string); ok {
		s.Type = []string{name, "null"}
		return s
	}
	if s.Ref != "" {
		return &oaSchema{OneOf: []*oaSchema{s, {Type: "null"}}}
	}
	return s
}

func (g *schemaGen) of(t reflect.Type) (*oaSchema, error) {
	switch {
	case t == rawMessageType:
		return &oaSchema{}, nil
	case t == timeType:
		return &oaSchema{Type: "string", Format: "date-time"}, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		s, err := g.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(s), nil
	case reflect.Bool:
		return &oaSchema{Type: "boolean"}, nil
	case reflect.String:
		return &oaSchema{Type: "string"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &oaSchema{Type: "integer", Format: "int64"}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		zero := int64(0)
		return &oaSchema{Type: "integer", Format: "int64", Minimum: &zero}, nil
	case reflect.Float32, reflect.Float64:
		return &oaSchema{Type: "number"}, nil
	case reflect.Interface:
		return &oaSchema{}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &oaSchema{Type: "string", ContentMediaType: "application/octet-stream", Description: "base64"}, nil
		}
		items, err := g.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return &oaSchema{Type: []string{"array", "null"}, Items: items}, nil
	case reflect.Map:
		vals, err := g.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return &oaSchema{Type: []string{"object", "null"}, AdditionalProperties: vals}, nil
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t, "")
		}
		return g.component(t)
	}
	return nil, fmt.Errorf("openapi: no schema for %s", t)
}

func (g *schemaGen) component(t reflect.Type) (*oaSchema, error) {
	if name, ok := g.names[t]; ok {
		return &oaSchema{Ref: "#/components/schemas/" + name}, nil
	}
	name := componentName(t)
	if _, taken := g.components[name]; taken {
		return nil, fmt.Errorf("openapi: two types are named %s (one is %s)", name, t)
	}
	g.names[t] = name
	g.components[name] = &oaSchema{} // taken while the fields are made
	s, err := g.object(t, name)
	if err != nil {
		return nil, err
	}
	g.components[name] = s
	return &oaSchema{Ref: "#/components/schemas/" + name}, nil
}

func (g *schemaGen) object(t reflect.Type, name string) (*oaSchema, error) {
	s := &oaSchema{Type: "object", Properties: map[string]*oaSchema{}}
	if err := g.fields(s, t, name); err != nil {
		return nil, err
	}
	return s, nil
}

func (g *schemaGen) fields(s *oaSchema, t reflect.Type, name string) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if err := g.fields(s, ft, name); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		fs, err := g.of(f.Type)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", t, f.Name, err)
		}
		if doc := fieldDocs[name+"."+tag]; doc != "" {
			fs.Description = doc // beside a $ref too, as 3.1 allows
		}
		s.Properties[tag] = fs
		s.order = append(s.order, tag)
	}
	return nil
}

// fiberPath turns /a/:b into /a/{b} and returns the parameter names.
func fiberPath(p string) (string, []string) {
	parts := strings.Split(p, "/")
	var names []string
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			names = append(names, part[1:])
			parts[i] = "{" + part[1:] + "}"
		}
	}
	return strings.Join(parts, "/"), names
}

// errorsOf lists the failure statuses of a route: those of its access
// level and inputs, and its own.
func errorsOf(r *route, pathParams []string) []int {
	set := map[int]bool{fiber.StatusServiceUnavailable: true}
	set[fiber.StatusInternalServerError] = true
	// A signed-in caller may lack the role, or name what it may not see
	// (404, never 403, for another business's objects).
	if r.Access != public && r.Access != bootstrap {
		set[fiber.StatusUnauthorized] = true
		set[fiber.StatusForbidden] = true
		set[fiber.StatusNotFound] = true
	}
	if len(r.Query) > 0 || r.Body != nil || r.Form != nil || len(pathParams) > 0 {
		set[fiber.StatusUnprocessableEntity] = true
	}
	if r.Body != nil || r.Form != nil {
		set[fiber.StatusRequestEntityTooLarge] = true
		set[fiber.StatusUnsupportedMediaType] = true
	}
	if r.Method != fiber.MethodGet {
		set[fiber.StatusInsufficientStorage] = true
	}
	for _, e := range r.Errors {
		set[e] = true
	}
	out := make([]int, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	sort.Ints(out)
	return out
}

var errorDocs = map[int]string{
	400: "Bad request.",
	401: "No token, or one that is invalid, expired or revoked.",
	403: "The caller's role may not do this.",
	404: "Not found, or not visible to the caller.",
	502: "The image registry failed.",
	409: "Conflicts with the current state (exists already, or a change is pending).",
	413: "The body is larger than the hub takes.",
	415: "The body's Content-Type is not the one this route takes.",
	422: "A parameter or field is invalid: the message names it.",
	426: "Upgrade required.",
	429: "Too many attempts: Retry-After says when to come back.",
	500: "Unexpected internal error (a bug: the hub's log has its cause).",
	503: "The database is unavailable, or the hub is busy: Retry-After says when to come back.",
	507: "The hub's storage is full; nothing was written. Retry-After says when to come back.",
}

func envelopeSchema(data *oaSchema, list, readyCount bool) *oaSchema {
	s := &oaSchema{
		Type: "object",
		Properties: map[string]*oaSchema{
			"code":    {Type: "integer", Const: 0, Description: "0 on success."},
			"message": {Type: "string", Const: "success"},
			"data":    data,
		},
		Required: []string{"code", "message", "data"},
		order:    []string{"code", "message", "data"},
	}
	if list || len(data.OneOf) > 0 {
		s.Properties["total"] = &oaSchema{Type: "integer", Format: "int64", Description: "The number of items that match, over every page (lists only)."}
		s.order = append(s.order, "total")
	}
	if list {
		s.Required = append(s.Required, "total")
	}
	if readyCount {
		s.Properties["readyNodeCount"] = &oaSchema{Type: "integer", Format: "int64", Description: "The ready nodes among all that match."}
		s.Required = append(s.Required, "readyNodeCount")
		s.order = append(s.order, "readyNodeCount")
	}
	return s
}

func buildOpenAPI(routes []route) (*oaDoc, error) {
	g := &schemaGen{components: map[string]*oaSchema{}, names: map[reflect.Type]string{}}
	d := &oaDoc{
		OpenAPI: "3.1.0",
		Info: oaInfo{
			Title:   "OTE-Stack hub API",
			Version: "v1",
			Description: "The REST API of the OTE-Stack hub: users and roles, businesses, edge clusters and nodes, the image repository, applications and deployments. " +
				"Every response of /v1 is the envelope {code, message, data}: code is 0 on success and the HTTP status otherwise, with message saying what went wrong. " +
				"Send the token of POST /v1/authorization as Authorization: Bearer <token>.",
		},
		// The hub that serves the description.
		Servers: []map[string]string{{"url": "/"}},
		Tags:    tagDocs,
		Paths:   map[string]map[string]*oaOp{},
		Components: oaComponents{
			Schemas: g.components,
			Responses: map[string]*oaResponse{
				"Error": {
					Description: "The error envelope.",
					Headers: map[string]oaHeader{
						"Retry-After": {Description: "Seconds to wait, on 429, 503 and 507.", Schema: &oaSchema{Type: "integer"}},
					},
					Content: map[string]oaMediaType{"application/json": {Schema: &oaSchema{
						Type: "object",
						Properties: map[string]*oaSchema{
							"code":    {Type: "integer", Description: "The HTTP status."},
							"message": {Type: "string", Description: "What went wrong, naming the field for 422."},
							"data":    {Type: "null"},
						},
						Required: []string{"code", "message"},
						order:    []string{"code", "message", "data"},
					}}},
				},
			},
			SecuritySchemes: map[string]map[string]string{
				"token":     {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "The token of POST /v1/authorization."},
				"cluster":   {"type": "http", "scheme": "bearer", "description": "The cluster's credential from the join, with the cluster's name in " + "X-OTE-Cluster."},
				"bootstrap": {"type": "http", "scheme": "bearer", "description": "The hub's bootstrap token."},
			},
		},
		byTag: map[string][]oaOpRef{},
	}
	seen := map[string]bool{}
	for i := range routes {
		r := &routes[i]
		p, names := fiberPath(r.Path)
		key := r.Method + " " + p
		if seen[key] {
			return nil, fmt.Errorf("openapi: %s is in the route table twice", key)
		}
		seen[key] = true
		op, err := g.operation(r, p, names)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", key, err)
		}
		if d.Paths[p] == nil {
			d.Paths[p] = map[string]*oaOp{}
		}
		d.Paths[p][strings.ToLower(r.Method)] = op
		d.byTag[r.Tag] = append(d.byTag[r.Tag], oaOpRef{Method: r.Method, Path: p, Op: op})
		if !slices.ContainsFunc(tagDocs, func(t oaTag) bool { return t.Name == r.Tag }) {
			return nil, fmt.Errorf("openapi: %s: tag %q is not in tagDocs", key, r.Tag)
		}
	}
	return d, nil
}

func (g *schemaGen) operation(r *route, p string, pathParams []string) (*oaOp, error) {
	op := &oaOp{
		OperationID: operationID(r.Method, p),
		Tags:        []string{r.Tag},
		Summary:     r.Summary,
		Description: strings.TrimSpace(r.Desc + " Who may call it: " + accessDocs[r.Access] + "."),
		Responses:   map[string]*oaResponse{},
		Security:    []map[string][]string{},
		Access:      accessNames[r.Access],
		Audit:       r.Audit,
	}
	for _, role := range r.Access.roles() {
		op.Roles = append(op.Roles, int(role))
	}
	switch r.Access {
	case public:
	case bootstrap:
		op.Security = append(op.Security, map[string][]string{"bootstrap": {}})
	case agent:
		op.Security = append(op.Security, map[string][]string{"cluster": {}})
	default:
		op.Security = append(op.Security, map[string][]string{"token": {}})
	}
	for _, n := range pathParams {
		doc, ok := pathParamDocs[n]
		if !ok {
			return nil, fmt.Errorf("path parameter %s is not in pathParamDocs", n)
		}
		op.Parameters = append(op.Parameters, oaParam{Name: n, In: "path", Required: true, Description: doc[1], Schema: &oaSchema{Type: doc[0]}})
	}
	for _, q := range r.Query {
		s := &oaSchema{Type: q.Type, Default: q.Default}
		for _, e := range q.Enum {
			s.Enum = append(s.Enum, e)
		}
		prm := oaParam{Name: q.Name, In: "query", Description: q.Desc, Schema: s}
		if q.Multi {
			t := true
			prm.Schema = &oaSchema{Type: "array", Items: s}
			prm.Explode = &t
		}
		op.Parameters = append(op.Parameters, prm)
	}
	switch {
	case r.Body != nil:
		s, err := g.of(reflect.TypeOf(r.Body))
		if err != nil {
			return nil, err
		}
		op.RequestBody = &oaBody{Required: true, Content: map[string]oaMediaType{"application/json": {Schema: s}}}
	case r.Form != nil:
		s := &oaSchema{Type: "object", Properties: map[string]*oaSchema{}}
		for _, f := range r.Form {
			fs := &oaSchema{Type: "string", Description: f.Desc}
			if f.File {
				fs.ContentMediaType = "application/gzip"
			}
			s.Properties[f.Name] = fs
			s.Required = append(s.Required, f.Name)
			s.order = append(s.order, f.Name)
		}
		op.RequestBody = &oaBody{Required: true, Content: map[string]oaMediaType{"multipart/form-data": {Schema: s}}}
	}
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	success := &oaResponse{Description: http.StatusText(status)}
	if r.Raw != "" {
		s := &oaSchema{}
		if strings.HasPrefix(r.Raw, "text/") {
			s.Type = "string"
		}
		success.Content = map[string]oaMediaType{r.Raw: {Schema: s}}
	} else {
		data, err := g.data(r)
		if err != nil {
			return nil, err
		}
		success.Content = map[string]oaMediaType{"application/json": {Schema: envelopeSchema(data, r.List, r.ReadyNodeCount)}}
	}
	op.Responses[fmt.Sprint(status)] = success
	for _, e := range errorsOf(r, pathParams) {
		op.Responses[fmt.Sprint(e)] = &oaResponse{Ref: "#/components/responses/Error"}
	}
	return op, nil
}

// data is the schema of a route's envelope data.
func (g *schemaGen) data(r *route) (*oaSchema, error) {
	one := func(v any) (*oaSchema, error) {
		if v == nil {
			return &oaSchema{Type: "null"}, nil
		}
		s, err := g.of(reflect.TypeOf(v))
		if err != nil {
			return nil, err
		}
		if s.Type != nil {
			if names, ok := s.Type.([]string); ok && names[0] == "array" {
				s.Type = "array" // data lists are never null
			}
		}
		return s, nil
	}
	switch v := r.Data.(type) {
	case oneOf:
		s := &oaSchema{}
		for _, alt := range v {
			a, err := one(alt)
			if err != nil {
				return nil, err
			}
			s.OneOf = append(s.OneOf, a)
		}
		return s, nil
	default:
		s, err := one(v)
		if err != nil || !r.List {
			return s, err
		}
		return &oaSchema{Type: "array", Items: s}, nil
	}
}

// operationID is method and path in camel case: GET /v1/deploy/id/{deployId}
// is getDeployIdByDeployId.
func operationID(method, p string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.Split(strings.TrimPrefix(p, "/v1"), "/") {
		if part == "" {
			continue
		}
		if strings.HasPrefix(part, "{") {
			b.WriteString("By")
			part = strings.Trim(part, "{}")
		}
		for _, w := range strings.FieldsFunc(part, func(r rune) bool { return r == '.' || r == '-' || r == '_' }) {
			r := []rune(w)
			r[0] = unicode.ToUpper(r[0])
			b.WriteString(string(r))
		}
	}
	return b.String()
}
