#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Installs what the benchmark needs into the kind cluster, each bounded in
# time: the Gateway API CRDs, Prometheus (per-container CPU and memory from
# the kubelets' cAdvisor, and meshproxy's own metrics), Istio (minimal
# profile with sidecar injection, or ambient with ISTIO_MODE=ambient) and
# Linkerd (CRDs and control plane). Re-running it is harmless.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need_tool kubectl
need_tool istioctl
need_tool linkerd
command -v go >/dev/null 2>&1 || die "go not found: the Gateway API CRDs come from the Go module cache"
ISTIO_MODE=${ISTIO_MODE:-sidecar}
MONITORING=meshbench-monitoring

say "Gateway API $GATEWAY_API_VERSION CRDs (standard channel, from the Go module cache)"
gwdir=$(cd "$ROOT" && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$gwdir/config/crd/standard" ] || die "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION has no config/crd/standard"
with_timeout 2m kubectl apply --server-side -f "$gwdir/config/crd/standard/"
with_timeout 2m kubectl wait --for=condition=Established crd --all --timeout=90s

say "Prometheus ($PROMETHEUS_IMAGE) in $MONITORING"
kubectl apply -f "$ROOT/deploy/prometheus/prometheus.yaml"
kubectl create configmap prometheus-config -n "$MONITORING" \
	--from-file=prometheus.yml="$ROOT/dashboards/prometheus.yml" --dry-run=client -o yaml | kubectl apply -f -
kubectl set image -n "$MONITORING" deployment/prometheus prometheus="$PROMETHEUS_IMAGE"
with_timeout 6m kubectl rollout status -n "$MONITORING" deployment/prometheus --timeout=5m

say "Istio $ISTIO_VERSION ($ISTIO_MODE)"
case "$ISTIO_MODE" in
sidecar) profile=minimal ;;
ambient) profile=ambient ;;
*) die "ISTIO_MODE=$ISTIO_MODE: want sidecar or ambient" ;;
esac
with_timeout 10m istioctl install -y --set profile="$profile" --set values.global.proxy.resources.requests.memory=32Mi
with_timeout 6m kubectl rollout status -n istio-system deployment/istiod --timeout=5m

say "Linkerd $LINKERD_VERSION"
with_timeout 5m linkerd check --pre
# The Gateway API CRDs are already there, so Linkerd must not install its own.
linkerd install --crds --set installGatewayAPI=false | with_timeout 3m kubectl apply -f -
linkerd install --set installGatewayAPI=false | with_timeout 3m kubectl apply -f -
with_timeout 10m linkerd check --wait 5m

say "installed: Gateway API $GATEWAY_API_VERSION, Prometheus, Istio $ISTIO_VERSION ($ISTIO_MODE), Linkerd $LINKERD_VERSION"
