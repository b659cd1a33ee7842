#!/usr/bin/env bash
# What idle HTTP/2 connections and open HTTP/2 streams cost meshproxy (the
# issue's bound: 10,000 open streams over 100 connections in at most 64 MiB
# of RSS). `meshbench h2idle` opens CONNS h2c connections to the proxy's
# outbound listener one after another, sends one GET on each (1 KiB response
# from meshbench echo, which the proxy speaks h2c to: the Service port says
# appProtocol kubernetes.io/h2c) and holds them idle; then it opens STREAMS
# streams on each, GET /?delay=DELAY, which the echo answers only after
# DELAY, so they are all open end to end when measured. The proxy's VmRSS
# and Go heap (go_memstats_heap_inuse_bytes from the admin /metrics) are
# read three times: after a warm-up of WARM requests on one connection,
# SETTLE s after the last idle connection, and SETTLE s after the echo has
# received every held stream's request (its /stats count; the rows record
# how many arrived). Per connection = (idle - before) / CONNS, per stream =
# (streams - idle) / (CONNS * STREAMS). A fresh proxy per run, REPEAT
# rounds, each round once per LOOPS value (spec.eventLoops; 0 = one per core).
#
# Only the proxy process's own memory is counted: the kernel's socket
# buffers are not part of its RSS. The per-stream figure includes the
# proxy's upstream side of each stream (its stream on an h2c connection to
# the echo, and those connections: the echo admits 250 streams on each).
#
#   scripts/h2idlebench.sh                      # CONNS=100 STREAMS=100 REPEAT=3 LOOPS="0 1"
#   MESHPROXY_TREE=/tmp/before TAG=before scripts/h2idlebench.sh
#
# MESHPROXY_TREE is a checkout whose bin/meshproxy is measured (default:
# this one; make build there first) and whose commit the raw file records;
# the echo server and the client are this checkout's bin/meshbench.
# DELAY must outlast the measurement and stay below the proxy's idle
# timeout (timeouts.idle, 60 s by default, also ends a stream nothing moved
# on); the rows' waiting_after says how many streams were still unanswered
# when the client was told to stop. Waits for a quiet machine first
# (wait_quiet in scripts/lib.sh). Writes one row per round and LOOPS value
# to results/standalone/h2idle/<UTC time>[-TAG].tsv (commit it), then prints
# the section `make report-standalone` renders from it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace # WORK (removed on exit) and PIDS (killed on exit)

CONNS=${CONNS:-100}
STREAMS=${STREAMS:-100}
REPEAT=${REPEAT:-3}
LOOPS=${LOOPS:-"0 1"}
SIZE=${SIZE:-1024}
SETTLE=${SETTLE:-2}
WARM=${WARM:-10}
DELAY=${DELAY:-60s}
ARRIVE_WAIT=${ARRIVE_WAIT:-30}
BASE_PORT=${BASE_PORT:-18600}
ECHO_PORT=$BASE_PORT
MESH_PORT=$((BASE_PORT + 1))
ADMIN_PORT=$((BASE_PORT + 2))
TAG=${TAG:-}
TREE=${MESHPROXY_TREE:-.}
[ "$WARM" -ge 1 ] || { echo "h2idlebench: WARM=$WARM: want at least 1 warm-up request" >&2; exit 1; }
PROXY=$TREE/bin/meshproxy

[ -x "$PROXY" ] || { echo "h2idlebench: no $PROXY: run make build${MESHPROXY_TREE:+ in $TREE} first" >&2; exit 1; }
[ -x bin/meshbench ] || { echo "h2idlebench: run make build first" >&2; exit 1; }
command -v curl >/dev/null || { echo "h2idlebench: curl not found (apt-get install curl)" >&2; exit 1; }
bin/meshbench h2idle -h 2>&1 | grep -- -streams >/dev/null || { echo "h2idlebench: bin/meshbench has no h2idle command: run make build" >&2; exit 1; }

