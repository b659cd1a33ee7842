# meshproxy-init: installs a pod's iptables capture (the rules are in
# MESHPROXY_CAPTURE_RULES, written by scenarios/internal/kube as
# scenarios/internal/netns writes them), as istio-init and linkerd-init do.
# It needs NET_ADMIN and NET_RAW and runs once, before the sidecar.
# Build from the repository root: docker build -f deploy/docker/meshproxy-init.Dockerfile .
FROM alpine:3.22
RUN apk add --no-cache iptables
COPY deploy/docker/meshproxy-init.sh /meshproxy-init.sh
ENTRYPOINT ["/bin/sh", "/meshproxy-init.sh"]
