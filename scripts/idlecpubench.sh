#!/usr/bin/env bash
# What an idle proxy costs in CPU with no traffic at all: a full meshproxy
# sidecar (outbound and inbound listeners, admin, an mTLS identity whose
# three files it watches, its config file watched for reloads, one Service
# whose endpoint is the proxy's own inbound listener, so the warm-up crosses
# both listeners and both directions of mTLS before reaching the echo)
# and, for comparison, nginx (one worker) and HAProxy (one thread) proxying
# to the same echo. Each target is started fresh, served WARM requests (so
# pools, timers and the Go runtime are in their steady state), left alone for
# SETTLE seconds (its idle upstream connections time out meanwhile), then its
# CPU time and wake-ups are read over DURATION seconds of silence:
#
#   cpu_ms   on-CPU time of every thread (/proc/PID/task/*/schedstat, ns)
#   wakeups  voluntary + involuntary context switches of every thread
#            (/proc/PID/task/*/status): how often it woke up
#
# REPEAT rounds, targets alternating; meshproxy once per LOOPS value.
#
#   scripts/idlecpubench.sh                     # DURATION=60 REPEAT=5 LOOPS="1 0"
#   MESHPROXY_TREE=/tmp/before TAG=before PEERS=0 scripts/idlecpubench.sh
#
# PEERS=0 measures meshproxy only (a "before" run needs no second nginx).
# MESHPROXY_TREE is a checkout whose bin/meshproxy is measured (make build
# there first); nginx and HAProxy are measured when installed. Writes one row
# per round and target to results/standalone/idlecpu/<UTC time>[-TAG].tsv
# (commit it) and prints the section `make report-standalone` renders.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace

DURATION=${DURATION:-60}
REPEAT=${REPEAT:-5}
LOOPS=${LOOPS:-"1 0"}
SETTLE=${SETTLE:-5}
WARM=${WARM:-20}
BASE_PORT=${BASE_PORT:-18600}
ECHO_PORT=$BASE_PORT
OUT_PORT=$((BASE_PORT + 1))
IN_PORT=$((BASE_PORT + 2))
ADMIN_PORT=$((BASE_PORT + 3))
NGINX_PORT=$((BASE_PORT + 4))
HAPROXY_PORT=$((BASE_PORT + 5))
PEERS=${PEERS:-1}
TAG=${TAG:-}
TREE=${MESHPROXY_TREE:-.}
PROXY=$TREE/bin/meshproxy

[ -x "$PROXY" ] || { echo "idlecpubench: no $PROXY: run make build${MESHPROXY_TREE:+ in $TREE} first" >&2; exit 1; }
[ -x bin/meshbench ] || { echo "idlecpubench: run make build first" >&2; exit 1; }
command -v curl >/dev/null || { echo "idlecpubench: curl not found (apt-get install curl)" >&2; exit 1; }
if [ "$SETTLE" -lt 1 ] || [ "$DURATION" -lt 1 ]; then
	echo "idlecpubench: SETTLE and DURATION must be >= 1" >&2
	exit 1
fi

git_commit() { git -C "$TREE" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown; }

