// Package agent is the edge side of OTE. The agent runs in every edge
// Kubernetes cluster, dials the hub over a websocket tunnel, reports its nodes
// and applies what the hub wants there. Its binary will live in
// ./agent/cmd/agent; it speaks to the hub only through package protocol and
// never imports the hub's packages.
package agent
