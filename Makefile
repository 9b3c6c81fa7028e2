# Watchkeeper — the two commands a new machine needs are `make run` and
# `make test`; both fetch the Go modules they need on their own.

GO       ?= go
BIN      := bin/watchkeeper
PKG      := github.com/watchkeeper/watchkeeper
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(PKG)/internal/version.version=$(VERSION) -X $(PKG)/internal/version.revision=$(REVISION)

.PHONY: compare-sklearn eval eval-nab manifests image all build run test test-accuracy test-short bench deps fmt lint tidy clean

all: build

## build: compile bin/watchkeeper from ./cmd/bot
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bot

## run: the demo — the sandbox shop with an incident, and the terminal chat beside it
run: build
	./$(BIN) demo

## test: install test dependencies, static checks, then every test with the race detector, then the accuracy suites
test: deps lint
	$(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) --no-print-directory test-accuracy

## test-accuracy: the accuracy suites, a two-fault game day and the sandbox's long GitOps simulations, which skip themselves under the race detector (ten times slower there; their concurrency is checked elsewhere)
test-accuracy:
	$(GO) test -count=1 -timeout 15m -run '^(TestGeneratedSuite|TestNetworkLatencyFromTraces|TestSamplerOnSandboxIncidents|TestGameDay|TestGameDayWithAModel|TestGitOpsWrongWay|TestGitOpsRightWay|TestGitOpsBrokenTree)$$' ./tools/rca ./internal/sandbox ./internal/gameday

# Tests run real servers: Prometheus and promtool (Debian package
# prometheus) and VictoriaLogs (built from its Go module, cached by
# version). Install what is missing.
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VLOGS := $(HOME)/.cache/watchkeeper/bin/victoria-logs
VLOGS_VERSION := v1.52.1
K8S_BIN := $(HOME)/.cache/watchkeeper/k8s/v1.37.2
# Jaeger is built from the module internal/testserver/jaegerbin pins (a
# module of its own, so Watchkeeper's go.mod keeps none of Jaeger's
# dependencies); the stamp follows the version there.
JAEGER := $(HOME)/.cache/watchkeeper/bin/jaeger
JAEGER_MOD := internal/testserver/jaegerbin
JAEGER_VERSION := $(shell sed -n 's/^[[:space:]]*github.com\/jaegertracing\/jaeger \(v[^ ]*\).*/\1/p' $(JAEGER_MOD)/go.mod)
# The MCP tests' real peers (npm): the official Inspector CLI as a client
# of `mcp serve`, and the reference server as a server for the client.
MCP_PEERS := $(HOME)/.cache/watchkeeper/node
MCP_INSPECTOR := @modelcontextprotocol/inspector-cli@1.0.3
MCP_EVERYTHING := @modelcontextprotocol/server-everything@2026.8.31
MCP_PEERS_STAMP := peers-inspector-cli-1.0.3-everything-2026.8.31
## deps: install the servers the tests use (Prometheus, promtool, Alertmanager, PostgreSQL, tmux, VictoriaLogs, helm, Jaeger, a Kubernetes control plane, the MCP Inspector CLI and reference server)
deps:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1 || { \
		echo "installing Prometheus, promtool and Alertmanager (Debian packages prometheus, prometheus-alertmanager)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; }
	@command -v tmux >/dev/null 2>&1 || { \
		echo "installing tmux (Debian package tmux) for the terminal walk-through test"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends tmux >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing PostgreSQL (Debian package postgresql) for the store and replica tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
	@[ -x $(VLOGS) ] && [ -f $(VLOGS).$(VLOGS_VERSION) ] || { \
		echo "building VictoriaLogs $(VLOGS_VERSION) for the tests"; \
		GOBIN=$(dir $(VLOGS)) GOFLAGS=-buildvcs=false $(GO) install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$(VLOGS_VERSION) && \
		touch $(VLOGS).$(VLOGS_VERSION); }
	@[ -x $(HELM) ] && [ -f $(HELM).$(HELM_VERSION) ] || { \
		echo "building helm $(HELM_VERSION) for the chart tests"; \
		GOBIN=$(dir $(HELM)) GOFLAGS=-buildvcs=false $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) && \
		touch $(HELM).$(HELM_VERSION); }
	@[ -n "$(JAEGER_VERSION)" ] || { echo "no github.com/jaegertracing/jaeger version in $(JAEGER_MOD)/go.mod"; exit 1; }
	@[ -x $(JAEGER) ] && [ -f $(JAEGER).$(JAEGER_VERSION) ] || { \
		echo "building Jaeger $(JAEGER_VERSION) for the trace tests (once)"; \
		mkdir -p $(dir $(JAEGER)) && \
		CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" $(GO) -C $(JAEGER_MOD) build -trimpath \
			-ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$(JAEGER_VERSION)" \
			-o $(JAEGER) github.com/jaegertracing/jaeger/cmd/jaeger && \
		rm -f $(JAEGER).v* && touch $(JAEGER).$(JAEGER_VERSION); }
	@[ -f $(K8S_BIN)/.complete ] || { \
		echo "building the Kubernetes control plane v1.37.2 for the tests (once; ~10 min cold)"; \
		OUT=$(K8S_BIN) bash internal/testserver/build-k8s.sh; }
	@command -v npm >/dev/null 2>&1 || { \
		echo "installing Node.js and npm (Debian packages nodejs, npm) for the MCP tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
	@[ -f $(MCP_PEERS)/.$(MCP_PEERS_STAMP) ] || { \
		echo "installing the MCP Inspector CLI and the reference server (npm) for the MCP tests"; \
		mkdir -p $(MCP_PEERS) && \
		npm install --silent --no-audit --no-fund --prefix $(MCP_PEERS) $(MCP_INSPECTOR) $(MCP_EVERYTHING) && \
		rm -f $(MCP_PEERS)/.peers-* && touch $(MCP_PEERS)/.$(MCP_PEERS_STAMP); }

## test-short: the tests that need no server, without the race detector (quick, while editing)
test-short:
	$(GO) test -short -count=1 ./...

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

HELM_VERSION := v3.22.0
HELM := $(HOME)/.cache/watchkeeper/bin/helm
## manifests: regenerate deploy/kubernetes/watchkeeper.yaml from the Helm chart (for teams without Helm)
manifests: deps
	@{ echo "# Generated by 'make manifests' from deploy/helm/watchkeeper with its default values, the webhook token"; \
	   echo "# read from a Secret you create (a token generated here would be committed, the same for everyone):"; \
	   echo "#   helm template watchkeeper deploy/helm/watchkeeper --namespace watchkeeper --set secrets.alertmanager.existingSecret=watchkeeper-webhook"; \
	   echo "# Edit the chart, not this file. Create the namespace and the webhook token first:"; \
	   echo "#   kubectl create namespace watchkeeper"; \
	   echo '#   kubectl -n watchkeeper create secret generic watchkeeper-webhook --from-literal=webhook-token=$$(openssl rand -hex 24)'; \
	   $(HELM) template watchkeeper deploy/helm/watchkeeper --namespace watchkeeper --set secrets.alertmanager.existingSecret=watchkeeper-webhook; } > deploy/kubernetes/watchkeeper.yaml

## image: the container image (needs Docker): make image TAG=watchkeeper:dev
TAG ?= watchkeeper:$(VERSION)
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(TAG) .

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
# vet compiles every dependency; doing it as the static, trimmed build
# that the Dockerfile test and the replica test make (CGO_ENABLED=0,
# -trimpath) lets those two only link on empty caches, instead of
# recompiling everything inside their packages' time limits.
lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	CGO_ENABLED=0 $(GO) vet -trimpath ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin
