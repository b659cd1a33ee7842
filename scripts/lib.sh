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
