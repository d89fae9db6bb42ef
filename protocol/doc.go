// Package protocol holds the wire types that the hub and the agent exchange
// over the tunnel, and their codec. It imports nothing of hub/ or agent/: both
// sides depend on it, never on each other.
package protocol
