# roster — build, test, demo, install.
# `make demo` and `make test` are the two set-up commands of the README:
# both install the Debian packages they need (as root) and build once into
# the shared target/ directory.

SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr
DESTDIR ?=
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

# Building rosterd needs MIT krb5's headers (GSSAPI binds, Kerberos logins)
# and libclang for libgssapi-sys's bindgen.
KRB5_BUILD_PACKAGES := libkrb5-dev libclang-dev
# Debian packages the tests and the demo use.
TEST_PACKAGES := slapd ldap-utils pamtester openssh-server sshpass rsync tar libpam0g-dev \
                 libsss-idmap-dev libnfsidmap-dev libssl-dev pkg-config gcc util-linux mount procps openssl ca-certificates iproute2 \
                 $(KRB5_BUILD_PACKAGES)
# The Samba AD DC of the AD tests. Without Recommends: samba-ad-dc recommends
# libnss-winbind and libpam-winbind, whose installation edits the host's
# /etc/nsswitch.conf and PAM stack.
AD_TEST_PACKAGES := samba samba-ad-dc samba-ad-provision winbind krb5-user adcli
# The peers `make bench` compares roster with (bench/src/bin/peers.rs), for
# the bench target only. Without Recommends; their postinst scripts edit
# nsswitch.conf and the PAM stack (apt_install restores both) and would
# start sssd/nslcd (apt_install's policy-rc.d keeps them stopped).
BENCH_PACKAGES := sssd-ldap libnss-sss libpam-sss nslcd libnss-ldapd libpam-ldapd
DEMO_PACKAGES := slapd ldap-utils pamtester libpam0g-dev libssl-dev pkg-config gcc util-linux mount openssl \
                 $(KRB5_BUILD_PACKAGES)

.PHONY: all build build-linted release test test-unit test-e2e e2e-ad e2e-nextest e2e-fixtures test-nextest lint lint-fmt demo deps-test deps-demo deps-bench bench soak clean install uninstall install-files \
	deps-fuzz fuzz-build fuzz fuzz-smoke fuzz-seeds deps-deb deb

# Installation layout (Debian 12, merged /usr). `make install DESTDIR=/scratch`
# installs into a scratch root; `make uninstall` with the same DESTDIR removes
# exactly what install put there. PROFILE=debug installs the debug build.
PROFILE ?= release
BUILD_DIR ?= target/$(PROFILE)
SBINDIR := $(PREFIX)/sbin
LIBDIR := $(PREFIX)/lib/$(MULTIARCH)
PAMDIR := $(LIBDIR)/security
UNITDIR := $(PREFIX)/lib/systemd/system
TMPFILESDIR := $(PREFIX)/lib/tmpfiles.d
PAMCONFIGDIR := $(PREFIX)/share/pam-configs
DOCDIR := $(PREFIX)/share/doc/roster
CONFDIR := /etc/roster
MANDIR := $(PREFIX)/share/man/man1
BASHCOMPDIR := $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR := $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR := $(PREFIX)/share/fish/vendor_completions.d
# The system user rosterd runs as (rosterd.service's User=).
ROSTER_USER := _roster
INSTALLED_FILES := $(SBINDIR)/rosterd $(SBINDIR)/rosterctl $(LIBDIR)/libnss_roster.so.2 \
	$(PAMDIR)/pam_roster.so $(UNITDIR)/rosterd.service $(TMPFILESDIR)/roster.conf \
	$(PAMCONFIGDIR)/roster $(DOCDIR)/README.md $(DOCDIR)/roster.toml.example \
	$(BASHCOMPDIR)/rosterctl $(ZSHCOMPDIR)/_rosterctl $(FISHCOMPDIR)/rosterctl.fish

all: build

