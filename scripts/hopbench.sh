#!/usr/bin/env bash
# One-hop loopback benchmark: wrk -> [proxy] -> meshbench echo (1 KiB bodies,
# 16 keep-alive connections), closed loop. Targets, in alternating order and
# repeated REPEAT times: direct (no proxy), meshproxy, nginx (when installed).
# For each run it records requests/s, wrk's latency p50/p99, failed requests
# (non-2xx/3xx and socket errors), the proxy's CPU time per request (from
# /proc/PID/stat, summed over all of the proxy's processes), wrk's own CPU per
# request, the proxy's RSS: idle (before the first request) and peak (VmHWM
# after the run), and how busy the rest of the machine was during the run.
#
#   scripts/hopbench.sh                       # defaults: DURATION=10s REPEAT=5 CONNS=16
#   TAG=serial CONNS=1 DURATION=4s scripts/hopbench.sh
#
# Needs wrk and GNU time (apt-get install wrk time); nginx is optional
# (apt-get install nginx). Waits for a quiet machine first (wait_quiet in
# scripts/lib.sh). Writes one row per target and round to
# results/standalone/hopbench/<UTC time>[-TAG].tsv (commit it), then prints
# the section `make report-standalone` renders from it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace # WORK (removed on exit) and PIDS (killed on exit)

DURATION=${DURATION:-10s}
REPEAT=${REPEAT:-5}
CONNS=${CONNS:-16}
SIZE=${SIZE:-1024}
BASE_PORT=${BASE_PORT:-18100}
ECHO_PORT=$BASE_PORT
MESH_PORT=$((BASE_PORT + 1))
ADMIN_PORT=$((BASE_PORT + 2))
NGINX_PORT=$((BASE_PORT + 3))
TAG=${TAG:-}

command -v wrk >/dev/null || { echo "hopbench: wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x bin/meshproxy ] && [ -x bin/meshbench ] || { echo "hopbench: run make build first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "hopbench: GNU time not found (apt-get install time)" >&2; exit 1; }

wait_quiet
bin/meshbench echo -listen "127.0.0.1:$ECHO_PORT" -size "$SIZE" -name echo 2>/dev/null &
PIDS+=($!)
wait_port "$ECHO_PORT"

cat >"$WORK/mesh.yaml" <<EOF
apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: bench}
spec:
  admin: {address: 127.0.0.1:$ADMIN_PORT}
  outbound: {address: 127.0.0.1:$MESH_PORT}
$(echo_backend_yaml "$ECHO_PORT")
EOF
bin/meshproxy -config "$WORK/mesh.yaml" -log-level warn &
MESH_PID=$!
PIDS+=($MESH_PID)
wait_port "$MESH_PORT"

NGINX_PIDS=()
if command -v nginx >/dev/null; then
	mkdir -p "$WORK/nginx"
	nginx_proxy_conf auto "$NGINX_PORT" "$ECHO_PORT" "$WORK/nginx" >"$WORK/nginx/nginx.conf"
	nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" &
	NGINX_MASTER=$!
	PIDS+=($NGINX_MASTER)
	wait_port "$NGINX_PORT"
	sleep 0.2
	# the master and its workers: CPU and memory are the sum over all of them
	mapfile -t NGINX_PIDS < <(echo "$NGINX_MASTER"; pgrep -P "$NGINX_MASTER")
	NGINX_VERSION=$(nginx -v 2>&1 | sed 's/.*nginx\///')
else
	echo "hopbench: nginx not installed: skipping it" >&2
fi

targets=(direct meshproxy)
[ ${#NGINX_PIDS[@]} -gt 0 ] && targets+=(nginx)

url_of() {
	case $1 in
	direct) echo "http://127.0.0.1:$ECHO_PORT/" ;;
	meshproxy) echo "http://127.0.0.1:$MESH_PORT/" ;;
	nginx) echo "http://127.0.0.1:$NGINX_PORT/" ;;
	esac
}
pids_of() {
	case $1 in
	direct) echo "" ;;
	meshproxy) echo "$MESH_PID" ;;
	nginx) echo "${NGINX_PIDS[*]}" ;;
	esac
}

