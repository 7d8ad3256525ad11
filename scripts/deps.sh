#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install what IO-Bond's build, demo and tests need, from Debian's archive,
# the sanitizer kernel's build tools (flex ... libssl-dev), make bench's
# plots (python3-matplotlib), the man pages' rst2man (python3-docutils),
# make install's dkms, and systemd-analyze (systemd), with which
# install_test verifies the units, among them.
# Idempotent: it only calls apt when a package is missing, and it makes
# sure the kernel image the VMs boot matches the headers the modules are
# built against.
set -eu

PKGS="build-essential sparse python3 cpio xz-utils kmod ethtool iperf3 \
      qemu-system-x86 busybox-static linux-source-6.1 \
      linux-image-amd64 linux-headers-amd64 liburing-dev fio util-linux e2fsprogs \
      flex bison bc libelf-dev libssl-dev python3-matplotlib python3-docutils \
      man-db dkms systemd libnbd-dev nbdkit iproute2"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done

apt_install() {
	[ "$(id -u)" = 0 ] || { echo "deps: need root to install:$*" >&2; exit 1; }
	if [ -z "${IOBOND_APT_UPDATED:-}" ]; then
		apt-get update -q
		IOBOND_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "$@"
}

[ -z "$missing" ] || apt_install $missing

# The newest headers decide the kernel version; its image must be there.
kver=$(ls -d /usr/src/linux-headers-*-amd64 | sed 's,.*/linux-headers-,,' |
	sort -V | tail -n 1)
[ -e "/boot/vmlinuz-$kver" ] || apt_install "linux-image-$kver"
[ -d "/lib/modules/$kver/kernel" ] || {
	echo "deps: /lib/modules/$kver is missing" >&2; exit 1; }
echo "deps: ok (kernel $kver)"
