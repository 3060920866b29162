# sidewatch build, test and release targets. `make` lists them.
.DEFAULT_GOAL := help
SHELL := bash

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GOFLAGS_BUILD := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"
export CGO_ENABLED := 0

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/sidewatch and bin/fluent-launch (static, stripped)
	go build $(GOFLAGS_BUILD) -o bin/ ./cmd/...

.PHONY: run
run: build ## build and run the sidecar with its defaults (events to stdout)
	./bin/sidewatch --log-format text run --no-launcher

.PHONY: test
test: ## vet and run every test (root-only tests skip with a message unless run as root)
	go vet ./...
	go test -count=1 ./...

.PHONY: lint
lint: ## go vet and staticcheck
	go vet ./...
	go tool staticcheck ./...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@set -e; for pkg in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-10s} $$pkg; \
	  done; done

.PHONY: bench
bench: ## run the Go benchmarks
	go test -run '^$$' -bench . -benchmem ./...

.PHONY: golden
golden: ## rewrite golden files under testdata/
	go test ./... -run Golden -update

.PHONY: cross
cross: ## build for linux/arm64 and compile the tests for darwin
	GOOS=linux GOARCH=arm64 go build -o /dev/null ./...
	GOOS=darwin GOARCH=arm64 go build -o /dev/null ./...
	@d=$$(mktemp -d) && GOOS=darwin GOARCH=arm64 go test -c -o $$d/ ./... && rm -rf $$d

.PHONY: clean
clean: ## remove build output
	rm -rf bin dist

.PHONY: bench-syslog
bench-syslog: ## syslog end to end: sidewatch run vs rsyslog imptcp, msg/s and RSS (N, CONNS, RATE)
	sidecar/syslog/bench/bench.sh

.PHONY: pcaps
pcaps: ## regenerate the replay test captures from real traffic in network namespaces (root), then their golden files
	sidecar/capture/testdata/mkpcaps.sh
	go test ./sidecar/capture -run Golden -update
