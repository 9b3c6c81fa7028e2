# Watchkeeper — the two commands a new machine needs are `make run` and
# `make test`; both fetch the Go modules they need on their own.

GO       ?= go
BIN      := bin/watchkeeper
PKG      := github.com/watchkeeper/watchkeeper
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(PKG)/internal/version.version=$(VERSION) -X $(PKG)/internal/version.revision=$(REVISION)

.PHONY: all build run test test-short bench fmt lint tidy clean

all: build

## build: compile bin/watchkeeper from ./cmd/bot
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bot

## run: start Watchkeeper on its embedded defaults and open the terminal chat
run: build
	./$(BIN) chat

## test: static checks, then every test with the race detector
test: lint
	$(GO) test -race -count=1 -timeout 15m ./...

## test-short: every test, without the race detector (quicker while editing)
test-short:
	$(GO) test -count=1 ./...

## bench: run the benchmarks (figures are recorded in docs/benchmarks.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

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
