# The one entry point for building, testing and linting Evara; CI runs it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

LINT_VERSION := v2.15.0
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT       ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS      := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN          ?= bin/evara
BENCHTIME    ?= 1s
PROTOC_GEN_GO_VERSION := v1.33.0
ACTIONLINT_VERSION    := v1.7.12
GOVULNCHECK_VERSION   := v1.9.0
IMAGE        ?= ghcr.io/evaratech/evara
GOBIN        := $(shell go env GOPATH)/bin
export PATH  := $(GOBIN):$(PATH)

.PHONY: help run build test test-short test-faults lint tools generate generate-check bench clean \
	actionlint helm-lint vulncheck image

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## run Evara with embedded defaults and the built-in simulator (no database, no Redis)
	go run ./cmd/evara serve --demo

build: ## static binary in bin/evara (CGO off, -trimpath, version from git)
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/evara

test: ## every test, with the race detector, shuffled
	go test -race -count=1 -shuffle=on ./...

test-faults: ## fault tests that stop the machine's PostgreSQL (alone; CI runs them in their own step)
	go test -tags faults -p 1 -count=1 -run 'Outage' -v ./internal/app/ ./cmd/evara/ # -p 1: one package at a time, they share the server

test-short: ## quick tests without the race detector
	go test -count=1 -short ./...

lint: ## golangci-lint (pinned) with the dependency-direction rules, plus go vet
	go vet -tags faults ./...
	go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(LINT_VERSION) run ./...

tools: ## protoc-gen-go, pinned (protoc itself comes from Debian's protobuf-compiler)
	@command -v protoc >/dev/null || { echo "protoc is missing: apt-get install -y protobuf-compiler"; exit 1; }
	@test -x $(GOBIN)/protoc-gen-go && $(GOBIN)/protoc-gen-go --version | grep -q $(PROTOC_GEN_GO_VERSION:v%=%) || \
		go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

generate: tools ## regenerate generated code (actors/msg from msg.proto)
	go generate ./...

generate-check: generate ## fail when generated code is not current
	@git diff --exit-code --stat -- ':(glob)**/*.pb.go' || { echo "generated code is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- ':(glob)**/*.pb.go')" || { echo "generated files are not committed"; exit 1; }

bench: ## benchmarks, the long device-runtime ones shortened (see the README for the full runs)
	EVARA_BENCH_SCHEDULE_DURATION=$${EVARA_BENCH_SCHEDULE_DURATION:-30s} EVARA_BENCH_DEVICES=$${EVARA_BENCH_DEVICES:-20000} \
		go test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -timeout 30m ./...

actionlint: ## lint the GitHub Actions workflows (pinned; their run: scripts through shellcheck when it is installed)
	@command -v shellcheck >/dev/null || echo "shellcheck is not installed (apt-get install -y shellcheck): run: scripts are not checked"
	go run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION) $(if $(shell command -v shellcheck),,-shellcheck=)

helm-lint: ## the helm chart's tests (helm/chart_test.go: renders and lints the chart)
	go test -count=1 ./helm/...

vulncheck: ## govulncheck (pinned): known vulnerabilities in the code paths Evara calls
	go run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) ./...

image: ## the release image from the Dockerfile, tagged IMAGE:VERSION (needs a Docker daemon with BuildKit)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE):$(VERSION) .

clean: ## remove build output and the embedded store of `make run`
	rm -rf bin data
