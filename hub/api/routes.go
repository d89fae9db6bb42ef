package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// The route table. Every route the hub serves is one entry here: routes()
// registers it, with the checks its access level needs, and openapi.go
// documents it from the same entry, so the API and its description cannot
// differ. openapi_test.go checks the rest of what could drift: the query
// parameters each handler reads, the body type it decodes, and (in every
// test that calls the API) that each response matches the schema.

// access is who may call a route.
type access int

const (
	public    access = iota // no token
	signedIn                // any valid token, approved or not
	approved                // an approved user, with or without a business
	member                  // a member of an approved business, or the system administrator
	tenant                  // a member of an approved business (the system administrator has none)
	admin                   // a business administrator or the system administrator
	sysAdmin                // the system administrator
	agent                   // an edge cluster's agent, with its cluster credential
	bootstrap               // a new cluster's agent, with the hub's bootstrap token (checked by the handler)
	// applicant: an approved user who registered as a general
	// administrator and has no business yet (the handler checks isAdmin;
	// a business administrator is let through to hear 409).
	applicant
)

// roles lists the store roles of an access level (nil: no role check).
func (a access) roles() []store.Role {
	switch a {
	case approved:
		return []store.Role{store.RoleApproved, store.RoleUser, store.RoleBusinessAdmin, store.RoleSysAdmin}
	case member:
		return []store.Role{store.RoleUser, store.RoleBusinessAdmin, store.RoleSysAdmin}
	case tenant:
		return []store.Role{store.RoleUser, store.RoleBusinessAdmin}
	case applicant:
		return []store.Role{store.RoleApproved, store.RoleBusinessAdmin}
	case admin:
		return []store.Role{store.RoleBusinessAdmin, store.RoleSysAdmin}
	case sysAdmin:
		return []store.Role{store.RoleSysAdmin}
	}
	return nil
}

// param is a query parameter.
type param struct {
	Name    string
	Type    string // string, integer or boolean
	Desc    string
	Default any
	Enum    []string
	// Multi: the parameter may repeat.
	Multi bool
}

// oneOf is response data of one of several shapes (GET /v1/deploy/id/{id}
// with field=historyVersion answers a list).
type oneOf []any

// formField is a field of a multipart/form-data body.
type formField struct {
	Name, Desc string
	File       bool
}

type route struct {
	Method, Path string // fiber's path syntax (:param)
	Handle       func(*server, *fiber.Ctx) error
	Access       access
	// Audit is the action recorded in the audit trail ("" for none).
	Audit string

	Tag, Summary, Desc string
	Query              []param
	// Body is a value of the request's JSON body type; Form a
	// multipart/form-data body instead.
	Body any
	Form []formField
	// Data is a value of the response's data type (nil: data is null);
	// List: data is a page of them, with total.
	Data any
	List bool
	// ReadyNodeCount: the envelope also carries readyNodeCount.
	ReadyNodeCount bool
	// Status is the status of success (default 200).
	Status int
	// Raw is the media type of a success that is not the envelope.
	Raw string
	// Errors are statuses this route may answer besides those every route
	// of its kind does (see openapi.go's errorsOf).
	Errors []int
}

func pageParams(def int, zeroUnlimited bool) []param {
	size := "The size of a page."
	if zeroUnlimited {
		size = "The size of a page; 0 for no limit."
	}
	return []param{
		{Name: "page", Type: "integer", Desc: "The page number, from 1.", Default: 1},
		{Name: "pageSize", Type: "integer", Desc: size, Default: def},
	}
}

func orderParams(def string, by ...string) []param {
	return []param{
		{Name: "orderBy", Type: "string", Desc: "The field to sort by.", Default: by[0], Enum: by},
		{Name: "order", Type: "string", Desc: "The sort order.", Default: def, Enum: []string{"asc", "desc"}},
	}
}

