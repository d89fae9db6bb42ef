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

// Version is the protocol version, MinVersion the oldest the hub serves.
//
// The rule of skew: a hub serves agents of its own Version and of the
// previous one (MinVersion); it answers Hello with its own Version in
// Welcome, and an agent newer than its hub speaks the hub's version (it
// sends nothing that version lacks). New fields are added as optional
// (omitempty, a zero value meaning "as before"), and a receiver ignores
// fields it does not know (encoding/json does), message kinds it does not
// know (logged, the session goes on), and item kinds and states it does not
// know (dropped by Decode into Message.Skipped, logged). So the upgrade
// order is: hub first, then the agents, at the operator's pace. Golden
// messages of every released version are kept in testdata/v<N>/ and
// decoded by the tests of today's code.
//
// History:
//   - 1 (2026-11-27): hello, welcome, desired items (namespace, node label,
//     container workload), item status (applied, failed), inventory
//     snapshot and delta, heartbeat, error. Chart workloads
//     (WorkloadSpec.Chart, fetched from ChartsPath), pull secrets of
//     external repositories (ContainerSpec.PullSecret, fetched from
//     PullSecretsPath), pod counts in item status (ItemStatus.Pods) and
//     node label eviction (NodeLabelSpec.Evict) were added within 1 before
//     it was released to agents.
//   - 2 (2026-12-01): WorkloadSpec.PodSecurity, and the Pod Security
//     Admission labels (PodSecurityLabels) in a business namespace's
//     NamespaceSpec.Labels; item state StateApplying, sent for a revision
//     whose apply has run for a heartbeat period and not ended (its applied
//     or failed status follows). A version-1 agent ignores PodSecurity (its
//     container pods get no securityContext and are refused in a restricted
//     namespace, so upgrade agents soon after the hub) and never sends
//     StateApplying; a version-2 agent sends StateApplying only to a hub of
//     version 2 or later (KnowsApplying). Error.RetryAfterMillis with
//     ErrCodeShutdown: when to dial again (a version-1 agent keeps its
//     backoff). Unknown kinds, item kinds and states are ignored rather
//     than refused from this version on.
//     Added within 2 on 2026-12-02, optional: WorkloadSpec.DriftPolicy
//     and ItemStatus.Drift (out-of-band changes of an applied container
//     workload, with the field manager that made them). An agent from
//     before reports no drift and corrects none; a hub from before
//     ignores the reports.
const (
	Version    = 2
	MinVersion = 1
)

// Serves reports whether a hub of this version serves an agent that speaks
// version v: its own and the previous one, and newer agents, which speak
// the hub's version.
func Serves(v int) bool { return v >= MinVersion }

// Speak is the version an agent of this version speaks with a hub of
// version hub: the lower of the two.
func Speak(hub int) int { return min(hub, Version) }

// KnowsApplying reports whether a peer of version v understands
// StateApplying.
func KnowsApplying(v int) bool { return v >= 2 }
