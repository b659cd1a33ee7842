#!/usr/bin/env bash
# scripts/mutants.sh (make mutants): proves that the tests fail when the
# features they guard break. Each mutant is one deliberate breakage, a small
# exact text substitution in one Go file, plus the tests that must catch it.
# On a temporary copy of the repository (the files git tracks or would add,
# as they are in the working tree), the script
#   1. checks that every mutant's text occurs exactly once in its file (a
#      mutant that no longer applies fails the run, named, before any test);
#   2. runs each mutant's tests on the unmutated copy: they must pass there,
#      or a "caught" below would mean nothing;
#   3. per mutant: applies it, checks that the package still builds, runs its
#      tests (-count=1, with a timeout), records caught or MISSED, restores.
# It prints a table and exits 1 unless every mutant is caught. The copy is
# removed on every exit path.
#
# Usage: scripts/mutants.sh [-l] [NAME...]   (-l lists; NAMEs pick mutants)
# Environment: GO (default go), MUTANT_TIMEOUT (per go test, default 180s).
set -euo pipefail

GO=${GO:-go}
TIMEOUT=${MUTANT_TIMEOUT:-180s}
root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
me=$(basename "$0")

# --- the mutants -----------------------------------------------------------
# mutant NAME FILE FROM TO PACKAGES RUN
#   FROM must occur exactly once in FILE; it is replaced by TO. PACKAGES
#   (space-separated) and RUN (a go test -run pattern) are the tests that
#   must fail once it is applied.
names=() files=() froms=() tos=() pkgs=() runs=() whats=()
mutant() {
	names+=("$1") whats+=("$2") files+=("$3") froms+=("$4") tos+=("$5") pkgs+=("$6") runs+=("$7")
}

mutant no-co-correction \
	"meshload measures latency from the send time, not the due time (both engines record here)" \
	loadgen/internal/runner/runner.go \
	'us := clampUS(doneAt.Sub(due))' \
	'us := clampUS(doneAt.Sub(sent))' \
	./loadgen/internal/runner '^TestCoordinatedOmission$'

mutant alloc-in-dispatch \
	"the proxy allocates a copy of each request head in dispatch" \
	proxy/internal/engine/downstream.go \
	'func (d *downConn) dispatch(head []byte, now int64) {' \
	'func (d *downConn) dispatch(head []byte, now int64) { _ = append([]byte(nil), head...)' \
	./proxy/internal/engine '^TestRealPathDoesNotAllocate$'

mutant alloc-in-h2-stream-start \
	"the proxy allocates a copy of each HTTP/2 request's :path when the stream starts its exchange" \
	proxy/internal/engine/h2server.go \
	'func (st *h2Stream) start(f *http2.Fields, h *http2.Head, endStream bool) {' \
	'func (st *h2Stream) start(f *http2.Fields, h *http2.Head, endStream bool) { _ = append([]byte(nil), f.Bytes(h.Path)...)' \
	./proxy/internal/engine '^TestH2RealPathDoesNotAllocate$'

mutant alloc-in-h2-upstream-begin \
	"the proxy allocates a copy of each request head when it opens a stream to an h2c endpoint" \
	proxy/internal/engine/h2client.go \
	'func (st *h2UpStream) begin() {' \
	'func (st *h2UpStream) begin() { _ = append([]byte(nil), st.ex.head...)' \
	./proxy/internal/engine '^TestH2RealPathDoesNotAllocate$'

mutant gate-reference-one-run \
	"the gate compares with the baseline run's own median even when the noise pooled more runs" \
	results/gate/gate.go \
	'	row.Baseline, row.NB = e.Pooled, e.N' \
	'	_ = e.Pooled' \
	./results/gate '^TestNoiseFromMoreRuns$'

mutant tailnoise-not-added \
	"the tail-noise section reports meshproxy's latency, not what it adds over the direct path of the same round" \
	results/standalone/tailnoise.go \
	'			out = append(out, (p.p-p.d)/1000)' \
	'			out = append(out, p.p/1000)' \
	./results/standalone '^TestRenderFigures$'

mutant soak-rss-growth-ignored \
	"the soak's RSS flatness verdict passes a proxy whatever its memory grew" \
	results/aggregate/soak.go \
	'	r.Flat = growth <= limit' \
	'	r.Flat = true || growth <= limit' \
	./results/aggregate '^TestRSSFlat$'

mutant soak-reload-unchanged \
	"the soak rewrites the client sidecar's config with the same route every time (no real change to reload)" \
	scenarios/internal/runner/soak.go \
	'tp.backend(s.r.sc.Load.Service).Port, i+1)' \
	'tp.backend(s.r.sc.Load.Service).Port, 1)' \
	./scenarios/internal/runner '^TestSoakDisturbances$'

mutant scenario-h2-flag-dropped \
	"the runner's h2 steps run meshload without -http2, so they measure HTTP/1.1 under the h2 name" \
	scenarios/internal/runner/step.go \
	'		argv = append(argv, "-http2") // h2c with prior knowledge: the URL is http://' \
	'		// -http2 dropped' \
	./scenarios/internal/runner '^(TestMeshloadArgv|TestRunProtocols)$'

mutant scenario-capability-ignored \
	"the capability table says every target carries every protocol (Envoy's h2 and gRPC, gRPC over an HTTP/1.1 mesh hop)" \
	scenarios/internal/scenario/protocol.go \
	'		if slices.Contains(c.protocols, protocol) {' \
	'		if true || slices.Contains(c.protocols, protocol) {' \
	./scenarios/internal/scenario '^(TestCapabilities|TestParseErrors)$'

mutant scenario-runner-skips-nothing \
	"the runner starts and loads a target in a protocol it cannot carry instead of skipping its steps" \
	scenarios/internal/runner/runner.go \
	'			if why := scenario.Unsupported(spec, p); why != "" {' \
	'			if why := scenario.Unsupported(spec, p); false && why != "" {' \
	./scenarios/internal/runner '^(TestUnits|TestRunProtocols)$'

mutant scenario-mesh-hop-row-everywhere \
	"the capability table's HTTP/1.1-mesh-hop row applies to every sidecar pair, so the h2 hop's gRPC steps are skipped" \
	scenarios/internal/scenario/protocol.go \
	' || c.meshProtocol != "" && c.meshProtocol != t.MeshProtocol {' \
	' || c.meshProtocol != "" && false {' \
	./scenarios/internal/scenario '^TestCapabilities$'

