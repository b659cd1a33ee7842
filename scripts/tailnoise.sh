#!/usr/bin/env bash
# How steady is "added p99" (meshproxy's p99 minus the direct path's) from one
# 10 s step to the next, measured two ways? The gate measures the two paths one
# after the other; here each round measures them
#   sequential: meshload against direct, then meshload against meshproxy
#               (as the gate does), and
#   concurrent: both at once, two meshload processes started together, so both
#               tails see the same moments of the machine.
# Per rate in RATES and round (REPS), open loop, 16 connections, 10 s after a
# 2 s warm-up, 1 KiB echo; meshproxy with eventLoops: 1. meshload is pinned to
# CPU 0, echo and meshproxy to CPU 1, as in scenarios/gate.yaml.
#
#   scripts/tailnoise.sh                  # RATES="1000 5000" REPS=6
#
# Writes one row per rate, round, mode and target to
# results/standalone/tailnoise/<UTC time>.tsv (commit it) and prints, per rate
# and mode, the median and MAD of added p50 and p99 over the rounds. The gate's
# section of BENCHMARKS.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace

RATES=${RATES:-1000 5000}
REPS=${REPS:-6}
BASE_PORT=${BASE_PORT:-18200}
ECHO_PORT=$BASE_PORT
MESH_PORT=$((BASE_PORT + 1))
ADMIN_PORT=$((BASE_PORT + 2))

[ -x bin/meshproxy ] && [ -x bin/meshbench ] && [ -x bin/meshload ] || { echo "tailnoise: run make build first" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "tailnoise: needs 2 CPUs (load generator and servers pinned apart)" >&2; exit 1; }

wait_quiet
taskset -c 1 bin/meshbench echo -listen "127.0.0.1:$ECHO_PORT" -size 1024 -name echo 2>/dev/null &
PIDS+=($!)
ECHO_PID=$!
wait_port "$ECHO_PORT"
cat >"$WORK/mesh.yaml" <<EOF
apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: bench}
spec:
  admin: {address: 127.0.0.1:$ADMIN_PORT}
  outbound: {address: 127.0.0.1:$MESH_PORT}
  eventLoops: 1
$(echo_backend_yaml "$ECHO_PORT")
EOF
taskset -c 1 bin/meshproxy -config "$WORK/mesh.yaml" -log-level warn &
PIDS+=($!)
MESH_PID=$!
TICK=$(getconf CLK_TCK)
wait_port "$MESH_PORT"

raw_open tailnoise
raw_meta rates "$RATES"
raw_meta reps "$REPS"
raw_meta params "open loop, 16 connections, 10 s after 2 s warm-up, GET with 1 KiB response; meshload on CPU 0, echo and meshproxy (eventLoops 1) on CPU 1"
printf "date\tcommit\trate\tround\tmode\ttarget\tp50_us\tp99_us\tp999_us\tachieved_rate\tfailures\tloadavg1\tother_cores\tsteal_pct\n" >>"$RAW"

# load RATE URL OUT: one meshload step.
load() {
	taskset -c 0 bin/meshload -rate "$1" -c 16 -d 10s -warmup 2s -H "Host: echo" -json "$3" "$2" >/dev/null 2>"$3.err"
}

# gen_ticks JSON...: meshload's own CPU (generator_cpu_s) in clock ticks.
gen_ticks() {
	cat "$@" | tr -d ' \n' | grep -o '"generator_cpu_s":[0-9.e+-]*' | cut -d: -f2 |
		awk -v hz="$TICK" '{ s += $1 } END { printf "%d", s * hz }'
}

