# Shared helpers for the benchmark scripts (sourced, not run).

# wait_port PORT: wait up to 5 s for a listener on 127.0.0.1:PORT.
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "$(basename "$0"): nothing listening on $1" >&2
	return 1
}

# cpu_ticks PID... -> utime+stime of all the processes, in clock ticks
# (fields 14 and 15 of /proc/PID/stat, counted after the ")" of the comm field).
cpu_ticks() {
	local sum=0 f
	for p in "$@"; do
		f=$(sed 's/.*) //' "/proc/$p/stat")
		set -- $f
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}

# status_kib FIELD PID... -> a /proc/PID/status field (VmRSS, VmHWM) summed over PIDs
status_kib() {
	local field=$1 sum=0
	shift
	for p in "$@"; do
		sum=$((sum + $(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status")))
	done
	echo "$sum"
}

# bench_workspace sets WORK, a temporary directory, and PIDS, the processes
# a script starts; on any exit, Ctrl-C included, the processes are killed and
# the directory removed, so no stray server outlives a benchmark.
bench_workspace() {
	WORK=$(mktemp -d)
	PIDS=()
	trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}

# ---- raw data under results/standalone (committed; see its README.md) ----

# wait_quiet: before measuring, wait until the 1-minute load average is below
# QUIET_LOAD (default 1.0), polling every QUIET_POLL s (20) for at most
# QUIET_WAIT s (300; 0 = do not wait). It measures anyway after the wait, with
# a warning: the load is recorded in the raw rows either way, so a busy run is
# visible rather than hidden. Sets QUIET_WAITED (seconds waited).
wait_quiet() {
	local limit=${QUIET_LOAD:-1.0} max=${QUIET_WAIT:-300} poll=${QUIET_POLL:-20} waited=0
	while awk -v l="$limit" '{ exit !($1 >= l) }' /proc/loadavg && [ "$waited" -lt "$max" ]; do
		echo "$(basename "$0"): load average $(cut -d' ' -f1 /proc/loadavg) >= $limit, waiting (${waited}s of ${max}s)" >&2
		sleep "$poll"
		waited=$((waited + poll))
	done
	if awk -v l="$limit" '{ exit !($1 >= l) }' /proc/loadavg; then
		echo "$(basename "$0"): WARNING: load average still $(cut -d' ' -f1 /proc/loadavg) after ${waited}s; measuring anyway (recorded in the rows)" >&2
	fi
	QUIET_WAITED=$waited
}

# raw_open BENCH [TAG]: sets RAW to results/standalone/BENCH/<UTC timestamp>[-TAG].tsv
# and writes its "# key: value" header (what ran, where, on which commit).
# Extra header lines can be appended by the caller with raw_meta.
raw_open() {
	local bench=$1 tag=${2:-} ts
	ts=$(date -u +%Y%m%dT%H%M%SZ)
	mkdir -p "results/standalone/$bench"
	RAW="results/standalone/$bench/$ts${tag:+-$tag}.tsv"
	COMMIT=$(git_commit)
	: >"$RAW"
	raw_meta bench "$bench"
	raw_meta tag "${tag:--}"
	raw_meta started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	raw_meta commit "$COMMIT"
	raw_meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs"
	raw_meta kernel "$(uname -r)"
	raw_meta os "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
	raw_meta loadavg_at_start "$(cut -d' ' -f1-3 /proc/loadavg) (waited ${QUIET_WAITED:-0} s for < ${QUIET_LOAD:-1.0})"
}

# raw_meta KEY VALUE: one "# KEY: VALUE" header line of the raw file.
raw_meta() { printf '# %s: %s\n' "$1" "$2" >>"$RAW"; }

# git_commit: the commit the binaries were built from, "-dirty" when the work
# tree had uncommitted changes (the numbers then belong to no commit).
git_commit() { git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown; }

# stat_cpu -> "total busy steal": jiffies summed over all CPUs from the first
# line of /proc/stat. busy is user+nice+system+irq+softirq: the kernel adds a
# tick spent in (soft)interrupt context to the interrupted task's stime as
# well, so leaving those columns out would make the benchmark's own CPU
# (from /proc/PID/stat) exceed the machine's busy time.
stat_cpu() { awk '$1 == "cpu" { print $2+$3+$4+$5+$6+$7+$8+$9, $2+$3+$4+$7+$8, $9; exit }' /proc/stat; }

# busyness "TOTAL0 BUSY0 STEAL0" "TOTAL1 BUSY1 STEAL1" OWN_TICKS -> "other_cores steal_pct":
# how many CPUs' worth of user+system time processes other than the
# benchmark's own (OWN_TICKS, in clock ticks) used between the two
# snapshots, and the share of CPU time the hypervisor stole. An estimate:
# tick accounting can make it slightly negative on an idle machine.
busyness() {
	awk -v a="$1" -v b="$2" -v own="$3" -v ncpu="$(nproc)" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		total = y[1] - x[1]; busy = y[2] - x[2]; steal = y[3] - x[3]
		if (total <= 0) { print "0.00 0.0"; exit }
		printf "%.2f %.1f\n", (busy - own) / (total / ncpu), 100 * steal / total }'
}

# loadavg1: the 1-minute load average now.
loadavg1() { cut -d' ' -f1 /proc/loadavg; }

# echo_backend_yaml PORT [SPIFFE_ID] prints the Service "echo" and its
# EndpointSlice (one endpoint, 127.0.0.1:PORT) as documents to follow a Proxy
# document in a meshproxy config file. With SPIFFE_ID the Service is meshed:
# its endpoint is a meshproxy inbound listener reached over mTLS as that ID.
echo_backend_yaml() {
	local ann=""
	[ -n "${2:-}" ] && ann="
  annotations: {meshbench.dev/identity: $2}"
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: default$ann
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, namespace: default, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: http, port: $1}]
endpoints: [{addresses: [127.0.0.1]}]
EOF
}

# nginx_proxy_conf WORKERS PORT ECHO_PORT DIR prints an nginx.conf that proxies
# 127.0.0.1:PORT to the echo on ECHO_PORT as the benchmarks compare it:
# worker_processes WORKERS, upstream keep-alive (64), no access log, Host and
# X-Forwarded-For set as a sidecar sets them; pid and error log in DIR.
nginx_proxy_conf() {
	cat <<EOF
worker_processes $1;
daemon off;
pid $4/nginx.pid;
error_log $4/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	upstream echo { server 127.0.0.1:$3; keepalive 64; }
	server {
		listen 127.0.0.1:$2;
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
}
