#!/usr/bin/env bash
# One-hop loopback benchmark: wrk -> [proxy] -> meshbench echo (1 KiB bodies,
# 16 keep-alive connections), closed loop. Targets, in alternating order and
# repeated REPEAT times: direct (no proxy), meshproxy, nginx (when installed).
# For each run it reports requests/s, the proxy's CPU time per request (from
# /proc/PID/stat, summed over all of the proxy's processes) and its RSS: idle
# (before the first request) and peak (VmHWM, after the run).
#
#   scripts/hopbench.sh            # defaults: DURATION=10s REPEAT=3 CONNS=16
#   DURATION=5s REPEAT=5 scripts/hopbench.sh
#
# Needs wrk (apt-get install wrk); nginx is optional (apt-get install nginx-light).
# Writes bin/hopbench.tsv and prints a summary table (median and spread).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace # WORK (removed on exit) and PIDS (killed on exit)

DURATION=${DURATION:-10s}
REPEAT=${REPEAT:-3}
CONNS=${CONNS:-16}
SIZE=${SIZE:-1024}
BASE_PORT=${BASE_PORT:-18100}
ECHO_PORT=$BASE_PORT
MESH_PORT=$((BASE_PORT + 1))
ADMIN_PORT=$((BASE_PORT + 2))
NGINX_PORT=$((BASE_PORT + 3))
OUT=bin/hopbench.tsv

command -v wrk >/dev/null || { echo "hopbench: wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x bin/meshproxy ] && [ -x bin/meshbench ] || { echo "hopbench: run make build first" >&2; exit 1; }




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
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: default
  labels: {kubernetes.io/service-name: echo}
addressType: IPv4
ports: [{name: http, port: $ECHO_PORT}]
endpoints:
  - addresses: [127.0.0.1]
EOF
bin/meshproxy -config "$WORK/mesh.yaml" -log-level warn &
MESH_PID=$!
PIDS+=($MESH_PID)
wait_port "$MESH_PORT"

NGINX_PIDS=()
if command -v nginx >/dev/null; then
	mkdir -p "$WORK/nginx"
	cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	upstream echo { server 127.0.0.1:$ECHO_PORT; keepalive 64; }
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / {
			proxy_pass http://echo;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
		}
	}
}
EOF
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
printf "target\trun\treq_per_s\tcpu_us_per_req\trss_idle_kib\trss_peak_kib\n" >"$OUT"
# RSS before any request: the idle figure
declare -A IDLE
for t in "${targets[@]}"; do
	pids=$(pids_of "$t")
	IDLE[$t]=0
	[ -n "$pids" ] && IDLE[$t]=$(status_kib VmRSS $pids)
done
# warm-up so pools and caches exist before measuring
for t in "${targets[@]}"; do wrk -t1 -c"$CONNS" -d2s -H "Host: echo" "$(url_of "$t")" >/dev/null; done

for run in $(seq "$REPEAT"); do
	for t in "${targets[@]}"; do
		pids=$(pids_of "$t")
		idle=${IDLE[$t]} c0=0
		if [ -n "$pids" ]; then c0=$(cpu_ticks $pids); fi
		res=$(wrk -t1 -c"$CONNS" -d"$DURATION" -H "Host: echo" "$(url_of "$t")")
		total=$(echo "$res" | awk '/requests in/ {print $1}')
		rps=$(echo "$res" | awk '/Requests\/sec/ {print $2}')
		cpu=0 peak=0
		if [ -n "$pids" ]; then
			c1=$(cpu_ticks $pids)
			peak=$(status_kib VmHWM $pids)
			cpu=$(awk -v d=$((c1 - c0)) -v n="$total" -v hz="$TICK" 'BEGIN { printf "%.1f", d / hz / n * 1e6 }')
		fi
		printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$t" "$run" "$rps" "$cpu" "$idle" "$peak" | tee -a "$OUT"
	done
done

echo
echo "median (min-max) over $REPEAT runs of $DURATION, $CONNS connections, $SIZE B responses, $(nproc) CPUs:"
awk -F'\t' 'NR > 1 { v[$1, ++n[$1]] = $3; c[$1, n[$1]] = $4; p[$1] = ($6 > p[$1] ? $6 : p[$1]); i[$1] = $5; order[$1] = order[$1] ? order[$1] : ++k; name[k] = $1 }
function med(a, t, m,   x, j, i, tmp) {
	for (j = 1; j <= m; j++) x[j] = a[t, j] + 0
	for (j = 2; j <= m; j++) for (i = j; i > 1 && x[i - 1] > x[i]; i--) { tmp = x[i]; x[i] = x[i - 1]; x[i - 1] = tmp }
	return x[int((m + 1) / 2)] }
function mn(a, t, m,   j, r) { r = a[t, 1]; for (j = 2; j <= m; j++) if (a[t, j] + 0 < r + 0) r = a[t, j]; return r }
function mx(a, t, m,   j, r) { r = a[t, 1]; for (j = 2; j <= m; j++) if (a[t, j] + 0 > r + 0) r = a[t, j]; return r }
END {
	printf "%-10s %24s %24s %12s %12s\n", "target", "req/s", "CPU us/req", "RSS idle", "RSS peak"
	for (q = 1; q <= k; q++) { t = name[q]; m = n[t]
		printf "%-10s %10.0f (%6.0f-%6.0f) %10.1f (%5.1f-%5.1f) %9.1f MiB %9.1f MiB\n", t, med(v, t, m), mn(v, t, m), mx(v, t, m), med(c, t, m), mn(c, t, m), mx(c, t, m), i[t] / 1024, p[t] / 1024 }
}' "$OUT"
[ -n "${NGINX_VERSION:-}" ] && echo "nginx $NGINX_VERSION, worker_processes auto, upstream keepalive 64, access_log off"
