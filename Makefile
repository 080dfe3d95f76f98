# rootwatch: `make demo` shows it work, `make test` installs what the tests
# need and runs them. Both work on a fresh machine with Go, npm and the
# module proxy.
GO        ?= go
GOFLAGS   ?=
FUZZTIME  ?= 60s
PKGS      := ./...
BIN       := bin

.PHONY: all build demo test test-deps vet fmt-check bench bench-isal bench-scan chaos mutants rss fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

## demo: the whole pipeline in one process (embedded Kafka and S3, generated
## logs, ingest, alert), root alerts on the console, checked against the truth.
demo:
	$(GO) run ./cmd/demo

# Where the test servers that are not Go modules live (the script and the
# tests both read it): make test ROOTWATCH_TOOLS_DIR=/opt/rootwatch-tools
ROOTWATCH_TOOLS_DIR ?= $(CURDIR)/.tools
export ROOTWATCH_TOOLS_DIR

## test-deps: what the tests need that is not a Go module: node@22 + fauxqs
## from npm into $(ROOTWATCH_TOOLS_DIR), and Debian's chromium (apt-get
## install --no-upgrade, as root, only if no installed package is upgraded).
test-deps:
	@bash scripts/install-test-deps.sh

## test: format, vet, and every test with the race detector; fuzz seed corpora run too.
test:
	@echo "make test: installs what the tests need that is not a Go module, when missing:"
	@echo "  node@22 + fauxqs (npm) into $(ROOTWATCH_TOOLS_DIR), and chromium (Debian package, apt-get --no-upgrade, root only;"
	@echo "  skipped when it would upgrade an installed package), then runs gofmt, go vet and go test -race on every package."
	@echo "  About 15 minutes on 2 cores the first time (module and npm downloads), the go test part about 11."
	@bash scripts/install-test-deps.sh
	@$(MAKE) --no-print-directory fmt-check vet
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: the splitter, matcher and pipeline benchmarks (MB/s, allocations).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/cloudtrail ./internal/match ./internal/scan

## bench-isal: gunzip with Intel ISA-L against klauspost/compress (needs
## apt-get install -y libisal-dev libdeflate-dev; never part of test or CI).
bench-isal:
	$(GO) test -race -tags isal -count=1 ./internal/cloudtrail
	$(GO) test -tags isal,libdeflate -run '^$$' -bench Gunzip -benchtime 10x ./internal/cloudtrail
	$(GO) test -tags isal -run '^$$' -bench BenchmarkScan -benchtime 5x ./internal/scan

## bench-scan: ingest against zcat | jq and encoding/json on SIZE_MB of generated logs.
bench-scan:
	SIZE_MB=$${SIZE_MB:-400} bash benchmarks/scan-vs-jq.sh

## chaos: the ledger-based chaos run (8 min of faults); exits 1 when a root event is lost.
chaos: test-deps
	$(GO) build -o $(BIN)/chaos/ ./cmd/ingest ./cmd/alert ./chaos/broker
	$(GO) run ./chaos/run --bin $(BIN)/chaos $(CHAOSFLAGS)

## mutants: each deliberate bug of internal/mutant (commands built with
## -tags mutants into a scratch folder) must fail the short chaos run; prints
## the table of docs/chaos.md. About 30 minutes; not part of test.
mutants: test-deps
	$(GO) run -tags mutants ./chaos/mutants $(MUTANTFLAGS)

## rss: peak RSS of ingest under a flood of large objects.
rss:
	$(GO) build -o $(BIN)/chaos/ ./cmd/ingest
	$(GO) run ./chaos/rss --bin $(BIN)/chaos

## fuzz: each fuzz target for FUZZTIME (default 60s).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./internal/cloudtrail
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./internal/match
	$(GO) test -run '^$$' -fuzz '^FuzzParseNotification$$' -fuzztime $(FUZZTIME) ./internal/source
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzAlertStdin$$' -fuzztime $(FUZZTIME) ./chaos

clean:
	rm -rf $(BIN)
