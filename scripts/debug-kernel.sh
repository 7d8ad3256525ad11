#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build (once) the sanitizer kernel of the check-debug tier and print the
# directory of its build tree.  The build is cached outside the repo,
# under $IOBOND_CACHE (default /var/cache/iobond), keyed by the version of
# Debian's linux-source-6.1 and a hash of debug.config: a fresh clone on
# the same machine reuses it, and a changed fragment builds anew.
#
# The first build takes about 20 minutes on two cores; progress goes to
# stderr every minute, the full log to <tree>/build.log.  Only the tree's
# path goes to stdout.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FRAG=$ROOT/tools/testing/selftests/iobond/debug.config
CACHE=${IOBOND_CACHE:-/var/cache/iobond}
TARBALL=/usr/src/linux-source-6.1.tar.xz

say() { echo "debug-kernel: $*" >&2; }

[ -e "$TARBALL" ] || { say "no $TARBALL: run 'make deps'"; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
hash=$(sha256sum "$FRAG" | cut -c1-12)
src=$CACHE/src-$srcver
obj=$CACHE/debug-$srcver-$hash
mkdir -p "$CACHE"

# One builder at a time; a second caller waits and then reuses the tree.
exec 9>"$CACHE/.lock"
flock 9

if [ -e "$obj/.built" ]; then
	echo "$obj"
	exit 0
fi

if [ ! -e "$src/.unpacked" ]; then
	say "unpacking linux-source $srcver"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xJf "$TARBALL" -C "$src.tmp" --strip-components=1
	touch "$src.tmp/.unpacked"
	mv "$src.tmp" "$src"
fi

rm -rf "$obj"
mkdir -p "$obj"
log=$obj/build.log
say "configuring $obj (defconfig kvm_guest.config debug.config)"
{
	make -C "$src" O="$obj" defconfig kvm_guest.config
	"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$FRAG"
	make -C "$src" O="$obj" olddefconfig
} > "$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }

# Every line of the fragment must have survived Kconfig's dependencies:
# an option asked for is set to that value, one switched off is not set.
missing=$(grep -E '^(CONFIG_|# CONFIG_)' "$FRAG" | while IFS= read -r l; do
	case $l in
	"# "*)	opt=${l#\# }; opt=${opt%% *}
		! grep -q "^$opt=" "$obj/.config" || echo "$l";;
	*)	grep -qxF "$l" "$obj/.config" || echo "$l";;
	esac
done)
if [ -n "$missing" ]; then
	say "these debug.config lines did not hold:"
	echo "$missing" >&2
	exit 1
fi

say "building bzImage and modules with -j$(nproc); the first build takes ~20 min"
start=$(date +%s)
# In the background, for the progress lines: without the lock (9>&-), and
# stopped with us, so that an interrupted build neither runs on nor holds
# the cache.
make -C "$src" O="$obj" -j"$(nproc)" bzImage modules >> "$log" 2>&1 9>&- &
pid=$!
trap 'kill "$pid" 2>/dev/null; exit 130' INT TERM
while kill -0 "$pid" 2>/dev/null; do
	sleep 60 & wait $! || true
	kill -0 "$pid" 2>/dev/null || break
	n=$(grep -c '^  CC' "$log" || true)
	say "$(( ($(date +%s) - start) / 60 )) min, $n objects compiled"
done
wait "$pid" || { tail -30 "$log" >&2; say "build failed, see $log"; exit 1; }
trap - INT TERM
say "built in $(( ($(date +%s) - start) / 60 )) min"
touch "$obj/.built"
echo "$obj"
