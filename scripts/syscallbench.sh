#!/usr/bin/env bash
# Where a proxy's CPU per request goes besides the request itself: system
# calls, futex wake-ups and thread hand-offs per request, for meshproxy with
# one and two event loops beside nginx with one and two workers, one hop in
# front of meshbench echo (1 KiB), at fixed rates (open loop, meshload, 16
# connections) and at saturation (wrk, 16 connections).
#
# Counted with `perf stat` on the proxy's processes over WINDOW seconds in
# the middle of each load (kernel tracepoints: no ptrace, so the proxy runs
# at its own pace, unlike strace -c): every system call (raw_syscalls),
# futex, nanosleep, epoll_pwait/epoll_wait, read/write/readv/writev/recvfrom/
# sendto/getsockopt, context switches and CPU migrations, and task-clock (CPU
# time). Per request = count / requests answered in the window (the achieved
# rate x WINDOW for meshload, wrk's own count for saturation).
#
#   scripts/syscallbench.sh              # RATES="1000 5000 10000" SAT=1 ROUNDS=3 WINDOW=5
#
# Needs make build, perf (apt-get install linux-perf; perf_event_paranoid <= 2
# as root), wrk for the saturation step; nginx when installed. Writes one
# row per round, target, load and event to
# results/standalone/syscalls/<UTC time>[-TAG].tsv (commit it) and prints the
# section `make report-standalone` renders.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace

RATES=${RATES:-1000 5000 10000}
SAT=${SAT:-1}
ROUNDS=${ROUNDS:-3}
WINDOW=${WINDOW:-5}
TAG=${TAG:-}
BASE_PORT=${BASE_PORT:-18700}
ECHO_PORT=$BASE_PORT
MESH_PORT=$((BASE_PORT + 1))
ADMIN_PORT=$((BASE_PORT + 2))
NGINX_PORT=$((BASE_PORT + 3))

for b in meshproxy meshbench meshload; do
	[ -x "bin/$b" ] || { echo "syscallbench: bin/$b missing: run make build first" >&2; exit 1; }
done
command -v perf >/dev/null || { echo "syscallbench: perf not found (apt-get install linux-perf)" >&2; exit 1; }
perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1 ||
	{ echo "syscallbench: perf cannot read syscall tracepoints here (run as root; kernel.perf_event_paranoid)" >&2; exit 1; }
[ "$SAT" = 0 ] || command -v wrk >/dev/null || { echo "syscallbench: wrk not found (apt-get install wrk), or SAT=0" >&2; exit 1; }

EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_wait
EVENTS=$EVENTS,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_readv,syscalls:sys_enter_writev
EVENTS=$EVENTS,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_getsockopt,syscalls:sys_enter_sched_yield
EVENTS=$EVENTS,context-switches,cpu-migrations,task-clock

wait_quiet
bin/meshbench echo -listen "127.0.0.1:$ECHO_PORT" -size 1024 -name echo 2>/dev/null &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
wait_port "$ECHO_PORT"

mkdir -p "$WORK/nginx"
targets=(meshproxy:1 meshproxy:2)
command -v nginx >/dev/null && targets+=(nginx:1 nginx:2) || echo "syscallbench: nginx not installed: skipping it" >&2

# start TARGET N: starts meshproxy with N event loops or nginx with N
# workers; sets TPIDS (all its processes) and TPORT.
start() {
	case $1 in
	meshproxy)
		cat >"$WORK/mesh.yaml" <<EOF
apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: bench}
spec:
  admin: {address: 127.0.0.1:$ADMIN_PORT}
  outbound: {address: 127.0.0.1:$MESH_PORT}
  eventLoops: $2
$(echo_backend_yaml "$ECHO_PORT")
EOF
		bin/meshproxy -config "$WORK/mesh.yaml" -log-level warn &
		TPIDS=($!) TPORT=$MESH_PORT
		;;
	nginx)
		nginx_proxy_conf "$2" "$NGINX_PORT" "$ECHO_PORT" "$WORK/nginx" >"$WORK/nginx/nginx.conf"
		nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" &
		TPIDS=($!) TPORT=$NGINX_PORT
		;;
	esac
	PIDS+=("${TPIDS[0]}")
	wait_port "$TPORT"
	sleep 0.3
	mapfile -t -O 1 TPIDS < <(pgrep -P "${TPIDS[0]}" || true)
}

stop() {
	kill "${TPIDS[0]}"
	wait "${TPIDS[0]}" 2>/dev/null || true
	PIDS=("$ECHO_PID")
}

