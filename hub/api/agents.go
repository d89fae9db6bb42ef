package api

import (
	"context"
	"errors"
	"regexp"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/auth"
	"github.com/ote-stack/ote/hub/store"
	"github.com/ote-stack/ote/protocol"
)

// clusterNameRE: cluster names are DNS labels, as Kubernetes names go.
var clusterNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// joinCluster: POST /v1/agent/join. An agent presents the hub's bootstrap
// token and a new cluster name and receives the cluster's credential.
func (s *server) joinCluster(c *fiber.Ctx) error {
	if s.cfg.BootstrapToken == "" {
		return forbidden("joining is disabled: the hub has no --agent-bootstrap-token")
	}
	ip := s.clientIP(c)
	if err := s.agentAttempt(ip); err != nil {
		return err
	}
	if !auth.TokenMatches(c.Get(protocol.HeaderBootstrapToken), s.cfg.BootstrapToken) {
		s.agentFailed(ip, "join with a wrong bootstrap token", "")
		return unauthorized("wrong or missing bootstrap token (header " + protocol.HeaderBootstrapToken + ")")
	}
	var req protocol.JoinRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if !clusterNameRE.MatchString(req.ClusterName) {
		return invalid("clusterName", "must be 1-63 lower case letters, digits or '-', starting and ending with a letter or digit")
	}
	cred, digest := auth.NewCredential()
	cl, err := s.store.JoinCluster(c.UserContext(), req.ClusterName, digest)
	if errors.Is(err, store.ErrClusterJoined) {
		s.log.Warn("agent join refused: cluster name taken", "cluster", req.ClusterName, "remote", ip)
		return conflict("cluster %q has already joined; its agent must use its credential", req.ClusterName)
	}
	if err != nil {
		return err
	}
	s.log.Info("cluster joined", "cluster", cl.Name, "remote", ip)
	return ok(c, protocol.JoinResponse{ClusterName: cl.Name, Credential: cred})
}

const clusterKey = "ote.cluster"

// authenticateAgent admits an agent's request (charts, pull secrets) whose
// credential matches its cluster.
func (s *server) authenticateAgent(c *fiber.Ctx) error {
	cl, err := s.admitAgent(c.UserContext(), s.clientIP(c), c.Get(protocol.HeaderCluster), bearerToken(c.Get(fiber.HeaderAuthorization)))
	if err != nil {
		return err
	}
	c.Locals(clusterKey, cl)
	return c.Next()
}

// admitAgent returns the cluster whose credential cred is, for requests of
// its agent from ip (the API's and the tunnel's). Failures are throttled
// per address (429 with Retry-After) and logged once per address per
// minute with their count.
func (s *server) admitAgent(ctx context.Context, ip, name, cred string) (*store.Cluster, error) {
	if err := s.agentAttempt(ip); err != nil {
		return nil, err
	}
	if name == "" || cred == "" {
		s.agentFailed(ip, "no cluster name or credential", name)
		return nil, unauthorized("a tunnel needs headers " + protocol.HeaderCluster + " and Authorization: Bearer <credential>")
	}
	cl, err := s.store.ClusterByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		s.agentFailed(ip, "unknown cluster", name)
		return nil, unauthorized("cluster " + clip(name) + " has not joined this hub")
	}
	if err != nil {
		return nil, err
	}
	if !auth.CredentialMatches(cred, cl.CredentialHash) {
		s.agentFailed(ip, "wrong credential", name)
		return nil, unauthorized("wrong credential for cluster " + clip(name))
	}
	return cl, nil
}

// agentAttempt refuses, with 429 and Retry-After, an agent authentication
// from an address that has failed too often (joins and agent requests).
// Unlike platform logins it reserves nothing before the check: agents
// present random 256-bit credentials that cannot be guessed, and a fleet
// behind one NAT address reconnects all at once after a hub restart, which
// reservations would refuse as if they were failures. Failures are counted
// by agentFailed.
func (s *server) agentAttempt(ip string) error {
	if wait := s.agentFails.Wait(clientKey(ip), s.cfg.Login.IPBurst); wait > 0 {
		return &Error{Status: fiber.StatusTooManyRequests, Message: "too many failed agent authentications from this address; try again later", RetryAfter: wait}
	}
	return nil
}

// agentFailed logs a failed agent authentication: one line per address per
// minute, with the number of failures it stands for. Never the secret.
func (s *server) agentFailed(ip, reason, cluster string) {
	s.agentFails.Add(clientKey(ip))
	s.metrics.authFailures.WithLabelValues(authAgent).Inc()
	if ok, n := s.agentLog.Note(clientKey(ip)); ok {
		s.log.Warn("agent authentication failed", "remote", ip, "reason", reason, "cluster", clip(cluster), "failures", n)
	}
}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// chartArchive: GET /v1/agent/charts/{digest}, for agents: the archive of a
// chart application, which the agent checks against the digest.
func (s *server) chartArchive(c *fiber.Ctx) error {
	digest := c.Params("digest")
	if !digestRE.MatchString(digest) {
		return invalid("digest", "must be sha256:<64 hex digits>")
	}
	b, err := s.store.Chart(c.UserContext(), digest)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no chart %s", digest)
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/gzip")
	return c.Send(b)
}
