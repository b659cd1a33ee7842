#!/usr/bin/env bash
# scripts/gate-eval.sh (make gate-eval): measures the regression gate itself
# on stored runs of unchanged code, and writes what BENCHMARKS.md shows.
#
#   scripts/gate-eval.sh run [N]   N (default 12) runs of `make gate-run` on the
#                                  current commit into results/gate-eval/runs/
#                                  (run01.json, run02.json, ...; nothing else
#                                  may run on the machine meanwhile)
#   scripts/gate-eval.sh render    from those files: run01 is the baseline,
#                                  run02 is pooled into its noise (as `make
#                                  baseline NOISE_RUNS=...` does), run03
#                                  onwards are the same-code "current"
#                                  runs. Writes results/gate-eval/noise.tsv,
#                                  eval.md and eval.tsv (meshbench gate
#                                  -doctor: each current run's verdict, the
#                                  doctored regressions and the rows they fail,
#                                  the smallest regression caught in every
#                                  run) and rewrites the section of
#                                  BENCHMARKS.md between its gate-eval markers.
#
# The baseline and its noise are kept apart from results/baseline.json so
# that the evaluation never uses the runs it judges to set its own limits.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=results/gate-eval
runs=$dir/runs
bin=bin/meshbench

case "${1:-}" in
run)
	n=${2:-12}
	mkdir -p "$runs"
	for i in $(seq -w 1 "$n"); do
		echo "gate-eval: run $i of $n, load $(cut -d' ' -f1-3 /proc/loadavg)"
		make -s gate-run >"bin/gate-eval-run$i.log" 2>&1 || echo "gate-eval: run $i exited $? (see bin/gate-eval-run$i.log)"
		cp bin/gate/*-gate.json "$runs/run$i.json"
	done
	;;
render)
	[ -x "$bin" ] || make -s build
	base=$runs/run01.json
	noise_runs=("$runs/run02.json")
	currents=()
	for f in "$runs"/run*.json; do
		case "$f" in "$base" | "${noise_runs[0]}") continue ;; esac
		currents+=("$f")
	done
	[ ${#currents[@]} -gt 0 ] || {
		echo "gate-eval: no current runs in $runs (run03.json ...): run '$0 run' first" >&2
		exit 1
	}
	"$bin" gate -baseline "$base" -write-noise "$dir/noise.tsv" "${noise_runs[@]}"
	# -doctor exits 0 whatever it finds: the tables say it. The default k
	# gives eval.md/eval.tsv; other k values show the trade between false
	# alarms and the smallest regression caught (ksweep.md).
	"$bin" gate -baseline "$base" -noise "$dir/noise.tsv" -doctor \
		-md "$dir/eval.md" -tsv "$dir/eval.tsv" "${currents[@]}" >/dev/null
	{
		echo "| k | same-code runs passing | smallest caught: added p50 | added p99 | CPU/request | RSS/proxy |"
		echo "|---|---|---|---|---|---|"
		for k in ${KS:-2 2.5 3 4}; do
			out=$(mktemp)
			"$bin" gate -baseline "$base" -noise "$dir/noise.tsv" -doctor -k "$k" -md "$out" "${currents[@]}" >/dev/null
			pass=$(sed -n 's/^\*\*Unchanged code: \(.*\) current files pass\.\*\*$/\1/p' "$out")
			cell() { awk -F' [|] ' -v m="| $1" '$1 == m { print $2 }' "$out"; }
			echo "| $k | $pass | $(cell added_p50) | $(cell added_p99) | $(cell cpu_per_request) | $(cell rss_per_proxy) |"
			rm -f "$out"
		done
	} >"$dir/ksweep.md"
	{
		cat "$dir/eval.md"
		echo
		echo "**The same runs at other k** (k = standard errors of the difference of two medians a row may rise by):"
		echo
		cat "$dir/ksweep.md"
	} >"$dir/section.md"
	# The section between the markers is replaced; the text around it stays.
	begin='<!-- gate-eval: begin (scripts/gate-eval.sh render; do not edit by hand) -->'
	end='<!-- gate-eval: end -->'
	if ! grep -qxF "$begin" BENCHMARKS.md || ! grep -qxF "$end" BENCHMARKS.md; then
		echo "gate-eval: BENCHMARKS.md lacks the lines '$begin' and '$end'" >&2
		exit 1
	fi
	tmp=$(mktemp)
	trap 'rm -f "$tmp"' EXIT
	awk -v begin="$begin" -v end="$end" -v md="$dir/section.md" '
		$0 == begin { print; while ((getline line < md) > 0) print line; skip = 1; next }
		$0 == end { skip = 0 }
		!skip { print }
	' BENCHMARKS.md >"$tmp"
	cat "$tmp" >BENCHMARKS.md
	echo "gate-eval: wrote $dir/noise.tsv, eval.md, eval.tsv, ksweep.md, section.md and BENCHMARKS.md's gate-eval section (${#currents[@]} current runs)"
	;;
*)
	echo "usage: $0 run [N] | render" >&2
	exit 2
	;;
esac
