# shellcheck shell=bash source-path=SCRIPTDIR
# Shared by scripts/kind/*.sh: paths, messages, tool checks.
set -euo pipefail

KIND_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$KIND_DIR/../.." && pwd)
TOOLS=${TOOLS:-$ROOT/bin/kind-tools} # under bin/: ignored by git, removed by make clean
export PATH="$TOOLS/bin:$PATH"
# shellcheck source=versions.sh
. "$KIND_DIR/versions.sh"

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need_docker fails with what to do when there is no Docker engine.
need_docker() {
	command -v docker >/dev/null 2>&1 ||
		die "docker is not installed: the kind path needs a Docker engine (https://docs.docker.com/engine/install/)"
	timeout 30 docker info >/dev/null 2>&1 ||
		die "docker is installed but no engine answers ('docker info' fails): start Docker, or run as a user in the docker group"
}

# need_tool fails with what to do when a pinned tool is missing.
need_tool() {
	command -v "$1" >/dev/null 2>&1 ||
		die "$1 not found: run scripts/kind/tools.sh (it puts pinned, checksum-verified tools in $TOOLS/bin)"
}

# with_timeout runs a command bounded in time.
with_timeout() {
	local t=$1
	shift
	timeout --foreground "$t" "$@"
}
