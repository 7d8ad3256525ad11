#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# make install / make uninstall: put IO-Bond on a mainboard, or take it
# away again.  Where each file goes and why is in
# Documentation/iobond/operations.rst:
#
#   PREFIX/sbin                  iobondctl iobond-blk iobond-fabric iobond-engine
#   PREFIX/share/man/man8        their pages, from build/man
#   PREFIX/lib/systemd/system    the units (systemd, udev and kmod search
#   PREFIX/lib/udev/rules.d      /usr/local/lib too, so /etc stays the
#   PREFIX/lib/modules-load.d    admin's, for overrides)
#   PREFIX/lib/modprobe.d
#   /usr/src/iobond-VERSION      the modules' sources, where DKMS looks
#   PREFIX/share/iobond/manifest what was put, for uninstall
#
# The manifest names every file put and every directory made, each before
# it is there, so that uninstall removes exactly those, whatever the tree
# says by then, even after an install that failed halfway.  With DESTDIR
# the install is staged: it runs neither dkms nor groupadd nor udevadm nor
# systemctl, which act on the running system.  DESTDIR=/ is no stage: it
# is the running system, and installs as if DESTDIR were empty.
#
# Usage: install.sh install|uninstall, with DESTDIR, PREFIX, VERSION and
# KVER in the environment (the Makefile passes them).
set -eu

: "${DESTDIR:=}" "${PREFIX:=/usr/local}" "${VERSION:?}" "${KVER:=}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MANIFEST=$PREFIX/share/iobond/manifest
SRC=/usr/src/iobond-$VERSION

die() { echo "$1" >&2; exit 1; }

# Paths are split on whitespace below and PREFIX goes into a sed
# replacement: both must hold no character that either reads.
case $PREFIX in
/*) ;;
*) die "install: PREFIX must be an absolute path, not '$PREFIX'" ;;
esac
case $PREFIX$VERSION in
*[!A-Za-z0-9/._+~-]*)
	die "install: PREFIX and VERSION may hold letters, digits and / . _ + ~ - only" ;;
esac

[ -z "$DESTDIR" ] || [ "$(cd "$DESTDIR" 2> /dev/null && pwd -P)" != / ] || DESTDIR=
live=				# set when installing into the running system
[ -n "$DESTDIR" ] || live=1

# The directories every system has.  They are never noted as made, so
# that no uninstall, even from a staged install's manifest, removes one;
# a staged uninstall removes them below DESTDIR if they are empty.
# Deepest first.
STANDARD="/usr/local/share/man /usr/local/share /usr/local/sbin
	/usr/local/lib /usr/local /usr/src /usr/share/man /usr/share /usr/sbin
	/usr/lib /usr /opt /lib /etc"
standard() {
	for s in $STANDARD; do
		[ "$s" != "$1" ] || return 0
	done
	return 1
}

# Scratch space off the tree: what this run put, units being made.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Note a manifest line, once: a reinstall notes again what it puts.
note() {
	grep -qxF -- "$1" "$DESTDIR$MANIFEST" ||
		printf '%s\n' "$1" >> "$DESTDIR$MANIFEST"
}

# The directories missing on the way to $1, outermost first.
missing_dirs() {
	if [ "$1" = / ] || [ -d "$DESTDIR$1" ]; then
		return 0
	fi
	missing_dirs "$(dirname "$1")"
	printf '%s\n' "$1"
}

# Make directory $1 and its missing parents, each noted first; 0755,
# whatever the umask.
mkdirs() {
	for dir in $(missing_dirs "$1"); do
		standard "$dir" || note "d $dir"
		mkdir -m 0755 "$DESTDIR$dir"
	done
}

# put MODE SRC DST: install one file, noted first.  install -m, so that
# no umask decides a mode.
put() {
	mkdirs "$(dirname "$3")"
	note "f $3"
	printf '%s\n' "$3" >> "$WORK/put"
	install -m "$1" "$2" "$DESTDIR$3"
}

# The manifest of an earlier install stays, and grows by what this one
# puts, until forget_old() takes out what this one did not put: whatever
# fails on the way, the manifest names everything there.  Its own
# directories are noted once it exists to hold the notes.
begin_manifest() {
	printf '%s\n' "$MANIFEST" > "$WORK/put"
	[ ! -e "$DESTDIR$MANIFEST" ] || return 0
	made=$(missing_dirs "$(dirname "$MANIFEST")")
	for dir in $made; do
		mkdir -m 0755 "$DESTDIR$dir"
	done
	printf '%s\n' "f $MANIFEST" > "$DESTDIR$MANIFEST"
	for dir in $made; do
		standard "$dir" || note "d $dir"
	done
}

# What an earlier install put and this one did not goes (an older
# version's sources, files of an older layout), with the directories it
# leaves empty; then the manifest keeps only what is there.
forget_old() {
	sed -n 's/^f //p' "$DESTDIR$MANIFEST" | grep -vxF -f "$WORK/put" |
	while read -r path; do
		rm -f "$DESTDIR$path"
	done
	sed -n 's/^d //p' "$DESTDIR$MANIFEST" | sort -r | while read -r dir; do
		rmdir "$DESTDIR$dir" 2> /dev/null || true
	done
	while read -r kind path; do
		if case $kind in
		f) [ -e "$DESTDIR$path" ] ;;
		d) [ -d "$DESTDIR$path" ] && ! standard "$path" ;;
		k) [ "$path" = "iobond/$VERSION" ] ;;
		*) false ;;	# an older install's "g iobond": the group stays
		esac; then
			printf '%s %s\n' "$kind" "$path"
		fi
	done < "$DESTDIR$MANIFEST" > "$WORK/manifest"
	install -m 0644 "$WORK/manifest" "$DESTDIR$MANIFEST"
}

# The units run the programs where this install puts them.
put_unit() {
	sed "s|@SBINDIR@|$PREFIX/sbin|g" "$1" > "$WORK/unit"
	put 0644 "$WORK/unit" "$PREFIX/lib/systemd/system/$(basename "$1")"
}

# What the modules build from, as make check-debug copies it: in a git
# checkout the tracked files only, so nothing stray reaches DKMS.
module_sources() {
	if [ -e "$ROOT/.git" ]; then
		all=$(git -C "$ROOT" ls-files -- Kbuild drivers include) || return 1
	else
		all=$(cd "$ROOT" && find Kbuild drivers include -type f) || return 1
	fi
	for f in $all; do
		case $f in
		*.mod.c) ;;
		Kbuild | */Kbuild | *.[ch]) printf '%s\n' "$f" ;;
		esac
	done
}

