// Package protocol holds the wire types that the hub and the agent exchange,
// and their codec. It imports nothing of hub/ or agent/: both sides depend on
// it, never on each other.
//
// # Joining
//
// An agent joins once with the hub's bootstrap token:
//
//	POST /v1/agent/join   X-OTE-Bootstrap-Token: <token>   {"clusterName": "edge-1"}
//
// and gets a per-cluster credential (JoinResponse), which it keeps in a
// Kubernetes Secret. It then opens the tunnel, a websocket on the hub's API
// address:
//
//	GET /v1/agent/tunnel   Authorization: Bearer <credential>   X-OTE-Cluster: edge-1
//
// # The tunnel
//
// Every websocket message is one JSON Message (a text frame) of at most
// MaxMessageSize bytes. The agent speaks first:
//
//	agent → hub   Hello       protocol version, the highest revision it has applied
//	hub → agent   Welcome     heartbeat period, the hub's current revision
//	hub → agent   Desired     every item changed since the agent's revision (resync),
//	                          then each new revision as it is written
//	agent → hub   Inventory   a full snapshot of nodes, then coalesced deltas
//	agent → hub   Status      the outcome of applying items, per item and revision
//	                          (applying while a long apply runs, then applied or failed)
//	agent → hub   Heartbeat   every heartbeat period
//	either        Error       a refusal; the sender closes the session after it
//
// Desired state is identified by ItemKey and versioned by Revision, which
// grows for every change the hub writes. The agent applies items idempotently
// and remembers the highest revision it has processed; after any cut it says
// so in Hello and the hub sends what changed since. Nothing is fire-and-forget.
package protocol

// Version is the protocol version. A hub refuses agents whose major version
// differs.
//
// History:
//   - 1 (2026-11-27): hello, welcome, desired items (namespace, node label,
//     container workload), item status, inventory snapshot and delta,
//     heartbeat, error.
//   - 1 (2026-12-01, compatible addition): WorkloadSpec.PodSecurity, and the
//     Pod Security Admission labels (PodSecurityLabels) in a business
//     namespace's NamespaceSpec.Labels. An agent from before applies the
//     labels (they are plain labels) but sets no securityContext, so its
//     container apps' pods are refused in a restricted namespace: upgrade
//     agents with the hub.
//   - 1 (2026-12-01, compatible addition): item state StateApplying, sent
//     by an agent for a revision whose apply has run for a heartbeat
//     period and not ended (its applied or failed status follows). A hub
//     stores it like the other states and counts the cluster as waiting.
//     A hub from before refuses the status message (unknown state) and
//     closes the session: upgrade the hub before the agents.
const Version = 1
