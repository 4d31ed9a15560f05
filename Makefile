# wpwithind — build, run, test and install.
# `make run` and `make test` install the C packages they need when run as root (apt-get).

SWIFT    ?= swift
PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   := $(DESTDIR)$(PREFIX)/bin
UNITDIR  ?= $(DESTDIR)$(PREFIX)/lib/systemd/system
SYSUSERS ?= $(DESTDIR)$(PREFIX)/lib/sysusers.d
TMPFILES ?= $(DESTDIR)$(PREFIX)/lib/tmpfiles.d
CONFDIR  ?= $(DESTDIR)/etc/wpwithind
DOCDIR   := $(DESTDIR)$(PREFIX)/share/doc/wpwithind
LIBEXECDIR := $(DESTDIR)$(PREFIX)/lib/wpwithind
MANDIR   := $(DESTDIR)$(PREFIX)/share/man
COMPLETIONS := $(DESTDIR)$(PREFIX)/share
MANDATE  := $(shell git log -1 --format=%cs 2>/dev/null || date +%F)
RELEASE_SCRATCH := .build-release
# Self-contained release binaries: the Swift runtime linked in (no toolchain needed where they run);
# SwiftPM dead-strips (--gc-sections) release executables by default; `make install` strips them.
# Linked by the toolchain's lld, still position-independent, with the symbol table SwiftPM exports for
# backtraces left out (--no-export-dynamic: 1.7 MB on disk, 1.1 MB resident) and the relative relocations
# packed (DT_RELR: 1.4 MB of .rela.dyn, all of it read at every start, becomes 12 KB). DT_RELR needs glibc
# >= 2.36 where the binaries run (Debian 12); build with PACK_RELOCS=0 for an older one
# (docs/operations.md, "Putting wpwithind on a device").
PACK_RELOCS ?= 1
RELEASE_LINK := -Xswiftc -use-ld=lld -Xlinker --no-export-dynamic $(if $(filter 1,$(PACK_RELOCS)),-Xlinker -z -Xlinker pack-relative-relocs)
# No RUNPATH ($ORIGIN): nothing is loaded from beside the binary, and no start-up probes bin/ for libraries.
RELEASE_FLAGS := -c release --static-swift-stdlib --disable-local-rpath --scratch-path $(RELEASE_SCRATCH) $(RELEASE_LINK)
EXECUTABLES := wpwithind wpwctl
# A test tool, installed apart from the production bin.
TOOLS := wpw-sandbox-gateway

.PHONY: all deps test-deps build release run demo test bench bench-fleet install uninstall deb clean

all: build

deps:
	@scripts/deps.sh

test-deps:
	@scripts/deps.sh test

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build $(RELEASE_FLAGS)

run: build
	@# On a terminal the script runs as the terminal's foreground job (bash job control): Ctrl-C reaches it
	@# alone, it stops the daemon and the gateway and exits 0, and so does make (which would otherwise
	@# re-raise the SIGINT it got too, and end with status 130).
	@if [ -t 0 ]; then bash -c 'set -m; scripts/run-local.sh & fg %1'; else scripts/run-local.sh; fi

# Two daemons and the sandbox gateway on loopback: one whole purchase, phase by phase.
demo: build
	@scripts/deps.sh demo
	@scripts/demo.sh

test: test-deps
	$(SWIFT) build --build-tests
	# Suites in parallel: the tests' waits on real daemons run on threads of their own (onOwnThread), never
	# on the Swift concurrency pool's 2 threads; no test depends on a pace that a loaded machine stretches.
	scripts/openrpc-coverage.py --reset
	$(SWIFT) test --skip-build --parallel
	# Every documented result, error code and event was validated live against rpc.discover (docs/testing.md).
	scripts/openrpc-coverage.py
	scripts/test-python.sh
	scripts/test-node.sh
	scripts/test-dotnet.sh
	scripts/test-java.sh
	scripts/test-install.sh
	scripts/test-make-run.py

# Benchmarks on loopback (docs/benchmarks.md): QUICK=1 for the under-a-minute version; BENCH_ARGS for more flags.
bench: release
	@scripts/bench.sh $(if $(filter-out 0,$(QUICK)),--quick) $(BENCH_ARGS)

# A fleet of 1, 2 and 4 wpwithind-fleet producers on one throwaway PostgreSQL (docs/fleet.md, docs/benchmarks.md).
bench-fleet: test-deps release
	@scripts/bench.sh --fleet $(if $(filter-out 0,$(QUICK)),--quick) $(BENCH_ARGS)

