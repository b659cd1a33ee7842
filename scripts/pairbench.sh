#!/usr/bin/env bash
# Sidecar-pair loopback benchmark: hey -> client meshproxy (outbound) ->
# server meshproxy (inbound) -> meshbench echo, plaintext and mTLS, beside
# the direct path, at fixed request rates (default 1000 and 10000 req/s),
# 16 connections, 1 KiB responses. Targets alternate in every round.
#
# For each run: achieved rate, hey's p50/p99 latency, responses other than
# 200 and transport errors, CPU time per request of each proxy
# (/proc/PID/stat), hey's own CPU, the proxies' RSS (idle and peak), and how
# busy the rest of the machine was. The added latency over direct (same
# round) is computed from these rows by the renderer. hey throttles each
# connection to rate/16 and measures from the send time: it does not correct
# coordinated omission (meshload does; `make bench` uses it).
#
#   scripts/pairbench.sh                  # RATES="1000 10000" DURATION=10s REPEAT=3 LOOPS=0
#   LOOPS=1 scripts/pairbench.sh
#
# LOOPS sets spec.eventLoops of every proxy (0 = one per core; meshproxy then
# also sets GOMAXPROCS to it).
#
# Needs hey and GNU time (apt-get install hey time). Waits for a quiet machine
# first (wait_quiet in scripts/lib.sh). Writes one row per rate, round and
# target to results/standalone/pairbench/<UTC time>-loops<LOOPS>[-TAG].tsv
# (commit it), then prints the section `make report-standalone` renders.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_workspace # WORK (removed on exit) and PIDS (killed on exit)

RATES=${RATES:-"1000 10000"}
DURATION=${DURATION:-10s}
REPEAT=${REPEAT:-3}
CONNS=${CONNS:-16}
SIZE=${SIZE:-1024}
LOOPS=${LOOPS:-0}
BASE=${BASE_PORT:-18300}
TAG=loops$LOOPS${TAG:+-$TAG}

command -v hey >/dev/null || { echo "pairbench: hey not found (apt-get install hey)" >&2; exit 1; }
[ -x bin/meshproxy ] && [ -x bin/meshbench ] || { echo "pairbench: run make build first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "pairbench: GNU time not found (apt-get install time)" >&2; exit 1; }

wait_quiet

ECHO=$BASE
bin/meshbench echo -listen "127.0.0.1:$ECHO" -size "$SIZE" -name echo 2>/dev/null &
PIDS+=($!)
wait_port "$ECHO"
bin/meshbench certs -out "$WORK/certs" -identities default/web,default/reviews >/dev/null

# proxy_pair NAME PORT_OFFSET IDENTITY(yes|no): starts client and server proxies.
start_pair() {
	local name=$1 off=$2 tls=$3
	local cout=$((BASE + off)) cadmin=$((BASE + off + 1)) sin=$((BASE + off + 2)) sadmin=$((BASE + off + 3))
	local cid="" sid="" ann=""
	if [ "$tls" = yes ]; then
		cid="  identity: {certFile: $WORK/certs/default-web.crt, keyFile: $WORK/certs/default-web.key, caFile: $WORK/certs/ca.crt}"
		sid="  identity: {certFile: $WORK/certs/default-reviews.crt, keyFile: $WORK/certs/default-reviews.key, caFile: $WORK/certs/ca.crt}"
		ann="  annotations: {meshbench.dev/identity: spiffe://cluster.local/ns/default/sa/reviews}"
	fi
	cat >"$WORK/$name-server.yaml" <<EOF
apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: $name-server}
spec:
  admin: {address: 127.0.0.1:$sadmin}
  inbound: {address: 127.0.0.1:$sin, app: 127.0.0.1:$ECHO}
  eventLoops: $LOOPS
$sid
EOF
	cat >"$WORK/$name-client.yaml" <<EOF
apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: $name-client}
spec:
  admin: {address: 127.0.0.1:$cadmin}
  outbound: {address: 127.0.0.1:$cout}
  eventLoops: $LOOPS
$cid
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: default
$ann
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, namespace: default, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: http, port: $sin}]
endpoints: [{addresses: [127.0.0.1]}]
EOF
	bin/meshproxy -config "$WORK/$name-server.yaml" -log-level warn &
	PIDS+=($!)
	eval "${name}_server=$!"
	bin/meshproxy -config "$WORK/$name-client.yaml" -log-level warn &
	PIDS+=($!)
	eval "${name}_client=$!"
	wait_port "$sin"
	wait_port "$cout"
	eval "${name}_url=http://127.0.0.1:$cout/"
}
start_pair plain 10 no
start_pair mtls 20 yes
direct_url="http://127.0.0.1:$ECHO/"

declare -A IDLE_C IDLE_S
for t in plain mtls; do
	c=${t}_client s=${t}_server
	IDLE_C[$t]=$(status_kib VmRSS ${!c}) IDLE_S[$t]=$(status_kib VmRSS ${!s})
done

