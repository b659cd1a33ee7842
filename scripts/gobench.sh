#!/usr/bin/env bash
# The Go benchmarks of the proxy and the load generator (every package under
# proxy/ and loadgen/ that has any), `go test -bench . -benchmem -count 5`,
# one package at a time. The raw output, in Go's benchmark format (readable by
# benchstat), goes to results/standalone/gobench/<UTC time>[-TAG].txt (commit
# it). Before each package's results a "other-cores: X" configuration line
# records how many CPUs' worth of time processes other than `go test` used
# while that package ran, so a busy run shows.
#
#   scripts/gobench.sh                    # COUNT=5 BENCH=. PKGS="./proxy/... ./loadgen/..."
#   COUNT=10 BENCH=Handshake PKGS=./proxy/internal/identity TAG=tls scripts/gobench.sh
#
# Waits for a quiet machine first (wait_quiet in scripts/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace # WORK (removed on exit)

GO=${GO:-go}
COUNT=${COUNT:-5}
BENCH=${BENCH:-.}
PKGS=${PKGS:-./proxy/... ./loadgen/...}
TAG=${TAG:-}
[ -x /usr/bin/time ] || { echo "gobench: GNU time not found (apt-get install time)" >&2; exit 1; }

# only packages with a Benchmark function: the others would just compile
mapfile -t pkgs < <($GO list -f '{{.ImportPath}} {{.Dir}}' $PKGS | while read -r ip dir; do
	grep -lqs '^func Benchmark' "$dir"/*_test.go && echo "$ip"
done)
[ ${#pkgs[@]} -gt 0 ] || { echo "gobench: no package with benchmarks in $PKGS" >&2; exit 1; }
# compile every test binary before measuring, so the build does not overlap
# the first package's benchmarks
$GO test -run '^$' -count 1 "${pkgs[@]}" >/dev/null

wait_quiet
ts=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p results/standalone/gobench
RAW="results/standalone/gobench/$ts${TAG:+-$TAG}.txt"
TICK=$(getconf CLK_TCK)
{
	echo "bench: gobench"
	echo "started: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git_commit)"
	echo "go: $($GO env GOVERSION)"
	echo "kernel: $(uname -r)"
	echo "command: go test -run '^\$' -bench '$BENCH' -benchmem -count $COUNT <package>"
	echo "loadavg-at-start: $(cut -d' ' -f1-3 /proc/loadavg) (waited ${QUIET_WAITED:-0} s for < ${QUIET_LOAD:-1.0})"
} >"$RAW"
for p in "${pkgs[@]}"; do
	la=$(loadavg1) s0=$(stat_cpu)
	/usr/bin/time -o "$WORK/time" -f "%U %S" $GO test -run '^$' -bench "$BENCH" -benchmem -count "$COUNT" "$p" >"$WORK/out" 2>&1 || {
		echo "gobench: go test failed in $p:" >&2
		cat "$WORK/out" >&2
		exit 1
	}
	s1=$(stat_cpu)
	own=$(awk -v hz="$TICK" '{ printf "%d", ($1 + $2) * hz }' "$WORK/time")
	read -r other steal < <(busyness "$s0" "$s1" "$own")
	{
		echo "loadavg1: $la"
		echo "other-cores: $other"
		echo "steal-pct: $steal"
		cat "$WORK/out"
	} | tee -a "$RAW"
done
echo
echo "raw output: $RAW"
$GO run ./results/standalone/cmd/standalone-report -show "$RAW"
