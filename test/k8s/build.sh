#!/usr/bin/env bash
# Builds the test harness's kube-apiserver and kine from the Go module proxy
# (the tools modules beside this script) into a cache outside the work tree, so
# that later sessions and CI runs reuse them. Prints the cache directory.
#
#   OTE_K8S_CACHE   cache root (default: $XDG_CACHE_HOME or ~/.cache, then ote-k8s)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=v1.36.3
kine_version=v0.17.5
root=${OTE_K8S_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ote-k8s}
dir="$root/kube-$version-kine-$kine_version"
mkdir -p "$dir"
# Test packages run in parallel and may all ask at once: one builds, the
# others wait for it.
exec 9>"$dir/.lock"
flock 9

if [ ! -x "$dir/kube-apiserver" ]; then
  echo "building kube-apiserver $version (several minutes on two cores)..." >&2
  (cd "$here/apiserver" && CGO_ENABLED=0 go build -trimpath -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
fi
if [ ! -x "$dir/kine" ]; then
  echo "building kine $kine_version..." >&2
  (cd "$here/kine" && CGO_ENABLED=1 go build -trimpath -o "$dir/kine.tmp" github.com/k3s-io/kine)
  mv "$dir/kine.tmp" "$dir/kine"
fi
echo "$dir"
