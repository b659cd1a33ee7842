#!/usr/bin/env bash
# Sidecar-pair loopback benchmark: hey -> client meshproxy (outbound) ->
# server meshproxy (inbound) -> meshbench echo, plaintext and mTLS, beside
# the direct path, at fixed request rates (default 1000 and 10000 req/s),
# 16 connections, 1 KiB responses. Targets alternate in every round.
#
# For each run: achieved rate, p50/p99 latency and the added latency over
# direct measured in the same round, CPU time per request of each proxy
# (/proc/PID/stat) and their RSS. hey throttles each connection to rate/16;
# it does not correct coordinated omission (meshload will).
#
#   scripts/pairbench.sh                  # RATES="1000 10000" DURATION=10s REPEAT=3 LOOPS=0
#
# LOOPS sets spec.eventLoops of every proxy (0 = one per core; meshproxy then
# also sets GOMAXPROCS to it).
#
# Needs hey (apt-get install hey). Writes bin/pairbench.tsv and a summary.
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
OUT=bin/pairbench.tsv

command -v hey >/dev/null || { echo "pairbench: hey not found (apt-get install hey)" >&2; exit 1; }
[ -x bin/meshproxy ] && [ -x bin/meshbench ] || { echo "pairbench: run make build first" >&2; exit 1; }


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

declare -A IDLE
for t in plain mtls; do
	c=${t}_client s=${t}_server
	IDLE[$t]="$(status_kib VmRSS ${!c})/$(status_kib VmRSS ${!s})"
done

TICK=$(getconf CLK_TCK)
printf "rate\ttarget\trun\tachieved\tp50_ms\tp99_ms\tclient_cpu_us\tserver_cpu_us\tclient_rss_kib\tserver_rss_kib\n" >"$OUT"
for t in direct plain mtls; do u=${t}_url; hey -z 2s -c "$CONNS" -host echo "${!u}" >/dev/null; done # warm-up

# hey prints "  50% in 0.0004 secs"; -> milliseconds
pct() { awk -v p="$1%" '$1 == p && $2 == "in" { printf "%.3f", $3 * 1000 }' "$2"; }

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
			hey -z "$DURATION" -c "$CONNS" -q "$q" -host echo "${!u}" >"$WORK/hey.txt"
			n=$(awk '/\[200\]/ { print $2 }' "$WORK/hey.txt")
			if grep -q "Error distribution" "$WORK/hey.txt" || [ -z "$n" ]; then
				# a failed request is a finding, not noise: show it
				echo "pairbench: $t at $rate req/s, round $run: errors or non-200 responses:" >&2
				sed -n '/Status code distribution/,$p' "$WORK/hey.txt" >&2
			fi
			n=${n:-0}
			rps=$(awk '/Requests\/sec/ { printf "%.0f", $2 }' "$WORK/hey.txt")
			p50=$(pct 50 "$WORK/hey.txt") p99=$(pct 99 "$WORK/hey.txt")
			ccpu=- scpu=- crss=- srss=-
			if [ "$t" != direct ] && [ "$n" -gt 0 ]; then
				ccpu=$(awk -v d=$(($(cpu_ticks "$cc") - c0)) -v n="$n" -v hz="$TICK" 'BEGIN { printf "%.1f", d / hz / n * 1e6 }')
				scpu=$(awk -v d=$(($(cpu_ticks "$sc") - s0)) -v n="$n" -v hz="$TICK" 'BEGIN { printf "%.1f", d / hz / n * 1e6 }')
				crss=$(status_kib VmHWM "$cc") srss=$(status_kib VmHWM "$sc")
			fi
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$rate" "$t" "$run" "$rps" "$p50" "$p99" "$ccpu" "$scpu" "$crss" "$srss" | tee -a "$OUT"
		done
	done
done

echo
echo "eventLoops $LOOPS; median over $REPEAT rounds; added = target minus direct in the same round (ms); CPU in µs per request; RSS peak MiB (client/server)"
echo "idle RSS KiB (client/server): plain ${IDLE[plain]}, mtls ${IDLE[mtls]}"
awk -F'\t' '
function med(arr, n,   x, i, j, t) { for (i = 1; i <= n; i++) x[i] = arr[i] + 0
	for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
	return x[int((n + 1) / 2)] }
NR == 1 { next }
$2 == "direct" { d50[$1, $3] = $5; d99[$1, $3] = $6 }
$2 != "direct" { k = $1 SUBSEP $2; n[k]++; i = n[k]
	A50[k, i] = $5 - d50[$1, $3]; A99[k, i] = $6 - d99[$1, $3]; R[k, i] = $4; CC[k, i] = $7; SC[k, i] = $8
	CR[k] = $9; SR[k] = $10; keys[k] = 1 }
END {
	printf "%-6s %-6s %9s %12s %12s %10s %10s %14s\n", "rate", "target", "achieved", "added p50", "added p99", "cpu cli", "cpu srv", "RSS cli/srv"
	for (k in keys) { split(k, kk, SUBSEP); m = n[k]
		for (i = 1; i <= m; i++) { a[i] = A50[k, i]; b[i] = A99[k, i]; r[i] = R[k, i]; c[i] = CC[k, i]; s[i] = SC[k, i] }
		printf "%-6s %-6s %9.0f %12.3f %12.3f %10.1f %10.1f %7.1f/%-6.1f\n", kk[1], kk[2], med(r, m), med(a, m), med(b, m), med(c, m), med(s, m), CR[k] / 1024, SR[k] / 1024 }
}' "$OUT" | sort -k1,1n -k2,2
