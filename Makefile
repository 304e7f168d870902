# eacgate — see README.md. `make run` starts the gateway, `make test` runs every check.
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
# Fuzzing budgets are execution counts, not durations: Go 1.26's fuzz coordinator can report
# "context deadline exceeded" at the end of a -fuzztime duration on a loaded machine
# (golang/go#75804, fixed in Go 1.27), a failure without a failing input.
FUZZ_DECODERS ?= 200000x
FUZZ_SERVICES ?= 3000x
FUZZ_MINIMIZE ?= 100x

.PHONY: build run test check unit fuzz bench screenshots generate clean

build:
	$(GO) build -o bin/eacgate ./cmd/eacgate

run: build
	./bin/eacgate serve

generate:
	$(GO) generate ./...

# Everything CI runs (.ci/run calls this target).
test: check unit fuzz

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

unit:
	$(GO) test -race -count=1 ./...

# Short fuzzing of the decoders and services (go test -fuzz takes one target at a time; the
# services' executions sign and write, so minimising a new input is kept short).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseTLV$$' -fuzztime $(FUZZ_DECODERS) ./cvc/
	$(GO) test -run '^$$' -fuzz '^FuzzParseCertificate$$' -fuzztime $(FUZZ_DECODERS) ./cvc/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZ_DECODERS) ./cvc/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEnvelope$$' -fuzztime $(FUZZ_DECODERS) ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzIssuingService$$' -fuzztime $(FUZZ_SERVICES) -fuzzminimizetime $(FUZZ_MINIMIZE) ./ra/
	$(GO) test -run '^$$' -fuzz '^FuzzSPOCService$$' -fuzztime $(FUZZ_SERVICES) -fuzzminimizetime $(FUZZ_MINIMIZE) ./spoc/
	$(GO) test -run '^$$' -fuzz '^FuzzGatewaySOAP$$' -fuzztime $(FUZZ_SERVICES) -fuzzminimizetime $(FUZZ_MINIMIZE) ./gateway/

bench:
	scripts/bench.sh

# The web console's pages as the browser test sees them (README pictures).
screenshots:
	EACGATE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestConsoleInABrowser$$' ./internal/e2e/

clean:
	rm -rf bin
