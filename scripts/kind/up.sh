#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Creates the kind cluster (one control plane, a "load" and a "server"
# worker; kind-config.yaml), unless it already exists.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need_docker
need_tool kind
need_tool kubectl
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
	say "kind cluster $KIND_CLUSTER already exists"
else
	say "creating kind cluster $KIND_CLUSTER ($KIND_NODE_IMAGE)"
	with_timeout 15m kind create cluster --name "$KIND_CLUSTER" --config "$KIND_DIR/kind-config.yaml" --wait 5m
fi
kubectl config use-context "kind-$KIND_CLUSTER" >/dev/null
with_timeout 6m kubectl wait --for=condition=Ready nodes --all --timeout=5m
kubectl get nodes -L meshbench.dev/role
