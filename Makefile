# sanitize-clone — build, test, demo, benchmark and install.
#
#   make demo     set up this machine and show plan → run → status → rollback on a demo root
#   make test     set up this machine and run every test
#   make bench    the benchmark (figures go to build/bench.txt)
#   make faults   the whole fault campaign: every call site × errno, failing programs, 120 kills
#   make fuzz     every parser of guest files under libFuzzer, FUZZ_SECONDS (default 30) each, on a
#                 copy of Fuzz/corpus in build/fuzz; stops at the first crash (not part of make test)
#   make install  DESTDIR=… PREFIX=/usr: binary, units, catalog, docs

export PATH := /opt/swift/usr/bin:$(PATH)

PREFIX     ?= /usr
DESTDIR    ?=
BUILD      ?= build
SWIFT      ?= swift
RELEASE    := .build/release/sanitize-clone
DEBUG      := .build/debug/sanitize-clone
SYSCONFDIR ?= /etc
MAN_DATE   ?= 2026-11-27
FUZZ_SECONDS       ?= 30
FUZZ_CONFIGURATION ?= release
FUZZ_SCRATCH       := .build-fuzz

# Every Debian package the build, the tests and the demo need.
APT_PACKAGES := libsystemd-dev libdbus-1-dev pkg-config openssh-client dbus-bin dbus-daemon python3 \
                python3-dbus python3-gi util-linux e2fsprogs coreutils bc systemd patch attr busybox-static openssl \
                debootstrap qemu-system-x86 zstd iproute2 fdisk lvm2 cryptsetup-bin xfsprogs btrfs-progs dosfstools \
                man-db groff-base ovmf grub-efi-amd64-bin mtools jq uidmap

.PHONY: all deps build debug test unit-tests unit-unprivileged contract guide-check e2e unit-check demo bench faults fuzz install deb deb-clean docs man man-check completions default-config clean

all: build

deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# A release binary with the Swift runtime linked in: it needs only libc, libsystemd and libdbus.
build: deps
	$(SWIFT) build -c release --static-swift-stdlib
	@mkdir -p $(BUILD)
	cp $(RELEASE) $(BUILD)/sanitize-clone
	strip $(BUILD)/sanitize-clone

debug: deps
	$(SWIFT) build

test: deps debug unit-check unit-tests unit-unprivileged contract guide-check man-check e2e