# task_sum PID...: "cpu_ns switches" summed over every thread of the processes.
task_sum() {
	local ns=0 sw=0 t
	for p in "$@"; do
		for t in /proc/"$p"/task/*; do
			ns=$((ns + $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)))
			sw=$((sw + $(awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }' "$t/status" 2>/dev/null || echo 0)))
		done
	done
	echo "$ns $sw"
}

wait_quiet
bin/meshbench echo -listen "127.0.0.1:$ECHO_PORT" -size 1024 -name echo 2>/dev/null &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
wait_port "$ECHO_PORT"
bin/meshbench certs -out "$WORK/certs" -identities default/web >/dev/null

mesh_config() {
	cat <<EOF
apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: idle}
spec:
  admin: {address: 127.0.0.1:$ADMIN_PORT}
  outbound: {address: 127.0.0.1:$OUT_PORT}
  inbound: {address: 127.0.0.1:$IN_PORT, app: 127.0.0.1:$ECHO_PORT}
  identity: {certFile: $WORK/certs/default-web.crt, keyFile: $WORK/certs/default-web.key, caFile: $WORK/certs/ca.crt}
  eventLoops: $1
$(echo_backend_yaml "$IN_PORT" spiffe://cluster.local/ns/default/sa/web)
EOF
}

mkdir -p "$WORK/nginx" "$WORK/haproxy"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	upstream echo { server 127.0.0.1:$ECHO_PORT; keepalive 16; }
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / { proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection ""; }
	}
}
EOF
cat >"$WORK/haproxy/haproxy.cfg" <<EOF
global
	nbthread 1
defaults
	mode http
	timeout connect 2s
	timeout client 30s
	timeout server 30s
frontend fe
	bind 127.0.0.1:$HAPROXY_PORT
	default_backend be
backend be
	http-reuse always
	server echo 127.0.0.1:$ECHO_PORT
EOF

targets=()
for l in $LOOPS; do targets+=("meshproxy:$l"); done
if [ "$PEERS" = 1 ]; then
	command -v nginx >/dev/null && targets+=(nginx:1) || echo "idlecpubench: nginx not installed: skipping it" >&2
	command -v haproxy >/dev/null && targets+=(haproxy:1) || echo "idlecpubench: haproxy not installed: skipping it" >&2
fi

# start TARGET LOOPS: starts it, sets TPIDS (its processes) and TPORT.
start() {
	case $1 in
	meshproxy)
		mesh_config "$2" >"$WORK/mesh.yaml"
		"$PROXY" -config "$WORK/mesh.yaml" -log-level warn &
		TPIDS=($!) TPORT=$OUT_PORT
		wait_port "$ADMIN_PORT"
		;;
	nginx)
		nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" &
		TPIDS=($!) TPORT=$NGINX_PORT
		;;
	haproxy)
		haproxy -f "$WORK/haproxy/haproxy.cfg" -db &
		TPIDS=($!) TPORT=$HAPROXY_PORT
		;;
	esac
	PIDS+=("${TPIDS[0]}")
	wait_port "$TPORT"
	sleep 0.2
	mapfile -t -O 1 TPIDS < <(pgrep -P "${TPIDS[0]}" || true) # nginx's worker
}

raw_open idlecpu "$TAG"
raw_meta params "DURATION=${DURATION}s REPEAT=$REPEAT LOOPS=$LOOPS SETTLE=${SETTLE}s WARM=$WARM; no traffic while measured"
raw_meta meshproxy "$("$PROXY" -version), outbound + inbound listeners, admin, mTLS identity (3 watched files), config file watched, one Service (its endpoint: the proxy's own inbound listener, mTLS)"
raw_meta tools "${targets[*]}; nginx worker_processes 1, HAProxy nbthread 1, both proxying to the same echo"
printf "date\tcommit\tround\ttarget\tevent_loops\tseconds\tcpu_ms\tcpu_pct\twakeups\twakeups_per_s\tloadavg1\tother_cores\tsteal_pct\n" >>"$RAW"

for run in $(seq "$REPEAT"); do
	for tl in "${targets[@]}"; do
		target=${tl%%:*} loops=${tl#*:}
		start "$target" "$loops"
		for _ in $(seq "$WARM"); do
			curl -fsS -o /dev/null -H "Host: echo" "http://127.0.0.1:$TPORT/" || { echo "idlecpubench: $target did not answer" >&2; exit 1; }
		done
		sleep "$SETTLE"
		la=$(loadavg1) s0=$(stat_cpu) c0=$(cpu_ticks "${TPIDS[@]}")
		read -r ns0 sw0 < <(task_sum "${TPIDS[@]}")
		t0=$(date +%s.%N)
		sleep "$DURATION"
		read -r ns1 sw1 < <(task_sum "${TPIDS[@]}")
		t1=$(date +%s.%N)
		s1=$(stat_cpu) c1=$(cpu_ticks "${TPIDS[@]}")
		read -r other steal < <(busyness "$s0" "$s1" $((c1 - c0)))
		kill "${TPIDS[0]}"
		wait "${TPIDS[0]}" 2>/dev/null || true
		PIDS=("$ECHO_PID")
		awk -v d="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v c="$COMMIT" -v r="$run" -v tg="$target" -v l="$loops" \
			-v t0="$t0" -v t1="$t1" -v ns=$((ns1 - ns0)) -v sw=$((sw1 - sw0)) -v la="$la" -v o="$other" -v st="$steal" 'BEGIN {
			s = t1 - t0
			printf "%s\t%s\t%s\t%s\t%s\t%.1f\t%.2f\t%.4f\t%d\t%.2f\t%s\t%s\t%s\n", d, c, r, tg, l, s, ns / 1e6, 100 * ns / 1e9 / s, sw, sw / s, la, o, st
		}' | tee -a "$RAW"
	done
done

echo
echo "raw rows: $RAW"
go run ./results/standalone/cmd/standalone-report -show "$RAW"