TICK=$(getconf CLK_TCK)
raw_open pairbench "$TAG"
raw_meta params "RATES=$RATES DURATION=$DURATION REPEAT=$REPEAT CONNS=$CONNS SIZE=$SIZE LOOPS=$LOOPS"
raw_meta tools "hey $(dpkg-query -W -f='${Version}' hey 2>/dev/null || echo '?') (Debian)"
raw_meta meshproxy "$(bin/meshproxy -version), eventLoops $LOOPS; mTLS: ECDSA P-256 identities from meshbench certs, TLS 1.3"
printf "date\tcommit\trate\ttarget\trun\tachieved\tok\tnon200\terrors\tp50_ms\tp99_ms\tclient_cpu_us\tserver_cpu_us\tgen_cpu_us\tclient_rss_idle_kib\tserver_rss_idle_kib\tclient_rss_kib\tserver_rss_kib\tloadavg1\tother_cores\tsteal_pct\n" >>"$RAW"
for t in direct plain mtls; do u=${t}_url; hey -z 2s -c "$CONNS" -host echo "${!u}" >/dev/null; done # warm-up

# hey prints "  50% in 0.0004 secs"; -> milliseconds
pct() { awk -v p="$1%" '$1 == p && $2 == "in" { printf "%.3f", $3 * 1000 }' "$2"; }
# status_count FILE: responses by status in hey's "Status code distribution"
# ("  [200]	9876 responses"); errors: the counts under "Error distribution"
# ("  [12]	Get ...: connection refused").
status_count() { awk -v want="$2" '/Status code distribution/ { on = 1; next } /Error distribution/ { on = 0 }
	on && $1 ~ /^\[[0-9]+\]$/ { if ((want == "200") == ($1 == "[200]")) n += $2 } END { print n + 0 }' "$1"; }
error_count() { awk '/Error distribution/ { on = 1; next } on && $1 ~ /^\[[0-9]+\]$/ { gsub(/[][]/, "", $1); n += $1 } END { print n + 0 }' "$1"; }

ALL_PIDS=("${PIDS[@]}")
for rate in $RATES; do
	q=$(awk -v r="$rate" -v c="$CONNS" 'BEGIN { printf "%.3f", r / c }')
	for run in $(seq "$REPEAT"); do
		for t in direct plain mtls; do
			u=${t}_url
			cc=0 sc=0 c0=0 s0=0
			if [ "$t" != direct ]; then
				c=${t}_client s=${t}_server
				cc=${!c} sc=${!s}
				c0=$(cpu_ticks "$cc") s0=$(cpu_ticks "$sc")
			fi
			la=$(loadavg1) m0=$(stat_cpu) o0=$(cpu_ticks "${ALL_PIDS[@]}")
			/usr/bin/time -o "$WORK/time" -f "%U %S" hey -z "$DURATION" -c "$CONNS" -q "$q" -host echo "${!u}" >"$WORK/hey.txt"
			m1=$(stat_cpu) o1=$(cpu_ticks "${ALL_PIDS[@]}")
			ok=$(status_count "$WORK/hey.txt" 200) bad=$(status_count "$WORK/hey.txt" other) errs=$(error_count "$WORK/hey.txt")
			if [ "$bad" -gt 0 ] || [ "$errs" -gt 0 ] || [ "$ok" -eq 0 ]; then
				# a failed request is a finding, not noise: show it (and it is in the row)
				echo "pairbench: $t at $rate req/s, round $run: errors or non-200 responses:" >&2
				sed -n '/Status code distribution/,$p' "$WORK/hey.txt" >&2
			fi
			rps=$(awk '/Requests\/sec/ { printf "%.0f", $2 }' "$WORK/hey.txt")
			p50=$(pct 50 "$WORK/hey.txt") p99=$(pct 99 "$WORK/hey.txt")
			n=$((ok + bad + errs))
			gen=- ccpu=- scpu=- crss=- srss=- cidle=- sidle=-
			[ "$n" -gt 0 ] && gen=$(awk -v n="$n" '{ printf "%.1f", ($1 + $2) / n * 1e6 }' "$WORK/time")
			if [ "$t" != direct ] && [ "$n" -gt 0 ]; then
				ccpu=$(awk -v d=$(($(cpu_ticks "$cc") - c0)) -v n="$n" -v hz="$TICK" 'BEGIN { printf "%.1f", d / hz / n * 1e6 }')
				scpu=$(awk -v d=$(($(cpu_ticks "$sc") - s0)) -v n="$n" -v hz="$TICK" 'BEGIN { printf "%.1f", d / hz / n * 1e6 }')
				crss=$(status_kib VmHWM "$cc") srss=$(status_kib VmHWM "$sc")
				cidle=${IDLE_C[$t]} sidle=${IDLE_S[$t]}
			fi
			own=$(($(awk -v hz="$TICK" '{ printf "%d", ($1 + $2) * hz }' "$WORK/time") + o1 - o0))
			read -r other steal < <(busyness "$m0" "$m1" "$own")
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" \
				"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$COMMIT" "$rate" "$t" "$run" "${rps:--}" "$ok" "$bad" "$errs" "${p50:--}" "${p99:--}" \
				"$ccpu" "$scpu" "$gen" "$cidle" "$sidle" "$crss" "$srss" "$la" "$other" "$steal" | tee -a "$RAW"
		done
	done
done

echo
echo "raw rows: $RAW"
go run ./results/standalone/cmd/standalone-report -show "$RAW"
