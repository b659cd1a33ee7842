#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Builds the four meshbench images from bin/ (make build) and loads them
# into the kind cluster. The pods use imagePullPolicy Never: an image that
# was not loaded fails at once instead of being pulled.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need_docker
need_tool kind
TAG=${MESHBENCH_IMAGE_TAG:-dev}
for bin in meshproxy meshload meshbench; do
	[ -x "$ROOT/bin/$bin" ] || die "bin/$bin missing: run make build first"
done
for image in meshproxy meshproxy-init meshload echo; do
	say "building meshbench/$image:$TAG"
	# The build context is the repository; deploy/docker/$image.Dockerfile.dockerignore
	# keeps it to the files that Dockerfile copies (BuildKit).
	DOCKER_BUILDKIT=1 with_timeout 15m docker build -f "$ROOT/deploy/docker/$image.Dockerfile" -t "meshbench/$image:$TAG" "$ROOT"
	with_timeout 10m kind load docker-image "meshbench/$image:$TAG" --name "$KIND_CLUSTER"
done
