package api

import (
	"encoding/json"
	"regexp"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/store"
)

// nodeNameRE: Kubernetes node names are DNS subdomains.
var nodeNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// nodeResponse is one node of GET /v1/node. Byte sizes are bytes; cpu is
// whole cores; gpu is GPU memory in bytes (the seed's definition), from the
// GPU feature discovery label nvidia.com/gpu.memory times gpuCount.
type nodeResponse struct {
	NodeName        string   `json:"nodeName"`
	ClusterName     string   `json:"clusterName"`
	OperatingSystem string   `json:"operatingSystem"`
	OSImage         string   `json:"osImage"`
	KernelVersion   string   `json:"kernelVersion"`
	IP              string   `json:"ip"`
	Memory          int64    `json:"memory"`
	CPU             int64    `json:"cpu"`
	IsReady         bool     `json:"isReady"`
	GPU             int64    `json:"gpu"`
	GPUCount        int64    `json:"gpuCount"`
	Disk            int64    `json:"disk"`
	Labels          []string `json:"labels"`
	UpdateTime      int64    `json:"updateTime"`
}

// nodeFields are the names `field` may select.
var nodeFields = fieldsOf(nodeResponse{})

// listNodes: GET /v1/node. The envelope adds readyNodeCount: the ready nodes
// among all that match the filters (not only this page).
func (s *server) listNodes(c *fiber.Ctx) error {
	page, err := parsePage(c, 10, false)
	if err != nil {
		return err
	}
	fields, err := parseFields(c.Query("field"), nodeFields)
	if err != nil {
		return err
	}
	q := store.NodeQuery{ClusterName: c.Query("clusterName"), NodeName: c.Query("nodeName"), Page: page}
	if v := c.Query("nodeLabel"); v != "" {
		if q.Label, err = checkLabel("nodeLabel", &v); err != nil {
			return err
		}
	}
	ctx := c.UserContext()
	nodes, total, err := s.store.ListNodes(ctx, q)
	if err != nil {
		return err
	}
	now, window := time.Now(), s.cfg.Tunnel.ReadyWindow()
	ready, err := s.store.CountReadyNodes(ctx, q, now.Add(-window))
	if err != nil {
		return err
	}
	out := make([]any, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		r := nodeResponse{
			NodeName: n.Name, ClusterName: n.ClusterName, OperatingSystem: n.OperatingSystem, OSImage: n.OSImage,
			KernelVersion: n.KernelVersion, IP: n.IP, Memory: n.Memory, CPU: n.CPU, GPU: n.GPUMemory, GPUCount: n.GPUCount,
			Disk: n.Disk, Labels: n.Labels, UpdateTime: n.UpdatedAt.Unix(),
			IsReady: n.Ready && n.ClusterOnline && now.Sub(n.ClusterLastSeen) < window,
		}
		if fields == nil {
			out[i] = r
			continue
		}
		out[i] = pick(r, fields)
	}
	return c.JSON(envelope{Code: 0, Message: "success", Data: out, Total: &total, ReadyNodeCount: &ready})
}

// pick keeps only fields of v's JSON object.
func pick(v any, fields []string) map[string]json.RawMessage {
	b, _ := json.Marshal(v)
	var all map[string]json.RawMessage
	_ = json.Unmarshal(b, &all)
	out := make(map[string]json.RawMessage, len(fields))
	for _, f := range fields {
		out[f] = all[f]
	}
	return out
}

type nodeLabelRequest struct {
	NodeName     []string `json:"nodeName"`
	NodeLabel    *string  `json:"nodeLabel"`
	ClusterName  *string  `json:"clusterName"`
	DeleteDeploy *bool    `json:"deleteDeploy"`
}

func (s *server) decodeNodeLabel(c *fiber.Ctx) (nodeLabelRequest, string, error) {
	var req nodeLabelRequest
	if err := decodeJSON(c, &req); err != nil {
		return req, "", err
	}
	if req.ClusterName == nil || *req.ClusterName == "" {
		return req, "", invalid("clusterName", "is required")
	}
	if !clusterNameRE.MatchString(*req.ClusterName) {
		return req, "", invalid("clusterName", "%q is not a valid cluster name", *req.ClusterName)
	}
	if err := checkNames("nodeName", req.NodeName, nodeNameRE); err != nil {
		return req, "", err
	}
	label, err := checkLabel("nodeLabel", req.NodeLabel)
	return req, label, err
}

// addNodeLabel: POST /v1/node/label. The label also goes onto the Kubernetes
// Nodes, as label.ote-stack.io/<label>: "true".
func (s *server) addNodeLabel(c *fiber.Ctx) error {
	req, label, err := s.decodeNodeLabel(c)
	if err != nil {
		return err
	}
	if err := s.store.AddNodeLabel(c.UserContext(), *req.ClusterName, req.NodeName, label); err != nil {
		return notFoundAs(err)
	}
	s.desiredWritten("node-label-added")
	return ok(c, nil)
}

// removeNodeLabel: DELETE /v1/node/label. With deleteDeploy true, the pods
// that deployments placed on these nodes through this label are deleted
// too (their controllers reschedule them on nodes that still carry it).
func (s *server) removeNodeLabel(c *fiber.Ctx) error {
	req, label, err := s.decodeNodeLabel(c)
	if err != nil {
		return err
	}
	evict := req.DeleteDeploy != nil && *req.DeleteDeploy
	if err := s.store.RemoveNodeLabel(c.UserContext(), *req.ClusterName, req.NodeName, label, evict); err != nil {
		return notFoundAs(err)
	}
	s.desiredWritten("node-label-removed")
	return ok(c, nil)
}

// nodeLabelNames: GET /v1/node/label.
func (s *server) nodeLabelNames(c *fiber.Ctx) error {
	names, err := s.store.NodeLabelNames(c.UserContext(), c.Query("clusterName"))
	if err != nil {
		return notFoundAs(err)
	}
	return ok(c, names)
}
