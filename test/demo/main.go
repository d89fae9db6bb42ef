// Command demo runs the whole platform on one machine without Docker: a real
// kube-apiserver (from the test harness) with a few fake Nodes, the hub on its
// embedded defaults, and one agent for that cluster. It prints the curl lines
// to look at the cluster and its nodes, and runs until interrupted.
//
//	make demo      (builds bin/hub and bin/agent first)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ote-stack/ote/test/harness"
)

const (
	adminPass = "Demo-admin1"
	bootstrap = "demo-bootstrap-token-42"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "hub address")
	bin := flag.String("bin", "bin", "directory of the hub and agent binaries")
	exit := flag.Bool("exit", false, "stop after the walk instead of running until interrupted (for tests)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *bin, *exit); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, listen, bin string, exit bool) error {
	work, err := os.MkdirTemp("", "ote-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Println("starting kube-apiserver (the first run builds it from the Go module proxy: several minutes)...")
	api, err := harness.StartIn(ctx, filepath.Join(work, "k8s"))
	if err != nil {
		return err
	}
	defer api.Stop()
	cs := api.Clientset()
	for i, spec := range []struct {
		name      string
		cpu, mem  int64
		gpus      int64
		gpuMemMiB string
	}{{"edge-node-1", 8, 32, 2, "16384"}, {"edge-node-2", 4, 16, 0, ""}, {"edge-node-3", 4, 16, 0, ""}} {
		if err := fakeNode(ctx, cs, spec.name, spec.cpu, spec.mem, spec.gpus, spec.gpuMemMiB, fmt.Sprintf("10.0.0.%d", 11+i)); err != nil {
			return err
		}
	}

	registry := freeAddr()
	hub := exec.Command(filepath.Join(bin, "hub"), "--listen", listen, "--registry-listen", registry, "--data-dir", filepath.Join(work, "hub"),
		"--admin-password", adminPass, "--agent-bootstrap-token", bootstrap, "--heartbeat-interval", "5s", "--log-level", "warn")
	if err := start(hub, filepath.Join(work, "hub.log")); err != nil {
		return err
	}
	defer terminate(hub)
	url := "http://" + listen
	if err := waitHTTP(ctx, url+"/readyz"); err != nil {
		return fmt.Errorf("hub: %w (log: %s)", err, filepath.Join(work, "hub.log"))
	}
	agent := exec.Command(filepath.Join(bin, "agent"), "--hub-url", url, "--cluster-name", "demo-edge",
		"--bootstrap-token", bootstrap, "--kubeconfig", api.Kubeconfig, "--metrics-listen", freeAddr(), "--log-level", "warn")
	if err := start(agent, filepath.Join(work, "agent.log")); err != nil {
		return err
	}
	defer terminate(agent)

	if err := mainJob(ctx, url, cs); err != nil {
		return fmt.Errorf("the demo deployment: %w (logs: %s)", err, work)
	}

	fmt.Printf(`
The OTE hub listens on %[1]s; cluster "demo-edge" (a real kube-apiserver with 3 fake nodes) has joined.
With otectl (make build puts it in bin/):

  echo %[2]s | bin/otectl login --hub %[1]s --user admin
  bin/otectl cluster list; bin/otectl node list
  bin/otectl deploy list; bin/otectl deploy history 1

With curl:

  TOKEN=$(curl -s -XPOST %[1]s/v1/authorization -H 'Content-Type: application/json' \
    -d '{"user":"admin","password":"%[2]s"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s %[1]s/v1/cluster -H "Authorization: Bearer $TOKEN"
  curl -s '%[1]s/v1/node?clusterName=demo-edge' -H "Authorization: Bearer $TOKEN"
  curl -s %[1]s/v1/deploy/id/1 -H "Authorization: Bearer $ALICE"   # ALICE: the same login as alice

The image registry listens on %[5]s (token auth by the hub; see docs/api.md, "Images"):
  curl -s %[1]s/v1/repository/project -H "Authorization: Bearer $TOKEN"

The cluster's API server, for kubectl:  kubectl --kubeconfig %[3]s get nodes,namespaces
Logs: %[4]s
Press Ctrl-C to stop everything.
`, url, adminPass, api.Kubeconfig, work, registry)
	if exit {
		return nil
	}
	<-ctx.Done()
	fmt.Println("\nstopping...")
	return nil
}

func fakeNode(ctx context.Context, cs kubernetes.Interface, name string, cpu, memGi, gpus int64, gpuMiB, ip string) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/os": "linux"}}}
	if gpuMiB != "" {
		n.Labels["nvidia.com/gpu.memory"] = gpuMiB
	}
	n, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	n.Status.Capacity = corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(cpu, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memGi<<30, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(100<<30, resource.BinarySI),
	}
	if gpus > 0 {
		n.Status.Capacity["nvidia.com/gpu"] = *resource.NewQuantity(gpus, resource.DecimalSI)
	}
	n.Status.NodeInfo = corev1.NodeSystemInfo{OperatingSystem: "linux", OSImage: "Ubuntu 24.04 LTS", KernelVersion: "6.8.0", Architecture: "amd64"}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
	_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

func start(cmd *exec.Cmd, logPath string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w (run make build first)", cmd.Path, err)
	}
	return nil
}

func terminate(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
	}
}

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("not ready after 30s")
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}