# The record names the commit of the proxy that was measured.
git_commit() { git -C "$TREE" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown; }

wait_quiet

# proxy_config LOOPS: an outbound listener and one Service whose port says
# h2c, with spec.eventLoops set.
proxy_config() {
	cat <<EOF
apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: h2idle}
spec:
  admin: {address: 127.0.0.1:$ADMIN_PORT}
  outbound: {address: 127.0.0.1:$MESH_PORT}
  eventLoops: $1
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  ports: [{name: http, port: 80, appProtocol: kubernetes.io/h2c}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: default
  labels: {kubernetes.io/service-name: echo}
addressType: IPv4
ports: [{name: http, port: $ECHO_PORT, appProtocol: kubernetes.io/h2c}]
endpoints:
  - addresses: [127.0.0.1]
EOF
}

# heap_kib: the proxy's go_memstats_heap_inuse_bytes in KiB, "-" when its
# /metrics does not have it.
heap_kib() {
	{ curl -fsS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null || true; } |
		awk '$1 == "go_memstats_heap_inuse_bytes" { printf "%d", $2 / 1024; found = 1 } END { if (!found) print "-" }'
}

# echo_requests: requests the echo has received (answered or waiting).
echo_requests() {
	curl -fsS --max-time 5 "http://127.0.0.1:$ECHO_PORT/stats" | tr -dc '0-9'
}

# per N BEFORE AFTER (KiB) -> bytes per one of N, "-" when not measured
per() {
	[ "$2" = - ] || [ "$3" = - ] || [ "$1" -eq 0 ] && { echo -; return; }
	awk -v a="$2" -v b="$3" -v n="$1" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'
}

# client_line TIMEOUT WANT: the client's next stdout line, which must start with WANT.
client_line() {
	local line
	if ! read -r -t "$1" line <&8; then
		echo "h2idlebench: no \"$2\" line from meshbench h2idle within $1 s; its stderr:" >&2
		cat "$WORK/h2idle.err" >&2
		exit 1
	fi
	case $line in
	"$2"*) echo "$line" ;;
	*)
		echo "h2idlebench: meshbench h2idle said \"$line\", want \"$2 ...\"; its stderr:" >&2
		cat "$WORK/h2idle.err" >&2
		exit 1
		;;
	esac
}

raw_open h2idle "$TAG"
raw_meta params "CONNS=$CONNS STREAMS=$STREAMS REPEAT=$REPEAT LOOPS=$LOOPS SIZE=$SIZE SETTLE=${SETTLE}s WARM=$WARM DELAY=$DELAY"
raw_meta tools "$(bin/meshbench -version | cut -d' ' -f1-2) h2idle (h2c, raw frames; sequential connects, one GET each, held idle; then STREAMS GETs ?delay=DELAY on each, held open)"
raw_meta meshproxy "$("$PROXY" -version), outbound listener, one Service (appProtocol kubernetes.io/h2c to meshbench echo); RSS = VmRSS, heap = go_memstats_heap_inuse_bytes"
printf "date\tcommit\tround\tevent_loops\tconns\tstreams\tstreams_arrived\topen_after\twaiting_after\trss_before_kib\trss_idle_kib\trss_streams_kib\tbytes_per_conn\tbytes_per_stream\theap_before_kib\theap_idle_kib\theap_streams_kib\theap_bytes_per_conn\theap_bytes_per_stream\tfds_added\tloadavg1\tother_cores\tsteal_pct\n" >>"$RAW"

