# relay: make run starts relayd on its defaults; make test runs every test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Static binaries without build paths, as dist/Containerfile builds them
# (which also lets its test reuse what make build compiled).
BUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
ARGS    ?=
FUZZTIME ?= 10s
# make reliability: fuzz time per target, SIGKILLs, disk-full rounds.
RELIABILITY_FUZZTIME ?= 1m
RELIABILITY_KILLS    ?= 25
RELIABILITY_DISKFULL ?= 20
PREFIX  ?= /usr/local
MANDIR  ?= $(PREFIX)/share/man

.PHONY: all build install run man test vet bench bench-go fuzz reliability clean

all: build

build:
	$(BUILD) -o bin/relayd ./cmd/relayd
	$(BUILD) -o bin/relayctl ./cmd/relayctl

# Installs relayd and relayctl into $(PREFIX)/bin and their man pages into
# $(MANDIR) (man1: relayctl, man8: relayd); DESTDIR for packaging.
install: build man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 bin/relayd bin/relayctl $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/

# Starts relayd with its embedded defaults (data in ./relay-data); ARGS adds flags.
run: build
	./bin/relayd $(ARGS)

# Man pages into ./man: relayd.8, relayctl.1 and relayctl-COMMAND.1 for each
# command. Generated from the --help texts, so not kept in git.
man: build
	rm -rf man
	./bin/relayd --generate-man man
	./bin/relayctl __man man

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet ./...

# The spool's tests, and those of the packages above it, run a second time
# on PostgreSQL's driver (internal/spooltest): one suite for both drivers.
PG_TEST_PKGS ?= ./spool/ ./relay/... ./admin/... ./cmd/relayctl/

test: vet
	$(GO) test -race -count=1 ./...
	RELAY_TEST_SPOOL=pg $(GO) test -race -count=1 $(PG_TEST_PKGS)

# relayd side by side with Postfix on this machine (bench/run.sh; installs
# postfix if missing, as root): one table, see README "Performance".
# QUICK=1 for a smoke run, POSTFIX=0 for relayd alone.
bench:
	bench/run.sh

# The Go micro-benchmarks: accept over SMTP, bulk actions, listing, logins.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 5000x ./relay/
	$(GO) test -run '^$$' -bench Bulk -benchtime 1x ./spool/
	$(GO) test -run '^$$' -bench ListFirstPage -benchtime 200x -timeout 20m ./spool/
	$(GO) test -run '^$$' -bench . -benchtime 20x ./auth/

# The long versions of the fault tests (README "Faults"): SIGKILLs under load
# with drops, the disk filled and freed again and again (needs root to mount
# a tmpfs and an ext4 image; skipped otherwise), then every fuzz target for
# RELIABILITY_FUZZTIME. make test runs the short versions of all of these.
reliability:
	RELAY_CRASH_KILLS=$(RELIABILITY_KILLS) $(GO) test -race -count=1 -run 'CrashLoop|Kill9' -timeout 20m -v ./cmd/relayd/
	RELAY_DISKFULL_ROUNDS=$(RELIABILITY_DISKFULL) $(GO) test -race -count=1 -run 'DiskFull' -timeout 20m -v ./cmd/relayd/
	$(GO) test -race -count=$(RELIABILITY_DISKFULL) -run 'DiskFull|FailedCommit|OutcomeWrite' -timeout 20m ./spool/ ./relay/
	$(MAKE) fuzz FUZZTIME=$(RELIABILITY_FUZZTIME)

# Runs every fuzz target for FUZZTIME each. New inputs go to Go's fuzz cache;
# the seed corpora are in each package's testdata/fuzz/FuzzXxx.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin man
