#!/usr/bin/env bash
# make e2e-kind: on a machine with Docker, a kind cluster that runs the hub
# and an agent from the images `make images` built, installed with both
# charts, and the README's otectl walk-through up to a deployment that
# succeeds (kind has a kubelet: the pods really run). kind and helm come
# from the Go module proxy; kubectl must be installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${IMAGE_TAG:?IMAGE_TAG is the tag of the images to load}
cluster=${KIND_CLUSTER:-ote-e2e}
kind() { go run sigs.k8s.io/kind@v0.33.0 "$@"; }
helm() { go run helm.sh/helm/v3/cmd/helm@v3.22.0 "$@"; }
otectl() { ./bin/otectl "$@"; }

kind create cluster --name "$cluster" --wait 120s
trap 'kind delete cluster --name "$cluster"' EXIT
kind load docker-image --name "$cluster" "ote/hub:$tag" "ote/agent:$tag"

helm install hub charts/hub --namespace ote --create-namespace --wait --timeout 5m \
  --set image.tag="$tag" --set image.pullPolicy=Never --set admin.password=Root-pass1
kubectl -n ote port-forward svc/ote-hub 18080:8080 >/dev/null 2>&1 &
forward=$!
trap 'kill $forward; kind delete cluster --name "$cluster"' EXIT
token=$(kubectl -n ote get secret ote-hub-secrets -o jsonpath='{.data.agent-bootstrap-token}' | base64 -d)
helm install agent charts/agent --namespace ote-system --create-namespace --wait --timeout 5m \
  --set image.tag="$tag" --set image.pullPolicy=Never --set clusterName=kind \
  --set hubUrl=http://ote-hub.ote.svc:8080 --set bootstrapToken="$token"

export OTECTL_HUB=http://127.0.0.1:18080 OTECTL_CONFIG
OTECTL_CONFIG=$(mktemp -d)/admin.json
for _ in $(seq 30); do otectl whoami >/dev/null 2>&1 || echo Root-pass1 | otectl login --user admin 2>/dev/null && break; sleep 2; done
for _ in $(seq 60); do otectl cluster list -o json | grep -q '"isReady": true' && break; sleep 2; done
otectl cluster label add e2e kind

echo Alice-pass1 | otectl user register --user alice --real-name Alice --phone 13800000000 --admin
alice_id=$(otectl user list -o json | sed -n 's/.*"id": \([0-9]*\),/\1/p' | tail -1)
otectl user approve "$alice_id"
admin_config=$OTECTL_CONFIG
OTECTL_CONFIG=$(dirname "$admin_config")/alice.json
echo Alice-pass1 | otectl login --user alice
business_id=$(otectl business create --name acme --introduce i --objective o --scale s -o json | sed -n 's/^  "id": \([0-9]*\),/\1/p')
OTECTL_CONFIG=$admin_config otectl business approve "$business_id"

otectl app create --name web --version 1.0 --image nginx:1.27-alpine --port http=80:80/TCP --replicas 1 --cpu 10:200 --memory 32:128
otectl deploy create --name web --app web --version 1.0 --cluster e2e
audit_id=$(otectl audit list -o json | sed -n 's/^    "id": \([0-9]*\),/\1/p' | head -1)
otectl audit approve "$audit_id" --watch --timeout 5m
echo "e2e-kind: the deployment succeeded in kind cluster $cluster"
