#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Deletes the kind cluster.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need_tool kind
say "deleting kind cluster $KIND_CLUSTER"
with_timeout 5m kind delete cluster --name "$KIND_CLUSTER"
