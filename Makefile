# sidewatch build, test and release targets. `make` lists them.
.DEFAULT_GOAL := help
SHELL := bash

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GOFLAGS_BUILD := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"
export CGO_ENABLED := 0

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

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
golden: ## rewrite golden files under testdata/ (every package with a TestGolden and an -update flag)
	go test $$(grep -rl --include='*_test.go' 'flag.Bool("update"' . | xargs -n1 dirname | sort -u) -count=1 -run '^TestGolden' -args -update

.PHONY: cross
cross: ## build for linux/arm64 and compile the tests for darwin
	GOOS=linux GOARCH=arm64 go build -o /dev/null ./...
	GOOS=darwin GOARCH=arm64 go build -o /dev/null ./...
	@d=$$(mktemp -d) && GOOS=darwin GOARCH=arm64 go test -c -o $$d/ ./... && rm -rf $$d

.PHONY: clean
clean: ## remove build output
	rm -rf bin dist

.PHONY: bench-capture
bench-capture: ## (root) live capture benchmark: sidewatch vs tcpdump, zero-drop rate and CPU (sidecar/capture/bench)
	sidecar/capture/bench/bench-capture.sh

.PHONY: compare-tshark
compare-tshark: build ## flows of sidewatch replay vs tshark frame by frame on every capture under CORPUS=dir: agreement, Community ID, failures, time and memory (JOBS, TSHARK_CACHE=dir keeps tshark's output for the next run)
	@test -n "$(CORPUS)" || { echo "usage: make compare-tshark CORPUS=dir [JOBS=n] [TSHARK_CACHE=dir]"; exit 2; }
	go build -o bin/tsharkcmp ./sidecar/capture/bench/tsharkcmp
	nice bin/tsharkcmp -corpus "$(CORPUS)" -sidewatch bin/sidewatch $(if $(JOBS),-j $(JOBS)) $(if $(TSHARK_CACHE),-cache "$(TSHARK_CACHE)")

.PHONY: bench-detect
bench-detect: ## detections: CPU per packet on vs off (ratio of medians), per log record, intel load time and memory per 1M indicators (ROUNDS, BENCHTIME)
	sidecar/detect/bench/bench-detect.sh

.PHONY: bench-rules
bench-rules: ## rules: cost per DNS/TLS/HTTP event with 10 vs 10,000 rules, through the detection engine and the matcher alone (ratio, goal ≤ 2), allocations, load time and heap of 10,000 rules
	@uptime
	go test ./sidecar/rules -run '^$$' -bench 'EngineRatio|MatchRatio|Match/' -benchtime 20000x -count $${COUNT:-3} -benchmem
	go test ./sidecar/rules -run '^$$' -bench 'Load' -benchtime 10x -count $${COUNT:-3}

.PHONY: bench-sinks
bench-sinks: ## AWS sinks against moto_server: events/s, CPU µs and peak RSS per sink; spool write and replay rates
	go test -run '^$$' -bench . -benchtime $${BENCHTIME:-20000x} -count $${COUNT:-3} ./sidecar/sink/s3 ./sidecar/sink/cloudwatch ./sidecar/sink/firehose
	go test -run '^$$' -bench . -benchmem -count $${COUNT:-3} ./sidecar/spool

.PHONY: reliability
reliability: build ## issue 10's hostile scenarios at full size against bin/sidewatch, one table row each (rows 7 and 9 need root; ONLY=1,2 picks rows)
	go run ./internal/reliability/campaign -bin bin/sidewatch $(if $(ONLY),-only $(ONLY))

.PHONY: bench-applayer
bench-applayer: ## app layer on vs off side by side: CPU per packet and ratio on four mixes; allocations per packet; memory with 10,000 connections
	go test ./sidecar/applayer -run '^$$' -bench 'ReplayMix|DNSUDP|TLSConnection|HTTPKeepAlive|EngineMemory' -benchmem -count 3
	go test ./sidecar/reassembly ./sidecar/applayer/dns ./sidecar/applayer/tls ./sidecar/applayer/http -run '^$$' -bench . -benchmem

.PHONY: bench-syslog
bench-syslog: ## syslog end to end: sidewatch run vs rsyslog imptcp, alternating rounds, median msg/s and CPU per message ratios, RSS (N, CONNS, ROUNDS, RATE, RSYSLOG_FORMAT=json for rsyslog writing the same JSON)
	sidecar/syslog/bench/bench.sh

.PHONY: bench-msgpack
bench-msgpack: ## forward decoder vs tinylib/msgp and vmihailenco/msgpack on one Fluent Bit chunk (ns and allocs per record)
	go test -run '^$$' -bench 'BenchmarkDecode$$' -benchmem -count $${COUNT:-5} ./sidecar/forward
	cd sidecar/forward/msgpackcmp && go test -run '^$$' -bench . -benchmem -count $${COUNT:-5} .