# The sources, and the dkms.conf with its version.
put_sources() {
	files=$(module_sources) || die "install: cannot list the module sources in $ROOT"
	[ -n "$files" ] || die "install: no module sources in $ROOT"
	for f in $files; do
		put 0644 "$ROOT/$f" "$SRC/$f"
	done
	put 0644 "$ROOT/Makefile" "$SRC/Makefile"
	put 0644 "$ROOT/VERSION" "$SRC/VERSION"
	sed "s|^PACKAGE_VERSION=\"#MODULE_VERSION#\"|PACKAGE_VERSION=\"$VERSION\"|" \
		"$ROOT/dkms.conf" > "$WORK/dkms.conf"
	put 0644 "$WORK/dkms.conf" "$SRC/dkms.conf"
}

# The kernels to build for: the tree's (KVER), the running one, and each
# that an installed iobond is built for, since the old version goes from
# them all.  A kernel without headers cannot have them, and says so.
kernels() {
	{
		printf '%s\n' "$KVER" "$(uname -r)"
		dkms status iobond |
			sed -n 's/^[^,]*, \([^,]*\), [^:]*: installed.*/\1/p'
	} | sort -u | while read -r k; do
		if [ -z "$k" ]; then
			continue
		elif [ -d "/lib/modules/$k/build" ]; then
			printf '%s\n' "$k"
		else
			echo "install: kernel $k has no headers (/lib/modules/$k/build): no iobond modules for it" >&2
		fi
	done
}

# dkms holds one build of each version: before the installed one of this
# very version goes, the new sources must be seen to build, in a copy.
try_build() {
	for k in $1; do
		rm -rf "$WORK/build"
		cp -R "$SRC" "$WORK/build"
		make -s -C "$WORK/build" KVER="$k" KDIR="/lib/modules/$k/build" modules ||
			die "install: the modules do not build for $k; the installed ones stay"
	done
}