# The units must load cleanly: systemd-analyze verify with the binary where the unit expects it.
unit-check: debug
	@tmp=$$(mktemp -d); for unit in systemd/*.service; do \
	  sed "s#/usr/bin/sanitize-clone#$(CURDIR)/$(DEBUG)#" $$unit > $$tmp/$$(basename $$unit); done; \
	out=$$(systemd-analyze verify $$tmp/*.service 2>&1); rm -rf $$tmp; \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; echo "units verify clean"

# The real-boot proof: Debian 12 clones booted under QEMU (see tests/e2e/README.md).
e2e: build
	bash tests/e2e/run-all.sh $(CURDIR)/$(BUILD)/sanitize-clone

unit-tests:
	SANITIZE_CLONE_BINARY=$(CURDIR)/$(DEBUG) $(SWIFT) test

# The whole suite once more as an unprivileged user ($(UNPRIVILEGED_USER), made if missing) inside
# a user namespace mapping root and a range of subordinate ids, as rootless image builders run:
# every test that does not need real root (loop devices, mounts, network namespaces, chattr) must
# pass there; those that do are skipped and counted.
UNPRIVILEGED_USER ?= sanitize-clone-tests
unit-unprivileged: deps
	$(SWIFT) build --build-tests >/dev/null
	@id -u $(UNPRIVILEGED_USER) >/dev/null 2>&1 || useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin $(UNPRIVILEGED_USER)
	@grep -q '^$(UNPRIVILEGED_USER):' /etc/subuid || usermod --add-subuids 200000-265535 --add-subgids 200000-265535 $(UNPRIVILEGED_USER)
	@work=$$(mktemp -d /tmp/sanitize-clone-unprivileged.XXXXXX); chown $(UNPRIVILEGED_USER): $$work; \
	setpriv --reuid=$(UNPRIVILEGED_USER) --regid=$(UNPRIVILEGED_USER) --init-groups \
	  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=$$work TMPDIR=$$work SANITIZE_CLONE_JOURNAL_KEY=$$work/journal.key \
	    SANITIZE_CLONE_BINARY=$(CURDIR)/$(DEBUG) \
	  unshare --map-root-user --map-auto $(CURDIR)/.build/debug/sanitize-clonePackageTests.xctest --testing-library swift-testing \
	  > $$work.log 2>&1; rc=$$?; rm -rf $$work; \
	grep -E '✘|Test run with' $$work.log; echo "skipped (need real root): $$(grep -c 'skipped: \"needs real root' $$work.log) test(s)"; rm -f $$work.log; exit $$rc

# Every call site of a run failed with each errno its kind returns, the child programs failing,
# 120 kills at random moments, and every failpoint (make test runs a seeded sample of the first).
faults: deps debug
	@mkdir -p $(BUILD)
	@SANITIZE_CLONE_FAULTS=full SANITIZE_CLONE_BINARY=$(CURDIR)/$(DEBUG) $(SWIFT) test --filter 'FaultCampaignTests|CrashRecoveryTests' \
	  > $(BUILD)/faults.log 2>&1; rc=$$?; grep -E 'case\(s\) in|errnos|converged|✘|Test run with' $(BUILD)/faults.log; exit $$rc

contract: debug
	bash ../shared/contract/check-cli-contract.sh $(DEBUG) 2>/dev/null

# Every sanitize-clone command the guides in docs/guides/ show, run against a demo root and image.
guide-check: debug
	bash tests/docs/check-guides.sh $(DEBUG)

demo: build
	bash demo/demo.sh $(BUILD)/sanitize-clone $(BUILD)/demo

bench: build
	bash bench/bench.sh $(BUILD)/sanitize-clone $(BUILD)/bench | tee $(BUILD)/bench.txt

# The fuzzers (docs/testing.md, "Fuzzing"): the libFuzzer harness in Fuzz/, declared only with
# SANITIZE_CLONE_FUZZ=1 and built in its own scratch path. `-sanitize=fuzzer,address` in one flag:
# given as two, swiftc keeps only the last and the code gets no coverage counters. Release (-O)
# keeps every trap (bounds, overflow, unwrap, precondition) and runs 2-3 times as many inputs;
# -enable-testing lets the harness reach the internal parsers.
fuzz: deps
	SANITIZE_CLONE_FUZZ=1 $(SWIFT) build -c $(FUZZ_CONFIGURATION) -Xswiftc -enable-testing -Xswiftc -sanitize=fuzzer,address \
	  --scratch-path $(FUZZ_SCRATCH) --product sanitize-clone-fuzz
	bash Fuzz/run-fuzzers.sh $(FUZZ_SCRATCH)/$(FUZZ_CONFIGURATION)/sanitize-clone-fuzz Fuzz/corpus $(BUILD)/fuzz $(FUZZ_SECONDS)

# sanitize-clone(8) from the command definitions (swift-argument-parser's generate-manual, run on
# the built binary; blank lines become paragraph breaks so man -l shows no warnings), then the
# hand-written pages.
man: build
	$(SWIFT) build --product generate-manual >/dev/null
	@mkdir -p $(BUILD)/man
	$$($(SWIFT) build --show-bin-path)/generate-manual $(BUILD)/sanitize-clone --section 8 --date $(MAN_DATE) -o $(BUILD)/man
	sed -i 's/^$$/.Pp/' $(BUILD)/man/sanitize-clone.8
	cp man/*.5 man/*.8 $(BUILD)/man/

# Every man page renders without a warning; the bash completion parses.
man-check: man completions
	@for page in $(BUILD)/man/*; do out=$$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l $$page 2>&1 >/dev/null); \
	  if [ -n "$$out" ]; then echo "$$page: $$out"; exit 1; fi; done
	@bash -n $(BUILD)/completions/sanitize-clone.bash
	@bash tests/docs/check-man-coverage.sh $(BUILD)/sanitize-clone man
	@echo "man pages render without warnings; completions parse"

# Shell completions for bash, zsh and fish, from the command definitions.
completions: build
	@mkdir -p $(BUILD)/completions
	$(BUILD)/sanitize-clone --generate-completion-script bash > $(BUILD)/completions/sanitize-clone.bash
	$(BUILD)/sanitize-clone --generate-completion-script zsh > $(BUILD)/completions/_sanitize-clone
	$(BUILD)/sanitize-clone --generate-completion-script fish > $(BUILD)/completions/sanitize-clone.fish

# The default configuration: every key, commented out, at its default.
default-config: build
	@mkdir -p $(BUILD)/etc
	@empty=$$(mktemp -d); $(BUILD)/sanitize-clone cat-config --root $$empty \
	  | sed -e '1c # sanitize-clone configuration (see sanitize-clone.conf(5)); every key is shown at its default.' \
	        -e 's/    # default$$//' -e 's/^\([A-Za-z][A-Za-z0-9]*=\)/#\1/' > $(BUILD)/etc/sanitize-clone.conf; rmdir $$empty

install: build man completions default-config
	install -D -m 0755 $(BUILD)/sanitize-clone $(DESTDIR)$(PREFIX)/bin/sanitize-clone
	install -D -m 0644 $(BUILD)/man/sanitize-clone.8 $(DESTDIR)$(PREFIX)/share/man/man8/sanitize-clone.8
	install -D -m 0644 $(BUILD)/man/sanitize-clone.service.8 $(DESTDIR)$(PREFIX)/share/man/man8/sanitize-clone.service.8
	install -D -m 0644 $(BUILD)/man/sanitize-clone.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/sanitize-clone.conf.5
	install -D -m 0644 $(BUILD)/completions/sanitize-clone.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/sanitize-clone
	install -D -m 0644 $(BUILD)/completions/_sanitize-clone $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_sanitize-clone
	install -D -m 0644 $(BUILD)/completions/sanitize-clone.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/sanitize-clone.fish
	[ -e $(DESTDIR)$(SYSCONFDIR)/sanitize-clone/sanitize-clone.conf ] || \
	  install -D -m 0644 $(BUILD)/etc/sanitize-clone.conf $(DESTDIR)$(SYSCONFDIR)/sanitize-clone/sanitize-clone.conf
	install -D -m 0644 systemd/sanitize-clone.catalog $(DESTDIR)$(PREFIX)/lib/systemd/catalog/sanitize-clone.catalog
	for unit in systemd/*.service; do \
	  install -D -m 0644 $$unit $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$unit); done
	install -D -m 0644 systemd/60-sanitize-clone-vmgenid.rules $(DESTDIR)$(PREFIX)/lib/udev/rules.d/60-sanitize-clone-vmgenid.rules
	install -d $(DESTDIR)$(PREFIX)/share/doc/sanitize-clone/examples/tasks.d $(DESTDIR)$(PREFIX)/share/doc/sanitize-clone/guides
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/sanitize-clone/
	install -m 0644 docs/guides/*.md $(DESTDIR)$(PREFIX)/share/doc/sanitize-clone/guides/
	install -m 0644 examples/tasks.d/*.task $(DESTDIR)$(PREFIX)/share/doc/sanitize-clone/examples/tasks.d/

# An installable Debian package, from `make install DESTDIR=…` (packaging/debian: control and
# maintainer scripts).
VERSION ?= 0.5.0
DEB_ROOT := $(abspath $(BUILD))/deb
deb: DESTDIR = $(DEB_ROOT)
deb: PREFIX = /usr
deb: SYSCONFDIR = /etc
deb: deb-clean install
	install -d $(DEB_ROOT)/DEBIAN
	sed 's/@VERSION@/$(VERSION)/' packaging/debian/control > $(DEB_ROOT)/DEBIAN/control
	echo "Installed-Size: $$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1)" >> $(DEB_ROOT)/DEBIAN/control
	install -m 0755 packaging/debian/postinst packaging/debian/postrm $(DEB_ROOT)/DEBIAN/
	echo /etc/sanitize-clone/sanitize-clone.conf > $(DEB_ROOT)/DEBIAN/conffiles
	dpkg-deb --build --root-owner-group $(DEB_ROOT) $(BUILD)/sanitize-clone_$(VERSION)_amd64.deb

deb-clean:
	rm -rf $(DEB_ROOT)

# The task graph as a picture, generated (never committed, so it cannot drift from the code).
docs: build
	@command -v dot >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null)
	@mkdir -p $(BUILD)/docs
	$(BUILD)/sanitize-clone tasks --dot | dot -Tsvg > $(BUILD)/docs/task-graph.svg
	@echo "wrote $(BUILD)/docs/task-graph.svg"

clean:
	rm -rf .build $(FUZZ_SCRATCH) $(BUILD)
