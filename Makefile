# roster — build, test, demo, install.
# `make demo` and `make test` are the two set-up commands of the README:
# both install the Debian packages they need (as root) and build once into
# the shared target/ directory.

SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr
DESTDIR ?=
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

# Debian packages the tests and the demo use.
TEST_PACKAGES := slapd ldap-utils pamtester openssh-server sshpass libpam0g-dev \
                 libsss-idmap-dev libssl-dev pkg-config gcc util-linux procps
DEMO_PACKAGES := slapd ldap-utils pamtester libpam0g-dev libssl-dev pkg-config gcc util-linux

.PHONY: all build release test test-unit test-e2e lint demo deps-test deps-demo bench clean

all: build

# Install missing Debian packages; a no-op when all are present. slapd's
# package would start a system slapd: policy-rc.d keeps it from starting.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.roster && chmod 755 /usr/sbin/policy-rc.d.roster; \
	  [ -e /usr/sbin/policy-rc.d ] || ln -s policy-rc.d.roster /usr/sbin/policy-rc.d; \
	  apt-get update -qq && apt-get install -y -qq $$missing; rc=$$?; \
	  [ "$$(readlink /usr/sbin/policy-rc.d)" = policy-rc.d.roster ] && rm -f /usr/sbin/policy-rc.d; \
	  rm -f /usr/sbin/policy-rc.d.roster; exit $$rc; \
	fi
endef

deps-test:
	$(call apt_install,$(TEST_PACKAGES))

deps-demo:
	$(call apt_install,$(DEMO_PACKAGES))

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --workspace --release

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-unit: build
	$(CARGO) test --workspace --exclude roster-e2e

test-e2e: build
	$(CARGO) test -p roster-e2e -- --test-threads=1

test: deps-test lint test-unit test-e2e

demo: deps-demo build
	./scripts/demo.sh

bench: deps-test release
	$(CARGO) run --release -p roster-bench

clean:
	$(CARGO) clean
