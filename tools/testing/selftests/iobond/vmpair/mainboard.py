# SPDX-License-Identifier: GPL-2.0
"""A mainboard full of boards: one host VM, N board VMs, each on its own
link with its own engine, and a switch between their NICs.

The host VM holds the host end of every link (one ivshmem function each,
so link N is /dev/iobond/boardN) and gives each board a NIC and a disk,
both through the board's engine.  Every NIC's tap joins one Linux bridge
in the host VM, the mainboard's switch; the host itself sits on the bridge
too.  make check runs this with N = 4 after the pair's plan
(Run.plan_check()); make scale boots N boards alone (plan_scale()).
"""

import json
import re
import threading
import time

NET = "10.77.0"                 # the switch's subnet: board k is .k+1
HOST = f"{NET}.254"             # the host's address on the bridge
BRIDGE = "br0"
DISK_MIB = 16
# Each board's RAM.  The board's initramfs is 108 MiB unpacked (fio
# brings librbd and ICU's data), 48 MiB packed, and both are in RAM at
# once while it unpacks: 256 MiB is too little.
BOARD_MIB = 384
# Tenants for the VLAN step: boards 2t and 2t+1 are tenant t, on VLAN
# TENANT_VID + t.
TENANT_VID = 100
# The isolation bound: a board may see a few frames not meant for it
# (the switch floods until it has learnt an address), not a stream.
STRAY_BYTES = 64 << 10
ARPS, ARP_BYTES = 5, 42         # an ARP request's frame, without its FCS
# Board 0's NIC has two queue pairs and a control queue; the others one
# pair.  Each pair must carry this much of four iperf3 streams each way.
PAIRS = MQ_CPUS = 2
PAIR_SHARE = 0.05


def mac(k):
    return f"52:54:00:b0:00:{k:02x}"


def ip(k):
    return f"{NET}.{k + 1}"


def name(k):
    return f"board{k}"