# row RATE ROUND MODE TARGET JSON BUSY: one TSV row from a meshload result;
# BUSY is "loadavg1 other_cores steal_pct" of the measurement it belongs to.
row() {
	local fields
	fields=$(tr -d ' \n' <"$5" | sed -E 's/.*"achieved_rate":([0-9.e+-]+).*"failures":([0-9]+).*"latency_us":\{[^}]*"p50":([0-9]+)[^}]*"p99":([0-9]+),"p999":([0-9]+).*/\3\t\4\t\5\t\1\t\2/')
	printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$COMMIT" "$1" "$2" "$3" "$4" "$fields" "${6// /$'\t'}" >>"$RAW"
}

# busy LOADAVG STAT0 OWN0 JSON...: "loadavg1 other_cores steal_pct" since
# STAT0/OWN0 (servers' ticks), the loads' own CPU counted as the benchmark's.
busy() {
	local la=$1 s0=$2 o0=$3 s1 o1
	shift 3
	s1=$(stat_cpu) o1=$(cpu_ticks "$ECHO_PID" "$MESH_PID")
	echo "$la $(busyness "$s0" "$s1" $((o1 - o0 + $(gen_ticks "$@"))))"
}

direct="http://127.0.0.1:$ECHO_PORT/" mesh="http://127.0.0.1:$MESH_PORT/"
for rate in $RATES; do
	for round in $(seq 1 "$REPS"); do
		la=$(loadavg1) s0=$(stat_cpu) o0=$(cpu_ticks "$ECHO_PID" "$MESH_PID")
		load "$rate" "$direct" "$WORK/sd.json"
		load "$rate" "$mesh" "$WORK/sp.json"
		b=$(busy "$la" "$s0" "$o0" "$WORK/sd.json" "$WORK/sp.json")
		row "$rate" "$round" sequential direct "$WORK/sd.json" "$b"
		row "$rate" "$round" sequential meshproxy "$WORK/sp.json" "$b"
		la=$(loadavg1) s0=$(stat_cpu) o0=$(cpu_ticks "$ECHO_PID" "$MESH_PID")
		load "$rate" "$direct" "$WORK/cd.json" &
		pa=$!
		load "$rate" "$mesh" "$WORK/cp.json" &
		pb=$!
		wait "$pa" "$pb"
		b=$(busy "$la" "$s0" "$o0" "$WORK/cd.json" "$WORK/cp.json")
		row "$rate" "$round" concurrent direct "$WORK/cd.json" "$b"
		row "$rate" "$round" concurrent meshproxy "$WORK/cp.json" "$b"
		echo "tailnoise: rate $rate round $round done" >&2
	done
done

echo "tailnoise: wrote $RAW"
# Summary: per rate and mode, added = meshproxy - direct of the same round.
awk -F'\t' '
	/^#/ || $1 == "date" { next }
	{ k = $3 SUBSEP $5 SUBSEP $4; v[k, $6, "p50"] = $7; v[k, $6, "p99"] = $8; keys[$3 SUBSEP $5] = 1; rounds[$3 SUBSEP $5] = ($4 > rounds[$3 SUBSEP $5] ? $4 : rounds[$3 SUBSEP $5]) }
	function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	END {
		printf "%-6s %-11s %-22s %-22s\n", "rate", "mode", "added p50 ms (MAD)", "added p99 ms (MAD)"
		for (km in keys) {
			split(km, p, SUBSEP); n = rounds[km]
			out = ""
			for (q = 1; q <= 2; q++) {
				pc = (q == 1 ? "p50" : "p99")
				for (r = 1; r <= n; r++) x[r] = (v[p[1] SUBSEP p[2] SUBSEP r, "meshproxy", pc] - v[p[1] SUBSEP p[2] SUBSEP r, "direct", pc]) / 1000
				m = med(x, n)
				for (r = 1; r <= n; r++) { d[r] = x[r] - m; if (d[r] < 0) d[r] = -d[r] }
				out = out sprintf("%-22s ", sprintf("%.3f (%.3f)", m, med(d, n)))
			}
			printf "%-6s %-11s %s\n", p[1], p[2], out
		}
	}' "$RAW" | sort -n