.PHONY: bench-forward
bench-forward: ## (root) Fluent Bit -> sidewatch forward vs Fluent Bit -> Fluent Bit in_forward -> null: records/s, CPU per record, ratio
	sidecar/forward/bench/bench-forward.sh

# ---- image, task simulation and demo (docs/image.md) ----
IMAGE_ARCHES ?= amd64 arm64
IMAGE_NAME ?= sidewatch
# Debian's Mozilla set only: not the build machine's local CAs.
CA_CERTS ?= /usr/share/ca-certificates/mozilla
# Private vfs storage: no daemon, no overlay mounts, nothing outside dist/.
BUILDAH_ROOT ?= $(CURDIR)/dist/buildah
BUILDAH = buildah --storage-driver vfs --root $(BUILDAH_ROOT)/root --runroot $(BUILDAH_ROOT)/run

.PHONY: image-bin
image-bin: ## build bin/linux-<arch>/ and lay out its rootfs/ (sidewatch with cap_net_raw+ep) for the prebuilt image; root
	@set -e; for arch in $(IMAGE_ARCHES); do \
	  echo "== linux/$$arch"; \
	  GOOS=linux GOARCH=$$arch go build $(GOFLAGS_BUILD) -tags sidecaronly -o bin/linux-$$arch/ ./cmd/sidewatch ./cmd/fluent-launch; \
	  CA_CERTS=$(CA_CERTS) scripts/image-rootfs.sh bin/linux-$$arch bin/linux-$$arch; \
	done

.PHONY: image
image: image-bin ## build linux/amd64+arm64 images with buildah: dist/oci (OCI layout: VERSION index, VERSION-<arch>) and dist/*.docker.tar
	@command -v buildah >/dev/null || { echo "image: needs buildah (see .ci/apt/image.txt)"; exit 1; }
	@$(BUILDAH) manifest rm $(IMAGE_NAME):$(VERSION) >/dev/null 2>&1 || true
	$(BUILDAH) manifest create $(IMAGE_NAME):$(VERSION) >/dev/null
	@set -e; for arch in $(IMAGE_ARCHES); do \
	  $(BUILDAH) bud --isolation chroot --format docker --quiet \
	    --platform linux/$$arch --build-arg BINARIES=prebuilt --build-arg VERSION=$(VERSION) \
	    --manifest $(IMAGE_NAME):$(VERSION) -t $(IMAGE_NAME):$(VERSION)-$$arch . >/dev/null; \
	done
	rm -rf dist/oci
	$(BUILDAH) manifest push --quiet --all $(IMAGE_NAME):$(VERSION) oci:dist/oci:$(VERSION)
	@set -e; for arch in $(IMAGE_ARCHES); do \
	  $(BUILDAH) push --quiet $(IMAGE_NAME):$(VERSION)-$$arch oci:dist/oci:$(VERSION)-$$arch; \
	  rm -f dist/$(IMAGE_NAME)-$(VERSION)-$$arch.docker.tar; \
	  $(BUILDAH) push --quiet $(IMAGE_NAME):$(VERSION)-$$arch docker-archive:dist/$(IMAGE_NAME)-$(VERSION)-$$arch.docker.tar:$(IMAGE_NAME):$(VERSION); \
	done
	@for arch in $(IMAGE_ARCHES); do \
	  m=$$(jq -r --arg t $(VERSION)-$$arch '.manifests[]|select(.annotations["org.opencontainers.image.ref.name"]==$$t)|.digest|ltrimstr("sha256:")' dist/oci/index.json); \
	  n=$$(for l in $$(jq -r '.layers[].digest|ltrimstr("sha256:")' dist/oci/blobs/sha256/$$m); do gzip -dc dist/oci/blobs/sha256/$$l; done | wc -c); \
	  z=$$(jq '[.layers[].size]|add' dist/oci/blobs/sha256/$$m); \
	  echo "dist/oci:$(VERSION)-$$arch: $$n bytes uncompressed, $$z compressed"; \
	done

.PHONY: e2e
e2e: ## run the task simulation as root (image built from the Dockerfile; E2E_IMAGE=dist/oci:<tag>-<arch> tests a make image output)
	SIDEWATCH_E2E_IMAGE=$(E2E_IMAGE) go test -count=1 -v -timeout 10m -run TestTaskSimulation ./e2e/

.PHONY: demo
demo: build ## as root: run sidewatch in a throwaway task namespace with a little traffic and logs, print the events
	scripts/demo.sh bin/sidewatch

.PHONY: pcaps
pcaps: ## regenerate the replay test captures from real traffic in network namespaces (root), then their golden files
	sidecar/capture/testdata/mkpcaps.sh
	go test ./sidecar/capture -run Golden -update
	go test ./sidecar/applayer -count=1 -run TestLiveTraffic -args -save-pcaps $(CURDIR)/sidecar/applayer/testdata
	go test ./sidecar/applayer -count=1 -run '^TestGolden' -args -update