mutant scenario-mesh-protocol-anywhere \
	"a target's meshProtocol is accepted on any target, where nothing would apply it" \
	scenarios/internal/scenario/validate.go \
	'		case !mesh || t.Topology != TopoSidecarPair || t.TLS != TLSMutual:' \
	'		case false:' \
	./scenarios/internal/scenario '^TestParseErrors$'

mutant scenario-inbound-app-protocol-unset \
	"the runner's gRPC steps leave spec.inbound.appProtocol unset, so server sidecars speak HTTP/1.1 to the gRPC echo" \
	scenarios/internal/runner/topology.go \
	'		in["appProtocol"] = "grpc"' \
	'		_ = in // appProtocol unset' \
	./scenarios/internal/runner '^(TestInboundApp|TestRunProtocols)$'

mutant scenario-mesh-protocol-unset \
	"the runner never writes a target's meshProtocol into the client sidecar's spec.http, so the h1hop pair multiplexes over h2 too" \
	scenarios/internal/runner/topology.go \
	'		proxy["http"] = map[string]any{"meshProtocol": spec.MeshProtocol}' \
	'		_ = spec // meshProtocol not written' \
	./scenarios/internal/runner '^TestPairMeshHop$'

mutant kube-mesh-protocol-silent \
	"a kind run drops a target's HTTP/1.1 mesh hop without saying so" \
	scenarios/internal/kube/plan.go \
	'			if t.MeshProtocol == scenario.ProtocolHTTP1 {' \
	'			if false && t.MeshProtocol == scenario.ProtocolHTTP1 {' \
	./scenarios/internal/kube '^TestMeshProtocolOnKind$'

