#!/usr/bin/env bash
# Builds the OCI distribution-spec conformance suite (the version pinned in
# suite/go.mod) from the Go module proxy into a cache outside the work tree.
# Prints the binary's path.
#
#   OTE_CONFORMANCE_CACHE   cache root (default: $XDG_CACHE_HOME or ~/.cache, then ote-conformance)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(grep -o 'distribution-spec/conformance v[^ ]*' "$here/suite/go.mod" | head -1 | cut -d' ' -f2)
root=${OTE_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ote-conformance}
dir="$root/$version"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ ! -x "$dir/conformance" ]; then
  echo "building the OCI conformance suite $version..." >&2
  (cd "$here/suite" && CGO_ENABLED=0 go build -trimpath -o "$dir/conformance.tmp" github.com/opencontainers/distribution-spec/conformance)
  mv "$dir/conformance.tmp" "$dir/conformance"
fi
echo "$dir/conformance"
