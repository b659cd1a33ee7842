#!/usr/bin/env bash
# scripts/fuzz.sh (make fuzz): runs every fuzz target of the repository for
# FUZZTIME each (default 30s), one after the other, starting from the
# committed seed corpus (testdata/fuzz/<target>/ beside each package's
# tests, plus the f.Add seeds). A failing input is written there by go test;
# the script prints it and exits 1, so CI shows what broke the parser and the
# file can be committed as a regression case. CI runs it with a short
# FUZZTIME (.ci/run): a bounded smoke run on every change; longer runs are
# for the parsers' authors.
#
#   scripts/fuzz.sh                 # all targets, FUZZTIME each
#   FUZZTIME=10s scripts/fuzz.sh    # shorter
#   scripts/fuzz.sh FuzzParseRequest FuzzMatch   # only these
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

# Packages with fuzz targets, found rather than listed so a new target runs
# without editing this file. third_party is not ours to fuzz.
mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./third_party/' | xargs -n1 dirname | sort -u)
[ ${#pkgs[@]} -gt 0 ] || { echo "fuzz: no fuzz targets found" >&2; exit 1; }

want=" $* "
ran=0
for pkg in "${pkgs[@]}"; do
	for t in $("$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		if [ $# -gt 0 ] && [[ $want != *" $t "* ]]; then
			continue
		fi
		echo "fuzz: $pkg $t for $FUZZTIME"
		if ! "$GO" test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "$pkg"; then
			echo "fuzz: $t in $pkg failed; the failing input (commit it as a regression case):" >&2
			for f in $(git ls-files --others --exclude-standard "$pkg/testdata/fuzz/$t"); do
				echo "--- $f" >&2
				cat "$f" >&2
			done
			exit 1
		fi
		ran=$((ran + 1))
	done
done
[ "$ran" -gt 0 ] || { echo "fuzz: no target matched: $*" >&2; exit 1; }
echo "fuzz: $ran targets, $FUZZTIME each, no failure"
