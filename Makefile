# Veil: the two commands a new user needs are `make demo` and `make test`.
# Everything the project needs is fetched or built from here (Go modules come
# through the module proxy on the first build).

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT   ?= $(shell $(GO) env GOROOT)/bin/gofmt
BIN     := bin/veil
FUZZTIME ?= 30s
# Test timeout for the whole suite; CI has room, the suite aims for well under it.
TESTTIMEOUT ?= 30m

.PHONY: all build test fmt-check vet demo fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/veil

fmt-check:
	@files=$$($(GOFMT) -l $$(find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi

vet:
	$(GO) vet ./...

test: fmt-check vet build
	$(GO) test -race -timeout $(TESTTIMEOUT) ./...

# Every Fuzz target of every package, each for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== fuzz $$pkg $$t for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Go benchmarks (figures in the README come from here and from `veil bench`).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Three local nodes (fast profile) as real processes: a batch of hides, the
# members table, SIGKILL of the coordinator, the failover, the table again.
# `veil bench --demo` kills and reaps every node it started, however it ends.
demo: build
	$(BIN) bench --demo

clean:
	rm -rf bin out