mutant nginx-h2-listener-missing \
	"nginx's h2 listener has no http2 parameter, so it speaks HTTP/1.1 to an h2c client" \
	scenarios/internal/peers/peers.go \
	'        listen %s http2;
        keepalive_requests 1000000000;
        location / {
            proxy_pass http://upstreams;' \
	'        listen %s;
        keepalive_requests 1000000000;
        location / {
            proxy_pass http://upstreams;' \
	./scenarios/internal/peers '^(TestEndToEndProtocols|TestCheckReal)$'

mutant haproxy-grpc-http1-upstream \
	"HAProxy forwards gRPC to the echo over HTTP/1.1 (its servers lack proto h2)" \
	scenarios/internal/peers/peers.go \
	'		bind, server = " proto h2", " proto h2"' \
	'		bind, server = " proto h2", ""' \
	./scenarios/internal/peers '^TestEndToEndProtocols$'

mutant ignore-route-weights \
	"an HTTPRoute's weighted split always picks its first backend" \
	proxy/internal/route/route.go \
	'			return r.picks[i]' \
	'			return r.picks[0*i]' \
	./proxy/internal/route '^(TestExampleSplit|TestConformanceMeshSplit)$'

mutant grpc-service-precedence-dropped \
	"GRPCRoute matches are not ordered by the characters of their service first (a method or header match beats a service)" \
	proxy/internal/route/match.go \
	$'\tif c := a.grpc.service.compare(&b.grpc.service); c != 0 {\n\t\treturn c\n\t}\n' \
	'' \
	./proxy/internal/route '^(TestGRPCPrecedence|TestGRPCExample)$'

mutant grpc-regex-not-anchored \
	"a GRPCRoute RegularExpression service or method matches part of the name (Echo routes EchoTwo)" \
	proxy/internal/route/compile.go \
	'		re, err := anchored(*v)' \
	'		re, err := regexp.Compile(*v)' \
	./proxy/internal/route '^TestGRPCPrecedence$'

mutant grpc-http-routes-merged \
	"HTTPRoutes and GRPCRoutes on one Service port are merged instead of the GRPCRoutes applying alone" \
	proxy/internal/route/compile.go \
	'			routes = c.oneRouteType(s, routes)' \
	'' \
	./proxy/internal/route '^TestMixedHTTPAndGRPCRoutes$'

mutant slice-app-protocol-ignored \
	"an EndpointSlice port's appProtocol does not override its Service port's for the slice's endpoints" \
	proxy/internal/route/compile.go \
	'					proto = protocolOf(p.AppProtocol, name)' \
	'					_ = p.AppProtocol' \
	./proxy/internal/route '^(TestBackendProtocol|TestBackendProtocolZeroAllocs)$'

mutant grpc-port-prefix-ignored \
	"a Service port named grpc-* or http2-* (Istio's port-name prefixes) is spoken to in HTTP/1.1" \
	proxy/internal/route/compile.go \
	$'\tif i := strings.IndexByte(name, \'-\'); i >= 0 {\n\t\tname = name[:i]\n\t}\n' \
	'' \
	./proxy/internal/route '^(TestProtocolOf|TestGRPCExample)$'

mutant grpc-exact-service-unchecked \
	"a GRPCRoute Exact service that is no protobuf service name (foo/Bar, empty) is accepted" \
	proxy/internal/config/validate.go \
	'!grpcServiceRE.MatchString(svc))' \
	'false)' \
	./proxy/internal/config '^TestParseGRPCRouteErrors$'

mutant accept-cl-with-te \
	"a message with both Content-Length and Transfer-Encoding is accepted" \
	proxy/internal/http1/fields.go \
	'		return ErrContentLengthWithTransferEncoding' \
	'		return nil' \
	./proxy/internal/http1 '^(TestParseRequestInvalid|TestParseResponseInvalid)$'

mutant skip-client-cert-check \
	"the inbound mTLS server accepts any client (no certificate, wrong CA, expired)" \
	proxy/internal/identity/verify.go \
	'	return s.verifyPeer(cs, x509.ExtKeyUsageClientAuth, "")' \
	'	return nil' \
	./proxy/internal/identity '^TestHandshakeRefusedByServer$'

mutant 503-is-success \
	"meshload counts a 503 as an expected status (a success)" \
	internal/expect/expect.go \
	'func (s Set) Match(code int) bool {' \
	'func (s Set) Match(code int) bool { if code == 503 { return true }' \
	./internal/expect '.'

mutant idle-conn-keeps-coalesced-response \
	"each connection keeps its last coalesced response (head + up to 16 KiB body) while idle" \
	proxy/internal/engine/downstream.go \
	$'\t\tl := d.l\n\t\tl.coalesce = append(append(l.coalesce[:0], d.out...), p...)\n\t\treturn d.write(l.coalesce)' \
	$'\t\td.out = append(d.out, p...)\n\t\treturn d.write(d.out)' \
	./proxy/internal/sidecar '^TestReliabilityIdleConnMemory$'

mutant flood-client-never-paused \
	"the proxy keeps reading a client that floods pipelined requests and does not read its responses" \
	proxy/internal/engine/flow.go \
	'	} else if !d.readsWanted(f.high) {' \
	'	} else if false {' \
	./proxy/internal/sidecar '^TestReliabilityPipelinedFlood$'

mutant handshake-overflow-closes \
	"application data behind a TLS 1.3 client's Finished beyond the handshake bound closes the connection (as a flood) instead of pausing it" \
	proxy/internal/engine/tls.go \
	'		if c.PauseRead() != nil {' \
	'		if true {' \
	./proxy/internal/sidecar '^TestReliabilityDataBehindHandshake$'

mutant step-verdict-ignores-failures \
	"a benchmark step passes whatever its success ratio (the runners' one verdict)" \
	results/aggregate/verdict.go \
	'	if meets(l.Successes, total, minSuccessPercent) {' \
	'	if true || meets(l.Successes, total, minSuccessPercent) {' \
	./results/aggregate '^TestVerdict$'

mutant idle-client-drops-conns \
	"meshbench idle closes its connections instead of holding them idle" \
	scenarios/cmd/meshbench/idle.go \
	'	fmt.Fprintf(stdout, "ready %d\n", len(held))' \
	'	for _, c := range held { c.Close() }; fmt.Fprintf(stdout, "ready %d\n", len(held))' \
	./scenarios/cmd/meshbench '^TestIdleHoldsConnections$'

mutant idle-held-shows-most \
	"the idle section shows a run in which the proxy closed connections as fully held" \
	results/standalone/idle.go \
	'		held := num(s[1].Min, 0)' \
	'		held := num(s[1].Max, 0)' \
	./results/standalone '^(TestRenderFigures|TestRenderGolden)$'

mutant h2idle-streams-not-delayed \
	"meshbench h2idle's held streams ask for no delay: the upstream answers them at once and nothing stays open" \
	scenarios/cmd/meshbench/h2idle.go \
	'	delayed := o.path + sep + "delay=" + o.delay.String()' \
	'	delayed := o.path + sep' \
	./scenarios/cmd/meshbench '^TestH2IdleHoldsStreams$'

mutant h2idle-closed-conn-counted \
	"meshbench h2idle counts a connection the proxy closed, and its streams, as still held" \
	scenarios/cmd/meshbench/h2idle.go \
	'	if c.readErr != nil || c.goAway {' \
	'	if c.goAway {' \
	./scenarios/cmd/meshbench '^TestH2IdleHoldsStreams$'

mutant h2idle-verdict-best-round \
	"the HTTP/2 idle section holds the round with the least RSS, not the most, against 64 MiB" \
	results/standalone/h2idle.go \
	'(worstLoops == "" || rss > worst)' \
	'(worstLoops == "" || rss < worst)' \
	./results/standalone '^(TestRenderH2IdleVerdict|TestRenderFigures)$'

mutant idle-exchange-silent-close \
	"an idle exchange whose response has not started is closed without an answer" \
	proxy/internal/engine/exchange.go \
	'			ex.abandon(504, "upstream_idle_timeout", p.cut.idleTimeout)' \
	'			ex.down.cut(ex)' \
	./proxy/internal/sidecar '^TestIdleExchangeAnswered$'

mutant truncated-counts-as-status \
	"a response cut mid-body is recorded with the status its head announced" \
	proxy/internal/engine/exchange.go \
	'	cause.Inc()
	ex.series.Observe(0, ' \
	'	cause.Inc()
	ex.series.Observe(200, ' \
	./proxy/internal/sidecar '^TestUpstreamMisbehaviour$'

mutant no-recovery-probe \
	"a probe that connects to an ejected endpoint does not end its ejection" \
	proxy/internal/balance/registry.go \
	'						e.connectRecovered()' \
	'						_ = e' \
	'./proxy/internal/balance ./proxy/internal/sidecar' '^(TestProbeEndsEjection|TestEndpointRecoversAfterRestart)$'

mutant websocket-upgrade-dropped \
	"a WebSocket handshake reaches the upstream without Upgrade and Connection" \
	proxy/internal/http1/write.go \
	'		dst = append(dst, "Connection: keep-alive\r\n"...)
	case r.WebSocket:
		dst = append(dst, webSocketFields...)' \
	'		dst = append(dst, "Connection: keep-alive\r\n"...)
	case r.WebSocket:' \
	./proxy/internal/sidecar '^TestWebSocket$'

mutant upgrade-any-protocol \
	"any Upgrade protocol (h2c included) is taken for WebSocket and forwarded" \
	proxy/internal/http1/fields.go \
	'		if equalFold(e, "websocket") {' \
	'		if len(e) > 0 {' \
	./proxy/internal/sidecar '^TestWebSocketRefusals$'

mutant tunnel-early-bytes-wait \
	"bytes a client sent right behind its WebSocket handshake wait for its next bytes" \
	proxy/internal/engine/tunnel.go \
	'	d.onTraffic() // bytes the client sent behind its handshake' \
	'' \
	./proxy/internal/sidecar '^TestWebSocket$'

mutant tunnel-idle-as-failure \
	"a WebSocket tunnel is held to the request timeout and ended as a stalled exchange (504 or cut), not as its 101" \
	proxy/internal/engine/exchange.go \
	'	if ex.tunnel {
		if ex.idleFor(now, o) {' \
	'	if false {
		if ex.idleFor(now, o) {' \
	./proxy/internal/sidecar '^TestWebSocketTimeouts$'

mutant echo-h2c-not-detected \
	"the echo takes every connection for HTTP/1.1, so h2c and gRPC clients get no answer" \
	scenarios/echo/h2.go \
	'		case n == len(buf):
			return true, nil' \
	'		case n == len(buf):
			return false, nil' \
	./scenarios/echo '^(TestH2CEcho|TestGRPCEcho)$'

mutant meshload-grpc-status-ok \
	"meshload counts a call that ended with a non-OK gRPC status as OK" \
	loadgen/internal/client/grpc.go \
	'		return int(st.Code()), nil' \
	'		return int(st.Code()) * 0, nil' \
	"./loadgen/internal/client ./loadgen/cmd/meshload" '^(TestGRPCDo|TestGRPCLoad)$'

mutant abbench-ratio-across-rounds \
	"the A/B table divides results of different rounds (the ratio no longer cancels what the machine did that round)" \
	results/standalone/abbench.go \
	'			if w, ok := aft.ns[round]; ok && v > 0 {' \
	'			if w, ok := aft.ns[len(bef.ns)+1-round]; ok && v > 0 {' \
	./results/standalone '^TestRenderFigures$'

mutant h2-preface-not-detected \
	"a connection opening with the HTTP/2 preface is parsed as HTTP/1.1" \
	proxy/internal/engine/downstream.go \
	'		if complete {
			d.startH2()' \
	'		if complete && false {
			d.startH2()' \
	./proxy/internal/sidecar '^TestH2C$'

mutant h2-chunks-passed-raw \
	"an HTTP/1.1 endpoint's chunk framing reaches an HTTP/2 client as body bytes" \
	proxy/internal/engine/upstream.go \
	'	u.decode = u.kind == http1.BodyChunked && !ex.down.framesHTTP1()' \
	'	u.decode = false' \
	./proxy/internal/sidecar '^TestH2C$'

mutant h2-cookies-comma-joined \
	"HTTP/2 cookie crumbs are joined with a comma, which is not how a Cookie field separates pairs" \
	proxy/internal/engine/h2view.go \
	'						dst = append(dst, "; "...)' \
	'						dst = append(dst, ", "...)' \
	./proxy/internal/sidecar '^TestH2C$'

mutant h2-body-unframed \
	"an HTTP/2 request body of unknown length goes to an HTTP/1.1 endpoint without chunked framing" \
	proxy/internal/engine/h2view.go \
	'	} else if !bodyless && !hasLength {' \
	'	} else if !bodyless && !hasLength && false {' \
	./proxy/internal/sidecar '^TestH2C$'

mutant h2-no-credit \
	"request body bytes the endpoint took are never credited back to the HTTP/2 client" \
	proxy/internal/engine/h2server.go \
	'	st.srv.conn.Consumed(st.s, st.owed)' \
	'	_ = st.owed' \
	./proxy/internal/sidecar '^TestH2C$'

mutant inbound-no-h2-alpn \
	"the mTLS inbound listener does not offer h2 by ALPN" \
	proxy/internal/identity/tlsconfig.go \
	'var serverProtocols = []string{"h2", "http/1.1"}' \
	'var serverProtocols = []string{"http/1.1"}' \
	./proxy/internal/sidecar '^TestMTLSInboundH2$'

mutant h2-server-waits-for-socket \
	"the HTTP/2 server stops reading after a partial frame, though TLS may hold the rest decrypted" \
	proxy/internal/engine/h2server.go \
	'		if n == 0 {
			// An incomplete frame waits for more bytes. After a partial' \
	'		if n == 0 || n < len(buf) {
			// An incomplete frame waits for more bytes. After a partial' \
	./proxy/internal/sidecar '^TestMTLSH2HopDrainsDecryptedInput$'

mutant h2-client-waits-for-socket \
	"the HTTP/2 client stops reading after a partial frame, though TLS may hold the rest decrypted" \
	proxy/internal/engine/h2client.go \
	'		if n == 0 {
			// An incomplete frame waits for more bytes; after a partial' \
	'		if n < len(buf) {
			// An incomplete frame waits for more bytes; after a partial' \
	./proxy/internal/sidecar '^TestMTLSH2HopDrainsDecryptedInput$'

mutant mesh-h2-not-default \
	"a mesh hop offers only HTTP/1.1 unless spec.http.meshProtocol says h2" \
	proxy/internal/config/types.go \
	'	DefaultMeshProtocol           = MeshProtocolH2' \
	'	DefaultMeshProtocol           = MeshProtocolHTTP1' \
	./proxy/internal/sidecar '^TestMTLSPairMultiplexed$'

mutant h2-no-extended-connect \
	"the HTTP/2 listeners do not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (no WebSocket over HTTP/2)" \
	proxy/internal/engine/h2server.go \
	'	s.EnableConnectProtocol = true // WebSocket over HTTP/2 (tunnel.go)' \
	'	s.EnableConnectProtocol = false' \
	./proxy/internal/sidecar '^TestWebSocketOverH2$'

mutant websocket-accept-unchecked \
	"a 101 opens the tunnel whatever Sec-WebSocket-Accept it carries for the proxy's key" \
	proxy/internal/engine/tunnel.go \
	'	if !ex.wsCheck {' \
	'	if true {' \
	./proxy/internal/sidecar '^TestWebSocketOverH2Refusals$'

mutant websocket-h2-early-data-smuggled \
	"an HTTP/2 WebSocket client's DATA reaches the app before the app agreed to the handshake" \
	proxy/internal/engine/h2server.go \
	'	if !ok || st.finished || (ex.websocket && !ex.tunnel) {' \
	'	if !ok || st.finished {' \
	./proxy/internal/sidecar '^TestWebSocketOverH2Refusals$'

mutant websocket-h2-early-data-held \
	"DATA an HTTP/2 WebSocket client sent before the 101 waits for its next DATA" \
	proxy/internal/engine/h2server.go \
	'	ex.reqDone = false
	st.pumpRequest(ex)' \
	'	ex.reqDone = false' \
	./proxy/internal/sidecar '^TestWebSocketOverH2$'

mutant no-spare-p \
	"eventLoops N sets GOMAXPROCS to N: no spare P, so the runtime takes a sleeping loop's P" \
	proxy/cmd/meshproxy/main.go \
	'	return loops + 1, true' \
	'	return loops, true' \
	./proxy/cmd/meshproxy '^TestGOMAXPROCSPolicy$'

mutant h2-upstream-not-multiplexed \
	"every exchange to an HTTP/2 endpoint opens its own connection" \
	proxy/internal/engine/h2client.go \
	'	if u == nil || u.closed || u.h2.full() {' \
	'	if u == nil || u.closed || u.h2.full() || true {' \
	./proxy/internal/sidecar '^TestH2CUpstream$'

mutant h2-upstream-head-not-flushed \
	"a bodiless request's HEADERS wait in the HTTP/2 connection's buffer" \
	proxy/internal/engine/h2client.go \
	'	st.started = true
	c.flush()' \
	'	st.started = true' \
	./proxy/internal/sidecar '^TestH2CUpstream$'

mutant grpc-trailers-dropped \
	"response trailers (grpc-status) do not reach an HTTP/2 client" \
	proxy/internal/engine/h2server.go \
	'	st.trailerBuf, st.hasTrailers = b, true' \
	'	st.trailerBuf = b' \
	./proxy/internal/sidecar '^TestGRPCThroughProxy$'

mutant app-protocol-ignored \
	"an endpoint whose port says h2c is spoken to in HTTP/1.1" \
	proxy/internal/engine/pipeline.go \
	'	} else if ex.backend.Protocol(ep) == route.H2C {' \
	'	} else if ex.backend.Protocol(ep) == route.H2C && false {' \
	./proxy/internal/sidecar '^TestGRPCThroughProxy$'

mutant grpc-timeout-ignored \
	"grpc-timeout does not bound a gRPC call" \
	proxy/internal/engine/h2server.go \
	'			if t, ok := parseGRPCTimeout(v); ok && (ex.deadline == 0 || ex.start+int64(t) < ex.deadline) {' \
	'			if t, ok := parseGRPCTimeout(v); ok && false && (ex.deadline == 0 || ex.start+int64(t) < ex.deadline) {' \
	./proxy/internal/sidecar '^TestGRPCThroughProxy$'

mutant grpc-local-reply-as-http \
	"the proxy answers a gRPC call's error with a plain HTTP error instead of a gRPC status" \
	proxy/internal/engine/h2server.go \
	'	if ex.grpc {
		st.grpcError(grpcForLocalReply(status, reason), reason)' \
	'	if false {
		st.grpcError(grpcForLocalReply(status, reason), reason)' \
	./proxy/internal/sidecar '^TestGRPCThroughProxy$'

mutant grpc-status-not-recorded \
	"a gRPC call's grpc-status is not recorded (a 200 with grpc-status 14 looks like a success)" \
	proxy/internal/engine/exchange.go \
	'		ex.series.ObserveGRPC(ex.grpcOutcome(status))' \
	'		_ = ex.grpcOutcome(status)' \
	./proxy/internal/sidecar '^TestGRPCThroughProxy$'

mutant mesh-hop-not-multiplexed \
	"mesh hops never offer h2: each concurrent request takes its own mTLS connection" \
	proxy/internal/engine/pipeline.go \
	'		if l.p.opts.MeshHTTP2 && !ex.websocket && l.attachMeshH2(ex, ep, key) {' \
	'		if l.p.opts.MeshHTTP2 && !ex.websocket && false && l.attachMeshH2(ex, ep, key) {' \
	./proxy/internal/sidecar '^TestMTLSPairMultiplexed$'

mutant mesh-h2-no-fallback \
	"a mesh peer that answers the h2 offer with http/1.1 is spoken to in HTTP/2 anyway" \
	proxy/internal/engine/upstream.go \
	'		c.negotiated(u.io.tls.conn.ConnectionState().NegotiatedProtocol == "h2")' \
	'		c.negotiated(true)' \
	./proxy/internal/sidecar '^TestMTLSPairMultiplexed$'

mutant mesh-websocket-over-h2 \
	"a WebSocket handshake on a mesh hop is sent as an HTTP/2 stream" \
	proxy/internal/engine/pipeline.go \
	'		if l.p.opts.MeshHTTP2 && !ex.websocket && l.attachMeshH2(ex, ep, key) {' \
	'		if l.p.opts.MeshHTTP2 && l.attachMeshH2(ex, ep, key) {' \
	./proxy/internal/sidecar '^TestWebSocket$'

mutant inbound-app-protocol-ignored \
	"spec.inbound.appProtocol is ignored: a gRPC app behind the inbound listener is spoken to in HTTP/1.1" \
	proxy/internal/route/compile.go \
	'		c.t.inbound = &Backend{Name: "inbound", protocol: protocolOf(in.AppProtocol, "")}' \
	'		c.t.inbound = &Backend{Name: "inbound"}' \
	./proxy/internal/sidecar '^TestGRPCThroughPair$'

mutant h2-drain-no-goaway \
	"a draining proxy never sends GOAWAY to HTTP/2 clients, so their connections outlive the drain" \
	proxy/internal/engine/h2server.go \
	'	if d.l.p.draining.Load() || idle {' \
	'	if idle {' \
	./proxy/internal/sidecar '^TestH2Drain$'

mutant echo-grpc-status-ignored \
	"the echo ignores echo-grpc-status and answers every call OK" \
	scenarios/echo/grpc.go \
	'	if len(v) == 0 {
		return nil
	}' \
	'	if true {
		return nil
	}' \
	./scenarios/echo '^TestGRPCEcho$'

mutant proxy-links-grpc \
	"meshproxy links the gRPC library" \
	proxy/cmd/meshproxy/main.go \
	'import (' \
	'import (
	_ "google.golang.org/grpc"' \
	./proxy/cmd/meshproxy '^TestNoTestOnlyDependencies$'

mutant truncation-not-outlier-failure \
	"a response cut mid-body says nothing to outlier detection" \
	proxy/internal/engine/exchange.go \
	'	ex.endpointFailed()
	ex.cut(cause)' \
	'	ex.releaseEndpoint()
	ex.cut(cause)' \
	./proxy/internal/sidecar '^TestOutlierEjection$'

mutant hang-not-outlier-failure \
	"an upstream that never answers before the idle timeout says nothing to outlier detection" \
	proxy/internal/engine/exchange.go \
	'			ex.endpointFailed()
			ex.abandon(504, "upstream_idle_timeout"' \
	'			ex.abandon(504, "upstream_idle_timeout"' \
	./proxy/internal/sidecar '^TestOutlierEjection$'

mutant gateway-status-is-success \
	"502, 503 and 504 from an upstream count as successes for outlier detection" \
	proxy/internal/balance/endpoint.go \
	'func IsGatewayFailure(status int) bool { return status >= 502 && status <= 504 }' \
	'func IsGatewayFailure(status int) bool { return false }' \
	'./proxy/internal/balance ./proxy/internal/sidecar' '^(TestIsGatewayFailure|TestOutlierEjection)$'

mutant outlier-no-max-ejection \
	"response ejection may take out every endpoint of a backend" \
	proxy/internal/balance/endpoint.go \
	'	return out <= len(peers)/2' \
	'	return true' \
	./proxy/internal/balance '^TestGatewayFailureMaxEjection$'

mutant outlier-ejects-only-endpoint \
	"a backend's only endpoint is ejected for its responses (the proxy answers 503 itself)" \
	proxy/internal/balance/endpoint.go \
	'	if len(peers) < 2 {
		return false // nowhere else to send' \
	'	if len(peers) < 1 {
		return false // nowhere else to send' \
	'./proxy/internal/balance ./proxy/internal/sidecar' '^(TestGatewayFailureMaxEjection|TestOutlierEjection)$'

mutant probe-ends-response-ejection \
	"a TCP probe or a late success ends an ejection for failed responses" \
	proxy/internal/balance/endpoint.go \
	'	if e.ejectedUntil.Load() != 0 {
		e.ejectedUntil.Store(0)
	}' \
	'	if e.ejectedUntil.Load() != 0 {
		e.ejectedUntil.Store(0)
	}
	e.outlierUntil.Store(0)' \
	./proxy/internal/balance '^TestGatewayFailureEjection$'

mutant ejection-shared-across-backends \
	"ejection state is keyed by address only, shared by every backend using it" \
	proxy/internal/balance/registry.go \
	'	key := epKey{backend, canon}' \
	'	key := epKey{"", canon}' \
	'./proxy/internal/balance ./proxy/internal/route' '^(TestEjectionPerBackend|TestEndpointStatePerBackend)$'

mutant metric-series-never-removed \
	"a reload keeps the metric series of the routes, backends and endpoints it removed" \
	proxy/internal/engine/engine.go \
	'	p.setLiveAddrs(t)
	p.pruneSeries(t)' \
	'	p.setLiveAddrs(t)' \
	'./proxy/internal/engine ./proxy/internal/sidecar' '^(TestSetTablePrunesSeries|TestReliabilityMetricSeriesAcrossReloads)$'

mutant stale-table-registers-series \
	"a request routed on a replaced table registers its series again after the reload pruned it" \
	proxy/internal/engine/series.go \
	'	if p.table.Load() == t {
		return p.reg.Requests(direction, rule, backend)' \
	'	if p.table.Load() != nil {
		return p.reg.Requests(direction, rule, backend)' \
	./proxy/internal/engine '^TestSetTablePrunesSeries$'

mutant loop-cache-keeps-removed-series \
	"an event loop keeps the series of a replaced table cached until its next request" \
	proxy/internal/engine/loop.go \
	'	if l.seriesTable != nil && l.seriesTable != l.p.table.Load() {' \
	'	if l.seriesTable == nil && l.seriesTable != l.p.table.Load() {' \
	./proxy/internal/engine '^TestSetTablePrunesSeries$'

mutant registry-retains-removed-requests \
	"RetainRequests exports no removed series but keeps them in its map" \
	proxy/internal/metrics/requests.go \
	'	r.requests = make(map[requestKey]*RequestSeries, len(kept))
	for _, s := range kept {' \
	'	for _, s := range kept {' \
	./proxy/internal/metrics '^(TestRetainRequests|TestRemovedSeriesAreFreed)$'

mutant hpack-huffman-padding-unchecked \
	"the HPACK decoder accepts a Huffman string whose padding is longer than 7 bits or not all ones" \
	proxy/internal/http2/hpack_huffman.go \
	'	return dst, accept' \
	'	return dst, true || accept' \
	./proxy/internal/http2 '^(TestHPACKDecodeMalformed|TestHPACKHuffmanInvalid)$'

mutant hpack-list-limit-ignored \
	"the HPACK decoder appends every field whatever the header list size limit" \
	proxy/internal/http2/hpack_decode.go \
	'	if over || uint64(f.Size)+sz > uint64(limit) {' \
	'	if over {' \
	./proxy/internal/http2 '^TestHPACKListSizeLimit$'

mutant hpack-eviction-off-by-one \
	"the HPACK dynamic table evicts one entry too many when an insertion fills it exactly" \
	proxy/internal/http2/hpack_table.go \
	'	for t.size > v && t.n > 0 {' \
	'	for t.size >= v && t.n > 0 {' \
	./proxy/internal/http2 '^(TestHPACKTableEviction|TestHPACKTableRing)$'

mutant hpack-late-size-update \
	"the HPACK decoder accepts a dynamic table size update after a header field" \
	proxy/internal/http2/hpack_decode.go \
	'			if fieldSeen {' \
	'			if false && fieldSeen {' \
	./proxy/internal/http2 '^TestHPACKDecodeMalformed$'

mutant hpack-sensitive-indexed \
	"the HPACK encoder adds sensitive fields to the dynamic table (the next hop loses never-indexed)" \
	proxy/internal/http2/hpack_encode.go \
	'	case sensitive:' \
	'	case false && sensitive:' \
	./proxy/internal/http2 '^(TestHPACKEncoderChoices|TestHPACKDiffXNetDecodesOurs)$'

mutant hpack-size-update-not-sent \
	"the HPACK encoder shrinks its table for a lower peer setting without telling the peer" \
	proxy/internal/http2/hpack_encode.go \
	'	if !e.pending {' \
	'	if true {' \
	./proxy/internal/http2 '^TestHPACKEncoderSizeUpdate$'

mutant h2-recv-window-unenforced \
	"an HTTP/2 peer may send DATA beyond a stream's receive window" \
	proxy/internal/http2/conn.go \
	'	if total > s.recvWin {' \
	'	if false && total > s.recvWin {' \
	./proxy/internal/http2 '^TestFlowControlEnforced$'

mutant h2-rapid-reset-uncounted \
	"streams an HTTP/2 client resets before their response are not counted (rapid reset, CVE-2023-44487)" \
	proxy/internal/http2/conn.go \
	'		c.prematureResets++' \
	'' \
	./proxy/internal/http2 '^TestRapidReset$'

mutant h2-continuation-frames-unbounded \
	"a header block may go on in any number of CONTINUATION frames (CVE-2024-27316)" \
	proxy/internal/http2/conn.go \
	'	if c.contN > c.lim.MaxContinuations {' \
	'	if false {' \
	./proxy/internal/http2 '^TestContinuationFlood$'

mutant h2-content-length-unchecked \
	"an HTTP/2 body that does not match its content-length is passed on" \
	proxy/internal/http2/conn.go \
	'	if s.contentLength >= 0 && (s.received > s.contentLength || end && s.received != s.contentLength) {' \
	'	if false {' \
	./proxy/internal/http2 '^TestContentLength$'

mutant h2-stream-id-parity-unchecked \
	"an HTTP/2 client may open streams with even (server) ids" \
	proxy/internal/http2/conn.go \
	'	if sid%2 == 0 {
		c.fail(ErrCodeProtocol, ViolationStreamID, "HEADERS on a server-initiated stream id")' \
	'	if false {
		c.fail(ErrCodeProtocol, ViolationStreamID, "HEADERS on a server-initiated stream id")' \
	./proxy/internal/http2 '^TestStreamIDMisuse$'

mutant h2-control-flood-unbounded \
	"PING and SETTINGS replies pile up without bound while the peer does not read them" \
	proxy/internal/http2/conn.go \
	'	if c.queuedControl > c.lim.MaxQueuedControl {' \
	'	if false {' \
	./proxy/internal/http2 '^TestControlFlood$'

mutant h2-empty-frames-unbounded \
	"an HTTP/2 peer may send empty DATA frames forever (CVE-2019-9518)" \
	proxy/internal/http2/conn.go \
	'	if c.empty > c.lim.MaxEmptyFrames {' \
	'	if false {' \
	./proxy/internal/http2 '^TestEmptyFrames$'

mutant h2-concurrent-streams-unbounded \
	"an HTTP/2 client may open more streams than our MAX_CONCURRENT_STREAMS" \
	proxy/internal/http2/conn.go \
	'	if c.peerActive >= int(c.our.MaxConcurrentStreams) {' \
	'	if false {' \
	./proxy/internal/http2 '^TestRefusedStreams$'

mutant h2-connection-header-allowed \
	"an HTTP/2 request may carry a connection header (connection-specific fields, RFC 9113 §8.2.2)" \
	proxy/internal/http2/stream.go \
	'		case "connection", "keep-alive",' \
	'		case "keep-alive",' \
	./proxy/internal/http2 '^(TestCheckFields|TestMalformedThroughConn)$'

mutant h2-idle-output-buffer-kept \
	"an idle HTTP/2 connection keeps its output buffer (a response's worth of bytes per idle connection)" \
	proxy/internal/http2/conn.go \
	'	if len(c.streams) == 0 {
		// An idle connection holds no output buffer' \
	'	if false {
		// An idle connection holds no output buffer' \
	./proxy/internal/http2 '^TestIdleConnMemoryAlloc$'

mutant h2-violations-uncounted \
	"the engine does not count HTTP/2 violations (meshproxy_http2_violations_total stays 0)" \
	proxy/internal/engine/h2server.go \
	'	srv.d.l.p.h2Violation(v).Inc()' \
	'	_ = v' \
	./proxy/internal/sidecar '^(TestH2AttackProtocolErrors|TestH2AttackRapidReset)$'

mutant h2-reset-keeps-upstream \
	"a stream the HTTP/2 client resets mid-response does not release its exchange's upstream connection" \
	proxy/internal/engine/h2server.go \
	'		srv.d.l.p.h2ResetsByClient.Inc()
	}
	srv.release(st)' \
	'		srv.d.l.p.h2ResetsByClient.Inc()
	}
	_ = st' \
	./proxy/internal/sidecar '^TestH2ClientResetMidResponse$'

mutant h2-closing-input-kept \
	"a closing HTTP/2 connection keeps what its client still sends (a PING flood after GOAWAY grows the input buffer)" \
	proxy/internal/engine/h2server.go \
	'	if srv.closing {
		srv.dropInput()' \
	'	if false {
		srv.dropInput()' \
	./proxy/internal/sidecar '^TestH2AttackControlFlood$'

mutant h2-header-list-limit-unwired \
	"the HTTP/2 listener advertises and enforces the codec's default header list size, not limits.maxHeaderBytes" \
	proxy/internal/engine/h2server.go \
	'	s.MaxHeaderListSize = uint32(p.opts.MaxHeaderBytes)' \
	'	_ = p.opts.MaxHeaderBytes' \
	./proxy/internal/sidecar '^TestH2AttackHeaderList$'

mutant h2-oversized-head-forwarded \
	"an HTTP/2 request head over the header list limit is not answered 431" \
	proxy/internal/engine/h2server.go \
	'	if h.TooLarge {' \
	'	if false {' \
	./proxy/internal/sidecar '^TestH2AttackHeaderList$'

mutant h2-decreasing-stream-id-closed \
	"an HTTP/2 client's HEADERS on a lower stream id is a STREAM_CLOSED error, not PROTOCOL_ERROR (RFC 9113 §5.1.1)" \
	proxy/internal/http2/conn.go \
	'		c.fail(ErrCodeProtocol, ViolationStreamID, "HEADERS on a stream id not above the last one")' \
	'		c.fail(ErrCodeStreamClosed, ViolationStreamClosed, "HEADERS on a stream id not above the last one")' \
	"./proxy/internal/http2 ./proxy/internal/sidecar" '^(TestStreamStates|TestH2AttackProtocolErrors)$'

mutant filewatch-never-parks \
	"the config and identity watchers poll forever instead of parking until the kernel reports a change" \
	proxy/internal/filewatch/filewatch.go \
	'				continue
			}
			quiet++' \
	'				continue
			}' \
	./proxy/internal/filewatch '^TestLoopParksWhileNothingChanges$'

mutant filewatch-ignores-symlink-target \
	"the watchers watch only the directory of the path as written, not of the file it resolves to" \
	proxy/internal/filewatch/filewatch.go \
	'			add(filepath.Dir(r))' \
	'			_ = r' \
	./proxy/internal/filewatch '^TestLoopSeesChanges$'

mutant filewatch-events-delay-poll \
	"an event pushes the next poll back, so a directory that keeps changing starves the poll" \
	proxy/internal/filewatch/filewatch.go \
	'				case <-ev.C():
					quiet = 0' \
	'				case <-ev.C():
					quiet = 0
					t.Reset(interval)' \
	./proxy/internal/filewatch '^TestLoopPollsABusyDirectory$'

mutant filewatch-misses-rename \
	"the watchers do not hear a file renamed into place (atomic writers, the kubelet's ..data swap)" \
	proxy/internal/filewatch/inotify_linux.go \
	'unix.IN_CREATE | unix.IN_MOVED_TO |' \
	'unix.IN_CREATE |' \
	./proxy/internal/filewatch '^TestLoopSeesChanges$'

mutant filewatch-ignores-retry \
	"the watchers park after a change even while the content read can heal with time (a certificate not valid yet)" \
	proxy/internal/filewatch/filewatch.go \
	'			if poll() {
				quiet = 0
				continue
			}' \
	'			_ = poll()' \
	"./proxy/internal/filewatch ./proxy/internal/identity" '^(TestLoopRetriesWhatHealsWithTime|TestRotationNotYetValid)$'

mutant sweep-clock-never-parks \
	"the timeout sweep ticks with no connection open (an idle proxy wakes 20 times a second)" \
	proxy/internal/engine/sweepclock.go \
	'	return p.activeOut.Value()+p.activeIn.Value() > 0 || p.upstreamConns.Value() > 0 || p.draining.Load()' \
	'	return true' \
	./proxy/internal/engine '^TestSweepClockParksWhileIdle$'

mutant sweep-clock-not-woken \
	"a new client connection does not wake the parked sweep clock: its timeouts never fire" \
	proxy/internal/engine/engine.go \
	'	p.activeConns(d.inbound).Add(1)
	p.wakeSweeps()' \
	'	p.activeConns(d.inbound).Add(1)' \
	./proxy/internal/engine '^TestSweepClockParksWhileIdle$'

mutant sweep-clock-ignores-pool \
	"the sweep clock parks while pooled upstream connections are open, so they never idle out" \
	proxy/internal/engine/sweepclock.go \
	' || p.upstreamConns.Value() > 0 || ' \
	' || ' \
	./proxy/internal/engine '^TestSweepClockParksWhileIdle$'

mutant sweep-clock-never-slows \
	"the sweep clock keeps its fast tick while only idle keep-alive and pooled connections are open" \
	proxy/internal/engine/sweepclock.go \
	'		next := slow' \
	'		next := p.opts.Tick + 0*slow' \
	./proxy/internal/engine '^TestSweepClockSlowsForIdleKeepAlive$'

mutant sweep-idle-keepalive-pending \
	"an idle keep-alive client connection counts as a short timeout running, so the clock never slows" \
	proxy/internal/engine/downstream.go \
	'		pending = d.headStart != 0' \
	'		pending = true' \
	./proxy/internal/engine '^TestSweepClockSlowsForIdleKeepAlive$'

mutant sweep-clock-traffic-no-wake \
	"traffic on an idle keep-alive connection does not speed a slow sweep clock up: the new request's timeouts wait for the slow tick" \
	proxy/internal/engine/engine.go \
	'		x.l.reads++
		h.p.wakeSweeps()' \
	'		x.l.reads++' \
	./proxy/internal/engine '^TestSweepClockSlowsForIdleKeepAlive$'

# --- selection ---------------------------------------------------------------
if [ "${1:-}" = -l ]; then
	for i in "${!names[@]}"; do
		printf '%-24s %s\n' "${names[i]}" "${whats[i]}"
	done
	exit 0
fi
selected=()
if [ $# -eq 0 ]; then
	selected=("${!names[@]}")
else
	for want in "$@"; do
		found=
		for i in "${!names[@]}"; do
			[ "${names[i]}" = "$want" ] && found=$i
		done
		if [ -z "$found" ]; then
			echo "$me: no mutant named $want (see $me -l)" >&2
			exit 2
		fi
		selected+=("$found")
	done
fi

# --- the copy ----------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/mutants.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
repo=$work/repo
mkdir "$repo"
# Tracked and new (not ignored) files as they are now, so uncommitted work
# is what gets tested; a tracked file deleted in the working tree is left out.
(
	cd "$root"
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done |
		tar --null --ignore-failed-read -T - -cf -
) | tar -C "$repo" -xf -

# occurrences FILE TEXT: how many times TEXT occurs in FILE, literally.
occurrences() {
	local content rest
	IFS= read -r -d '' content <"$1" || true
	rest=${content//"$2"/}
	echo $(((${#content} - ${#rest}) / ${#2}))
}

# substitute FILE FROM TO: replace the one occurrence of FROM, literally.
substitute() {
	local content
	IFS= read -r -d '' content <"$1" || true
	printf '%s' "${content/"$2"/"$3"}" >"$1"
}

# --- 1. every mutant still applies -------------------------------------------
stale=0
for i in "${selected[@]}"; do
	f=$repo/${files[i]}
	if [ ! -f "$f" ]; then
		echo "$me: mutant ${names[i]}: ${files[i]} does not exist" >&2
		stale=1
		continue
	fi
	n=$(occurrences "$f" "${froms[i]}")
	if [ "$n" -ne 1 ]; then
		echo "$me: mutant ${names[i]}: its text occurs $n times in ${files[i]}, want exactly 1 (update the mutant list): ${froms[i]}" >&2
		stale=1
	fi
done
if [ "$stale" -ne 0 ]; then
	exit 1
fi

# gotest IDX LOG: the mutant's tests in the copy; the exit status of go test.
gotest() {
	local -a p
	read -r -a p <<<"${pkgs[$1]}"
	(cd "$repo" && "$GO" test -count=1 -timeout "$TIMEOUT" -run "${runs[$1]}" "${p[@]}") >"$2" 2>&1
}

# --- 2. the tests pass without any mutant ------------------------------------
declare -A passed=()
for i in "${selected[@]}"; do
	key="${pkgs[i]} -run ${runs[i]}"
	[ -n "${passed[$key]:-}" ] && continue
	log=$work/clean.log
	if ! gotest "$i" "$log"; then
		echo "$me: without any mutant, go test $key fails; fix that first:" >&2
		tail -n 30 "$log" >&2
		exit 1
	fi
	if grep -q 'no tests to run' "$log"; then
		echo "$me: mutant ${names[i]}: -run '${runs[i]}' matches no test in ${pkgs[i]}" >&2
		exit 1
	fi
	passed[$key]=1
done

# --- 3. each mutant ------------------------------------------------------------
results=() seconds=() evidence=()
for i in "${selected[@]}"; do
	f=$repo/${files[i]}
	cp "$f" "$work/original"
	substitute "$f" "${froms[i]}" "${tos[i]}"
	log=$work/${names[i]}.log
	start=$SECONDS
	if ! (cd "$repo" && "$GO" build "./$(dirname "${files[i]}")") >"$log" 2>&1; then
		results[i]="DOES NOT BUILD"
		evidence[i]=$(grep -m 1 -v '^#' "$log" || true)
	elif gotest "$i" "$log"; then
		results[i]=MISSED
		evidence[i]="go test ${pkgs[i]} -run '${runs[i]}' passed"
	else
		results[i]=caught
		evidence[i]=$(grep -m 1 -E -- '^(\s*--- FAIL|panic:|FAIL\s)' "$log" | sed 's/^\s*//' || true)
	fi
	seconds[i]=$((SECONDS - start))
	cp "$work/original" "$f"
	printf '%s: %s\n' "${names[i]}" "${results[i]}" >&2
done

# --- the table -----------------------------------------------------------------
echo
printf '%-24s %-14s %5s  %s\n' MUTANT RESULT SECS "TESTS (first failure)"
bad=0
for i in "${selected[@]}"; do
	printf '%-24s %-14s %5s  %s -run %s (%s)\n' "${names[i]}" "${results[i]}" "${seconds[i]}" \
		"${pkgs[i]}" "${runs[i]}" "${evidence[i]}"
	[ "${results[i]}" = caught ] || bad=1
done
if [ "$bad" -ne 0 ]; then
	echo "$me: not every mutant was caught" >&2
	exit 1
fi
echo "$me: all ${#selected[@]} mutants caught"
