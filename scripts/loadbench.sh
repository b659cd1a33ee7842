#!/usr/bin/env bash
# meshload beside wrk, closed loop, against the same `meshbench echo` (1 KiB
# bodies, 16 keep-alive connections). Rounds alternate the generators:
# wrk -t1, meshload with one epoll loop (GOMAXPROCS=1), wrk -t2, meshload
# with two loops (GOMAXPROCS=2). For each run: requests/s and the generator's
# own CPU time per request (user + system from GNU time), the figure the
# issue's target is about (meshload at least as many requests per CPU-second
# as wrk).
#
#   scripts/loadbench.sh                  # DURATION=5s REPEAT=3
#   PIN=1 scripts/loadbench.sh            # generator on CPU 0, server on CPU 1 (taskset)
#
# Needs wrk (apt-get install wrk). Writes bin/loadbench.tsv and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace # WORK (removed on exit) and PIDS (killed on exit)

DURATION=${DURATION:-5s}
REPEAT=${REPEAT:-3}
CONNS=${CONNS:-16}
SIZE=${SIZE:-1024}
PORT=${BASE_PORT:-18400}
PIN=${PIN:-0}
OUT=bin/loadbench.tsv

command -v wrk >/dev/null || { echo "loadbench: wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x bin/meshload ] && [ -x bin/meshbench ] || { echo "loadbench: run make build first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "loadbench: GNU time not found (apt-get install time)" >&2; exit 1; }

gen=() srv=()
if [ "$PIN" = 1 ]; then gen=(taskset -c 0) srv=(taskset -c 1); fi

"${srv[@]}" bin/meshbench echo -listen "127.0.0.1:$PORT" -size "$SIZE" -name echo 2>/dev/null &
PIDS+=($!)
wait_port "$PORT"
URL="http://127.0.0.1:$PORT/"
secs=${DURATION%s}

# run NAME CMD...: prints "requests cpu_seconds" for one run.
run() {
	local name=$1
	shift
	/usr/bin/time -o "$WORK/time" -f "%U %S" "${gen[@]}" "$@" >"$WORK/out" 2>&1
	local n
	case $name in
	wrk*) n=$(awk '/requests in/ { print $1 }' "$WORK/out") ;;
	*) n=$(awk '/^  requests:/ { print $2 }' "$WORK/out") ;;
	esac
	echo "$n $(awk '{ print $1 + $2 }' "$WORK/time")"
}

wrk -t1 -c "$CONNS" -d 2s "$URL" >/dev/null # warm-up
printf "round\tgenerator\treq_s\tcpu_us_per_req\n" >"$OUT"
for r in $(seq "$REPEAT"); do
	for g in wrk-t1 meshload-1loop wrk-t2 meshload-2loops; do
		case $g in
		wrk-t1) set -- $(run $g wrk -t1 -c "$CONNS" -d "$DURATION" "$URL") ;;
		wrk-t2) set -- $(run $g wrk -t2 -c "$CONNS" -d "$DURATION" "$URL") ;;
		meshload-1loop) set -- $(run $g env GOMAXPROCS=1 bin/meshload -rate 0 -c "$CONNS" -d "$DURATION" -warmup 0s "$URL") ;;
		meshload-2loops) set -- $(run $g env GOMAXPROCS=2 bin/meshload -rate 0 -c "$CONNS" -d "$DURATION" -warmup 0s "$URL") ;;
		esac
		awk -v r="$r" -v g="$g" -v n="$1" -v c="$2" -v d="$secs" \
			'BEGIN { printf "%d\t%s\t%.0f\t%.2f\n", r, g, n / d, c * 1e6 / n }' | tee -a "$OUT"
	done
done

echo
echo "median (min-max) over $REPEAT rounds; CPU is the generator's user+system time per request"
awk -F'\t' 'NR > 1 { n[$2]++; R[$2, n[$2]] = $3; C[$2, n[$2]] = $4 }
function med(a, g, k,   x, i, j, t) { for (i = 1; i <= k; i++) x[i] = a[g, i] + 0
	for (i = 2; i <= k; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
	return sprintf("%s (%s-%s)", x[int((k + 1) / 2)], x[1], x[k]) }
END { for (g in n) printf "%-16s req/s %-24s cpu/req us %s\n", g, med(R, g, n[g]), med(C, g, n[g]) }' "$OUT" | sort