func join(sets ...[]param) []param {
	var out []param
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

var nameMode = param{Name: "appNameMode", Type: "string", Desc: "How appName matches.", Default: "partial", Enum: []string{"strict", "partial", "prefix"}}

// apiRoutes is the table, in the seed's order of sections.
var apiRoutes = []route{
	{Method: "GET", Path: "/healthz", Handle: (*server).healthz, Tag: "Hub", Summary: "Liveness: the process answers", Data: statusData{}},
	{Method: "GET", Path: "/readyz", Handle: (*server).readyz, Tag: "Hub", Summary: "Readiness: the database answers", Data: statusData{}},
	{Method: "GET", Path: "/metrics", Handle: (*server).metricsEndpoint, Tag: "Hub", Summary: "Prometheus metrics", Raw: "text/plain"},
	{Method: "GET", Path: "/v1/openapi.json", Handle: (*server).openAPIJSON, Tag: "Hub", Summary: "This description of the API (OpenAPI 3.1)", Raw: "application/json"},
	{Method: "GET", Path: "/v1/docs", Handle: (*server).openAPIPage, Tag: "Hub", Summary: "This description of the API, as a page for people", Raw: "text/html"},
	{Method: "GET", Path: "/", Handle: (*server).consoleIndex, Tag: "Hub", Summary: "The web console",
		Desc: "The console's page (hub/console). It calls this API with the user's token, kept in the browser's session storage.", Raw: "text/html"},
	{Method: "GET", Path: "/console/:asset", Handle: (*server).consoleAsset, Tag: "Hub", Summary: "The web console's scripts and style sheet",
		Desc: "Revalidated on every load (Cache-Control: no-cache, ETag).", Raw: "text/javascript", Errors: []int{404}},

	// User management.
	{Method: "POST", Path: "/v1/authorization", Handle: (*server).login, Tag: "User", Summary: "Login",
		Desc: "Returns an access token (valid one hour) for a user name and password. Failed logins are limited per address and per user: 429 with Retry-After.",
		Body: loginRequest{}, Data: tokenResponse{}, Errors: []int{401, 403, 429}},
	{Method: "PUT", Path: "/v1/authorization", Handle: (*server).refreshToken, Access: signedIn, Tag: "User", Summary: "Update token",
		Desc: "Returns a new token with a new expiry time for the current token.", Data: tokenResponse{}},
	{Method: "DELETE", Path: "/v1/authorization", Handle: (*server).logout, Access: signedIn, Tag: "User", Summary: "Logout",
		Desc: "Revokes the current token."},
	{Method: "GET", Path: "/v1/authorization", Handle: (*server).authorizationInfo, Access: signedIn, Tag: "User", Summary: "Get authorization information",
		Desc: "The caller's identity, role and the hub's feature switches.", Data: authorizationInfo{}},
	{Method: "POST", Path: "/v1/user", Handle: (*server).register, Tag: "User", Summary: "Create user",
		Desc: "Registers a user without a token; the user can log in after a system administrator approves it. Limited per address (429 with Retry-After) and while too many users wait (503).",
		Body: newUserRequest{}, Data: userResponse{}, Errors: []int{409, 429}},
	{Method: "PUT", Path: "/v1/user", Handle: (*server).changePassword, Access: signedIn, Tag: "User", Summary: "Update password",
		Desc: "Changes the caller's password and returns a new token; other tokens of the user are revoked.", Body: changePasswordRequest{}, Data: tokenResponse{}},
	{Method: "GET", Path: "/v1/admin/user", Handle: (*server).listUsers, Access: admin, Tag: "User", Summary: "Get user list",
		Desc:  "A business administrator sees the users of their business; the system administrator sees all.",
		Query: join(orderParams("asc", "id", "user_name"), pageParams(10, false)), Data: userResponse{}, List: true},
	{Method: "POST", Path: "/v1/admin/user", Handle: (*server).createSubUser, Access: admin, Audit: "user.create", Tag: "User", Summary: "Create sub-user",
		Desc: "Creates an approved user in the caller's business.", Body: newUserRequest{}, Data: userResponse{}, Errors: []int{409}},
	// The seed spells this one's parameter userid; OpenAPI takes
	// /v1/admin/user/{userid} and /v1/admin/user/{userId} for the same
	// path, so both are userId. Clients see no difference.
	{Method: "DELETE", Path: "/v1/admin/user/:userId", Handle: (*server).deleteUser, Access: admin, Audit: "user.delete", Tag: "User", Summary: "Delete user",
		Desc: "A business administrator deletes users of their business; the system administrator any user.", Errors: []int{409}},
	{Method: "PUT", Path: "/v1/admin/user/:userId/password", Handle: (*server).resetPassword, Access: admin, Audit: "user.password.reset", Tag: "User", Summary: "Reset password",
		Body: resetPasswordRequest{}},
	{Method: "PUT", Path: "/v1/admin/user/:userId", Handle: (*server).auditUser, Access: sysAdmin, Audit: "user.audit", Tag: "User", Summary: "Audit user",
		Desc: "Approves (1), disapproves (2) or forbids (3) a user.", Body: auditUserRequest{}, Data: userResponse{}, Errors: []int{409}},

	// Businesses.
	{Method: "POST", Path: "/v1/business", Handle: (*server).createBusiness, Access: applicant, Tag: "Business", Summary: "Create business",
		Desc: "Applies for a business (a tenant with its own namespace on every cluster); it waits for a system administrator's approval.",
		Body: createBusinessRequest{}, Data: businessResponse{}, Errors: []int{409}},
	{Method: "GET", Path: "/v1/business", Handle: (*server).listBusinesses, Access: signedIn, Tag: "Business", Summary: "Get business list",
		Desc:  "The system administrator sees every business; others see their own.",
		Query: join(pageParams(10, false), orderParams("asc", "id"), []param{{Name: "name", Type: "string", Desc: "Business name filter."}}), Data: businessResponse{}, List: true},
	{Method: "GET", Path: "/v1/business/id/:id", Handle: (*server).getBusiness, Access: signedIn, Tag: "Business", Summary: "Get business", Data: businessResponse{}},
	{Method: "PUT", Path: "/v1/business/id/:id", Handle: (*server).auditBusiness, Access: sysAdmin, Audit: "business.audit", Tag: "Business", Summary: "Audit business",
		Desc: "Approves (1) or disapproves (2) a business, or sets its Pod Security level.", Body: auditBusinessRequest{}, Data: businessResponse{}, Errors: []int{409}},

	// Clusters.
	{Method: "GET", Path: "/v1/cluster", Handle: (*server).listClusters, Access: approved, Tag: "Cluster", Summary: "Get cluster list",
		Query: join(pageParams(0, true), []param{{Name: "clusterLabel", Type: "string", Desc: "Only clusters with this label."}}), Data: clusterResponse{}, List: true},
	{Method: "POST", Path: "/v1/cluster/label", Handle: (*server).addClusterLabel, Access: sysAdmin, Audit: "cluster.label.add", Tag: "Cluster", Summary: "Add label to cluster",
		Body: clusterLabelRequest{}},
	{Method: "DELETE", Path: "/v1/cluster/label", Handle: (*server).removeClusterLabel, Access: sysAdmin, Audit: "cluster.label.remove", Tag: "Cluster", Summary: "Delete label",
		Body: clusterLabelRequest{}},
	{Method: "GET", Path: "/v1/cluster/label", Handle: (*server).clusterLabelNames, Access: approved, Tag: "Cluster", Summary: "Get label list",
		Desc: "Every cluster label in use.", Data: []string{}},
	{Method: "GET", Path: "/v1/cluster/label/:clusterName", Handle: (*server).clusterLabels, Access: approved, Tag: "Cluster", Summary: "Get label",
		Desc: "The labels of one cluster.", Query: pageParams(10, true), Data: labelResponse{}, List: true},

	// Nodes.
	{Method: "GET", Path: "/v1/node", Handle: (*server).listNodes, Access: approved, Tag: "Node", Summary: "Get node list",
		Desc: "The envelope's readyNodeCount counts the ready nodes among all that match, not only this page.",
		Query: join([]param{
			{Name: "field", Type: "string", Desc: "Comma-separated fields to present (default all)."},
			{Name: "nodeLabel", Type: "string", Desc: "Only nodes with this label (key=value)."},
			{Name: "clusterName", Type: "string", Desc: "Only nodes of this cluster."},
			{Name: "nodeName", Type: "string", Desc: "Only nodes of this name."},
		}, pageParams(10, false)), Data: nodeResponse{}, List: true, ReadyNodeCount: true},
	{Method: "POST", Path: "/v1/node/label", Handle: (*server).addNodeLabel, Access: sysAdmin, Audit: "node.label.add", Tag: "Node", Summary: "Add label to node",
		Body: nodeLabelRequest{}},
	{Method: "DELETE", Path: "/v1/node/label", Handle: (*server).removeNodeLabel, Access: sysAdmin, Audit: "node.label.remove", Tag: "Node", Summary: "Delete label",
		Body: nodeLabelRequest{}},
	{Method: "GET", Path: "/v1/node/label", Handle: (*server).nodeLabelNames, Access: approved, Tag: "Node", Summary: "Get label list",
		Query: []param{{Name: "clusterName", Type: "string", Desc: "Only labels of this cluster's nodes."}}, Data: []string{}},

	// Applications.
	{Method: "POST", Path: "/v1/app", Handle: (*server).createApp, Access: tenant, Tag: "Application", Summary: "Create application",
		Desc: "Creates a version of a container application in the caller's business.", Body: deploy.AppRequest{}, Data: appResponse{}, Errors: []int{409}},
	{Method: "POST", Path: "/v1/app/chart", Handle: (*server).uploadChart, Access: tenant, Tag: "Application", Summary: "Upload Helm chart to create application",
		Desc: "Creates a version of a Helm chart application from a chart archive (.tgz). Uploads run a few at a time: 503 with Retry-After beyond.",
		Form: []formField{{Name: "appName", Desc: "The application's name."}, {Name: "version", Desc: "The version, x.y."}, {Name: "chart", Desc: "The chart archive.", File: true}},
		Data: appResponse{}, Errors: []int{409}},
	{Method: "DELETE", Path: "/v1/app", Handle: (*server).deleteApps, Access: tenant, Tag: "Application", Summary: "Delete application",
		Body: deleteAppsRequest{}, Errors: []int{409}},
	{Method: "GET", Path: "/v1/app", Handle: (*server).listApps, Access: member, Tag: "Application", Summary: "List applications",
		Query: join(pageParams(10, true), []param{
			{Name: "appName", Type: "string", Desc: "Application name filter."}, nameMode,
			{Name: "version", Type: "string", Desc: "Only this version."},
		}), Data: appResponse{}, List: true},
	{Method: "GET", Path: "/v1/app/id/:appId", Handle: (*server).getApp, Access: member, Tag: "Application", Summary: "Get application", Data: appResponse{}},

	// Deployments.
	{Method: "POST", Path: "/v1/deploy", Handle: (*server).createDeploy, Access: tenant, Audit: "deploy.create", Tag: "Deployment", Summary: "Create deployment",
		Desc: "Deploys a version of an application to the clusters with a label; it waits for an administrator's approval unless auto-deploy applies.",
		Body: createDeployRequest{}, Data: deployResponse{}, Errors: []int{409}},
	{Method: "GET", Path: "/v1/deploy", Handle: (*server).listDeploys, Access: member, Tag: "Deployment", Summary: "List deployment",
		Query: join(pageParams(10, true), []param{
			{Name: "field", Type: "string", Desc: "Comma-separated fields to present (default all)."},
			{Name: "appName", Type: "string", Desc: "Application name filter."}, nameMode,
			{Name: "editable", Type: "string", Desc: "Only deployments that can (true) or cannot (false) be changed now.", Default: "all", Enum: []string{"true", "false", "all"}},
			{Name: "running", Type: "string", Desc: "Only running deployments (true).", Default: "all", Enum: []string{"true", "all"}},
		}), Data: deployResponse{}, List: true},
	{Method: "DELETE", Path: "/v1/deploy/id/:deployId", Handle: (*server).deleteDeployByID, Access: member, Audit: "deploy.delete", Tag: "Deployment", Summary: "Delete deployment",
		Desc: "Files the deletion of a deployment; it waits for approval like any change.", Data: deployResponse{}, Errors: []int{409}},
	{Method: "POST", Path: "/v1/deploy/id/:deployId", Handle: (*server).upgradeDeploy, Access: member, Audit: "deploy.upgrade", Tag: "Deployment", Summary: "Upgrade deployment",
		Body: changeDeployRequest{}, Data: deployResponse{}, Errors: []int{409}},
	{Method: "PUT", Path: "/v1/deploy/id/:deployId", Handle: (*server).rollbackDeploy, Access: member, Audit: "deploy.rollback", Tag: "Deployment", Summary: "Rollback deployment",
		Body: changeDeployRequest{}, Data: deployResponse{}, Errors: []int{409}},
	{Method: "GET", Path: "/v1/deploy/id/:deployId", Handle: (*server).getDeploy, Access: member, Tag: "Deployment", Summary: "Get deployment",
		Desc:  "field=historyVersion lists the versions that have been live, newest first, instead.",
		Query: []param{{Name: "field", Type: "string", Desc: "Comma-separated fields to present, or historyVersion."}},
		Data:  oneOf{deployResponse{}, []historyVersion{}}},
	{Method: "POST", Path: "/v1/deploy/id/:deployId/rollout", Handle: (*server).rolloutDeploy, Access: member, Audit: "deploy.rollout", Tag: "Deployment", Summary: "Pause, resume or abort a rollout",
		Desc: "Pauses a running or waiting rollout where it is, resumes a paused or failed one (retrying its current wave with a new deadline), or aborts it, leaving every cluster as it is. Members of the deployment's business may; the system administrator may pause or abort.",
		Body: rolloutActionRequest{}, Data: deployResponse{}, Errors: []int{409}},
	{Method: "DELETE", Path: "/v1/deploy/:deployName", Handle: (*server).deleteDeployByName, Access: member, Audit: "deploy.delete", Tag: "Deployment", Summary: "Delete deployment by name",
		Data: deployResponse{}, Errors: []int{409}},
	{Method: "PUT", Path: "/v1/admin/deploy", Handle: (*server).auditDeploy, Access: admin, Audit: "deploy.audit", Tag: "Deployment", Summary: "Audit deployment",
		Desc: "Approves (1) or disapproves (2) a deployment's pending request.", Body: auditDeployRequest{}, Data: deployResponse{}, Errors: []int{409}},
	{Method: "POST", Path: "/v1/admin/deploy", Handle: (*server).auditDeploy, Access: admin, Audit: "deploy.audit", Tag: "Deployment", Summary: "Audit deployment (POST)",
		Desc: "The same as PUT /v1/admin/deploy.", Body: auditDeployRequest{}, Data: deployResponse{}, Errors: []int{409}},
	{Method: "GET", Path: "/v1/admin/deploy", Handle: (*server).listAudits, Access: admin, Tag: "Deployment", Summary: "List audit list of deployment",
		Query: join(orderParams("desc", "id"), []param{{Name: "businessName", Type: "string", Desc: "Only requests of this business."}}, pageParams(10, false)),
		Data:  auditResponse{}, List: true},
	{Method: "GET", Path: "/v1/admin/audit", Handle: (*server).listTrail, Access: admin, Tag: "Audit trail", Summary: "List the audit trail",
		Desc: "Administrative writes, newest first: who did what, from where, and the outcome. Secrets are never recorded.",
		Query: join(pageParams(10, false), orderParams("desc", "id"), []param{
			{Name: "user", Type: "string", Desc: "Only writes by this user."},
			{Name: "action", Type: "string", Desc: "Only this action, such as deploy.create."},
			{Name: "from", Type: "integer", Desc: "Only writes at or after this Unix time."},
			{Name: "to", Type: "integer", Desc: "Only writes before this Unix time."},
		}), Data: trailResponse{}, List: true},

	// Repositories.
	{Method: "POST", Path: "/v1/repository/third", Handle: (*server).createRepo, Access: tenant, Audit: "repository.create", Tag: "Repository", Summary: "Create external repository",
		Desc: "Registers a registry of the business's own; its password is sealed and never shown.", Body: createRepoRequest{}, Data: repoResponse{}, Errors: []int{409}},
	{Method: "DELETE", Path: "/v1/repository/third", Handle: (*server).deleteRepos, Access: tenant, Audit: "repository.delete", Tag: "Repository", Summary: "Delete external repository",
		Body: deleteReposRequest{}, Errors: []int{409}},
	{Method: "GET", Path: "/v1/repository/third", Handle: (*server).listRepos, Access: tenant, Tag: "Repository", Summary: "Get external repository list",
		Query: join(pageParams(10, true), orderParams("asc", "id")), Data: repoResponse{}, List: true},
	{Method: "GET", Path: "/v1/repository/third/:repoId", Handle: (*server).getRepo, Access: tenant, Tag: "Repository", Summary: "Get external repository", Data: repoResponse{}},
	{Method: "GET", Path: "/v1/repository/image", Handle: (*server).listImages, Access: member, Tag: "Repository", Summary: "Get images",
		Query: join(pageParams(10, true), orderParams("desc", "id"), []param{
			{Name: "projectName", Type: "string", Desc: "The project (required unless the caller's business has one)."},
			{Name: "imageName", Type: "string", Desc: "Image name filter."},
		}), Data: imageResponse{}, List: true},
	{Method: "DELETE", Path: "/v1/repository/image", Handle: (*server).deleteImages, Access: member, Audit: "image.delete", Tag: "Repository", Summary: "Delete image",
		Body: deleteImagesRequest{}, Errors: []int{502}},
	{Method: "GET", Path: "/v1/repository/image/tag", Handle: (*server).listTags, Access: member, Tag: "Repository", Summary: "Get tag of image",
		Query: join([]param{{Name: "imageName", Type: "string", Desc: "The image, project/name."}}, pageParams(10, true)), Data: tagResponse{}, List: true},
	{Method: "DELETE", Path: "/v1/repository/image/tag", Handle: (*server).deleteTags, Access: member, Audit: "tag.delete", Tag: "Repository", Summary: "Delete tag of image",
		Body: deleteTagsRequest{}, Errors: []int{502}},
	{Method: "POST", Path: "/v1/repository/user", Handle: (*server).createRegistryUser, Access: member, Audit: "registry.user.create", Tag: "Repository", Summary: "Create user",
		Desc: "Creates the caller's account of the image registry (for docker login).", Body: registryUserRequest{}, Data: registryUserResponse{}, Errors: []int{409}},
	{Method: "PUT", Path: "/v1/repository/user", Handle: (*server).updateRegistryPassword, Access: member, Audit: "registry.user.password", Tag: "Repository", Summary: "Update password",
		Body: registryUserRequest{}},
	{Method: "GET", Path: "/v1/repository/project", Handle: (*server).listProjects, Access: member, Tag: "Repository", Summary: "Get projects of repository",
		Query: join([]param{
			{Name: "projectName", Type: "string", Desc: "Project name filter."},
			{Name: "public", Type: "string", Desc: "Only public (true) or private (false) projects.", Enum: []string{"true", "false"}},
		}, pageParams(10, false)), Data: projectResponse{}, List: true},
	{Method: "POST", Path: "/v1/repository/project", Handle: (*server).createProject, Access: member, Audit: "project.create", Tag: "Repository", Summary: "Create project",
		Body: createProjectRequest{}, Data: projectResponse{}, Status: fiber.StatusCreated, Errors: []int{409}},
	{Method: "DELETE", Path: "/v1/repository/project", Handle: (*server).deleteProjects, Access: member, Audit: "project.delete", Tag: "Repository", Summary: "Delete project",
		Body: deleteProjectsRequest{}, Errors: []int{409}},

	// The registry's token realm and the key it trusts: no platform token.
	{Method: "GET", Path: "/v1/registry/token", Handle: (*server).registryToken, Tag: "Registry", Summary: "Registry token (Docker token authentication)",
		Desc:  "The realm the image registry sends clients to; Basic credentials of a registry account, or none for public pulls. Answers the token specification's JSON, not the envelope.",
		Query: []param{{Name: "service", Type: "string", Desc: "The registry's service name."}, {Name: "scope", Type: "string", Desc: "repository:<name>:<actions>", Multi: true}},
		Raw:   "application/json", Errors: []int{400, 401, 429}},
	{Method: "POST", Path: "/v1/registry/token", Handle: (*server).registryToken, Tag: "Registry", Summary: "Registry token (OAuth2 password grant)",
		Desc:  "As GET, with the form grant_type=password, username, password, service, scope.",
		Query: []param{{Name: "service", Type: "string", Desc: "The registry's service name."}, {Name: "scope", Type: "string", Desc: "repository:<name>:<actions>", Multi: true}},
		Raw:   "application/json", Errors: []int{400, 401, 413, 415, 429}},
	{Method: "GET", Path: "/v1/registry/jwks.json", Handle: (*server).registryJWKS, Tag: "Registry", Summary: "The public key of registry tokens (JWKS)", Raw: "application/json"},

	// The agents' side.
	{Method: "POST", Path: protocol.JoinPath, Handle: (*server).joinCluster, Access: bootstrap, Tag: "Agent", Summary: "Join a cluster",
		Desc: "An agent presents the bootstrap token (Authorization: Bearer) and gets its cluster's credential.",
		Body: protocol.JoinRequest{}, Data: protocol.JoinResponse{}, Errors: []int{401, 403, 409, 429}},
	{Method: "GET", Path: protocol.TunnelPath, Handle: (*server).misroutedTunnel, Access: agent, Tag: "Agent", Summary: "The agent's tunnel (websocket)",
		Desc: "Upgraded to a websocket by the hub's HTTP server before the API sees it; a request that reaches the API is refused.", Errors: []int{400, 426}},
	{Method: "GET", Path: protocol.ChartsPath + "/:digest", Handle: (*server).chartArchive, Access: agent, Tag: "Agent", Summary: "A chart archive by digest",
		Raw: "application/gzip"},
	{Method: "GET", Path: protocol.PullSecretsPath + "/:namespace/:repoId", Handle: (*server).pullSecret, Access: agent, Tag: "Agent", Summary: "An image pull secret's docker config",
		Raw: "application/json"},
}

// statusData is the data of /healthz and /readyz.
type statusData struct {
	Status string `json:"status"`
}

func (s *server) routes(app *fiber.App) {
	for i := range apiRoutes {
		r := &apiRoutes[i]
		var chain []fiber.Handler
		switch r.Access {
		case public, bootstrap:
		case agent:
			chain = append(chain, s.authenticateAgent)
		default:
			chain = append(chain, s.authenticate)
			if roles := r.Access.roles(); roles != nil {
				chain = append(chain, s.requireRole(roles...))
			}
		}
		if r.Audit != "" {
			chain = append(chain, s.audited(r.Audit))
		}
		handle := r.Handle
		chain = append(chain, func(c *fiber.Ctx) error { return handle(s, c) })
		if r.Method == fiber.MethodGet { // HEAD too, as fiber's Get does
			app.Add(fiber.MethodHead, r.Path, chain...)
		}
		app.Add(r.Method, r.Path, chain...)
	}
}
