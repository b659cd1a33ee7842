#!/usr/bin/env bash
# GOMAXPROCS for one event loop, A/B: meshproxy (eventLoops: 1) one hop in
# front of meshbench echo (1 KiB), meshload at a fixed RATE over 16
# connections for D, the proxy run with GOMAXPROCS=1 and =2 alternately,
# ROUNDS times; CPU per request from /proc/PID/stat (user+system ticks over
# the measured requests) and meshload's p50 (µs). A warm-up second before
# each measurement. Prints one row per run and appends them to
# results/standalone/gomaxprocs/<UTC date>.txt (commit it).
#
#   scripts/gomaxprocs-ab.sh 1000 5      # RATE ROUNDS; D=8s by default
#
# Needs make build. Loopback only: ports 18200-18202.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
RATE=${1:-1000}
ROUNDS=${2:-5}
D=${D:-8s}
for b in meshproxy meshbench meshload; do
	[ -x "bin/$b" ] || { echo "gomaxprocs-ab: bin/$b missing: run make build first" >&2; exit 1; }
done
work=$(mktemp -d)
out=results/standalone/gomaxprocs/$(date -u +%Y%m%d).txt
bin/meshbench echo -listen 127.0.0.1:18200 -size 1024 -name echo 2>/dev/null &
echo_pid=$!
mesh_pid=
cleanup() {
	kill "$echo_pid" 2>/dev/null || true
	if [ -n "$mesh_pid" ]; then kill "$mesh_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/mesh.yaml" <<Y
apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: bench}
spec:
  admin: {address: 127.0.0.1:18202}
  outbound: {address: 127.0.0.1:18201}
  eventLoops: 1
$(echo_backend_yaml 18200)
Y
tick=$(getconf CLK_TCK)
commit=$(git rev-parse --short=12 HEAD)
for r in $(seq 1 "$ROUNDS"); do
	for procs in 1 2; do
		GOMAXPROCS=$procs bin/meshproxy -config "$work/mesh.yaml" -log-level warn &
		mesh_pid=$!
		for _ in $(seq 50); do
			(echo >/dev/tcp/127.0.0.1/18201) 2>/dev/null && break
			sleep 0.1
		done
		bin/meshload -rate 200 -d 1s -c 16 -H "Host: echo" http://127.0.0.1:18201/ >/dev/null 2>&1 || true
		before=$(awk '{print $14+$15}' "/proc/$mesh_pid/stat")
		bin/meshload -rate "$RATE" -d "$D" -c 16 -H "Host: echo" -json "$work/out.json" http://127.0.0.1:18201/ >/dev/null 2>&1 || true
		after=$(awk '{print $14+$15}' "/proc/$mesh_pid/stat")
		python3 - "$work/out.json" "$before" "$after" "$tick" "$r" "$procs" "$RATE" "$commit" <<'PY' | tee -a "$out"
import json, sys
path, before, after, tick, r, procs, rate, commit = sys.argv[1:]
d = json.load(open(path))
n = d["requests"]
cpu = (float(after) - float(before)) / float(tick) * 1e6 / max(n, 1)
print(f"commit {commit} round {r} GOMAXPROCS={procs} rate {rate} requests {n} failures {d['failures']} cpu_us_per_req {cpu:.1f} p50_us {d['latency_us']['p50']:.0f}")
PY
		kill "$mesh_pid"
		wait "$mesh_pid" 2>/dev/null || true
		mesh_pid=
	done
done
