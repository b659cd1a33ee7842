#!/usr/bin/env bash
# What an idle keep-alive connection costs meshproxy: `meshbench idle` opens
# CONNS connections to the proxy's outbound listener one after another, sends
# one GET on each (1 KiB response from meshbench echo), and holds them all
# open and idle. The proxy's VmRSS (and its Go heap, go_memstats_heap_inuse_bytes
# from the admin /metrics) is read before the connections (after a warm-up
# of 10 requests on one connection) and SETTLE seconds after the last one;
# per connection = (after - before) / CONNS. A fresh proxy per run, REPEAT
# rounds, each round once per LOOPS value (spec.eventLoops; 0 = one per core).
#
# Only the proxy process's own memory is counted: the kernel's socket
# buffers of the connections are not part of its RSS.
#
#   scripts/idlebench.sh                        # CONNS=10000 REPEAT=5 LOOPS="0 1"
#   MESHPROXY_TREE=/tmp/idle-before TAG=before scripts/idlebench.sh
#
# MESHPROXY_TREE is a checkout whose bin/meshproxy is measured (default:
# this one; make build there first) and whose commit the raw file records;
# the echo server and the client are this checkout's bin/meshbench.
# Needs CONNS + 256 open files (ulimit -n; the script raises the soft limit
# up to the hard one). Waits for a quiet machine first (wait_quiet in
# scripts/lib.sh). Writes one row per round and LOOPS value to
# results/standalone/idlebench/<UTC time>[-TAG].tsv (commit it), then prints
# the section `make report-standalone` renders from it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace # WORK (removed on exit) and PIDS (killed on exit)

CONNS=${CONNS:-10000}
REPEAT=${REPEAT:-5}
LOOPS=${LOOPS:-"0 1"}
SIZE=${SIZE:-1024}
SETTLE=${SETTLE:-2}
WARM=${WARM:-10}
BASE_PORT=${BASE_PORT:-18500}
ECHO_PORT=$BASE_PORT
MESH_PORT=$((BASE_PORT + 1))
ADMIN_PORT=$((BASE_PORT + 2))
TAG=${TAG:-}
TREE=${MESHPROXY_TREE:-.}
[ "$WARM" -ge 1 ] || { echo "idlebench: WARM=$WARM: want at least 1 warm-up request" >&2; exit 1; }
PROXY=$TREE/bin/meshproxy

[ -x "$PROXY" ] || { echo "idlebench: no $PROXY: run make build${MESHPROXY_TREE:+ in $TREE} first" >&2; exit 1; }
[ -x bin/meshbench ] || { echo "idlebench: run make build first" >&2; exit 1; }
command -v curl >/dev/null || { echo "idlebench: curl not found (apt-get install curl)" >&2; exit 1; }
bin/meshbench idle -h 2>&1 | grep -- -conns >/dev/null || { echo "idlebench: bin/meshbench has no idle command: run make build" >&2; exit 1; }

# The record names the commit of the proxy that was measured.
git_commit() { git -C "$TREE" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown; }

# The client holds CONNS sockets and so does the proxy (plus its upstream
# connection, listeners, epoll and the Go runtime's descriptors).
need=$((CONNS + 256))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
	echo "idlebench: $CONNS connections need $need open files, the hard limit is $hard (raise it, or lower CONNS)" >&2
	exit 1
fi
[ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need" ] && ulimit -Sn "$need"

wait_quiet
bin/meshbench echo -listen "127.0.0.1:$ECHO_PORT" -size "$SIZE" -name echo 2>/dev/null &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
wait_port "$ECHO_PORT"

# proxy_config LOOPS: the client sidecar of hopbench (outbound listener, one
# Service), with spec.eventLoops set.
proxy_config() {
	cat <<EOF
apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: idle}
spec:
  admin: {address: 127.0.0.1:$ADMIN_PORT}
  outbound: {address: 127.0.0.1:$MESH_PORT}
  eventLoops: $1
$(echo_backend_yaml "$ECHO_PORT")
EOF
}

# heap_kib: the proxy's go_memstats_heap_inuse_bytes in KiB, "-" when its
# /metrics does not have it.
heap_kib() {
	{ curl -fsS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null || true; } |
		awk '$1 == "go_memstats_heap_inuse_bytes" { printf "%d", $2 / 1024; found = 1 } END { if (!found) print "-" }'
}