mkfifo "$WORK/in" "$WORK/out"
for run in $(seq "$REPEAT"); do
	for loops in $LOOPS; do
		# A fresh echo per run too: the last run's held requests would
		# otherwise still be waiting there (its delays outlive their
		# connections); closing it answers them at once.
		bin/meshbench echo -listen "127.0.0.1:$ECHO_PORT" -size "$SIZE" -name echo 2>/dev/null &
		ECHO_PID=$!
		PIDS+=("$ECHO_PID")
		wait_port "$ECHO_PORT"
		proxy_config "$loops" >"$WORK/mesh.yaml"
		"$PROXY" -config "$WORK/mesh.yaml" -log-level warn &
		MESH_PID=$!
		PIDS+=("$MESH_PID")
		wait_port "$MESH_PORT"
		wait_port "$ADMIN_PORT"

		# The client talks through two FIFOs (see meshbench h2idle -h):
		# "warm", a line from us, "ready N", a line, "streams N", EOF from
		# us, "open C waiting W". Both sides open "in" first, then "out".
		bin/meshbench h2idle -addr "127.0.0.1:$MESH_PORT" -host echo -conns "$CONNS" -streams "$STREAMS" \
			-warm "$WARM" -delay "$DELAY" <"$WORK/in" >"$WORK/out" 2>"$WORK/h2idle.err" &
		CLIENT_PID=$!
		PIDS+=("$CLIENT_PID")
		exec 7>"$WORK/in" 8<"$WORK/out"
		client_line 60 warm >/dev/null
		sleep 1 # the warm-up's garbage and timers settle before the baseline

		la=$(loadavg1) s0=$(stat_cpu) o0=$(cpu_ticks "$MESH_PID" "$ECHO_PID" "$CLIENT_PID")
		rss0=$(status_kib VmRSS "$MESH_PID") heap0=$(heap_kib)
		fds0=$(find "/proc/$MESH_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
		echo go >&7
		ready=$(client_line 120 ready)
		sleep "$SETTLE"
		rss1=$(status_kib VmRSS "$MESH_PID") heap1=$(heap_kib)

		# The streams: measured once the echo holds all of their requests.
		seen0=$(echo_requests)
		echo go >&7
		streams=$(client_line 120 streams)
		streams=${streams#streams }
		arrived=0
		for _ in $(seq $((ARRIVE_WAIT * 10))); do
			arrived=$(($(echo_requests) - seen0))
			[ "$arrived" -ge "$streams" ] && break
			sleep 0.1
		done
		[ "$arrived" -ge "$streams" ] ||
			echo "h2idlebench: only $arrived of $streams held requests reached the echo within ${ARRIVE_WAIT}s; measuring anyway (recorded)" >&2
		sleep "$SETTLE"
		rss2=$(status_kib VmRSS "$MESH_PID") heap2=$(heap_kib)
		fds2=$(find "/proc/$MESH_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
		s1=$(stat_cpu) o1=$(cpu_ticks "$MESH_PID" "$ECHO_PID" "$CLIENT_PID")
		read -r other steal < <(busyness "$s0" "$s1" $((o1 - o0)))

		exec 7>&- # EOF: the client counts what is still open and waiting, then closes all
		held=$(client_line 120 open)
		read -r _ open _ waiting <<<"$held"
		exec 8<&-
		wait "$CLIENT_PID" || { echo "h2idlebench: meshbench h2idle failed:" >&2; cat "$WORK/h2idle.err" >&2; exit 1; }
		kill "$MESH_PID" "$ECHO_PID"
		wait "$MESH_PID" "$ECHO_PID" 2>/dev/null || true
		PIDS=() # only live processes: a reaped PID may be reused

		conns=${ready#ready }
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$COMMIT" "$run" "$loops" "$conns" "$streams" "$arrived" "$open" "$waiting" \
			"$rss0" "$rss1" "$rss2" "$(per "$conns" "$rss0" "$rss1")" "$(per "$streams" "$rss1" "$rss2")" \
			"$heap0" "$heap1" "$heap2" "$(per "$conns" "$heap0" "$heap1")" "$(per "$streams" "$heap1" "$heap2")" \
			$((fds2 - fds0)) "$la" "$other" "$steal" | tee -a "$RAW"
	done
done

echo
echo "raw rows: $RAW"
go run ./results/standalone/cmd/standalone-report -show "$RAW"
