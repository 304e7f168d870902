# eacgate — see README.md. `make run` starts the gateway, `make test` runs every check.
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME ?= 10s

.PHONY: build run test check unit fuzz bench generate clean

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
	$(GO) test -run '^$$' -fuzz '^FuzzParseTLV$$' -fuzztime $(FUZZTIME) ./cvc/
	$(GO) test -run '^$$' -fuzz '^FuzzParseCertificate$$' -fuzztime $(FUZZTIME) ./cvc/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME) ./cvc/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEnvelope$$' -fuzztime $(FUZZTIME) ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzIssuingService$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./ra/
	$(GO) test -run '^$$' -fuzz '^FuzzSPOCService$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./spoc/
	$(GO) test -run '^$$' -fuzz '^FuzzGatewaySOAP$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./gateway/

bench:
	scripts/bench.sh

clean:
	rm -rf bin
