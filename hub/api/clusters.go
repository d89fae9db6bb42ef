package api

import (
	"errors"
	"regexp"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/store"
)

// labelRE: cluster and node labels are letters, digits, '-' and '.', and (to
// be valid Kubernetes label names too) start and end with a letter or digit.
var labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$`)

func checkLabel(field string, v *string) (string, error) {
	if v == nil || *v == "" {
		return "", invalid(field, "is required")
	}
	if !labelRE.MatchString(*v) {
		return "", invalid(field, "must be 1-63 letters, digits, '-' or '.', starting and ending with a letter or digit, got %q", *v)
	}
	return *v, nil
}

func checkNames(field string, names []string, re *regexp.Regexp) error {
	if len(names) == 0 {
		return invalid(field, "must list at least one name")
	}
	if len(names) > 1000 {
		return invalid(field, "lists %d names; at most 1000", len(names))
	}
	for _, n := range names {
		if !re.MatchString(n) {
			return invalid(field, "%q is not a valid name", n)
		}
	}
	return nil
}

// clusterResponse is one cluster of GET /v1/cluster.
type clusterResponse struct {
	ClusterName    string   `json:"clusterName"`
	NodeCount      int64    `json:"nodeCount"`
	ReadyNodeCount int64    `json:"readyNodeCount"`
	IsReady        bool     `json:"isReady"`
	Labels         []string `json:"labels"`
	AgentVersion   string   `json:"agentVersion"`
	CreateTime     int64    `json:"createTime"`
	LastSeenTime   int64    `json:"lastSeenTime"`
}

// listClusters: GET /v1/cluster.
func (s *server) listClusters(c *fiber.Ctx) error {
	page, err := parsePage(c, 0, true)
	if err != nil {
		return err
	}
	q := store.ClusterQuery{Page: page}
	if v := c.Query("clusterLabel"); v != "" {
		if q.Label, err = checkLabel("clusterLabel", &v); err != nil {
			return err
		}
	}
	cls, total, err := s.store.ListClusters(c.UserContext(), q)
	if err != nil {
		return err
	}
	now, window := time.Now(), s.cfg.Tunnel.ReadyWindow()
	out := make([]clusterResponse, len(cls))
	for i := range cls {
		cl := &cls[i]
		ready := cl.Ready(now, window)
		out[i] = clusterResponse{
			ClusterName: cl.Name, NodeCount: cl.NodeCount, IsReady: ready, Labels: cl.Labels,
			AgentVersion: cl.AgentVersion, CreateTime: cl.CreatedAt.Unix(), LastSeenTime: unixOrZero(cl.LastSeen),
		}
		if ready {
			out[i].ReadyNodeCount = cl.ReadyNodeCount
		}
	}
	return list(c, out, total)
}

type clusterLabelRequest struct {
	ClusterName  []string `json:"clusterName"`
	ClusterLabel *string  `json:"clusterLabel"`
}

func (s *server) decodeClusterLabel(c *fiber.Ctx) (clusterLabelRequest, string, error) {
	var req clusterLabelRequest
	if err := decodeJSON(c, &req); err != nil {
		return req, "", err
	}
	if err := checkNames("clusterName", req.ClusterName, clusterNameRE); err != nil {
		return req, "", err
	}
	label, err := checkLabel("clusterLabel", req.ClusterLabel)
	return req, label, err
}

// addClusterLabel: POST /v1/cluster/label.
func (s *server) addClusterLabel(c *fiber.Ctx) error {
	req, label, err := s.decodeClusterLabel(c)
	if err != nil {
		return err
	}
	if err := s.store.AddClusterLabel(c.UserContext(), req.ClusterName, label); err != nil {
		return notFoundAs(err)
	}
	s.desiredWritten("cluster-label-added")
	return ok(c, nil)
}

// removeClusterLabel: DELETE /v1/cluster/label.
func (s *server) removeClusterLabel(c *fiber.Ctx) error {
	req, label, err := s.decodeClusterLabel(c)
	if err != nil {
		return err
	}
	if err := s.store.RemoveClusterLabel(c.UserContext(), req.ClusterName, label); err != nil {
		return notFoundAs(err)
	}
	s.desiredWritten("cluster-label-removed")
	return ok(c, nil)
}

// clusterLabelNames: GET /v1/cluster/label.
func (s *server) clusterLabelNames(c *fiber.Ctx) error {
	names, err := s.store.ClusterLabelNames(c.UserContext())
	if err != nil {
		return err
	}
	return ok(c, names)
}

type labelResponse struct {
	ClusterLabel string `json:"clusterLabel"`
	CreateTime   int64  `json:"createTime"`
}

// clusterLabels: GET /v1/cluster/label/{clusterName}.
func (s *server) clusterLabels(c *fiber.Ctx) error {
	name := c.Params("clusterName")
	if !clusterNameRE.MatchString(name) {
		return invalid("clusterName", "%q is not a valid cluster name", name)
	}
	page, err := parsePage(c, 10, true)
	if err != nil {
		return err
	}
	labels, total, err := s.store.ClusterLabels(c.UserContext(), name, page)
	if err != nil {
		return notFoundAs(err)
	}
	out := make([]labelResponse, len(labels))
	for i, l := range labels {
		out[i] = labelResponse{ClusterLabel: l.Name, CreateTime: l.CreatedAt.Unix()}
	}
	return list(c, out, total)
}

// notFoundAs turns a store ErrNotFound into a 404 that names what is missing.
func notFoundAs(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound("%s", trimSentinel(err.Error()))
	}
	return err
}

func trimSentinel(msg string) string {
	const suffix = ": " + "not found"
	if len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
		return msg[:len(msg)-len(suffix)] + " not found"
	}
	return msg
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
