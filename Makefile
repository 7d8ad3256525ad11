# SPDX-License-Identifier: GPL-2.0
#
# IO-Bond: out-of-tree kernel modules, their tools and their selftests.
#
#   make            modules, tools and selftests, with W=1
#   make C=1        the same, with sparse over the modules
#   make deps       install what the build and the VM pair need (apt)
#   make demo       boot the VM pair and show a board working over IO-Bond
#   make check      the fabric's own tests, then the VM-pair selftests
#   make check-debug   the same plan on a sanitizer kernel (KASAN, lockdep...)
#   make check-fabric  the fabric's tests alone (no VM)
#   make bench      the board's NIC and disk against QEMU's own devices
#   make scale      N=16 boards on one host VM, all busy at once
#   make install    tools, pages, units, udev rules, module configuration,
#                   and the modules through DKMS (as root; DESTDIR stages)
#   make uninstall  all of it again
#
# The modules build against the Debian amd64 kernel that the VM pair boots,
# never against the running kernel: the build machine's kernel is not it.

KVER ?= $(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | \
		sed 's,.*/linux-headers-,,' | sort -V | tail -n 1)
KDIR ?= /usr/src/linux-headers-$(KVER)
export KVER KDIR

# The modules' version, as DKMS knows them (/usr/src/iobond-VERSION).
VERSION := $(shell cat $(CURDIR)/VERSION)
PREFIX ?= /usr/local
DESTDIR ?=

SELFTESTS := tools/testing/selftests/iobond
RUNNER := $(SELFTESTS)/vmpair

.PHONY: all modules tools selftests deps demo check check-debug check-fabric bench scale \
	install uninstall clean

all: modules tools selftests

# The headers ship no vmlinux, so BTF for modules cannot be made: say so
# once here rather than once per module.
modules:
	@test -d "$(KDIR)" || { echo "no kernel headers at '$(KDIR)': run 'make deps'" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 CONFIG_DEBUG_INFO_BTF_MODULES= modules

tools:
	$(MAKE) -C tools/iobond

selftests:
	$(MAKE) -C $(SELFTESTS)

deps:
	scripts/deps.sh

demo: deps
	$(MAKE) all
	python3 $(RUNNER) --demo

# The board's NIC and disk against QEMU's own, in one run (bench.py).
bench: deps
	$(MAKE) all
	python3 $(RUNNER) --bench

# N boards on one host VM, all busy at once: what each costs and gets.
N ?= 16
scale: deps
	$(MAKE) all
	python3 $(RUNNER) --scale $(N)

# The runner runs the fabric's tests here, then boots the VM pair.
check: deps
	$(MAKE) all
	python3 $(RUNNER)

# The sanitizer tier: scripts/debug-kernel.sh builds the kernel once (about
# 20 minutes) and caches it outside the tree; our modules are built against
# it in build/debug, apart from the ones the stock kernel loads.
DEBUG_MODS := $(CURDIR)/build/debug
check-debug: deps
	$(MAKE) tools selftests
	dk=$$(scripts/debug-kernel.sh) && \
	rm -rf $(DEBUG_MODS) && mkdir -p $(DEBUG_MODS) && \
	find Kbuild drivers include -name Kbuild -o -name '*.[ch]' ! -name '*.mod.c' | \
		cpio -pdm --quiet $(DEBUG_MODS) && \
	$(MAKE) -C $$dk M=$(DEBUG_MODS) W=1 modules && \
	python3 $(RUNNER) --debug-kernel $$dk --modules $(DEBUG_MODS)

check-fabric: tools selftests
	$(SELFTESTS)/fabric_test

# scripts/install.sh says where each file goes; without DESTDIR it also
# runs DKMS for the kernel the modules are built for (KVER), and for the
# running kernel if it has headers.
install: tools
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" VERSION="$(VERSION)" KVER="$(KVER)" \
		scripts/install.sh install

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" VERSION="$(VERSION)" KVER="$(KVER)" \
		scripts/install.sh uninstall

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C tools/iobond clean
	$(MAKE) -C $(SELFTESTS) clean
