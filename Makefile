# meshbench — see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go

BIN     := bin
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: all build test test-root vet bench report gate gate-run baseline gate-eval gate-eval-runs bench-go bench-ab bench-hop bench-pair bench-load bench-idle bench-idlecpu bench-syscalls bench-h2idle bench-tailnoise fuzz mutants clean

all: build

# Static binaries (CGO_ENABLED=0): no libc mapped into every sidecar (about
# 1.4 MiB of RSS measured), and they run unchanged in minimal images. Tests
# keep cgo, which the race detector needs.
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/meshproxy ./proxy/cmd/meshproxy
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/meshbench ./scenarios/cmd/meshbench
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/meshload ./loadgen/cmd/meshload

vet:
	$(GO) vet $(PKGS)

# All tests, race detector on, with a global timeout so a hung test fails CI
# instead of eating its 90 minutes. testsum prints what go test prints
# without -v (package lines, failed tests' output), then lists every skipped
# test with its reason and every failed test; it exits non-zero on any
# failure. With CI=true a test that lacks a tool or root fails instead of
# skipping (internal/testenv).
# The race detector changes allocation behaviour (sync.Pool drops items),
# so the zero-allocation tests (named *Alloc*, testenv.AllocPattern) run
# once more without it. The reliability suite (TestReliability*) runs
# once more without it too, at full size (200 MB transfers).
# ROOT_TESTS need root (network namespaces, iptables). As root, make test
# runs them with the rest; make test SKIP_ROOT_TESTS=1 leaves them out for
# a CI that runs them as root in a separate step: make test-root, which
# fails unless each of them passed.
ROOT_TESTS := TestTransparentCapture TestNetnsPidChain TestNetnsRunEndToEnd TestNetnsInterruptStopsEverything TestCaptureRulesMatchNetns
empty      :=
space      := $(empty) $(empty)
ROOT_RUN   := ^($(subst $(space),|,$(strip $(ROOT_TESTS))))$$
TESTSUM    := $(GO) run ./internal/testenv/testsum
test: vet
	$(TESTSUM) -- $(GO) test -json -race -count=1 -timeout 15m $(if $(SKIP_ROOT_TESTS),-skip '$(ROOT_RUN)') $(PKGS)
	$(TESTSUM) -- $(GO) test -json -count=1 -timeout 5m -run 'Alloc' $(PKGS)
	$(TESTSUM) -- $(GO) test -json -count=1 -timeout 5m -run 'Reliability' ./proxy/internal/sidecar/

test-root:
	$(TESTSUM) -require '$(ROOT_TESTS)' -- $(GO) test -json -race -count=1 -timeout 15m -run '$(ROOT_RUN)' $(PKGS)

# make bench: the default scenario (direct, meshproxy one hop, mTLS sidecar
# pair, 90/10 split, nginx and HAProxy when installed) at 1000 and 10000
# req/s, one result file in results/, then BENCHMARKS.md and
# results/report.html regenerated from the newest run of each scenario.
SCENARIOS ?= scenarios/default.yaml
bench: build
	$(BIN)/meshbench run -o results $(SCENARIOS)
	$(BIN)/meshbench report

# Regenerate the reports from the stored results without running anything.
report: build
	$(BIN)/meshbench report

# make gate: the CI suite (scenarios/gate.yaml, 5 x 10 s, about 3 minutes)
# plus the Go benchmarks below (allocs/op; sidecar's forward benchmarks run
# the real request path), compared with results/baseline.json and the noise
# recorded beside it (results/baseline-noise.tsv); exit 1 on a regression.
# make baseline records both (commit them); NOISE_RUNS="a.json b.json" adds
# result files of more gate runs of the same code to the noise (steadier σ).
GATE_BENCH_PKGS := ./proxy/internal/http1 ./proxy/internal/route ./proxy/internal/balance ./proxy/internal/engine ./proxy/internal/sidecar ./loadgen/internal/client
NOISE_RUNS ?=
gate-run: build
	rm -rf $(BIN)/gate && mkdir -p $(BIN)/gate
	$(GO) test -run '^$$' -bench . -benchmem -count 3 -benchtime 200ms $(GATE_BENCH_PKGS) > $(BIN)/gate/bench.txt
	$(BIN)/meshbench run -o $(BIN)/gate -bench $(BIN)/gate/bench.txt scenarios/gate.yaml

