//go:build tools

// Package suite pins the OCI distribution-spec conformance suite that
// ../build.sh builds; it is not part of the hub.
package suite

import _ "github.com/opencontainers/distribution-spec/conformance"