# The new version is built for every kernel before the old goes, so that
# a version that fails to build leaves each kernel the modules it had.
# DKMS builds it again for each kernel installed later (AUTOINSTALL).
dkms_install() {
	if [ -n "$(dkms status "iobond/$VERSION")" ]; then
		try_build "$ks"
		dkms remove "iobond/$VERSION" --all
	fi
	note "k iobond/$VERSION"
	dkms add "iobond/$VERSION"
	for k in $ks; do
		dkms build "iobond/$VERSION" -k "$k" ||
			die "install: dkms build for $k failed; any other version stays installed"
	done
	sed -n 's/^k //p' "$DESTDIR$MANIFEST" | while read -r mod; do
		[ "$mod" = "iobond/$VERSION" ] || [ -z "$(dkms status "$mod")" ] ||
			dkms remove "$mod" --all
	done
	for k in $ks; do
		dkms install "iobond/$VERSION" -k "$k"
	done
}

# systemd and udev read their files anew; best effort, like the reload.
reload_live() {
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload ||
			echo "$1: systemctl daemon-reload failed" >&2
	fi
	command -v udevadm > /dev/null || return 0
	if udevadm control --reload 2> /dev/null; then
		[ "$1" = install ] || return 0
		# The link rule acts on "add": replay it for the functions
		# there already.
		udevadm trigger --action=add --subsystem-match=pci \
			--attr-match=vendor=0x1af4 --attr-match=device=0x1110 ||
			echo "install: udevadm trigger failed" >&2
	elif [ "$1" = install ]; then
		echo "install: udev is not running; the rules apply from its next start" >&2
	fi
}

do_install() {
	if [ -n "$live" ]; then
		[ "$(id -u)" = 0 ] || die "install: need root (or a DESTDIR to stage)"
		command -v dkms > /dev/null || die "install: no dkms: run 'make deps'"
		ks=$(kernels)
		[ -n "$ks" ] || die "install: no kernel headers: run 'make deps'"
	else
		mkdir -p "$DESTDIR"
	fi
	begin_manifest
	put_sources
	# The modules before the rest: if they fail to build, nothing but
	# their sources has changed.
	[ -z "$live" ] || dkms_install

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
	put 0644 "$ROOT/packaging/modules-load.d/iobond.conf" \
		"$PREFIX/lib/modules-load.d/iobond.conf"
	put 0644 "$ROOT/packaging/modprobe.d/iobond.conf" \
		"$PREFIX/lib/modprobe.d/iobond.conf"
	forget_old

	[ -n "$live" ] || return 0
	# The group of /dev/iobond/* (60-iobond.rules).  Never deleted, as
	# Debian leaves system groups: its members stay members.
	getent group iobond > /dev/null || groupadd -r iobond
	reload_live install
}

do_uninstall() {
	[ -z "$live" ] || [ "$(id -u)" = 0 ] ||
		die "uninstall: need root (or the DESTDIR of a staged install)"
	manifest=$(cat "$DESTDIR$MANIFEST" 2> /dev/null) ||
		die "uninstall: nothing installed: no $DESTDIR$MANIFEST"
	# The modules first: dkms reads their dkms.conf from /usr/src.
	if [ -n "$live" ]; then
		printf '%s\n' "$manifest" | sed -n 's/^k //p' | while read -r mod; do
			[ -z "$(dkms status "$mod")" ] || dkms remove "$mod" --all
		done
	fi
	printf '%s\n' "$manifest" | sed -n 's/^f //p' | while read -r path; do
		rm -f "$DESTDIR$path"
	done
	# Deepest first; one that holds what someone else put there stays.
	printf '%s\n' "$manifest" | sed -n 's/^d //p' | sort -r |
	while read -r dir; do
		rmdir "$DESTDIR$dir" 2> /dev/null || true
	done
	if [ -z "$live" ]; then
		for dir in $STANDARD; do
			rmdir "$DESTDIR$dir" 2> /dev/null || true
		done
	else
		reload_live uninstall
	fi
}

case "${1:-}" in
install)	do_install ;;
uninstall)	do_uninstall ;;
*)		echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
