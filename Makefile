# Watchkeeper — the two commands a new machine needs are `make run` and
# `make test`; both fetch the Go modules they need on their own.

GO       ?= go
BIN      := bin/watchkeeper
PKG      := github.com/watchkeeper/watchkeeper
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(PKG)/internal/version.version=$(VERSION) -X $(PKG)/internal/version.revision=$(REVISION)

.PHONY: compare-sklearn eval eval-nab all build run test test-short bench deps fmt lint tidy clean

all: build

## build: compile bin/watchkeeper from ./cmd/bot
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bot

## run: the demo — the sandbox shop with an incident, and the terminal chat beside it
run: build
	./$(BIN) demo

## test: install test dependencies, static checks, then every test with the race detector
test: deps lint
	$(GO) test -race -count=1 -timeout 15m ./...

# Tests run real servers: Prometheus and promtool (Debian package
# prometheus) and VictoriaLogs (built from its Go module, cached by
# version). Install what is missing.
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VLOGS := $(HOME)/.cache/watchkeeper/bin/victoria-logs
VLOGS_VERSION := v1.52.1
K8S_BIN := $(HOME)/.cache/watchkeeper/k8s/v1.37.2
## deps: install the servers the tests use (Prometheus, promtool, Alertmanager, PostgreSQL, VictoriaLogs, a Kubernetes control plane)
deps:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1 || { \
		echo "installing Prometheus, promtool and Alertmanager (Debian packages prometheus, prometheus-alertmanager)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing PostgreSQL (Debian package postgresql) for the store and replica tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
	@[ -x $(VLOGS) ] && [ -f $(VLOGS).$(VLOGS_VERSION) ] || { \
		echo "building VictoriaLogs $(VLOGS_VERSION) for the tests"; \
		GOBIN=$(dir $(VLOGS)) GOFLAGS=-buildvcs=false $(GO) install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$(VLOGS_VERSION) && \
		touch $(VLOGS).$(VLOGS_VERSION); }
	@[ -f $(K8S_BIN)/.complete ] || { \
		echo "building the Kubernetes control plane v1.37.2 for the tests (once; ~10 min cold)"; \
		OUT=$(K8S_BIN) bash internal/testserver/build-k8s.sh; }

## test-short: every test, without the race detector (quicker while editing)
test-short:
	$(GO) test -count=1 ./...

## bench: run the benchmarks (figures are recorded in docs/benchmarks.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## eval: the agent on the shipped scenarios with a real model — make eval MODEL=gpt-4o [RUNS=5] [JUDGE=gpt-4o-mini]
# The provider, endpoint and key come from your configuration's llm section
# (WATCHKEEPER_CONFIG or ./watchkeeper.yaml); see docs/eval.md.
RUNS ?= 5
eval: build
	@[ -n "$(MODEL)" ] || { echo "usage: make eval MODEL=<model> [RUNS=5] [JUDGE=<model>]   (MODEL=scripted replays the scenarios' scripts)"; exit 2; }
	./$(BIN) eval --suite eval/scenarios --model '$(MODEL)' --runs $(RUNS) $(if $(JUDGE),--judge '$(JUDGE)') --out 'eval-report/$(subst /,_,$(MODEL)).json'

## compare-sklearn: our isolation forest against scikit-learn's (installs python3-sklearn)
compare-sklearn:
	@/usr/bin/python3 -c 'import sklearn' 2>/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends python3-sklearn >/dev/null; }
	$(GO) test -count=1 -run TestCompareWithScikitLearn -v ./tools/anomaly

## eval-nab: the default detector's NAB scores (needs ../shared/data/nab)
eval-nab:
	$(GO) test -count=1 -run 'TestNAB$$' -v ./tools/anomaly

## lint: gofmt and go vet
lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin
