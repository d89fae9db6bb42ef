# OTE hub and agent. `make run` starts the hub on its embedded defaults;
# `make test` runs every test (starting the machine's PostgreSQL when it can).
SHELL := /bin/bash
GO ?= go
BIN := bin
export CGO_ENABLED ?= 0
# The version --version prints: the tag or commit of this tree.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The same flags as the Dockerfiles' builds (test/build checks it).
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build build-hub build-agent build-otectl images e2e-kind run demo test test-go vet fmt-check pg k8s bench fleet clean

all: build

build: build-hub build-agent build-otectl

build-hub:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/hub ./hub/cmd/hub

build-agent:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/agent ./agent/cmd/agent

# The command-line client (README, "otectl").
build-otectl:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/otectl ./hub/cmd/otectl

# Both images, where Docker is (the machines of CI here have none).
IMAGE_TAG ?= $(VERSION)
images:
	@command -v docker >/dev/null || { echo "make images needs Docker"; exit 1; }
	docker build -f Dockerfile.hub --build-arg VERSION=$(VERSION) -t ote/hub:$(IMAGE_TAG) .
	docker build -f Dockerfile.agent --build-arg VERSION=$(VERSION) -t ote/agent:$(IMAGE_TAG) .

# A kind cluster with both charts installed from the images, and the
# otectl walk-through against it (needs Docker; see test/kind/e2e.sh).
e2e-kind: images build-otectl
	IMAGE_TAG=$(IMAGE_TAG) bash test/kind/e2e.sh

run: build-hub
	./$(BIN)/hub $(ARGS)

# A real kube-apiserver with fake nodes, the hub and one agent; no Docker.
demo: build
	$(GO) run ./test/demo

# The simulated agent fleet against one hub (N=10000 for the full figures).
N ?= 1000
fleet:
	$(GO) run ./test/fleet -n $(N)

# PostgreSQL for the store and API tests: started when this user can start it
# (root with Debian's pg_ctlcluster); otherwise those tests say loudly that
# they did not run, and fail if CI or OTE_REQUIRE_POSTGRES is set.
pg:
	@if [ "$$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null; then \
		bash test/pg/start.sh >/dev/null && echo "PostgreSQL is up"; \
	else \
		echo "!!! cannot start PostgreSQL here (need root and pg_ctlcluster); PostgreSQL tests will not run"; \
	fi

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# The race detector needs cgo; the binaries themselves are built without it.
test-go:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

# kube-apiserver and kine for the tests, built once per machine (minutes) and cached.
k8s:
	@bash test/k8s/build.sh >/dev/null

test: pg k8s fmt-check vet test-go

bench: pg
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 60m ./hub/...

clean:
	rm -rf $(BIN)
