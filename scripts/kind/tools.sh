#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Downloads the pinned kind, kubectl, istioctl and linkerd into .tools/bin
# and verifies each against its sha256 (scripts/kind/versions.sh says where
# each checksum comes from). A tool already there at the pinned version is
# kept. linux/amd64 only: the pinned checksums are for those files.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] ||
	die "tools.sh pins linux/amd64 files; on $(uname -s)/$(uname -m) install kind $KIND_VERSION, kubectl $KUBECTL_VERSION, istioctl $ISTIO_VERSION and linkerd $LINKERD_VERSION yourself and put them in $TOOLS/bin"
command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"

mkdir -p "$TOOLS/bin" "$TOOLS/dl"

# fetch URL FILE SHA256: download to FILE unless it is there with that sum.
fetch() {
	local url=$1 file=$2 sum=$3
	if [ -f "$file" ] && echo "$sum  $file" | sha256sum --check --status; then
		return 0
	fi
	say "downloading $url"
	curl --fail --silent --show-error --location --retry 3 --max-time 600 -o "$file.part" "$url"
	if ! echo "$sum  $file.part" | sha256sum --check --status; then
		rm -f "$file.part"
		die "checksum mismatch for $url (want $sum)"
	fi
	mv "$file.part" "$file"
}

fetch "https://github.com/kubernetes-sigs/kind/releases/download/$KIND_VERSION/kind-linux-amd64" \
	"$TOOLS/dl/kind-$KIND_VERSION" "$KIND_SHA256"
install -m 0755 "$TOOLS/dl/kind-$KIND_VERSION" "$TOOLS/bin/kind"

fetch "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/amd64/kubectl" \
	"$TOOLS/dl/kubectl-$KUBECTL_VERSION" "$KUBECTL_SHA256"
install -m 0755 "$TOOLS/dl/kubectl-$KUBECTL_VERSION" "$TOOLS/bin/kubectl"

fetch "https://github.com/istio/istio/releases/download/$ISTIO_VERSION/istioctl-$ISTIO_VERSION-linux-amd64.tar.gz" \
	"$TOOLS/dl/istioctl-$ISTIO_VERSION.tar.gz" "$ISTIOCTL_SHA256"
tar -xzf "$TOOLS/dl/istioctl-$ISTIO_VERSION.tar.gz" -C "$TOOLS/bin" istioctl
chmod 0755 "$TOOLS/bin/istioctl"

# Linkerd: no pinned sum (see versions.sh); the release's own .sha256.
linkerd_url="https://github.com/linkerd/linkerd2/releases/download/$LINKERD_VERSION/linkerd2-cli-$LINKERD_VERSION-linux-amd64"
linkerd_sum=$LINKERD_SHA256
if [ -z "$linkerd_sum" ]; then
	linkerd_sum=$(curl --fail --silent --show-error --location --retry 3 --max-time 60 "$linkerd_url.sha256" | awk '{print $1}')
	[ "${#linkerd_sum}" -eq 64 ] || die "could not read $linkerd_url.sha256"
fi
fetch "$linkerd_url" "$TOOLS/dl/linkerd-$LINKERD_VERSION" "$linkerd_sum"
install -m 0755 "$TOOLS/dl/linkerd-$LINKERD_VERSION" "$TOOLS/bin/linkerd"

say "tools in $TOOLS/bin: kind $KIND_VERSION, kubectl $KUBECTL_VERSION, istioctl $ISTIO_VERSION, linkerd $LINKERD_VERSION"
