#!/usr/bin/env bash
# meshload beside wrk, closed loop, against the same `meshbench echo` (1 KiB
# bodies, 16 keep-alive connections). Rounds alternate the generators:
# wrk -t1, meshload with one epoll loop (GOMAXPROCS=1), wrk -t2, meshload
# with two loops (GOMAXPROCS=2). For each run: requests/s and the generator's
# own CPU time per request (user + system from GNU time; the goal: meshload
# at least as many requests per CPU-second as wrk), failed requests, and how
# busy the rest of the machine was during the run.
#
#   scripts/loadbench.sh                  # DURATION=5s REPEAT=5
#   PIN=1 scripts/loadbench.sh            # generator on CPU 0, server on CPU 1 (taskset)
#
# Needs wrk and GNU time (apt-get install wrk time). Waits for a quiet machine
# first (wait_quiet in scripts/lib.sh). Writes one row per round and
# generator to results/standalone/loadbench/<UTC time>[-pin][-TAG].tsv
# (commit it), then prints the section `make report-standalone` renders.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace # WORK (removed on exit) and PIDS (killed on exit)

DURATION=${DURATION:-5s}
REPEAT=${REPEAT:-5}
CONNS=${CONNS:-16}
SIZE=${SIZE:-1024}
PORT=${BASE_PORT:-18400}
PIN=${PIN:-0}
TAG=${TAG:-}
[ "$PIN" = 1 ] && TAG=pin${TAG:+-$TAG}

command -v wrk >/dev/null || { echo "loadbench: wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x bin/meshload ] && [ -x bin/meshbench ] || { echo "loadbench: run make build first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "loadbench: GNU time not found (apt-get install time)" >&2; exit 1; }

wait_quiet
gen=() srv=()
if [ "$PIN" = 1 ]; then gen=(taskset -c 0) srv=(taskset -c 1); fi

"${srv[@]}" bin/meshbench echo -listen "127.0.0.1:$PORT" -size "$SIZE" -name echo 2>/dev/null &
PIDS+=($!)
wait_port "$PORT"
URL="http://127.0.0.1:$PORT/"
TICK=$(getconf CLK_TCK)

# run NAME CMD...: prints "requests failed cpu_seconds other_cores steal_pct"
# for one run. requests counts completed requests; failed, those that did
# not get a 2xx/3xx response (wrk: non-2xx/3xx + socket errors; meshload:
# transport errors + responses outside 2xx/3xx).
run() {
	local name=$1 s0 s1 o0 o1 own
	shift
	s0=$(stat_cpu) o0=$(cpu_ticks "${PIDS[@]}")
	/usr/bin/time -o "$WORK/time" -f "%U %S" "${gen[@]}" "$@" >"$WORK/out" 2>&1
	s1=$(stat_cpu) o1=$(cpu_ticks "${PIDS[@]}")
	local n f
	case $name in
	wrk*)
		n=$(awk '/requests in/ { print $1 }' "$WORK/out")
		f=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$WORK/out")
		;;
	*)
		# "  requests:     N (R responses, E errors)" and "  status codes: 200: R, 503: K"
		n=$(awk '/^  requests:/ { print $2 }' "$WORK/out")
		f=$(awk '/^  requests:/ { gsub(/\(/, ""); e = $5 }
			/^  status codes:/ { sub(/^  status codes: */, ""); k = split($0, c, /, /)
				for (i = 1; i <= k; i++) { split(c[i], kv, ": "); if (kv[1] !~ /^[23]/) e += kv[2] } }
			END { print e + 0 }' "$WORK/out")
		;;
	esac
	[ -n "$n" ] && [ "$n" -gt 0 ] || { echo "loadbench: cannot read the request count from $name's output:" >&2; cat "$WORK/out" >&2; exit 1; }
	own=$(($(awk -v hz="$TICK" '{ printf "%d", ($1 + $2) * hz }' "$WORK/time") + o1 - o0))
	echo "$n $f $(awk '{ print $1 + $2 }' "$WORK/time") $(busyness "$s0" "$s1" "$own")"
}

secs=${DURATION%s}
raw_open loadbench "$TAG"
raw_meta params "DURATION=$DURATION REPEAT=$REPEAT CONNS=$CONNS SIZE=$SIZE PIN=$PIN"
raw_meta tools "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), meshload $(bin/meshload -version 2>/dev/null | cut -d' ' -f2)"
wrk -t1 -c "$CONNS" -d 2s "$URL" >/dev/null # warm-up
printf "date\tcommit\tround\tgenerator\treq_s\trequests\tfailed\tcpu_us_per_req\tloadavg1\tother_cores\tsteal_pct\n" >>"$RAW"
for r in $(seq "$REPEAT"); do
	for g in wrk-t1 meshload-1loop wrk-t2 meshload-2loops; do
		la=$(loadavg1)
		case $g in
		wrk-t1) set -- $(run $g wrk -t1 -c "$CONNS" -d "$DURATION" "$URL") ;;
		wrk-t2) set -- $(run $g wrk -t2 -c "$CONNS" -d "$DURATION" "$URL") ;;
		meshload-1loop) set -- $(run $g env GOMAXPROCS=1 bin/meshload -rate 0 -c "$CONNS" -d "$DURATION" -warmup 0s "$URL") ;;
		meshload-2loops) set -- $(run $g env GOMAXPROCS=2 bin/meshload -rate 0 -c "$CONNS" -d "$DURATION" -warmup 0s "$URL") ;;
		esac
		awk -v t="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v cm="$COMMIT" -v r="$r" -v g="$g" -v n="$1" -v f="$2" -v c="$3" -v d="$secs" -v la="$la" -v o="$4" -v st="$5" \
			'BEGIN { printf "%s\t%s\t%d\t%s\t%.0f\t%d\t%d\t%.2f\t%s\t%s\t%s\n", t, cm, r, g, n / d, n, f, c * 1e6 / n, la, o, st }' | tee -a "$RAW"
	done
done

echo
echo "raw rows: $RAW"
go run ./results/standalone/cmd/standalone-report -show "$RAW"
