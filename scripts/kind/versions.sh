# shellcheck shell=bash disable=SC2034
# Pinned versions of the kind path's tools, and the sha256 of each download
# (linux/amd64). Sourced by the other scripts in scripts/kind.
#
# Where each checksum comes from:
# - kind, kubectl, istioctl: cashapp/hermit-packages (kind.hcl, kubectl.hcl,
#   istioctl.hcl), which records the sha256 of each release file it
#   verified against the project's published checksum files. The same
#   values are in the projects' own kind-linux-amd64.sha256sum,
#   kubectl.sha256 and istioctl-*.tar.gz.sha256 next to each download.
# - linkerd: no published sha256 of linkerd2-cli-edge-26.8.3-linux-amd64
#   was found to pin here, so tools.sh downloads the project's own
#   .sha256 file from the same release and verifies against it (this
#   proves the download is intact, not who published it).
# - The node image: kind v0.32.0's own default (pkg/apis/config/defaults),
#   pinned by digest in kind-config.yaml.
# - Gateway API CRDs: from the Go module sigs.k8s.io/gateway-api v1.5.1
#   (go.mod), verified by go.sum and the Go checksum database.

KIND_VERSION=v0.32.0
KIND_SHA256=50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54
KIND_NODE_IMAGE=kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5

# One minor below the node's v1.36 (kubectl's supported skew is +-1).
KUBECTL_VERSION=v1.35.2
KUBECTL_SHA256=924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277

ISTIO_VERSION=1.30.3
ISTIOCTL_SHA256=7b8559fb0a91466a3ff726ad291bedbcf5e4a24f1d9108dbe51a99e11f2010c8

LINKERD_VERSION=edge-26.8.3
LINKERD_SHA256= # see above: checked against the release's own .sha256 file

GATEWAY_API_VERSION=v1.5.1
PROMETHEUS_IMAGE=quay.io/prometheus/prometheus:v3.14.0

KIND_CLUSTER=${KIND_CLUSTER:-meshbench}
