# Veil: the two commands a new user needs are `make demo` and `make test`.
# Everything the project needs is fetched or built from here (Go modules come
# through the module proxy on the first build).

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT   ?= $(shell $(GO) env GOROOT)/bin/gofmt
BIN     := bin/veil
FUZZTIME ?= 30s
# Test timeout for the whole suite; CI has room, the suite aims for well under it.
TESTTIMEOUT ?= 30m
# The Docker image `make docker` builds, and the static binary it holds.
IMAGE   ?= veil:dev
STATIC  := bin/veil-static

# The source revision, for `veil version`: the Go toolchain records it itself
# unless VCS stamping is off (GOFLAGS=-buildvcs=false, or no git at build
# time); then the Makefile passes it.
REVISION := $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED := $(shell git status --porcelain 2>/dev/null | grep -q . && echo true)
VERSION_FLAGS := -X veil/internal/version.revision=$(REVISION) -X veil/internal/version.modified=$(MODIFIED)

.PHONY: all build test test-faults fmt-check vet demo fuzz bench bench-scaling bench-photos bench-registry photos gobench clean static docker chromium

all: build

build:
	$(GO) build -ldflags '$(VERSION_FLAGS)' -o $(BIN) ./cmd/veil

fmt-check:
	@files=$$($(GOFMT) -l $$(find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi

vet:
	$(GO) vet ./...

test: fmt-check vet build chromium
	$(GO) test -race -timeout $(TESTTIMEOUT) ./...

# The browser tests drive a headless Chromium. When there is none and this
# runs as root, it comes from Debian's packages; otherwise those tests say
# why they skip.
chromium:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium from Debian's packages for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "no Chromium, and not root: the browser tests will skip"; \
	  fi; \
	fi

# The fault suite at its full size: every fault in every mode, each node in a
# network namespace of its own (needs root, ip and iptables). `make test` runs
# it at a size that fits CI. Results (results.json, results.md), histories and
# node logs go to out/faults. VEIL_FAULTS_SEED=N replays a run;
# VEIL_FAULTS_CASES=RE picks cases; VEIL_FAULTS_ROUNDS=N repeats each.
test-faults: build
	VEIL_FAULTS=full VEIL_FAULTS_OUT=$(CURDIR)/out/faults $(GO) test -race -count=1 -timeout 90m -run TestFaults -v ./bench/faults

# Every Fuzz target of every package, each for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== fuzz $$pkg $$t for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Go benchmarks (figures in the README come from here and from `veil bench`).
gobench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The full study: Bully, then Raft, at 3, 5 and 7 nodes; at each, 50 clients x
# 200 puts and views with the failure simulation on (a node down for 5 to 15 s
# about every 10 s, one at a time), the books checked, then
# 100 SIGKILLs of the coordinator on a fresh cluster. 20 to 25 minutes on 2 cores.
BENCH_OUT ?= out/bench
# The fault suite's table (make test-faults) goes into the reports when there is one.
FAULT_TABLE = $(wildcard out/faults/results.json)
bench: build
	$(BIN) bench --mode both --spawn 3,5,7 --clients 50 --requests 200 \
	  --simulate-failures every=10s,down=5s-15s --failover-trials 100 --out $(BENCH_OUT) \
	  $(if $(FAULT_TABLE),--fault-table $(FAULT_TABLE))
	$(MAKE) --no-print-directory bench-scaling

# Scale-out: both modes at 1, 3, 5 and 7 nodes, each node under a CPU budget
# of its own (0.25 CPU, a cgroup: needs root), clients spread past the
# coordinator; a small secret with 28 clients, then the photograph of about
# 2 MB (PHOTO) at the compact level with 14 (two per node at 7): at the
# default level a hide of it takes over 5 s on a quarter of a CPU, too few
# in 15 s to measure (bench-photos prices the levels), and 28 clients
# sending 2 MB each swamp one such node (4 of 29 puts acknowledged in 2
# minutes, where 14 clients get 3 ops/s, every one). Throughput against size
# with the ideal line, the scaling efficiency, Jain's fairness of the image
# work and the coordinator's CPU per operation, in $(BENCH_OUT)/scaling-8x8
# and $(BENCH_OUT)/scaling-photo. 10 to 14 minutes; the budgets are honest
# only on a machine otherwise idle.
NODE_CPUS ?= 0.25
bench-scaling: build photos
	$(BIN) bench --mode both --spawn 1,3,5,7 --node-cpus $(NODE_CPUS) --route spread \
	  --clients 28 --duration 15s --secret-size 8x8 --out $(BENCH_OUT)/scaling-8x8
	$(BIN) bench --mode both --spawn 1,3,5,7 --node-cpus $(NODE_CPUS) --route spread \
	  --clients 14 --duration 15s --timeout 2m --secret $(PHOTO) --stealth compact --out $(BENCH_OUT)/scaling-photo

# The photographs of out/photos at every stealth level, in both modes, three
# nodes each: 4 clients x 20 puts and views, every view held byte for byte
# against the photograph put; ops/s and secret MB/s, put and view latency,
# and the raw pipeline at the level, in $(BENCH_OUT)/photos/LEVEL (only a
# stretch of 10 s without an acknowledgement counts as unavailability: an
# operation takes seconds). About 5 minutes on 2 cores.
PHOTO_LEVELS ?= compact balanced stealthy
bench-photos: build photos
	@set -e; for level in $(PHOTO_LEVELS); do \
	  echo "== the photographs of $(PHOTOS) at stealth level $$level"; \
	  $(BIN) bench --mode both --spawn 3 --clients 4 --requests 20 --timeout 2m --gap 10s \
	    --secret $(PHOTOS) --stealth $$level --out $(BENCH_OUT)/photos/$$level; \
	done

# The registry at scale: for REGISTRY_SIZES images (10k, 100k, 1M), Bully
# then Raft, three nodes whose registry is filled through the log (POST
# /v1/admin/fill, batched; a tenth as many users, 3 viewers an image), then
# the coordinator's heap per image, a user's directory and image list (p99
# over HTTP), writes while no node takes a snapshot and while one does,
# the snapshot's time, the data directory after it, and a follower
# restarted (its restore and its restart to serving and caught up).
# report.json (under registry), report.md and a plot of each cost against
# the size in $(BENCH_OUT)/registry. 40 to 60 minutes on 2 cores, most of
# it the fills of a million images (5 to 10 minutes in Bully mode, which
# compacts every 8,192 entries) and Raft mode's waits for hashicorp/raft's
# own snapshot (every 2 to 4 minutes).
REGISTRY_SIZES ?= 10k,100k,1M
bench-registry: build
	$(BIN) bench --registry $(REGISTRY_SIZES) --mode both --out $(BENCH_OUT)/registry

# Real photographs for the benchmarks and the demo, in out/photos (never
# committed): the nature photographs of Debian's package mate-backgrounds
# (GPL-2+), installed from Debian's packages when they are not there and
# this runs as root, as chromium does for Chromium; and one of them,
# RainDrops.jpg, re-encoded at quality 97 and scaled up to about 2 MB, as
# people share (PHOTO). Without the package, a generated photograph-like
# JPEG of that size stands in, and this says why. A README there says where
# each file comes from and under what licence.
PHOTOS         ?= out/photos
MATE_NATURE    ?= /usr/share/backgrounds/mate/nature
MATE_COPYRIGHT ?= /usr/share/doc/mate-backgrounds/copyright
# The photograph of about 2 MB that photos made; expanded when a recipe that
# uses it runs, after photos.
PHOTO = $(firstword $(wildcard $(PHOTOS)/raindrops-2mb.jpg $(PHOTOS)/generated-2mb.jpg))
photos: build
	@if [ ! -d $(MATE_NATURE) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing mate-backgrounds from Debian's packages for its photographs"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mate-backgrounds >/dev/null; \
	  fi; \
	fi
	@mkdir -p $(PHOTOS)
	@set -e; if [ -d $(MATE_NATURE) ]; then \
	  cp -p $(MATE_NATURE)/*.jpg $(PHOTOS)/; \
	  rm -f $(PHOTOS)/generated-2mb.jpg; \
	  [ -s $(PHOTOS)/raindrops-2mb.jpg ] || \
	    $(BIN) bench --make-photo $(PHOTOS)/raindrops-2mb.jpg --photo-from $(MATE_NATURE)/RainDrops.jpg; \
	  if [ -r $(MATE_COPYRIGHT) ]; then cp $(MATE_COPYRIGHT) $(PHOTOS)/COPYRIGHT.mate-backgrounds; fi; \
	  { echo "Photographs for veil's benchmarks and demo, made by 'make photos'. Not part of the repository: do not commit them."; \
	    echo; \
	    echo "Every *.jpg here but raindrops-2mb.jpg is a photograph of Debian's package mate-backgrounds"; \
	    echo "$$(dpkg-query -W -f='(version $${Version}) ' mate-backgrounds 2>/dev/null)copied from $(MATE_NATURE)."; \
	    echo "Licence: GPL-2+. The photographers are named, file by file, in COPYRIGHT.mate-backgrounds,"; \
	    echo "a copy of $(MATE_COPYRIGHT); the licence's text is /usr/share/common-licenses/GPL-2."; \
	    echo; \
	    echo "raindrops-2mb.jpg is RainDrops.jpg (2008, \"blackcombwhistler07\", GPL-2+) re-encoded by"; \
	    echo "'veil bench --make-photo' at JPEG quality 97, scaled up (bilinear) to about 2 MB: a photograph"; \
	    echo "of the size people share. GPL-2+, as its source."; \
	  } > $(PHOTOS)/README; \
	else \
	  if [ "$$(id -u)" != 0 ]; then why="not root, so mate-backgrounds cannot be installed"; \
	  elif ! command -v apt-get >/dev/null 2>&1; then why="no apt-get to install mate-backgrounds with"; \
	  else why="installing mate-backgrounds from Debian's packages failed"; fi; \
	  echo "no photographs in $(MATE_NATURE) ($$why): a generated photograph-like JPEG stands in"; \
	  [ -s $(PHOTOS)/generated-2mb.jpg ] || $(BIN) bench --make-photo $(PHOTOS)/generated-2mb.jpg; \
	  { echo "Photographs for veil's benchmarks and demo, made by 'make photos'. Not part of the repository: do not commit them."; \
	    echo; \
	    echo "There were no real photographs to take ($$why), so generated-2mb.jpg stands in: a cover as"; \
	    echo "the cloud generates one (stego.GenerateCover, photograph-like down to its pixels), encoded at"; \
	    echo "JPEG quality 92 to about 2 MB by 'veil bench --make-photo'. Made by this project; no third party's work."; \
	    echo "As root with apt-get, 'make photos' takes the photographs of Debian's package mate-backgrounds instead."; \
	  } > $(PHOTOS)/README; \
	fi
	@echo "photographs in $(PHOTOS), where its README says where they come from: $$(cd $(PHOTOS) && ls *.jpg | tr '\n' ' ')"

# Both modes in turn, three local nodes each (real processes): 50 clients x 200
# puts and views with the failure simulation on (a node down for 3 to 6 s
# about every 4 s, so that the short load sees it), the books checked, a few
# failover trials; then the summary and the report (report.html in DEMO_OUT).
# Last, a real photograph of about 2 MB (PHOTO, from make photos) at the
# default stealth level: three Bully nodes, 4 clients x 10 puts and views,
# every view held byte for byte against the photograph; ops/s, secret MB/s
# and put and view latency (report in DEMO_OUT/photo). An operation takes
# seconds there, so only a stretch of 10 s without an acknowledgement counts
# as unavailability. Three to four minutes
# on 2 cores. `veil bench` kills and reaps every node it started, however it
# ends. The guided tour of one failover is `bin/veil bench --demo`.
DEMO_OUT ?= out/demo
demo: build photos
	$(BIN) bench --peers-demo
	$(BIN) bench --mode both --spawn 3 --clients 50 --requests 200 \
	  --simulate-failures every=4s,down=3s-6s --failover-trials 5 --out $(DEMO_OUT) \
	  $(if $(FAULT_TABLE),--fault-table $(FAULT_TABLE))
	$(BIN) bench --mode bully --spawn 3 --clients 4 --requests 10 --timeout 2m --reference 0 --gap 10s \
	  --secret $(PHOTO) --out $(DEMO_OUT)/photo

# A static binary (no cgo) for the scratch image, and the empty directory
# the image's /data is made from. No -trimpath: it would share no compiled
# package with `make build`, and a fresh clone would compile everything twice.
static:
	CGO_ENABLED=0 $(GO) build -ldflags='-s -w $(VERSION_FLAGS)' -o $(STATIC) ./cmd/veil
	mkdir -p bin/docker/data && chmod 700 bin/docker/data

# The image, then a master key for docker-compose in .env (VEIL_KEY=...)
# unless .env has one: the same key must stay with the nodes' volumes.
docker: static
	docker build -t $(IMAGE) .
	@if ! grep -qs '^VEIL_KEY=' .env; then \
	  dir=$$(mktemp -d) && $(STATIC) keygen -o $$dir/key >/dev/null && \
	  (umask 077 && printf 'VEIL_KEY=%s\n' "$$(cat $$dir/key)" >> .env) && rm -rf $$dir && \
	  echo ".env: a new master key for docker-compose (VEIL_KEY); keep it with the volumes"; \
	fi

clean:
	rm -rf bin out