install: release
	install -d $(BINDIR) $(LIBEXECDIR) $(UNITDIR) $(SYSUSERS) $(TMPFILES) $(CONFDIR) $(DOCDIR)
	bin=$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path); \
	for exe in $(EXECUTABLES); do install -s -m 0755 $$bin/$$exe $(BINDIR)/$$exe; done; \
	for exe in $(TOOLS); do install -s -m 0755 $$bin/$$exe $(LIBEXECDIR)/$$exe; done
	# Man pages, compressed: wpwctl(1) from its own help (swift-argument-parser's generate-manual);
	# wpwithind(8) written by hand (docs/man; the daemon parses its options itself); wpwithind.json(5) below.
	$(SWIFT) build $(RELEASE_FLAGS) --product generate-manual
	install -d $(MANDIR)/man1 $(MANDIR)/man5 $(MANDIR)/man8
	bin=$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path); \
	$$bin/generate-manual $$bin/wpwctl --section 1 --date $(MANDATE) --authors 'wpwithind maintainers' --output-directory $(MANDIR)/man1
	install -m 0644 docs/man/wpwithind.8 $(MANDIR)/man8/wpwithind.8
	# wpwithind.json(5) from docs/configuration.md's key tables (scripts/man-config.sh).
	scripts/man-config.sh $(MANDATE) > $(MANDIR)/man5/wpwithind.json.5
	chmod 0644 $(MANDIR)/man5/wpwithind.json.5
	gzip -9nf $(MANDIR)/man1/wpwctl.1 $(MANDIR)/man5/wpwithind.json.5 $(MANDIR)/man8/wpwithind.8
	# Shell completions for wpwctl (method names and event types come from the running daemon).
	install -d $(COMPLETIONS)/bash-completion/completions $(COMPLETIONS)/zsh/vendor-completions $(COMPLETIONS)/fish/vendor_completions.d
	bin=$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path); \
	$$bin/wpwctl --generate-completion-script bash | sed '1{/^#!/d;}' > $(COMPLETIONS)/bash-completion/completions/wpwctl; \
	$$bin/wpwctl --generate-completion-script zsh > $(COMPLETIONS)/zsh/vendor-completions/_wpwctl; \
	$$bin/wpwctl --generate-completion-script fish > $(COMPLETIONS)/fish/vendor_completions.d/wpwctl.fish
	chmod 0644 $(COMPLETIONS)/bash-completion/completions/wpwctl $(COMPLETIONS)/zsh/vendor-completions/_wpwctl $(COMPLETIONS)/fish/vendor_completions.d/wpwctl.fish
	sed -e 's#/usr/local/bin/#$(PREFIX)/bin/#g' -e 's#/usr/local/share/#$(PREFIX)/share/#g' systemd/wpwithind.service > $(UNITDIR)/wpwithind.service
	chmod 0644 $(UNITDIR)/wpwithind.service
	install -m 0644 systemd/wpwithind.socket $(UNITDIR)/wpwithind.socket
	install -m 0644 systemd/wpwithind.sysusers $(SYSUSERS)/wpwithind.conf
	install -m 0644 systemd/wpwithind.tmpfiles $(TMPFILES)/wpwithind.conf
	[ -e $(CONFDIR)/wpwithind.json ] || install -m 0644 config/wpwithind.json $(CONFDIR)/wpwithind.json
	install -m 0644 docs/*.md LICENSE NOTICE SECURITY.md CHANGELOG.md $(DOCDIR)/

# A Debian package of the release build in dist/ (dpkg-deb), checked with lintian (docs/operations.md).
deb: release
	@scripts/deps.sh deb
	@scripts/deb.sh

uninstall:
	for exe in $(EXECUTABLES); do rm -f $(BINDIR)/$$exe; done
	rm -rf $(LIBEXECDIR)
	rm -f $(MANDIR)/man1/wpwctl.1.gz $(MANDIR)/man5/wpwithind.json.5.gz $(MANDIR)/man8/wpwithind.8.gz
	rm -f $(COMPLETIONS)/bash-completion/completions/wpwctl $(COMPLETIONS)/zsh/vendor-completions/_wpwctl $(COMPLETIONS)/fish/vendor_completions.d/wpwctl.fish
	rm -f $(UNITDIR)/wpwithind.service $(UNITDIR)/wpwithind.socket $(SYSUSERS)/wpwithind.conf $(TMPFILES)/wpwithind.conf
	rm -rf $(DOCDIR)

clean:
	rm -rf .build $(RELEASE_SCRATCH) .wpw dist
