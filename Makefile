# Roster build, test and benchmark entry points. See README.md.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
AGENT_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test test-short lint bench bench-fleet cross fuzz fuzz-long deps clean demo installers soak

all: build

# Packages the tests need (cryptsetup for the LUKS2 loop-device test).
deps:
	@bash scripts/deps.sh test

# The agent and rosterctl are pure Go; the collector links SQLite (cgo).
build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/roster-agent ./cmd/rosterctl
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/roster-collector

# The registry, the API and the evidence bundle run their tests on both
# store engines: SQLite in the first run, PostgreSQL (a throwaway server,
# deps installs it) in the second.
test: deps build
	$(GO) test -count=1 -timeout 12m ./...
	ROSTER_TEST_STORE=postgres $(GO) test -count=1 -timeout 6m ./collector/registry/... ./collector/api ./collector/evidence/...

test-short:
	$(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

cross:
	@mkdir -p bin/cross
	@set -e; for p in $(AGENT_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "roster-agent $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o bin/cross/roster-agent-$$os-$$arch$$ext ./cmd/roster-agent; \
	done

# Every package IT deploys (deb, rpm, msi, pkg, the collector's packages
# and image) in bin/installers/ with SHA256SUMS (scripts/installers.sh).
installers: cross
	@bash scripts/installers.sh

# The main job: a collector on SQLite plus this machine's agent reporting
# to it, then what the registry holds (scripts/demo.sh).
demo: build
	@bash scripts/demo.sh

# Figures each issue asks for; installs what it compares against.
bench: build
	@bash scripts/bench.sh

# Short coverage-guided run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

# The fuzzing campaign: every fuzz target for FUZZLONG (default 10m) each,
# with a totals table at the end (scripts/fuzz.sh --long). About 12 hours.
FUZZLONG ?= 10m
fuzz-long:
	@bash scripts/fuzz.sh --long $(FUZZLONG)

# The fleet run, not part of bench's default: FLEET_SIZE devices (100,000)
# at the compressed real schedule on SQLite, then on PostgreSQL with two
# collectors (scripts/bench-fleet.sh, docs/fleet.md).
bench-fleet: build
	@FLEET_SIZE=$${FLEET_SIZE:-100000} bash scripts/bench-fleet.sh

# Crash soak, not part of test: the collector SIGKILLed at seeded moments
# under SOAK_DEVICES simulated agents for SOAK_DURATION, then every report
# checked applied exactly once (scripts/soak.sh, docs/soak.md).
# SOAK_STORE=postgres also restarts the database once.
soak:
	@bash scripts/soak.sh

clean:
	rm -rf bin
