#!/usr/bin/env bash
# Go benchmarks of two commits, measured in the same run: the test binaries of
# each commit are built first, then run alternately, one -count 1 run each per
# round (the order swapped every round), so drift in how busy the machine is
# lands on both sides alike. The raw output, in Go's benchmark format with
# "variant:" and "round:" configuration lines before each run, goes to
# results/standalone/abbench/<UTC time>[-TAG].txt (commit it); BENCHMARKS.md's
# abbench-TAG section shows per benchmark both medians and the per-round ratio.
#
#   BEFORE=<commit> scripts/abbench.sh    # AFTER=HEAD ROUNDS=6 TAG= BENCHTIME=1s
#   BENCH='RealPath|Forward1KiB$' PKGS="./proxy/internal/engine ./proxy/internal/sidecar"
#
# Waits for a quiet machine first (wait_quiet in scripts/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace # WORK (removed on exit)

GO=${GO:-go}
BEFORE=${BEFORE:?BEFORE=<commit> names the commit to compare with}
AFTER=${AFTER:-HEAD}
ROUNDS=${ROUNDS:-6}
TAG=${TAG:-}
BENCHTIME=${BENCHTIME:-1s}
BENCH=${BENCH:-^BenchmarkRealPath|Forward1KiB\$}
PKGS=${PKGS:-./proxy/internal/engine ./proxy/internal/sidecar}

# build: one worktree and one test binary per package and variant
declare -A rev
rev[before]=$(git rev-parse --short=12 "$BEFORE")
rev[after]=$(git rev-parse --short=12 "$AFTER")
for v in before after; do
	git worktree add -f --detach "$WORK/$v" "${rev[$v]}" >/dev/null 2>&1
	for p in $PKGS; do
		(cd "$WORK/$v" && $GO test -c -o "$WORK/bin-$v-$(basename "$p").test" "$p")
	done
done
cleanup_worktrees() { for v in before after; do git worktree remove --force "$WORK/$v" 2>/dev/null || true; done; }
trap 'cleanup_worktrees; bench_cleanup' EXIT

wait_quiet
ts=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p results/standalone/abbench
RAW="results/standalone/abbench/$ts${TAG:+-$TAG}.txt"
{
	echo "bench: abbench"
	echo "started: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git_commit)"
	echo "before: ${rev[before]} $(git log -1 --format=%s "${rev[before]}")"
	echo "after: ${rev[after]} $(git log -1 --format=%s "${rev[after]}")"
	echo "go: $($GO env GOVERSION)"
	echo "kernel: $(uname -r)"
	echo "command: <package>.test -test.run '^\$' -test.bench '$BENCH' -test.benchmem -test.count 1 -test.benchtime $BENCHTIME, $ROUNDS rounds, variants alternating"
	echo "loadavg-at-start: $(cut -d' ' -f1-3 /proc/loadavg) (waited ${QUIET_WAITED:-0} s for < ${QUIET_LOAD:-1.0})"
} >"$RAW"
for r in $(seq 1 "$ROUNDS"); do
	order="before after"
	[ $((r % 2)) -eq 0 ] && order="after before"
	for v in $order; do
		for p in $PKGS; do
			{
				echo "variant: $v"
				echo "round: $r"
				echo "loadavg1: $(loadavg1)"
				(cd "$WORK/$v/$p" && "$WORK/bin-$v-$(basename "$p").test" -test.run '^$' -test.bench "$BENCH" \
					-test.benchmem -test.count 1 -test.benchtime "$BENCHTIME")
			} | tee -a "$RAW"
		done
	done
done
echo
echo "raw output: $RAW"
$GO run ./results/standalone/cmd/standalone-report -show "$RAW"