# The Debian package (packaging/debian/): dpkg-deb over a `make install`
# tree. DEB_DIR is where roster_VERSION_ARCH.deb is written.
DEB_VERSION := $(shell sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_DIR ?= target
DEB_PACKAGES := dpkg-dev file binutils adduser libpam-runtime init-system-helpers lintian

# Fuzzing (fuzz/, the workspace member roster-fuzz; libFuzzer through
# libfuzzer-sys, cargo-fuzz layout). The libFuzzer binaries need the crate's
# `libfuzzer` feature. Built with plain stable cargo: the coverage
# instrumentation cargo-fuzz would add is given here as stable -C flags, for
# the target triple only (so build scripts and proc macros stay
# uninstrumented), in the `fuzz` profile (root Cargo.toml: release with
# debug assertions and overflow checks) into fuzz/target, their own target
# directory, so that the flags never invalidate the main build in target/.
FUZZ_TARGETS := codec_decode codec_roundtrip memcache_file config_parse ldap_entry ad_entry sid store_record dn_range ber_message
FUZZ_SECONDS ?= 60
FUZZ_HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
FUZZ_PROFILE ?= fuzz
FUZZ_TARGET_DIR := fuzz/target
FUZZ_BIN = $(FUZZ_TARGET_DIR)/$(FUZZ_HOST)/$(FUZZ_PROFILE)
FUZZ_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing
# libfuzzer-sys compiles libFuzzer (C++).
FUZZ_PACKAGES := g++

# Install missing Debian packages ($(1)) with extra apt-get options ($(2));
# a no-op when all are present. slapd's
# package would start a system slapd: policy-rc.d keeps it from starting.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.roster && chmod 755 /usr/sbin/policy-rc.d.roster; \
	  [ -e /usr/sbin/policy-rc.d ] || ln -s policy-rc.d.roster /usr/sbin/policy-rc.d; \
	  guard=$$(mktemp -d); cp -p /etc/nsswitch.conf $$guard/; cp -p /etc/pam.d/common-* $$guard/ 2>/dev/null; \
	  apt-get update -qq && apt-get install -y -qq $(2) $$missing; rc=$$?; \
	  for f in $$guard/*; do t=/etc/$$(basename $$f); case $$t in /etc/common-*) t=/etc/pam.d/$$(basename $$f);; esac; \
	    cmp -s $$f $$t || { echo "restoring $$t (a package edited it)"; cp -p $$f $$t; }; done; rm -rf $$guard; \
	  [ "$$(readlink /usr/sbin/policy-rc.d)" = policy-rc.d.roster ] && rm -f /usr/sbin/policy-rc.d; \
	  rm -f /usr/sbin/policy-rc.d.roster; exit $$rc; \
	fi
endef

deps-test:
	$(call apt_install,$(TEST_PACKAGES))
	$(call apt_install,$(AD_TEST_PACKAGES),--no-install-recommends)

deps-demo:
	$(call apt_install,$(DEMO_PACKAGES))

deps-bench:
	$(call apt_install,$(BENCH_PACKAGES),--no-install-recommends)

build:
	$(CARGO) build --workspace

deps-fuzz:
	$(call apt_install,$(FUZZ_PACKAGES))

fuzz-build: deps-fuzz
	RUSTFLAGS="$(FUZZ_RUSTFLAGS)" $(CARGO) build -p roster-fuzz --features libfuzzer --bins \
	  --profile $(FUZZ_PROFILE) --target $(FUZZ_HOST) --target-dir $(FUZZ_TARGET_DIR)

# Every target for FUZZ_SECONDS (default 60) each; the corpus grows in
# fuzz/target/corpus/<target>.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do fuzz/run.sh $(FUZZ_BIN) $$t $(FUZZ_SECONDS) fuzz/target/corpus/$$t || exit 1; done

# The fuzz smoke check alone (make test runs it with the other tests):
# every target over its seeds and regression inputs, then seeded random
# inputs (fuzz/src/smoke.rs), uninstrumented, in the workspace's debug
# build as build-linted makes it (its --workspace selection and wrapper, so
# that nothing is compiled again). FUZZ_SMOKE_INPUTS=N random inputs per
# target instead of the default 5000.
FUZZ_SMOKE_INPUTS ?=
fuzz-smoke:
	$(LINTED) $(if $(FUZZ_SMOKE_INPUTS),ROSTER_FUZZ_SMOKE_INPUTS=$(FUZZ_SMOKE_INPUTS)) \
	  $(CARGO) test --workspace --lib -- --exact $(addprefix smoke::,$(FUZZ_TARGETS))

deps-deb:
	$(call apt_install,$(DEB_PACKAGES))

# Builds $(DEB_DIR)/roster_$(DEB_VERSION)_$(DEB_ARCH).deb from what
# `make install` installs (PROFILE/BUILD_DIR as for install).
deb: deps-deb
	@staging=$$(mktemp -d) && trap 'rm -rf "$$staging"' EXIT && \
	$(MAKE) -s install DESTDIR=$$staging/root >/dev/null && \
	packaging/debian/build-deb.sh $$staging/root $(DEB_VERSION) $(DEB_ARCH) $(DEB_DIR)

# Rewrites the seed corpus of the byte-level targets (fuzz/src/seeds.rs).
fuzz-seeds:
	$(CARGO) test -p roster-fuzz --lib -- --ignored write_seeds

# The installed programs alone (rosterd, rosterctl, the two modules): the
# dependencies' features are those they need, none the tests, the
# benchmarks or roster-fuzz (its `arbitrary` feature of roster-proto)
# would add. The benchmarks build them with `make release` too
# (roster_bench::setup::build_release), so that what they measure is what
# installs, and rosterd's symbols are those rosterd/hot-code.ld names
# (other features, other hashes).
INSTALLED_PACKAGES := rosterd roster-ctl nss_roster pam_roster
# Profile-guided optimization (README, "Profile-guided optimization"):
# rosterd and rosterctl build with rosterd/pgo.profdata, rosterd's counts
# over the paired and scale benchmarks (bench/pgo.sh writes it), when
# rustc is the one that wrote it (rosterd/pgo.rustc, its `rustc -V`:
# another rustc gives the crates other symbol hashes, which the counts
# would not match); with any other toolchain `make release` says so and
# builds without it. A function changed since the profile was written
# loses its counts (LLVM's warning of each such function silenced:
# bench/pgo.sh writes the profile again). The profile's checksum is in the
# flags (`--cfg=roster_pgo_SUM`), so that every crate builds again when
# it changes (cargo goes by the files rustc read for the workspace's own
# crates, by their version for the others). The flags replace cargo's
# configured rustflags (`build.rustflags`) for those two, as any
# RUSTFLAGS does. (A path with white space in it leaves the profile out.)
PGO_PROFILE := $(CURDIR)/rosterd/pgo.profdata
# (Read once, when the Makefile is: `rustc -V` and the checksum are not
# run again for each use.)
PGO_RUSTC := $(shell cat rosterd/pgo.rustc 2>/dev/null)
RUSTC_VERSION := $(shell $${RUSTC:-rustc} -V 2>/dev/null)
PGO_SUM := $(firstword $(shell cksum <$(PGO_PROFILE) 2>/dev/null))
# (The two lines equal: nothing is left of `x<one>` once `x<other>` is
# taken out of it.)
RELEASE_RUSTFLAGS := $(if $(and $(wildcard $(PGO_PROFILE)),$(PGO_RUSTC),$(if $(subst x$(PGO_RUSTC),,x$(RUSTC_VERSION)),,same)),-Cprofile-use=$(PGO_PROFILE) -Cllvm-args=-no-pgo-warn-mismatch --cfg=roster_pgo_$(PGO_SUM))
# The environment's own RUSTFLAGS without those (were they there
# already); for rosterd and rosterctl then those, once. None set when
# empty, so that cargo's configured rustflags apply as before.
RELEASE_PLAIN_RUSTFLAGS = $(strip $(filter-out $(RELEASE_RUSTFLAGS),$(RUSTFLAGS)))
RELEASE_ALL_RUSTFLAGS = $(strip $(RELEASE_PLAIN_RUSTFLAGS) $(RELEASE_RUSTFLAGS))
RELEASE_CARGO = $(if $(RELEASE_ALL_RUSTFLAGS),RUSTFLAGS="$(RELEASE_ALL_RUSTFLAGS)") $(CARGO)
# The modules, which live in other programs' processes, build without the
# profile (with it, rosterd's counts of the functions they share made a
# new process's first lookup take more page faults): in cargo runs of
# their own, with the environment's RUSTFLAGS alone. So do the
# benchmarks, which link the NSS module's code. Each module is built as
# its cdylib alone (`cargo rustc --crate-type cdylib`): the NSS module's
# package also declares an rlib (for its tests and the benchmarks), and
# cargo builds a library one of whose crate types is an rlib without the
# profile's LTO. Without it the module called its own and std's
# functions through its GOT (3,221 such calls; 350 GOT entries relocated
# when a process loads it); with it a new process maps one page fewer of
# relocated data and takes 1-2 faults fewer (README, "The modules with
# LTO"). (A plain `cargo build --release` still builds the NSS module
# without LTO.)
RELEASE_MODULES := nss_roster pam_roster
MODULES_CARGO = $(if $(RELEASE_PLAIN_RUSTFLAGS),RUSTFLAGS="$(RELEASE_PLAIN_RUSTFLAGS)",env -u RUSTFLAGS) $(CARGO)
release:
	@$(if $(RELEASE_RUSTFLAGS),:,echo "make release: rosterd/pgo.profdata is for $(PGO_RUSTC), not $(RUSTC_VERSION): rosterd builds without it" >&2)
	$(RELEASE_CARGO) build --release $(addprefix -p ,$(filter-out $(RELEASE_MODULES),$(INSTALLED_PACKAGES)))
	$(foreach module,$(filter $(RELEASE_MODULES),$(INSTALLED_PACKAGES)),$(MODULES_CARGO) rustc --release -p $(module) --crate-type cdylib &&) :

lint: lint-fmt
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

lint-fmt:
	$(CARGO) fmt --all -- --check

# `make test`'s build: lint and build in ONE pass. clippy-driver stands in
# for rustc on the workspace's own crates (RUSTC_WORKSPACE_WRAPPER): it
# compiles them as rustc does and lints them on the way, so a clippy
# warning fails the build as `make lint` does (`-D warnings`), while every
# dependency is compiled once, not once for clippy's check pass and again
# for the build. --all-targets builds the unit and end-to-end test binaries
# too. The later cargo commands of make test run with the same wrapper
# (LINTED), or cargo would rebuild the workspace crates without it.
CLIPPY_DRIVER := $(shell rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
LINTED := RUSTC_WORKSPACE_WRAPPER=$(CLIPPY_DRIVER) CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
build-linted:
	@[ -n "$(CLIPPY_DRIVER)" ] || { echo "clippy-driver not found: rustup component add clippy"; exit 1; }
	$(LINTED) $(CARGO) build --workspace --all-targets

test-unit: build
	$(CARGO) test --workspace --exclude roster-e2e
	$(CARGO) test -p ldap3 --lib

# The end-to-end tests (one test binary, tests/tests/e2e/main.rs). With
# cargo-nextest installed (`cargo nextest`), every test runs in its own
# process, E2E_JOBS at a time (.config/nextest.toml); meanwhile the AD
# tests (module `ad::`) run in one `cargo test` process, one test after
# another, because they share one Samba AD DC (a minute to provision,
# fixed ports): e2e-ad. Without nextest: one process, one test at a time.
# Either way the slapd databases, the test certificates and the Debian
# package are built once per run and shared (tests/src/fixture_cache.rs,
# under target/e2e-fixtures).
E2E_JOBS ?= 4
# The e2e test binary (built by cargo if needed) and, since libtest filters
# by substring ("ad::" would match "daemon_reload::"), the exact names of
# its AD tests. The binary is run directly, in tests/ as cargo test would.
# Asked of cargo with build-linted's selection (--workspace --all-targets):
# another selection can unify dependency features differently, and cargo
# would then compile a second copy of them and of our crates.
E2E_BIN = $$($(CARGO) test -q --workspace --all-targets --no-run --message-format=json 2>/dev/null | grep '"name":"e2e"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
test-e2e: build
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) test -q -p roster-e2e --no-run || exit 1; \
	  adlog=$$(mktemp); \
	  $(MAKE) -s e2e-ad >$$adlog 2>&1 & ad=$$!; \
	  $(MAKE) -s e2e-nextest; rc=$$?; \
	  wait $$ad; adrc=$$?; echo "--- the AD tests (e2e-ad), exit $$adrc:"; cat $$adlog; rm -f $$adlog; \
	  [ $$rc -eq 0 ] && [ $$adrc -eq 0 ]; \
	else \
	  $(CARGO) test -p roster-e2e -- --test-threads=1; \
	fi

# The AD tests, in two processes at once, each one test at a time
# with one DC for all its tests, each in a network namespace of its own
# (`unshare --net`, its loopback brought up): every DC has the fixed ports
# (389, 88, 53, ...) on a loopback of its own. The shards are whole test
# modules: the Kerberos module (ad::ad_gssapi::, the longest: it waits for
# a renewal of the host's ticket) in one, every other module in the other.
# Each shard's output follows the other's; both must pass. A shard that
# runs past AD_SHARD_LIMIT seconds (a test waiting on something that
# never comes) is stopped and fails (exit 124) instead of hanging the run.
AD_SHARD_1 := ad::ad_gssapi::
AD_SHARD_LIMIT ?= 1200
e2e-ad:
	@bin="$(E2E_BIN)"; [ -x "$$bin" ] || { echo "the e2e test binary did not build"; exit 1; }; \
	tests=$$("$$bin" --list --format terse | sed -n 's/^\(ad::.*\): test$$/\1/p'); \
	[ -n "$$tests" ] || { echo "no ad:: tests in $$bin"; exit 1; }; \
	one=$$(printf '%s\n' $$tests | grep -F '$(AD_SHARD_1)'); \
	two=$$(printf '%s\n' $$tests | grep -vF '$(AD_SHARD_1)'); \
	run='ip link set lo up && exec "$$0" --exact --test-threads=1 "$$@"'; \
	log1=$$(mktemp); log2=$$(mktemp); cd tests; \
	limit="timeout --kill-after=30 $(AD_SHARD_LIMIT)"; \
	$$limit unshare --net sh -c "$$run" "$$bin" $$one >$$log1 2>&1 & p1=$$!; \
	$$limit unshare --net sh -c "$$run" "$$bin" $$two >$$log2 2>&1 & p2=$$!; \
	wait $$p1; rc1=$$?; wait $$p2; rc2=$$?; \
	late() { [ $$1 -eq 124 ] && echo "(stopped after AD_SHARD_LIMIT = $(AD_SHARD_LIMIT) s)"; true; }; \
	echo "--- AD shard 1 ($(AD_SHARD_1)), exit $$rc1:"; late $$rc1; cat $$log1; \
	echo "--- AD shard 2 (the other ad:: modules), exit $$rc2:"; late $$rc2; cat $$log2; \
	rm -f $$log1 $$log2; [ $$rc1 -eq 0 ] && [ $$rc2 -eq 0 ]

# Every other end-to-end test, under nextest.
e2e-nextest:
	$(CARGO) nextest run -p roster-e2e -E 'not (binary(e2e) & test(/^ad::/))' -j $(E2E_JOBS)

# make test's test run: the unit tests and every end-to-end test but the
# AD ones, all under one nextest run (E2E_JOBS processes at a time), then
# the doc tests, and the unit tests of the patched ldap3 (vendor/ldap3, not a
# workspace member). --workspace, as build-linted: nothing is compiled again.
test-nextest:
	@rc=0; $(CARGO) nextest run --workspace -E 'not (binary(e2e) & test(/^ad::/))' -j $(E2E_JOBS) || rc=1; \
	$(CARGO) test --workspace --doc || rc=1; \
	$(CARGO) test -q -p ldap3 --lib || rc=1; exit $$rc

# The end-to-end tests' shared fixtures, built ahead of the tests: the
# certificates, the sample slapd database and the provisioned Samba AD DC
# (tests/src/bin/fixtures.rs). The tests build any that are missing
# themselves; make test runs this beside the build. --workspace (features
# resolved for every member, as build-linted does: roster-fuzz turns on
# roster-proto's `arbitrary`), so that what this small build compiles is
# what build-linted uses, not a second copy.
e2e-fixtures:
	$(CARGO) build -q --workspace --bin roster-e2e-fixtures
	$${CARGO_TARGET_DIR:-target}/debug/roster-e2e-fixtures

# make test: the e2e-fixtures binary is built first (a small build) and
# runs beside the big one. The rest: the format check, one linted build of everything
# (build-linted), then the AD tests start in the background (the longest
# single path: a DC, then its tests one at a time) while nextest runs the
# unit tests (the fuzz smoke check among them: fuzz/src/smoke.rs) and the
# other end-to-end tests (test-nextest). Without nextest: cargo test, one
# test at a time.
test: deps-test deps-deb
	@export $(LINTED); \
	fixlog=$$(mktemp); $(CARGO) build -q --workspace --bin roster-e2e-fixtures; \
	$${CARGO_TARGET_DIR:-target}/debug/roster-e2e-fixtures >$$fixlog 2>&1 & fix=$$!; \
	$(MAKE) lint-fmt build-linted; rc=$$?; \
	if [ $$rc -eq 0 ]; then \
	  if $(CARGO) nextest --version >/dev/null 2>&1; then \
	    adlog=$$(mktemp); $(MAKE) -s e2e-ad >$$adlog 2>&1 & ad=$$!; \
	    $(MAKE) test-nextest; rc=$$?; \
	    wait $$ad; adrc=$$?; echo "--- the AD tests (e2e-ad), exit $$adrc:"; cat $$adlog; rm -f $$adlog; \
	    [ $$adrc -eq 0 ] || rc=1; \
	  else \
	    $(CARGO) test --workspace -- --test-threads=1; rc=$$?; \
	  fi; \
	fi; \
	wait $$fix; fixrc=$$?; echo "--- e2e-fixtures, exit $$fixrc:"; cat $$fixlog; rm -f $$fixlog; \
	[ $$rc -eq 0 ] && [ $$fixrc -eq 0 ]

demo: deps-demo build
	$(CARGO) run -q -p roster-e2e --bin roster-demo

bench: deps-test deps-bench release
	$(CARGO) run --release -p roster-bench --bin idmap
	$(CARGO) run --release -p roster-bench --bin nss
	$(CARGO) run --release -p roster-bench --bin peers
	$(CARGO) run --release -p roster-bench --bin paired
	$(CARGO) run --release -p roster-bench --bin offline
	$(CARGO) run --release -p roster-bench --bin scale

# rosterd under a long mixed load (lookups, cold refills, logins with
# cache_credentials, flushes, reloads): RSS, descriptors, threads and
# failures every 30 s and the RSS slope (bench/src/bin/soak.rs); then SSSD
# and nslcd (BENCH_PACKAGES, installed by deps-bench) under the same load,
# SOAK_SECONDS each (SOAK_PEERS= leaves them out), RSS beside rosterd's.
SOAK_SECONDS ?= 1800
soak: deps-test deps-bench release
	SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) run --release -p roster-bench --bin soak

clean:
	$(CARGO) clean

install:
	@if [ "$(PROFILE)" = release ] && [ -z "$(NOBUILD)" ]; then $(MAKE) release; fi
	$(MAKE) install-files

install-files:
	install -D -m 0755 $(BUILD_DIR)/rosterd $(DESTDIR)$(SBINDIR)/rosterd
	install -D -m 0755 $(BUILD_DIR)/rosterctl $(DESTDIR)$(SBINDIR)/rosterctl
	install -D -m 0644 $(BUILD_DIR)/libnss_roster.so $(DESTDIR)$(LIBDIR)/libnss_roster.so.2
	install -D -m 0644 $(BUILD_DIR)/libpam_roster.so $(DESTDIR)$(PAMDIR)/pam_roster.so
	install -D -m 0644 packaging/systemd/rosterd.service $(DESTDIR)$(UNITDIR)/rosterd.service
	install -D -m 0644 packaging/tmpfiles.d/roster.conf $(DESTDIR)$(TMPFILESDIR)/roster.conf
	install -D -m 0644 packaging/pam-configs/roster $(DESTDIR)$(PAMCONFIGDIR)/roster
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -D -m 0644 packaging/roster.toml.example $(DESTDIR)$(DOCDIR)/roster.toml.example
	install -d $(DESTDIR)$(MANDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(BUILD_DIR)/rosterctl manpage --dir $(DESTDIR)$(MANDIR) >/dev/null
	$(BUILD_DIR)/rosterctl completions bash > $(DESTDIR)$(BASHCOMPDIR)/rosterctl
	$(BUILD_DIR)/rosterctl completions zsh > $(DESTDIR)$(ZSHCOMPDIR)/_rosterctl
	$(BUILD_DIR)/rosterctl completions fish > $(DESTDIR)$(FISHCOMPDIR)/rosterctl.fish
	@if [ -e $(DESTDIR)$(CONFDIR)/roster.toml ]; then \
	  echo "keeping existing $(DESTDIR)$(CONFDIR)/roster.toml"; \
	else \
	  install -D -m 0640 packaging/roster.toml.example $(DESTDIR)$(CONFDIR)/roster.toml; \
	fi
	@# Into the running system (no DESTDIR): the system user, and the
	@# configuration readable by it (root:_roster 0640; the Debian package
	@# does both in its postinst). A configuration still root's group (from
	@# a root-run rosterd) is given the group; secret files are left alone.
	@if [ -z "$(DESTDIR)" ]; then \
	  getent passwd $(ROSTER_USER) >/dev/null || adduser --system --group --quiet --home /var/lib/roster \
	    --no-create-home --shell /usr/sbin/nologin --gecos "roster identity cache daemon" $(ROSTER_USER); \
	  if [ "$$(stat -c %G $(CONFDIR)/roster.toml)" = root ]; then \
	    chgrp $(ROSTER_USER) $(CONFDIR)/roster.toml && chmod g+r,g-wx,o-rwx $(CONFDIR)/roster.toml; \
	  fi; \
	fi
	@echo
	@echo "roster is installed. nsswitch.conf was NOT changed. To use roster, add it to"
	@echo "/etc/nsswitch.conf (or run: rosterctl nsswitch enable):"
	@echo "    passwd: files roster"
	@echo "    group:  files roster"
	@echo "and enable logins with: pam-auth-update --enable roster"
	@echo "rosterd runs as $(ROSTER_USER): make the bind password file readable by it:"
	@echo "    chown root:$(ROSTER_USER) /etc/roster/bind_password; chmod 0640 /etc/roster/bind_password"

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES)) $(DESTDIR)$(MANDIR)/rosterctl.1 $(DESTDIR)$(MANDIR)/rosterctl-*.1
	@if [ -e $(DESTDIR)$(CONFDIR)/roster.toml ] && cmp -s packaging/roster.toml.example $(DESTDIR)$(CONFDIR)/roster.toml; then \
	  rm -f $(DESTDIR)$(CONFDIR)/roster.toml; \
	elif [ -e $(DESTDIR)$(CONFDIR)/roster.toml ]; then \
	  echo "keeping $(DESTDIR)$(CONFDIR)/roster.toml: it was edited"; \
	fi
	-rmdir --ignore-fail-on-non-empty -p $(DESTDIR)$(CONFDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(PAMCONFIGDIR) \
	  $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(PAMDIR) $(DESTDIR)$(SBINDIR) \
	  $(DESTDIR)$(MANDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) 2>/dev/null
