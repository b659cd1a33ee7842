# meshbench — see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go

BIN     := bin
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: all build test vet bench bench-go bench-hop bench-pair bench-load fuzz clean

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
# instead of eating its 90 minutes.
# The race detector changes allocation behaviour (sync.Pool drops items),
# so the zero-allocation tests run once more without it.
test: vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 -timeout 5m -run 'Alloc' $(PKGS)

# The benchmarks available so far: Go micro-benchmarks (ns/op, allocs/op),
# the one-hop loopback benchmark beside nginx, and the sidecar pair
# (plaintext and mTLS) at fixed rates. The scenario runner
# (meshbench run) and its report come with a later issue.
bench: bench-go bench-hop bench-pair

bench-go:
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./proxy/... ./loadgen/... | tee $(BIN)/bench-go.txt

bench-hop: build
	scripts/hopbench.sh

bench-pair: build
	scripts/pairbench.sh

# meshload beside wrk (closed loop, generator CPU per request).
bench-load: build
	scripts/loadbench.sh

# Run each fuzz target for FUZZTIME (default 30s); new corpus entries land in testdata/.
FUZZTIME ?= 30s
fuzz:
	for t in FuzzParseRequest FuzzParseResponse FuzzChunkedScanner; do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./proxy/internal/http1/ || exit 1; \
	done

clean:
	rm -rf $(BIN)
