#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# make install / make uninstall: put IO-Bond on a mainboard, or take it
# away again.  Where each file goes and why is in
# Documentation/iobond/operations.rst:
#
#   PREFIX/sbin                  iobondctl iobond-blk iobond-fabric iobond-engine
#   PREFIX/share/man/man8        their pages, from build/man
#   PREFIX/lib/systemd/system    the units (systemd and udev search
#   PREFIX/lib/udev/rules.d      /usr/local/lib too; /etc stays the admin's)
#   /etc/modules-load.d, /etc/modprobe.d   the module's configuration
#   /usr/src/iobond-VERSION      the modules' sources, where DKMS looks
#   PREFIX/share/iobond/manifest what was put, for uninstall
#
# The manifest names every file put and every directory made, so that
# uninstall removes exactly those, whatever the tree says by then.  With
# DESTDIR the install is staged: it runs neither dkms nor groupadd nor
# udevadm, which act on the running system.
#
# Usage: install.sh install|uninstall, with DESTDIR, PREFIX, VERSION and
# KVER in the environment (the Makefile passes them).
set -eu

: "${DESTDIR:=}" "${PREFIX:=/usr/local}" "${VERSION:?}" "${KVER:=}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MANIFEST=$PREFIX/share/iobond/manifest
SRC=/usr/src/iobond-$VERSION
live=				# set when installing into the running system
[ -n "$DESTDIR" ] || live=1

note() { echo "$1" >> "$DESTDIR$MANIFEST"; }

# Make directory $1 and its missing parents; print a note of each made.
mkdirs() {
	[ -d "$DESTDIR$1" ] && return
	mkdirs "$(dirname "$1")"
	mkdir "$DESTDIR$1"
	echo "d $1"
}

# put MODE SRC DST: install one file, noted.
put() {
	mkdirs "$(dirname "$3")" >> "$DESTDIR$MANIFEST"
	install -m "$1" "$2" "$DESTDIR$3"
	note "f $3"
}

# The units run the programs where this install puts them.
put_unit() {
	mkdirs "$PREFIX/lib/systemd/system" >> "$DESTDIR$MANIFEST"
	sed "s|@SBINDIR@|$PREFIX/sbin|g" "$1" \
		> "$DESTDIR$PREFIX/lib/systemd/system/$(basename "$1")"
	note "f $PREFIX/lib/systemd/system/$(basename "$1")"
}

# What the modules build from, as make check-debug copies it, and the
# dkms.conf with its version.
put_sources() {
	(cd "$ROOT" && find Kbuild drivers include -name Kbuild -o \
		-name '*.[ch]' ! -name '*.mod.c') | sort |
	while read -r f; do
		put 0644 "$ROOT/$f" "$SRC/$f"
	done
	put 0644 "$ROOT/Makefile" "$SRC/Makefile"
	put 0644 "$ROOT/VERSION" "$SRC/VERSION"
	sed "s|^PACKAGE_VERSION=\"#MODULE_VERSION#\"|PACKAGE_VERSION=\"$VERSION\"|" \
		"$ROOT/dkms.conf" > "$DESTDIR$SRC/dkms.conf"
	note "f $SRC/dkms.conf"
}

# DKMS builds the modules for the kernel the Makefile picked, which need
# not be the running one; it rebuilds them for each kernel installed later.
dkms_install() {
	command -v dkms > /dev/null || {
		echo "install: no dkms: run 'make deps'" >&2; exit 1; }
	[ -n "$KVER" ] || { echo "install: no kernel headers: run 'make deps'" >&2; exit 1; }
	dkms add "iobond/$VERSION"
	note "k iobond/$VERSION"
	dkms build "iobond/$VERSION" -k "$KVER"
	dkms install "iobond/$VERSION" -k "$KVER"
}

do_install() {
	[ -z "$live" ] || [ "$(id -u)" = 0 ] || {
		echo "install: need root (or a DESTDIR)" >&2; exit 1; }
	# Again over an old install: take it away first, so the manifest
	# stays exact.
	[ ! -e "$DESTDIR$MANIFEST" ] || do_uninstall
	made=$(mkdirs "$(dirname "$MANIFEST")")
	{ [ -z "$made" ] || echo "$made"; echo "f $MANIFEST"; } > "$DESTDIR$MANIFEST"

	for p in iobondctl iobond-blk iobond-fabric iobond-engine; do
		put 0755 "$ROOT/tools/iobond/$p" "$PREFIX/sbin/$p"
	done
	for m in iobondctl.8 iobond-blk.8 iobond-fabric.8; do
		put 0644 "$ROOT/build/man/$m" "$PREFIX/share/man/man8/$m"
	done
	for u in "$ROOT"/packaging/systemd/*.service; do
		put_unit "$u"
	done
	for r in "$ROOT"/packaging/udev/*.rules; do
		put 0644 "$r" "$PREFIX/lib/udev/rules.d/$(basename "$r")"
	done
	put 0644 "$ROOT/packaging/modules-load.d/iobond.conf" /etc/modules-load.d/iobond.conf
	put 0644 "$ROOT/packaging/modprobe.d/iobond.conf" /etc/modprobe.d/iobond.conf
	put_sources

	[ -n "$live" ] || return 0
	dkms_install
	# The group of /dev/iobond/* (60-iobond.rules).
	if ! getent group iobond > /dev/null; then
		groupadd -r iobond
		note "g iobond"
	fi
	if command -v udevadm > /dev/null; then
		udevadm control --reload ||
			echo "install: udev is not running; the rules apply from its next start" >&2
	fi
}

do_uninstall() {
	manifest=$(cat "$DESTDIR$MANIFEST" 2> /dev/null) || {
		echo "uninstall: nothing installed: no $DESTDIR$MANIFEST" >&2; exit 1; }
	# The modules first: dkms reads their dkms.conf from /usr/src.
	if [ -n "$live" ]; then
		echo "$manifest" | sed -n 's/^k //p' | while read -r mod; do
			[ -z "$(dkms status "$mod")" ] || dkms remove "$mod" --all
		done
		echo "$manifest" | sed -n 's/^g //p' | while read -r group; do
			! getent group "$group" > /dev/null || groupdel "$group"
		done
	fi
	echo "$manifest" | sed -n 's/^f //p' | while read -r path; do
		rm -f "$DESTDIR$path"
	done
	# Deepest first; one that holds what someone else put there stays.
	echo "$manifest" | sed -n 's/^d //p' | sort -r | while read -r dir; do
		rmdir "$DESTDIR$dir" 2> /dev/null || true
	done
	if [ -n "$live" ] && command -v udevadm > /dev/null; then
		udevadm control --reload 2> /dev/null || true
	fi
}

case "${1:-}" in
install)	do_install ;;
uninstall)	do_uninstall ;;
*)		echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
