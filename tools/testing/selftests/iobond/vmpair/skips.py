# SPDX-License-Identifier: GPL-2.0
"""The skips the runner expects, per step.  Any other skip is a failure:
a test that skipped because its device did not open has not passed.

Each entry maps a shell pattern over "<side>.<step>.<test>", as the runner
prints it, to the start of the reason the test must give: the skip is
expected only for that reason.  Why the skip is right is said beside it.
"""

import fnmatch

EXPECTED = {
    # testbed_test holds one test per side; each side skips the other's.
    "host.testbed.global.board_sees_only_the_link": "the board VM's test",
    "board.testbed.global.host_has_iommu_and_vfio": "the host VM's test",
    # net_test: the host's counting is the host's, and the 64 MiB TCP
    # stream runs once, from the board, where the echo server is given.
    "board.*.global.host_counted_the_traffic": "the host's test",
    "host.net.stream.tcp_echo_64m": "needs IOBOND_PEER_IP and IOBOND_ECHO_PORT",
    "host.engine_net.stream.tcp_echo_64m": "needs IOBOND_PEER_IP and IOBOND_ECHO_PORT",
    "board.after_*.stream.tcp_echo_64m": "needs IOBOND_PEER_IP and IOBOND_ECHO_PORT",
    "board.beside_disk_resets.stream.tcp_echo_64m":
        "needs IOBOND_PEER_IP and IOBOND_ECHO_PORT",
    # vnet_test checks the carrier and rebinds only in the steps that
    # set IOBOND_CARRIER and IOBOND_REBIND.
    "board.nic.vnet.carrier_follows_host": "IOBOND_CARRIER not set",
    "board.rebind.vnet.carrier_follows_host": "IOBOND_CARRIER not set",
    "board.hot_add.vnet.carrier_follows_host": "IOBOND_CARRIER not set",
    "board.hot_remove.vnet.carrier_follows_host": "IOBOND_CARRIER not set",
    "board.nic.vnet.rebind_virtio_net": "IOBOND_REBIND not set",
    "board.carrier_*.vnet.rebind_virtio_net": "IOBOND_REBIND not set",
    "board.hot_*.vnet.rebind_virtio_net": "IOBOND_REBIND not set",
    "board.serve_stopped.vnet.rebind_virtio_net": "IOBOND_REBIND not set",
    "board.serve_killed.vnet.rebind_virtio_net": "IOBOND_REBIND not set",
    "board.serve_restarted.vnet.rebind_virtio_net": "IOBOND_REBIND not set",
    # blk_test checks what its disk was given: one disk is read-only, one
    # throttled, one discards.
    "board.disk.global.readonly": "needs IOBOND_BLK_RO=1",
    "board.disk.global.throttled_iops": "needs IOBOND_BLK_IOPS=N",
    "board.engine_disk.global.readonly": "needs IOBOND_BLK_RO=1",
    "board.engine_disk.global.throttled_iops": "needs IOBOND_BLK_IOPS=N",
    "board.nbd_memory.global.readonly": "needs IOBOND_BLK_RO=1",
    "board.nbd_memory.global.throttled_iops": "needs IOBOND_BLK_IOPS=N",
    "board.mq.global.readonly": "needs IOBOND_BLK_RO=1",
    "board.mq.global.throttled_iops": "needs IOBOND_BLK_IOPS=N",
    "board.mq.global.discard_and_write_zeroes": "needs IOBOND_BLK_DISCARD=1",
    "board.readonly.global.throttled_iops": "needs IOBOND_BLK_IOPS=N",
    "board.readonly.global.discard_and_write_zeroes": "needs IOBOND_BLK_DISCARD=1",
    "board.readonly.fio.verify": "needs IOBOND_BLK_FIO=",
    "board.throttle.global.readonly": "needs IOBOND_BLK_RO=1",
    "board.throttle.global.discard_and_write_zeroes": "needs IOBOND_BLK_DISCARD=1",
    "board.throttle.fio.verify": "needs IOBOND_BLK_FIO=",
    # blkraw_test: a writable disk has no read-only refusal to show; on a
    # read-only one, writes fail for being writes, and there is no discard.
    "board.raw_disk.blkraw.readonly_writes_fail": "needs IOBOND_BLK_RO=1",
    "board.raw_readonly.blkraw.ranges_past_the_end_fail": "needs a writable dev0",
    "board.raw_readonly.blkraw.malformed_requests_fail": "needs a writable dev0",
}


# Only on Debian's stock kernel: what needs the debug tier's kernel.
EXPECTED_STOCK = {
    "host.fault.*": "needs CONFIG_FAULT_INJECTION",
}


def expected(where, name, reason, debug):
    """Whether the skip of @name in step @where, for @reason, is one of
    those above."""
    full = f"{where}.{name}"
    pats = dict(EXPECTED)
    if not debug:
        pats.update(EXPECTED_STOCK)
    return any(fnmatch.fnmatchcase(full, pat) and reason.startswith(why)
               for pat, why in pats.items())
