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

# Until the cluster is wired in, the demo is the offline stego round trip.
# The secret is made on the spot: a 1x1 PNG (printf) veiled in a generated
# cover is itself a picture, and that picture is the secret of the demo.
demo: build
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	echo "== offline stego round trip, in a temporary directory"; \
	$(BIN) keygen -o "$$d/master.key"; \
	printf '\211PNG\r\n\032\n\000\000\000\rIHDR\000\000\000\001\000\000\000\001\010\000\000\000\000\072\176\233\125\000\000\000\016IDAT\170\234\142\152\000\004\000\000\377\377\000\206\000\203\114\236\040\113\000\000\000\000IEND\256\102\140\202' > "$$d/seed.png"; \
	$(BIN) hide --key-file "$$d/master.key" --secret "$$d/seed.png" --owner demo --seed 7 -o "$$d/secret.png" > /dev/null; \
	echo "secret: secret.png, a generated picture of $$(wc -c < "$$d/secret.png") bytes"; \
	$(BIN) hide --key-file "$$d/master.key" --secret "$$d/secret.png" --owner olivia --viewers alice=3,bob=1 -o "$$d/veiled.png" > "$$d/hide.json"; \
	echo "hide:   veiled.png, $$(wc -c < "$$d/veiled.png") bytes, metadata $$(cat "$$d/hide.json")"; \
	echo "capacity of the veiled image as a cover: $$($(BIN) capacity "$$d/veiled.png" | cut -d" " -f1) bytes"; \
	echo "reveal: $$($(BIN) reveal --key-file "$$d/master.key" -o "$$d/revealed.png" "$$d/veiled.png")"; \
	cmp "$$d/secret.png" "$$d/revealed.png"; \
	echo "ok: the revealed image is byte for byte the secret"; \
	$(BIN) keygen -o "$$d/other.key" > /dev/null; \
	if $(BIN) reveal --key-file "$$d/other.key" -o "$$d/x.png" "$$d/veiled.png"; then exit 1; fi; \
	echo "ok: another key finds nothing (exit status 1, above)"

clean:
	rm -rf bin out