class Mainboard:
    """The mainboard's VMs: run.vms["host"], and board k as
    run.vms[vm_key(k)] ("board" for link 0, the pair's)."""

    def __init__(self, run, n):
        self.run, self.n = run, n
        self.host = run.vms["host"]
        self.figures = {}

    @staticmethod
    def vm_key(k):
        return "board" if not k else f"board{k}"

    def board(self, k):
        return self.run.vms[self.vm_key(k)]

    def each(self, fn, ks=None):
        """fn(k) for every board @ks at once (threads: each waits on its
        own VM); their results by k.  A Failure is raised once all are
        done."""
        ks = range(self.n) if ks is None else ks
        results = {}

        def one(k):
            try:
                results[k] = fn(k)
            except Exception as e:   # noqa: B902 - raised below, once
                results[k] = e

        threads = [threading.Thread(target=one, args=(k,)) for k in ks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results.values():
            if isinstance(r, Exception):
                raise r
        return results

    # -- boot -----------------------------------------------------------

    def boot(self, board_mib):
        """Stop what runs, then start the fabric with N links, an engine
        per link, the host VM holding every link and N one-CPU boards."""
        r = self.run
        VM = type(self.host)    # noqa: N806 - the runner's class
        for vm in r.vms.values():
            vm.kill()
        r.stop_engines()
        r.stop_fabric()
        r.links, r.board_mib, r.board_cpus = self.n, board_mib, "1"
        for k in range(1, self.n):
            r.vms.setdefault(self.vm_key(k), VM(r, "board", k))
        # Board 0 spreads its NIC's streams over its CPUs.
        self.board(0).cpus = str(MQ_CPUS)
        r.start_fabric()
        for k in range(self.n):
            r.start_engine(k)
        start = time.time()
        self.host.start()
        for k in range(self.n):
            self.board(k).launch()
        # Every board boots at once on the machine's two cores.
        boot_s = 120 * max(1, (self.n + 1) // 2)
        self.each(lambda k: self.board(k).wait_ready(boot_s))
        self.figures["boot_s"] = time.time() - start
        r.load("host", wait_peer=False)
        self.each(lambda k: r.load(self.vm_key(k)))
        r.wait_peer("host")
        self.figures["links_up_s"] = time.time() - start
        print(f"# mainboard: host and {self.n} boards booted in "
              f"{self.figures['boot_s']:.0f}s, every link up at "
              f"{self.figures['links_up_s']:.0f}s", flush=True)

    # -- the host's view ------------------------------------------------

    def listed(self, when):
        """iobondctl list: one table row per board, or per device, and
        --json agrees; the engine of each link published itself.  The
        table."""
        r = self.run
        self.host.sh(
            "for i in $(seq 100); do [ $(iobondctl --json list | grep -o "
            f"'\"engine\":true' | wc -l) = {self.n} ] && exit 0; sleep 0.1; "
            "done; iobondctl list; exit 1")
        boards = json.loads(self.host.sh("iobondctl --json list")[1])
        r.check(f"host.list_json_every_board_{when}",
                [b["board"] for b in boards] == list(range(self.n)) and
                all(b["link_up"] and b["engine"] for b in boards),
                json.dumps(boards))
        table = self.host.sh("iobondctl list")[1]
        rows = [l.split() for l in table.splitlines()[1:]]
        r.check(f"host.list_table_every_board_{when}",
                table.split()[:3] == ["BOARD", "PCI", "LINK"] and
                sorted({row[0] for row in rows}) == sorted(name(k) for k in range(self.n)) and
                all(row[2] == "up" for row in rows), table)
        return table

    # -- provisioning ---------------------------------------------------

    def provision(self, k):
        """Board k: a NIC on tapK and a disk whose first bytes name the
        board, both through k's engine; the board sees both.  The
        seconds it took."""
        start = time.time()
        img = f"/tmp/{name(k)}.img"
        self.host.sh(
            f"dd if=/dev/zero of={img} bs=1M count={DISK_MIB} 2>/dev/null && "
            f"printf {name(k)} | dd of={img} conv=notrunc 2>/dev/null && "
            f"iobondctl {name(k)} add-net --mac {mac(k)} --engine --tap tap{k} "
            f"--pairs {PAIRS if k == 0 else 1} && "
            f"iobondctl {name(k)} add-blk --file {img} --serial {name(k)}-disk "
            f"--engine && iobondctl {name(k)} start")
        board = self.board(k)
        board.sh(f"for i in $(seq 300); do grep -qi {mac(k)} /sys/class/net/*/address "
                 "&& exit 0; sleep 0.1; done; exit 1")
        self.disk(k)
        return time.time() - start

    def disk(self, k):
        """Board k's disk's name, found by its serial."""
        return self.board(k).sh(
            f"for i in $(seq 300); do for d in /sys/block/vd*; do "
            f"[ \"$(cat \"$d/serial\" 2>/dev/null)\" = {name(k)}-disk ] && "
            "echo ${d##*/} && exit 0; done; sleep 0.1; done; exit 1")[1].strip()

    def ifname(self, k):
        return self.board(k).sh(
            f"for d in /sys/class/net/*; do grep -qi {mac(k)} $d/address && "
            "echo ${d##*/}; done; true")[1].strip()

    def switch(self):
        """The mainboard's switch: a bridge joining every board's tap and
        the host.  IPv6 is off everywhere, so that what a board receives
        is what the step sent."""
        taps = " ".join(f"tap{k}" for k in range(self.n))
        self.host.sh(
            "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
            "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; "
            f"brctl addbr {BRIDGE} && ip addr add {HOST}/24 dev {BRIDGE} && "
            f"ip link set {BRIDGE} up && for t in {taps}; do "
            "for i in $(seq 100); do [ -e /sys/class/net/$t ] && break; sleep 0.1; done; "
            f"brctl addif {BRIDGE} $t && ip link set $t up || exit 1; done")

        def address(k):
            self.board(k).sh(
                "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
                f"ifc={self.ifname(k)}; ip addr add {ip(k)}/24 dev $ifc && "
                "ip link set $ifc up")
        self.each(address)

    def first_ping(self, k, start):
        """Board k pings the host until it answers; seconds since @start."""
        self.board(k).sh(f"for i in $(seq 60); do ping -c 1 -W 1 {HOST} > /dev/null "
                         "&& exit 0; done; exit 1")
        return time.time() - start

    # -- the switch's steps ---------------------------------------------

    def all_pairs(self):
        """Every board pings every other board and the host."""
        def pings(k):
            others = " ".join(ip(j) for j in range(self.n) if j != k) + f" {HOST}"
            return self.board(k).sh(
                f"for a in {others}; do ping -c 1 -W 5 $a > /dev/null || "
                "echo unreachable $a; done", timeout=60 * self.n)[1]
        for k, out in sorted(self.each(pings).items()):
            self.run.check(f"{name(k)}.pings_every_board", "unreachable" not in out, out)

    def rx_bytes(self, ks):
        return {k: int(self.board(k).sh(
            f"cat /sys/class/net/{self.ifname(k)}/statistics/rx_bytes")[1])
            for k in ks}

    def rtt(self, k, to):
        """Board k's median of 20 pings to @to, in ms."""
        out = self.board(k).sh(f"ping -c 20 -i 0.1 {to}")[1]
        times = sorted(float(t) for t in re.findall(r"time=([\d.]+) ms", out))
        return times[len(times) // 2] if len(times) >= 10 else None

    def iperf(self, k, to, secs=3):
        """Board k's iperf3 to @to (which serves): Mbit/s received."""
        out = self.board(k).sh(f"iperf3 -c {to} -t {secs} -J", timeout=60 + secs)[1]
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6

    def board_to_board(self):
        """Board 0 to board 1 against board 0 to the host: latency and
        TCP throughput.  Meanwhile the other boards must not see the
        stream: the switch learnt where board 1 is."""
        r = self.run
        self.board(1).sh("iperf3 -s -D > /dev/null")
        self.host.sh("iperf3 -s -D > /dev/null")
        b2b_rtt, b2h_rtt = self.rtt(0, ip(1)), self.rtt(0, HOST)
        others = range(2, self.n)
        before = self.rx_bytes(others)
        b2b = self.iperf(0, ip(1))
        after = self.rx_bytes(others)
        b2h = self.iperf(0, HOST)
        stray = {name(k): after[k] - before[k] for k in others}
        print(f"# board0 -> board1: rtt {b2b_rtt} ms, {b2b:.0f} Mbit/s; "
              f"board0 -> host: rtt {b2h_rtt} ms, {b2h:.0f} Mbit/s; "
              f"bytes the other boards got meanwhile: {stray}", flush=True)
        self.figures.update(b2b_rtt_ms=b2b_rtt, b2h_rtt_ms=b2h_rtt,
                            b2b_mbit=b2b, b2h_mbit=b2h)
        r.check("mainboard.board_to_board_iperf3", b2b > 0 and b2b_rtt is not None,
                f"{b2b} Mbit/s, rtt {b2b_rtt}")
        r.check("mainboard.others_see_no_stream",
                all(v < STRAY_BYTES for v in stray.values()), str(stray))

    def tenants(self):
        """A VLAN per tenant: boards 2t and 2t+1 share VLAN TENANT_VID + t
        (untagged on their taps).  A board reaches its tenant's other
        board and no other tenant's, and never hears another tenant's
        broadcasts.  Then the switch is flat again."""
        r = self.run
        cmds = [f"echo 1 > /sys/class/net/{BRIDGE}/bridge/vlan_filtering"]
        for k in range(self.n):
            vid = TENANT_VID + k // 2
            cmds += [f"bridge vlan add dev tap{k} vid {vid} pvid untagged",
                     f"bridge vlan del dev tap{k} vid 1"]
        self.host.sh(" && ".join(cmds))
        try:
            out = self.board(0).sh(f"ping -c 1 -W 5 {ip(1)} > /dev/null && echo same-ok; "
                                   f"ping -c 2 -W 2 {ip(2)} > /dev/null && echo other-ok; "
                                   "true", timeout=60)[1]
            r.check("mainboard.vlan_tenant_reachable", "same-ok" in out, out)
            r.check("mainboard.vlan_other_tenant_unreachable", "other-ok" not in out, out)
            # Board 0 broadcasts ARP requests, one a second: its
            # tenant's board hears them, the other tenants' boards hear
            # nothing.
            before = self.rx_bytes(range(1, self.n))
            self.board(0).sh(f"arping -b -c {ARPS} -I {self.ifname(0)} {ip(1)} "
                             "> /dev/null; true", timeout=60)
            after = self.rx_bytes(range(1, self.n))
            got = {name(k): after[k] - before[k] for k in range(1, self.n)}
            print(f"# bytes each board got of board0's {ARPS} ARP broadcasts: {got}")
            r.check("mainboard.vlan_broadcast_stays_in_tenant",
                    got[name(1)] >= ARPS * ARP_BYTES and
                    all(got[name(k)] < ARP_BYTES for k in range(2, self.n)), str(got))
        finally:
            self.host.sh(f"echo 0 > /sys/class/net/{BRIDGE}/bridge/vlan_filtering")

    def queue_counts(self, k):
        """What the host counted on each queue of board k's NIC: bytes
        it wrote into receive buffers, kicks and interrupts."""
        out = self.host.sh(f"iobondctl --json {name(k)} stats 0")[1]
        return [(q["bytes"], q["kicks"] + q["interrupts"])
                for q in json.loads(out)["queues"]]

    def streams(self, k):
        """A TCP stream each way from each of board k's CPUs to the host
        (XPS sends each CPU's on its own pair); what the host counted on
        each queue meanwhile: bytes on receive queues, kicks and
        interrupts on transmit queues."""
        before = self.queue_counts(k)
        for rev in ("", " -R"):
            self.board(k).sh(" & ".join(
                f"taskset -c {cpu} iperf3 -c {HOST} -p {5201 + cpu} -t 2{rev} > /dev/null"
                for cpu in range(MQ_CPUS)) + "; wait", timeout=120)
        after = self.queue_counts(k)
        return [a[q % 2] - b[q % 2] for q, (a, b) in enumerate(zip(after, before))]

    def multiqueue(self):
        """Board 0's NIC has PAIRS pairs and a control queue, and the board
        MQ_CPUS CPUs.  ethtool -L asks the control queue for every pair,
        and the streams spread over them, as the host's per-queue
        counters show.  Back to one pair, the others carry nothing."""
        r, b, ifc = self.run, self.board(0), self.ifname(0)
        self.host.sh("; ".join(f"iperf3 -s -D -p {5201 + cpu} > /dev/null"
                               for cpu in range(1, MQ_CPUS)))
        b.sh(f"ethtool -L {ifc} combined {PAIRS}")
        chans = b.sh(f"ethtool -l {ifc}")[1]
        r.check("board0.mq_pairs_set",
                re.findall(r"Combined:\s+(\d+)", chans) == [str(PAIRS)] * 2, chans)
        moved = self.streams(0)
        print(f"# board0's NIC, {PAIRS} pairs: rx bytes, tx kicks+irqs by queue: {moved}",
              flush=True)
        for p in range(PAIRS):
            r.check(f"host.mq_pair{p}_carries_rx_and_tx",
                    all(moved[q] > PAIR_SHARE * sum(moved[q % 2:2 * PAIRS:2])
                        for q in (2 * p, 2 * p + 1)), f"by queue: {moved}")
        b.sh(f"ethtool -L {ifc} combined 1")
        moved = self.streams(0)
        print(f"# board0's NIC, 1 pair: by queue: {moved}", flush=True)
        r.check("host.mq_one_pair_alone",
                moved[0] and moved[1] and not any(moved[2:2 * PAIRS]),
                f"by queue: {moved}")
        # A tenant may not take another address: the control queue refuses.
        rc, out = b.sh(f"ip link set {ifc} address 52:54:00:b0:00:ee", check=False)
        r.check("board0.mq_foreign_mac_refused", rc != 0, out)

    def disks(self):
        """Each board reads its own disk's mark and writes a new one; on
        the host each board's file holds that board's mark only."""
        def mine(k):
            dev = self.disk(k)
            return self.board(k).sh(
                f"head -c {len(name(k))} /dev/{dev}; "
                f"printf wrote-{name(k)} | dd of=/dev/{dev} bs=512 seek=8 "
                "conv=fsync 2> /dev/null")[1]
        read = self.each(mine)
        self.run.check("mainboard.each_board_reads_its_disk",
                       all(read[k] == name(k) for k in range(self.n)), str(read))
        out = self.host.sh("; ".join(
            f"echo {name(k)} $(dd if=/tmp/{name(k)}.img bs=512 skip=8 count=1 "
            f"2>/dev/null | head -c {len('wrote-') + len(name(k))})"
            for k in range(self.n)))[1]
        self.run.check("mainboard.each_board_writes_its_disk",
                       all(f"{name(k)} wrote-{name(k)}" in out for k in range(self.n)), out)

    def per_board_files(self):
        """Each board's backends log to their own files."""
        logs = " ".join(f"/run/iobond/{name(k)}-dev{d}.log"
                        for k in range(self.n) for d in (0, 1))
        rc, out = self.host.sh(f"ls {logs}", check=False)
        self.run.check("host.per_board_backend_logs", rc == 0, out)


def plan(run, n=4):
    """make check's mainboard: N boards, each with a NIC and a disk; the
    switch between them, its isolation, and a VLAN per tenant."""
    mb = Mainboard(run, n)
    # The pair's engine outlived the pair's plan; the mainboard's
    # engines are checked at the end.
    run.engines_alive("outlived_the_pair")
    mb.boot(board_mib=BOARD_MIB)
    mb.listed("booted")
    start = time.time()
    mb.each(mb.provision)
    mb.switch()
    first = mb.each(lambda k: mb.first_ping(k, start))
    print(f"# every board provisioned and pinging the host {max(first.values()):.1f}s "
          "after provisioning began", flush=True)
    print("# " + "\n# ".join(mb.listed("provisioned").splitlines()), flush=True)
    mb.per_board_files()
    mb.all_pairs()
    mb.board_to_board()
    mb.multiqueue()
    mb.tenants()
    mb.disks()
    mb.all_pairs()