# count LOAD: perf stat over WINDOW s on the target's processes, started
# LEAD s into a load of LEAD + WINDOW + 1 s; prints "event count" lines to
# $WORK/perf.txt and sets REQS (requests answered in the window).
LEAD=2
count() {
	local pids
	pids=$(
		IFS=,
		echo "${TPIDS[*]}"
	)
	if [ "$1" = sat ]; then
		wrk -t1 -c16 -d"$((LEAD + WINDOW + 1))s" -H "Host: echo" "http://127.0.0.1:$TPORT/" >"$WORK/load.out" 2>&1 &
	else
		bin/meshload -quiet -rate "$1" -c 16 -d "$((WINDOW + 1))s" -warmup "${LEAD}s" -H "Host: echo" \
			-json "$WORK/load.json" "http://127.0.0.1:$TPORT/" >"$WORK/load.out" 2>&1 &
	fi
	local lp=$!
	sleep "$LEAD"
	perf stat -x, -e "$EVENTS" -p "$pids" -- sleep "$WINDOW" 2>"$WORK/perf.csv" >/dev/null
	wait "$lp" || { echo "syscallbench: load against $target failed:" >&2; cat "$WORK/load.out" >&2; exit 1; }
	if [ "$1" = sat ]; then
		# wrk's total over the whole run, scaled to the window
		REQS=$(awk -v w="$WINDOW" -v d="$((LEAD + WINDOW + 1))" '/requests in/ { printf "%.0f", $1 * w / d }' "$WORK/load.out")
	else
		REQS=$(tr -d ' \n' <"$WORK/load.json" | grep -o '"achieved_rate":[0-9.e+-]*' | head -1 | cut -d: -f2 |
			awk -v w="$WINDOW" '{ printf "%.0f", $1 * w }')
	fi
	[ -n "$REQS" ] && [ "$REQS" -gt 0 ] && return
	{ echo "syscallbench: no requests counted for $target:" >&2; cat "$WORK/load.out" >&2; exit 1; }
}

raw_open syscalls "$TAG"
raw_meta params "RATES=$RATES SAT=$SAT ROUNDS=$ROUNDS WINDOW=${WINDOW}s; one hop, 16 connections, GET with 1 KiB response; meshload open loop (rates), wrk -t1 -c16 (saturation); unpinned"
raw_meta tools "$(perf version 2>&1 | head -1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') (worker_processes N, upstream keepalive 64, access_log off)"
raw_meta meshproxy "$(bin/meshproxy -version), eventLoops N (GOMAXPROCS N+1)"
printf "date\tcommit\tround\ttarget\tworkers\tload\trequests\tevent\tcount\tper_request\tloadavg1\tother_cores\tsteal_pct\n" >>"$RAW"

read -r -a loads <<<"$RATES"
[ "$SAT" = 0 ] || loads+=(sat)
for round in $(seq "$ROUNDS"); do
	for tl in "${targets[@]}"; do
		target=${tl%%:*} n=${tl#*:}
		start "$target" "$n"
		for load in "${loads[@]}"; do
			la=$(loadavg1) s0=$(stat_cpu) c0=$(cpu_ticks "${TPIDS[@]}")
			count "$load"
			s1=$(stat_cpu) c1=$(cpu_ticks "${TPIDS[@]}")
			read -r other steal < <(busyness "$s0" "$s1" $((c1 - c0)))
			# perf -x, rows: value,unit,event,... ("<not counted>" when absent)
			awk -F, -v d="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v c="$COMMIT" -v r="$round" -v tg="$target" -v n="$n" \
				-v l="$load" -v q="$REQS" -v la="$la" -v o="$other" -v st="$steal" '
				NF >= 3 && $1 ~ /^[0-9.]+$/ {
					ev = $3; sub(/^(raw_)?syscalls:sys_enter_?/, "", ev); if (ev == "") ev = "all_syscalls"
					v = $1; if (ev == "task-clock") { ev = "cpu_us"; v = $1 * 1000 } # msec -> µs
					printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.4f\t%s\t%s\t%s\n", d, c, r, tg, n, l, q, ev, v, v / q, la, o, st
				}' "$WORK/perf.csv" | tee -a "$RAW" | awk -F'\t' '$8 == "all_syscalls" || $8 == "futex" || $8 == "cpu_us" { printf "%s %s %s %s: %s %.2f/req\n", $3, $4, $5, $6, $8, $10 }' >&2
		done
		stop
	done
done

echo
echo "raw rows: $RAW"
go run ./results/standalone/cmd/standalone-report -show "$RAW"
