package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/store/sqlstore"
	"github.com/ote-stack/ote/hub/store/storetest"
	"github.com/ote-stack/ote/protocol"
)

func TestClusterLabels(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		for _, n := range []string{"edge-1", "edge-2", "edge-3"} {
			h.join(n)
		}
		body := func(names []string, label any) map[string]any {
			return map[string]any{"clusterName": names, "clusterLabel": label}
		}
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{body(nil, "east"), "clusterName"},
			{body([]string{"Edge_1"}, "east"), "clusterName"},
			{body([]string{"edge-1"}, nil), "clusterLabel"},
			{body([]string{"edge-1"}, "with space"), "clusterLabel"},
			{body([]string{"edge-1"}, "under_score"), "clusterLabel"},
			{body([]string{"edge-1"}, "-dash"), "clusterLabel"},
			{body([]string{"edge-1"}, strings.Repeat("x", 64)), "clusterLabel"},
		} {
			r := h.expect(422, "POST", "/v1/cluster/label", root, c.body)
			if !strings.HasPrefix(r.Message, c.field+":") {
				t.Errorf("%v: %q", c.body, r.Message)
			}
		}
		r := h.expect(404, "POST", "/v1/cluster/label", root, body([]string{"edge-1", "edge-9"}, "east"))
		if !strings.Contains(r.Message, "edge-9") {
			t.Errorf("404 does not name the cluster: %q", r.Message)
		}
		var names []string
		h.expect(200, "GET", "/v1/cluster/label", root, nil).into(t, &names)
		if len(names) != 0 {
			t.Fatalf("a refused request labelled: %v", names)
		}
		h.expect(200, "POST", "/v1/cluster/label", root, body([]string{"edge-1", "edge-2"}, "east.zone-1"))
		h.expect(200, "POST", "/v1/cluster/label", root, body([]string{"edge-3"}, "West"))
		h.expect(200, "POST", "/v1/cluster/label", root, body([]string{"edge-1"}, "gpu"))
		h.expect(200, "GET", "/v1/cluster/label", root, nil).into(t, &names)
		if fmt.Sprint(names) != "[West east.zone-1 gpu]" {
			t.Fatalf("labels %v", names)
		}
		var clusters []struct {
			ClusterName string   `json:"clusterName"`
			Labels      []string `json:"labels"`
		}
		r = h.expect(200, "GET", "/v1/cluster?clusterLabel=east.zone-1", root, nil)
		r.into(t, &clusters)
		if *r.Total != 2 || clusters[0].ClusterName != "edge-1" || fmt.Sprint(clusters[0].Labels) != "[east.zone-1 gpu]" {
			t.Fatalf("filtered clusters %+v", clusters)
		}
		r = h.expect(200, "GET", "/v1/cluster?page=2&pageSize=2", root, nil)
		r.into(t, &clusters)
		if *r.Total != 3 || len(clusters) != 1 || clusters[0].ClusterName != "edge-3" {
			t.Fatalf("page 2: %+v", clusters)
		}
		h.expect(422, "GET", "/v1/cluster?clusterLabel=a_b", root, nil)

		var labels []struct {
			ClusterLabel string `json:"clusterLabel"`
			CreateTime   int64  `json:"createTime"`
		}
		r = h.expect(200, "GET", "/v1/cluster/label/edge-1?pageSize=1", root, nil)
		r.into(t, &labels)
		if *r.Total != 2 || len(labels) != 1 || labels[0].ClusterLabel != "east.zone-1" || labels[0].CreateTime == 0 {
			t.Fatalf("labels of edge-1: %+v", labels)
		}
		h.expect(200, "GET", "/v1/cluster/label/edge-1?pageSize=0", root, nil).into(t, &labels)
		if len(labels) != 2 {
			t.Fatalf("pageSize=0 is no limit: %+v", labels)
		}
		h.expect(404, "GET", "/v1/cluster/label/edge-9", root, nil)

		h.expect(200, "DELETE", "/v1/cluster/label", root, body([]string{"edge-1"}, "gpu"))
		h.expect(200, "GET", "/v1/cluster/label/edge-1", root, nil).into(t, &labels)
		if len(labels) != 1 {
			t.Fatalf("after delete: %+v", labels)
		}
	})
}