# per_conn BEFORE AFTER (KiB) -> bytes per connection, "-" when not measured
per_conn() {
	[ "$1" = - ] || [ "$2" = - ] && { echo -; return; }
	awk -v a="$1" -v b="$2" -v n="$CONNS" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'
}

# client_line TIMEOUT WANT: the client's next stdout line, which must start with WANT.
client_line() {
	local line
	if ! read -r -t "$1" line <&8; then
		echo "idlebench: no \"$2\" line from meshbench idle within $1 s; its stderr:" >&2
		cat "$WORK/idle.err" >&2
		exit 1
	fi
	case $line in
	"$2"*) echo "$line" ;;
	*)
		echo "idlebench: meshbench idle said \"$line\", want \"$2 ...\"; its stderr:" >&2
		cat "$WORK/idle.err" >&2
		exit 1
		;;
	esac
}

raw_open idlebench "$TAG"
raw_meta params "CONNS=$CONNS REPEAT=$REPEAT LOOPS=$LOOPS SIZE=$SIZE SETTLE=${SETTLE}s WARM=$WARM"
raw_meta tools "$(bin/meshbench -version | cut -d' ' -f1-2) idle (sequential connects, one GET each, held idle)"
raw_meta meshproxy "$("$PROXY" -version), outbound listener, one Service; RSS = VmRSS, heap = go_memstats_heap_inuse_bytes"
printf "date\tcommit\tround\tevent_loops\tconns\topen_after\trss_before_kib\trss_after_kib\tbytes_per_conn\theap_before_kib\theap_after_kib\theap_bytes_per_conn\tfds_added\tloadavg1\tother_cores\tsteal_pct\n" >>"$RAW"

mkfifo "$WORK/in" "$WORK/out"
for run in $(seq "$REPEAT"); do
	for loops in $LOOPS; do
		proxy_config "$loops" >"$WORK/mesh.yaml"
		"$PROXY" -config "$WORK/mesh.yaml" -log-level warn &
		MESH_PID=$!
		PIDS+=("$MESH_PID")
		wait_port "$MESH_PORT"
		wait_port "$ADMIN_PORT"

		# The client talks through two FIFOs: "warm", then "go" from us,
		# "ready N", then EOF from us, "open N". Both sides open "in" first,
		# then "out", so neither open blocks the other.
		bin/meshbench idle -addr "127.0.0.1:$MESH_PORT" -host echo -conns "$CONNS" -warm "$WARM" \
			<"$WORK/in" >"$WORK/out" 2>"$WORK/idle.err" &
		CLIENT_PID=$!
		PIDS+=("$CLIENT_PID")
		exec 7>"$WORK/in" 8<"$WORK/out"
		client_line 60 warm >/dev/null
		sleep 1 # the warm-up's garbage and timers settle before the baseline

		la=$(loadavg1) s0=$(stat_cpu) o0=$(cpu_ticks "$MESH_PID" "$ECHO_PID" "$CLIENT_PID")
		rss0=$(status_kib VmRSS "$MESH_PID") heap0=$(heap_kib)
		fds0=$(find "/proc/$MESH_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
		echo go >&7
		ready=$(client_line 600 ready)
		sleep "$SETTLE"
		rss1=$(status_kib VmRSS "$MESH_PID") heap1=$(heap_kib)
		fds1=$(find "/proc/$MESH_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
		s1=$(stat_cpu) o1=$(cpu_ticks "$MESH_PID" "$ECHO_PID" "$CLIENT_PID")
		read -r other steal < <(busyness "$s0" "$s1" $((o1 - o0)))

		exec 7>&- # EOF: the client counts what is still open, then closes all
		open=$(client_line 120 open)
		exec 8<&-
		wait "$CLIENT_PID" || { echo "idlebench: meshbench idle failed:" >&2; cat "$WORK/idle.err" >&2; exit 1; }
		kill "$MESH_PID"
		wait "$MESH_PID" 2>/dev/null || true
		PIDS=("$ECHO_PID") # only live processes: a reaped PID may be reused

		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$COMMIT" "$run" "$loops" "${ready#ready }" "${open#open }" \
			"$rss0" "$rss1" "$(per_conn "$rss0" "$rss1")" "$heap0" "$heap1" "$(per_conn "$heap0" "$heap1")" \
			$((fds1 - fds0)) "$la" "$other" "$steal" | tee -a "$RAW"
	done
done

echo
echo "raw rows: $RAW"
go run ./results/standalone/cmd/standalone-report -show "$RAW"