TICK=$(getconf CLK_TCK)
raw_open hopbench "$TAG"
raw_meta params "DURATION=$DURATION REPEAT=$REPEAT CONNS=$CONNS SIZE=$SIZE"
raw_meta tools "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)${NGINX_VERSION:+, nginx $NGINX_VERSION (worker_processes auto, upstream keepalive 64, access_log off)}"
raw_meta meshproxy "$(bin/meshproxy -version), defaults (one event loop per core)"
printf "date\tcommit\ttarget\trun\treq_per_s\trequests\tnon2xx\tsocket_errors\tp50_ms\tp99_ms\tcpu_us_per_req\tgen_cpu_us_per_req\trss_idle_kib\trss_peak_kib\tloadavg1\tother_cores\tsteal_pct\n" >>"$RAW"
# RSS before any request: the idle figure
declare -A IDLE
for t in "${targets[@]}"; do
	pids=$(pids_of "$t")
	IDLE[$t]=0
	[ -n "$pids" ] && IDLE[$t]=$(status_kib VmRSS $pids)
done
# warm-up so pools and caches exist before measuring
for t in "${targets[@]}"; do wrk -t1 -c"$CONNS" -d2s -H "Host: echo" "$(url_of "$t")" >/dev/null; done

# every process of ours: their CPU is subtracted from the machine's to get
# what other processes used during a run
ALL_PIDS=("${PIDS[@]}" "${NGINX_PIDS[@]}")

# wrk prints latency as 123.45us, 1.23ms or 1.02s -> milliseconds
wrk_ms() {
	awk -v p="$1" '$1 == p {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		printf "%.3f", (u == "us" ? v / 1000 : u == "ms" ? v : u == "s" ? v * 1000 : -1) }' "$2"
}

for run in $(seq "$REPEAT"); do
	for t in "${targets[@]}"; do
		pids=$(pids_of "$t")
		idle=${IDLE[$t]} c0=0
		if [ -n "$pids" ]; then c0=$(cpu_ticks $pids); fi
		la=$(loadavg1) s0=$(stat_cpu) o0=$(cpu_ticks "${ALL_PIDS[@]}")
		/usr/bin/time -o "$WORK/time" -f "%U %S" wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H "Host: echo" "$(url_of "$t")" >"$WORK/wrk.txt"
		s1=$(stat_cpu) o1=$(cpu_ticks "${ALL_PIDS[@]}")
		total=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
		rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
		[ -n "$total" ] && [ -n "$rps" ] || { echo "hopbench: cannot read wrk's output for $t, round $run:" >&2; cat "$WORK/wrk.txt" >&2; exit 1; }
		non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$WORK/wrk.txt")
		serr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$WORK/wrk.txt")
		p50=$(wrk_ms 50% "$WORK/wrk.txt") p99=$(wrk_ms 99% "$WORK/wrk.txt")
		gen=$(awk -v n="$total" '{ printf "%.1f", ($1 + $2) / n * 1e6 }' "$WORK/time")
		own=$(($(awk -v hz="$TICK" '{ printf "%d", ($1 + $2) * hz }' "$WORK/time") + o1 - o0))
		read -r other steal < <(busyness "$s0" "$s1" "$own")
		cpu=- peak=-
		if [ -n "$pids" ]; then
			c1=$(cpu_ticks $pids)
			peak=$(status_kib VmHWM $pids)
			cpu=$(awk -v d=$((c1 - c0)) -v n="$total" -v hz="$TICK" 'BEGIN { printf "%.1f", d / hz / n * 1e6 }')
		fi
		[ "$t" = direct ] && idle=-
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$COMMIT" "$t" "$run" "$rps" "$total" "${non2xx:-0}" "${serr:-0}" \
			"$p50" "$p99" "$cpu" "$gen" "$idle" "$peak" "$la" "$other" "$steal" | tee -a "$RAW"
	done
done

echo
echo "raw rows: $RAW"
go run ./results/standalone/cmd/standalone-report -show "$RAW"
