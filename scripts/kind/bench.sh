#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# make bench-kind: cluster up -> installs -> scenarios -> report ->
# teardown (KEEP_CLUSTER=1 keeps the cluster).
#
#   scripts/kind/bench.sh [scenarios/X.yaml...]   (default scenarios/default.yaml)
#
# Environment: KEEP_CLUSTER=1, ISTIO_MODE=sidecar|ambient, KIND_CLUSTER
# (default meshbench), MESHBENCH_KIND_MESHES, MESHBENCH_IMAGE_TAG (see
# deploy/README.md). Results go to results/kind/, the report to
# results/kind/REPORT.md and results/kind/report.html.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need_docker
[ -x "$ROOT/bin/meshbench" ] || die "bin/meshbench missing: run make build first"
"$KIND_DIR/tools.sh"
need_tool kind
need_tool kubectl

# shellcheck disable=SC2317 # invoked by the EXIT trap
teardown() {
	if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
		say "KEEP_CLUSTER=1: cluster $KIND_CLUSTER kept (scripts/kind/down.sh deletes it)"
	else
		"$KIND_DIR/down.sh" || true
	fi
}
trap teardown EXIT

"$KIND_DIR/up.sh"
"$KIND_DIR/images.sh"
ISTIO_MODE=${ISTIO_MODE:-sidecar} "$KIND_DIR/install.sh"

if [ "$#" -eq 0 ]; then
	set -- "$ROOT/scenarios/default.yaml"
fi
mkdir -p "$ROOT/results/kind"
status=0
MESHBENCH_ISTIO_MODE=${ISTIO_MODE:-sidecar} MESHBENCH_KIND_CONTEXT="kind-$KIND_CLUSTER" \
	"$ROOT/bin/meshbench" run -target kind -o "$ROOT/results/kind" "$@" || status=$?
"$ROOT/bin/meshbench" report -results "$ROOT/results/kind" \
	-md "$ROOT/results/kind/REPORT.md" -html "$ROOT/results/kind/report.html" || status=1
exit "$status"