gate: gate-run
	$(BIN)/meshbench gate -baseline results/baseline.json -current $$(ls $(BIN)/gate/*-gate.json)

baseline: gate-run
	cp $$(ls $(BIN)/gate/*-gate.json) results/baseline.json
	$(BIN)/meshbench gate -baseline results/baseline.json -write-noise results/baseline-noise.tsv $(NOISE_RUNS)

# The gate measured (BENCHMARKS.md "The regression gate, measured"): make
# gate-eval-runs makes 12 gate runs of the current commit in
# results/gate-eval/runs (about 40 minutes; nothing else may run), make
# gate-eval renders the false-alarm, doctored-regression and smallest-caught
# tables from them into BENCHMARKS.md.
gate-eval-runs: build
	scripts/gate-eval.sh run

gate-eval: build
	scripts/gate-eval.sh render

# make soak: scenarios/soak.yaml, about 10 minutes, not part of make test:
# the mTLS sidecar pair at 500 req/s while its config is rewritten every
# 10 s, its certificates rotated every minute, a server pod killed every 2
# minutes, and a slow reader reads 1 MiB responses at 100 KiB/s; it fails on
# failures beyond the kills' budget or a proxy whose RSS grew. The result
# goes to results/ (make report shows it). SOAK_DURATION=2m runs the same
# soak compressed into 2 minutes as a check, its result in bin/soak.
.PHONY: soak
SOAK_DURATION ?=
soak: build
	$(BIN)/meshbench run $(if $(SOAK_DURATION),-soak-duration $(SOAK_DURATION) -o $(BIN)/soak,-o results) scenarios/soak.yaml

# The stand-alone benchmarks of BENCHMARKS.md. Each waits for a quiet machine,
# writes its raw rows to results/standalone/<bench>/<UTC time>*.tsv (.txt for
# the Go benchmarks; commit them) and prints its section; make
# report-standalone then rewrites those sections of BENCHMARKS.md from the
# newest raw file of each. See results/standalone/README.md.
bench-go:
	GO=$(GO) scripts/gobench.sh

# BEFORE=<commit> make bench-ab: Go benchmarks of BEFORE and HEAD measured in
# the same run, alternating (TAG=, ROUNDS=, BENCH=, PKGS=; scripts/abbench.sh).
bench-ab:
	GO=$(GO) scripts/abbench.sh

bench-hop: build
	scripts/hopbench.sh

# LOOPS=1 make bench-pair: proxies with eventLoops 1 (a separate section).
bench-pair: build
	scripts/pairbench.sh

# meshload beside wrk (closed loop, generator CPU per request).
bench-load: build
	scripts/loadbench.sh

# RSS per idle keep-alive connection of meshproxy (CONNS=10000, eventLoops
# 0 and 1; MESHPROXY_TREE=DIR measures another checkout's bin/meshproxy).
bench-idle: build
	scripts/idlebench.sh

# System calls, futex wake-ups and context switches per request of meshproxy
# (1 and 2 loops) and nginx (1 and 2 workers), one hop, at RATES and at
# saturation, counted with perf stat (scripts/syscallbench.sh).
bench-syscalls: build
	scripts/syscallbench.sh

# CPU and wake-ups of an idle proxy with no traffic: a full meshproxy sidecar
# (mTLS identity, watched config; LOOPS="1 0") beside nginx and HAProxy
# (DURATION=60 s per round, REPEAT=5; MESHPROXY_TREE=DIR measures another
# checkout's bin/meshproxy; scripts/idlecpubench.sh).
bench-idlecpu: build
	scripts/idlecpubench.sh

# Memory per idle HTTP/2 connection and per open stream of meshproxy
# (CONNS=100 h2c connections, STREAMS=100 streams on each, eventLoops 0 and 1).
bench-h2idle: build
	scripts/h2idlebench.sh

# make bench-tailnoise: how steady added p50/p99 are from step to step when
# the direct path and meshproxy are measured one after the other (as the gate
# does) or at once (scripts/tailnoise.sh, about 8 minutes; raw rows under
# results/standalone/tailnoise).
bench-tailnoise: build
	scripts/tailnoise.sh

.PHONY: report-standalone
report-standalone:
	$(GO) run ./results/standalone/cmd/standalone-report -doc BENCHMARKS.md -dir results/standalone

# Every fuzz target of the repository for FUZZTIME each (default 30s), from
# the committed corpus (testdata/fuzz); a failing input lands there and is
# printed (scripts/fuzz.sh). CI runs it with FUZZTIME=10s.
FUZZTIME ?= 30s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# Deliberate breakages (scripts/mutants.sh -l lists them) applied one at a
# time to a temporary copy; fails unless each one's tests catch it.
mutants:
	GO=$(GO) scripts/mutants.sh

clean:
	rm -rf $(BIN)

# make bench-kind: the scenarios on a kind cluster with meshproxy, Istio and
# Linkerd side by side (needs a Docker engine; scripts/kind/tools.sh puts
# pinned, checksum-verified kind, kubectl, istioctl and linkerd in
# bin/kind-tools). Cluster up, images, installs, run, report in results/kind/,
# then the cluster is deleted unless KEEP_CLUSTER=1. ISTIO_MODE=ambient uses
# Istio's ambient mode. See deploy/README.md.
KIND_SCENARIOS ?= scenarios/default.yaml
.PHONY: bench-kind
bench-kind: build
	scripts/kind/bench.sh $(KIND_SCENARIOS)
