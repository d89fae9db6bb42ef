package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The demo's main job: what a platform is for. A business is created and
// approved, it creates a container app and deploys it to the demo cluster,
// the deployment is approved, and the demo prints its status until it
// turns to success.

type api struct {
	url string
	ctx context.Context
}

func (a api) call(method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(a.ctx, method, a.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s %s: %d, not the envelope", method, path, resp.StatusCode)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, env.Message)
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

func (a api) login(user, pw string) (string, error) {
	var tok struct{ Token string }
	err := a.call("POST", "/v1/authorization", "", map[string]string{"user": user, "password": pw}, &tok)
	return tok.Token, err
}

// until asks cond every 200 ms until it holds, for at most d.
func until(ctx context.Context, d time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s", what, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func mainJob(ctx context.Context, url string, cs kubernetes.Interface) error {
	a := api{url: url, ctx: ctx}
	step := func(format string, args ...any) { fmt.Printf("  - "+format+"\n", args...) }
	root, err := a.login("admin", adminPass)
	if err != nil {
		return err
	}
	fmt.Println("\nThe main job, step by step:")
	if err := until(ctx, 60*time.Second, "cluster demo-edge ready", func() (bool, error) {
		var cls []struct {
			ClusterName string
			IsReady     bool
		}
		err := a.call("GET", "/v1/cluster", root, nil, &cls)
		return err == nil && len(cls) == 1 && cls[0].IsReady, err
	}); err != nil {
		return err
	}
	step("cluster demo-edge joined and is ready")
	if err := a.call("POST", "/v1/cluster/label", root, map[string]any{"clusterName": []string{"demo-edge"}, "clusterLabel": "edge"}, nil); err != nil {
		return err
	}
	step("the system administrator labelled it edge")

	var alice struct{ ID uint64 }
	if err := a.call("POST", "/v1/user", "", map[string]any{"user": "alice", "password": "Alice-pass1", "phone": "13800000000", "isAdmin": true, "realName": "Alice"}, &alice); err != nil {
		return err
	}
	if err := a.call("PUT", fmt.Sprintf("/v1/admin/user/%d", alice.ID), root, map[string]any{"status": 1}, nil); err != nil {
		return err
	}
	tok, err := a.login("alice", "Alice-pass1")
	if err != nil {
		return err
	}
	var biz struct {
		ID        uint64
		Namespace string
	}
	if err := a.call("POST", "/v1/business", tok, map[string]any{"name": "acme", "introduce": "vision at the edge", "objective": "inference", "scale": "1 cluster"}, &biz); err != nil {
		return err
	}
	if err := a.call("PUT", fmt.Sprintf("/v1/business/id/%d", biz.ID), root, map[string]any{"status": 1, "comment": "welcome"}, &biz); err != nil {
		return err
	}
	step("alice registered, was approved, and her business acme was approved: namespace %s on every cluster (user alice, password Alice-pass1)", biz.Namespace)

	app := map[string]any{
		"appName": "web", "deployType": "deployment", "image": "nginx:1.27-alpine", "version": "1.0",
		"port": []map[string]any{{"name": "http", "containerPort": 80, "servicePort": 80}}, "replicas": 2,
		"minCPU": 10, "maxCPU": 200, "minMemory": 32, "maxMemory": 128, "isHPA": false,
		"targetCPUUtilization": 0, "targetMemUtilization": 0, "maxUnavailable": 0, "maxSurge": 1, "minReadySeconds": 0,
	}
	if err := a.call("POST", "/v1/app", tok, app, nil); err != nil {
		return err
	}
	var d struct {
		ID           uint64
		Status       int
		ErrorMessage string
	}
	if err := a.call("POST", "/v1/deploy", tok, map[string]any{"deployName": "web", "appName": "web", "version": "1.0", "cluster": "edge", "comment": "first"}, &d); err != nil {
		return err
	}
	step("alice created app web 1.0 (nginx, 2 replicas) and deployment %d to the clusters labelled edge: status 0, waiting for audit", d.ID)
	var audits []struct{ ID uint64 }
	if err := a.call("GET", "/v1/admin/deploy", tok, nil, &audits); err != nil || len(audits) == 0 {
		return fmt.Errorf("no audit request: %v", err)
	}
	if err := a.call("PUT", "/v1/admin/deploy", tok, map[string]any{"id": audits[0].ID, "status": 1, "comment": "go"}, nil); err != nil {
		return err
	}
	step("alice, the business administrator, approved audit request %d", audits[0].ID)

	// No kubelet runs on the fake nodes: once the agent has made the
	// Deployment, the demo makes its pods with the status a kubelet would
	// report, as the end-to-end tests do.
	made := false
	last := ""
	return until(ctx, 90*time.Second, "deployment success", func() (bool, error) {
		if err := a.call("GET", fmt.Sprintf("/v1/deploy/id/%d", d.ID), tok, nil, &d); err != nil {
			return false, err
		}
		if line := fmt.Sprintf("status %d (%s) %s", d.Status, statusName[d.Status], d.ErrorMessage); line != last {
			step("deployment %d: %s", d.ID, line)
			last = line
		}
		if !made {
			dep, err := cs.AppsV1().Deployments(biz.Namespace).Get(ctx, "web", metav1.GetOptions{})
			if err == nil {
				step("the agent created Deployment %s/web in demo-edge; the demo marks its 2 pods running (the fake nodes have no kubelet)", biz.Namespace)
				for i := 1; i <= 2; i++ {
					if err := runningPod(ctx, cs, biz.Namespace, fmt.Sprintf("web-%d", i), dep.Spec.Template.Spec); err != nil {
						return false, err
					}
				}
				made = true
			}
		}
		if d.Status == 7 || d.Status == 8 {
			return false, fmt.Errorf("deployment %s: %s", statusName[d.Status], d.ErrorMessage)
		}
		return d.Status == 5 && strings.Contains(d.ErrorMessage, "2/2"), nil
	})
}

var statusName = map[int]string{0: "pending", 1: "approved", 2: "disapproved", 3: "processing", 4: "deploying", 5: "success", 6: "partial success", 7: "failed", 8: "internal error", 9: "deleted"}

func runningPod(ctx context.Context, cs kubernetes.Interface, ns, name string, spec corev1.PodSpec) error {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"ote-stack.io/deploy": "web"}}, Spec: spec}
	p, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: spec.Containers[0].Name, Ready: true}}
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}
