# SPDX-License-Identifier: GPL-2.0
"""The skips the runner expects, per step.  Any other skip is a failure:
a test that skipped because its device did not open has not passed.

Each entry is a shell pattern over "<side>.<step>.<test>", as the runner
prints it, with the reason the skip is right there.
"""

import fnmatch

EXPECTED = {
    # testbed_test holds one test per side; each side skips the other's.
    "host.testbed.global.board_sees_only_the_link",
    "board.testbed.global.host_has_iommu_and_vfio",
    # net_test: the host's counting is the host's, and the 64 MiB TCP
    # stream runs once, from the board, where the echo server is given.
    "board.*.global.host_counted_the_traffic",
    "host.net.stream.tcp_echo_64m",
    "board.after_*.stream.tcp_echo_64m",
    "board.beside_disk_resets.stream.tcp_echo_64m",
    # vnet_test checks the carrier and rebinds only in the steps that
    # set IOBOND_CARRIER and IOBOND_REBIND.
    "board.nic.vnet.carrier_follows_host",
    "board.rebind.vnet.carrier_follows_host",
    "board.hot_add.vnet.carrier_follows_host",
    "board.hot_remove.vnet.carrier_follows_host",
    "board.nic.vnet.rebind_virtio_net",
    "board.carrier_*.vnet.rebind_virtio_net",
    "board.hot_*.vnet.rebind_virtio_net",
    "board.serve_stopped.vnet.rebind_virtio_net",
    # blk_test checks what its disk was given: one disk is read-only, one
    # throttled, one discards.
    "board.disk.global.readonly",
    "board.disk.global.throttled_iops",
    "board.mq.global.readonly",
    "board.mq.global.throttled_iops",
    "board.mq.global.discard_and_write_zeroes",
    "board.readonly.global.throttled_iops",
    "board.readonly.global.discard_and_write_zeroes",
    "board.readonly.fio.verify",
    "board.throttle.global.readonly",
    "board.throttle.global.discard_and_write_zeroes",
    "board.throttle.fio.verify",
    # blkraw_test: a writable disk has no read-only refusal to show; on a
    # read-only one, writes fail for being writes, and there is no discard.
    "board.raw_disk.blkraw.readonly_writes_fail",
    "board.raw_readonly.blkraw.ranges_past_the_end_fail",
    "board.raw_readonly.blkraw.malformed_requests_fail",
}


# Only on Debian's stock kernel: what needs the debug tier's kernel.
EXPECTED_STOCK = {
    "host.fault.*",             # fault_test needs CONFIG_FAULT_INJECTION
}


def expected(where, name, debug):
    full = f"{where}.{name}"
    pats = EXPECTED if debug else EXPECTED | EXPECTED_STOCK
    return any(fnmatch.fnmatchcase(full, pat) for pat in pats)