func TestNodeLabelValidation(t *testing.T) {
	eachHub(t, func(t *testing.T, h *hub) {
		root := h.login(adminName, adminPass)
		cred := h.join("edge-1")
		a, _, _ := h.connect("edge-1", cred, 0)
		a.send(&protocol.Message{Kind: protocol.KindInventory, Inventory: &protocol.Inventory{Full: true, Nodes: []protocol.Node{{Name: "n1"}, {Name: "n2"}}}})
		waitFor(t, "inventory", func() bool { return *h.expect(200, "GET", "/v1/node", root, nil).Total == 2 })

		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"nodeName": []string{"n1"}, "nodeLabel": "gpu"}, "clusterName"},
			{map[string]any{"clusterName": "edge-1", "nodeLabel": "gpu"}, "nodeName"},
			{map[string]any{"clusterName": "edge-1", "nodeName": []string{"N_1"}, "nodeLabel": "gpu"}, "nodeName"},
			{map[string]any{"clusterName": "edge-1", "nodeName": []string{"n1"}}, "nodeLabel"},
			{map[string]any{"clusterName": "edge-1", "nodeName": []string{"n1"}, "nodeLabel": "a/b"}, "nodeLabel"},
			{map[string]any{"clusterName": "edge-1", "nodeName": []string{"n1"}, "nodeLabel": "gpu", "deleteDeploy": "yes"}, "deleteDeploy"},
		} {
			r := h.expect(422, "DELETE", "/v1/node/label", root, c.body)
			if !strings.HasPrefix(r.Message, c.field+":") {
				t.Errorf("%v: %q", c.body, r.Message)
			}
		}
		r := h.expect(404, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-1", "nodeName": []string{"n1", "n9"}, "nodeLabel": "gpu"})
		if !strings.Contains(r.Message, "n9") {
			t.Errorf("404 does not name the node: %q", r.Message)
		}
		h.expect(404, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-9", "nodeName": []string{"n1"}, "nodeLabel": "gpu"})
		h.expect(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-1", "nodeName": []string{"n1", "n2"}, "nodeLabel": "gpu"})
		h.expect(200, "POST", "/v1/node/label", root, map[string]any{"clusterName": "edge-1", "nodeName": []string{"n2"}, "nodeLabel": "ssd"})
		var names []string
		h.expect(200, "GET", "/v1/node/label?clusterName=edge-1", root, nil).into(t, &names)
		if fmt.Sprint(names) != "[gpu ssd]" {
			t.Fatalf("node labels %v", names)
		}
		h.expect(404, "GET", "/v1/node/label?clusterName=edge-9", root, nil)
		if r := h.expect(200, "GET", "/v1/node?nodeLabel=ssd", root, nil); *r.Total != 1 {
			t.Fatalf("nodes with ssd: %d", *r.Total)
		}
		h.expect(200, "DELETE", "/v1/node/label", root, map[string]any{"clusterName": "edge-1", "nodeName": []string{"n2"}, "nodeLabel": "ssd", "deleteDeploy": false})
		if r := h.expect(200, "GET", "/v1/node?nodeLabel=ssd", root, nil); *r.Total != 0 {
			t.Fatalf("label not removed: %d", *r.Total)
		}
	})
}

func TestNodeLabelDeleteDeploy(t *testing.T) {
	h := startHub(t, storetest.Open(t, sqlstore.SQLite))
	root := h.login(adminName, adminPass)
	cred := h.join("edge-1")
	a, _, _ := h.connect("edge-1", cred, 0)
	a.send(&protocol.Message{Kind: protocol.KindInventory, Inventory: &protocol.Inventory{Full: true, Nodes: []protocol.Node{{Name: "n1"}}}})
	waitFor(t, "inventory", func() bool { return *h.expect(200, "GET", "/v1/node", root, nil).Total == 1 })
	body := map[string]any{"clusterName": "edge-1", "nodeName": []string{"n1"}, "nodeLabel": "edge"}
	h.expect(200, "POST", "/v1/node/label", root, body)
	a.expect(protocol.KindDesired)
	h.expect(200, "DELETE", "/v1/node/label", root, with(body, "deleteDeploy", true))
	d := a.expect(protocol.KindDesired).Desired
	var spec protocol.NodeLabelSpec
	json.Unmarshal(d.Items[0].Spec, &spec)
	if !d.Items[0].Deleted || !spec.Evict || spec.Node != "n1" {
		t.Fatalf("removal with deleteDeploy: %+v %s", d.Items[0], d.Items[0].Spec)
	}
}
