# SPDX-License-Identifier: GPL-2.0
"""make bench: the board's IO-Bond NIC and disk against QEMU's own
virtio-net-pci and virtio-blk-pci, in one run, in one board VM.

What makes it fair (Documentation/iobond/testbed.rst, "Benchmark"):

- both devices of a kind live in the same board VM, so they share its CPU
  model, vCPUs, kernel and command line; the runner boots bench VMs with
  erms off and without slub_debug;
- both disks are RAM-backed files of the same content, with the same
  queue count and depth; both NICs reach the same iperf3 server in the
  host VM, QEMU's through a tap on a bridge, as a user would wire it;
- every job runs once on each to warm up, then REPS times on each,
  alternating which goes first; the table shows medians and spreads;
- the board's CPU cost is read from the real machine: the CPU time of
  the board QEMU's vCPU threads, per request, at the same fixed rate.
"""
import json
import os
import re
import statistics
import time

# IOBOND_BENCH_REPS and IOBOND_BENCH_RUNTIME shorten a run that only
# checks that the benchmark works; its figures then mean little.
REPS = int(os.environ.get("IOBOND_BENCH_REPS", 5))
RUNTIME = int(os.environ.get("IOBOND_BENCH_RUNTIME", 5))    # s per fio job
QDS = (1, 4, 16, 32, 64)
BSS = ("4k", "16k", "64k", "128k", "1m")
RATE_IOPS = 1000                         # the fixed rate for CPU per I/O
RATE_JOB = f"--rw=randread --bs=4k --iodepth=32 --rate_iops={RATE_IOPS}"
PERCENTILES = "1:5:10:20:30:40:50:60:70:80:90:95:99:99.5:99.9"

# The goals: IO-Bond's median over QEMU's ("ratio"), or IO-Bond's
# own ("bond"); each names a disk job and a key, or a NIC measure.  "info"
# rows are measured and shown, with no goal.
GOALS = [
    ("4k randread QD32 IOPS", "disk", "randread_4k_qd32", "iops", "ratio", ">=", 1.0),
    ("128k seqread MiB/s", "disk", "seqread_128k_qd8", "mib", "ratio", ">=", 1.0),
    ("4k randread QD32 p99", "disk", "randread_4k_qd32", "p99_ms", "ratio", "<=", 1.0),
    ("TCP board->host", "net", "tcp_board_to_host", None, "ratio", ">=", 1.0),
    ("TCP host->board", "net", "tcp_host_to_board", None, "ratio", ">=", 1.0),
    ("ping RTT", "net", "ping_ms", None, "ratio", "<=", 1.2),
    ("board vCPU ms per I/O", "disk", "rate", "cpu_ms_per_io", "ratio", "<=", 0.5),
    ("kicks per request, QD32", "disk", "randread_4k_qd32", "kicks_per_req", "bond", "<=", 0.1),
    ("irqs per request, QD32", "disk", "randread_4k_qd32", "irqs_per_req", "bond", "<=", 0.25),
    # No goal: what the engine itself costs, on the real machine.
    ("engine ms per I/O, QD32", "disk", "randread_4k_qd32", "engine_ms_per_io", "info", None, None),
    ("engine ms per I/O, rate", "disk", "rate", "engine_ms_per_io", "info", None, None),
]

BOND, QEMU = "iobond", "qemu"


def summary(values):
    """Median, min and max of @values (None for none)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values)}


def cpu_ms(pid, name_prefix=""):
    """CPU time so far of @pid's threads whose name starts with
    @name_prefix, in ms: schedstat's nanoseconds, not stat's 10 ms ticks."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if not f.read().startswith(name_prefix):
                    continue
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            continue        # a thread that ended meanwhile
    return total / 1e6


class Bench:
    def __init__(self, run, board_cpus):
        self.run = run
        self.board_cpus = board_cpus
        self.host, self.board = run.vms["host"], run.vms["board"]
        self.results = {"config": {}, "disk": {}, "net": {}}

    # -- counters ---------------------------------------------------------

    def vcpu_ms(self):
        """The board QEMU's vCPU threads ("CPU n/TCG"), on the real machine."""
        return cpu_ms(self.board.proc.pid, "CPU ")

    def engine_ms(self):
        return cpu_ms(self.run.engine.pid) if self.run.engine else 0

    def cpu_split(self):
        """CPU ms so far of what shares the real machine's cores: each
        QEMU's vCPU threads and its other threads (device models, I/O),
        and the engine."""
        out = {}
        for side in ("host", "board"):
            pid = self.run.vms[side].proc.pid
            out[f"{side}_vcpu"] = cpu_ms(pid, "CPU ")
            out[f"{side}_other"] = cpu_ms(pid) - out[f"{side}_vcpu"]
        out["engine"] = self.engine_ms()
        return out

    def probe_kicks(self):
        """Count the board's notifications with kprobes on both transports'
        notify functions: kprobe_profile counts an enabled probe's hits,
        and with tracing off nothing is recorded."""
        rc, out = self.board.sh(
            "t=/sys/kernel/tracing; [ -e $t/kprobe_events ] || "
            "mount -t tracefs nodev $t; "
            "echo 0 > $t/tracing_on && "
            "echo 'p:iobk iobond_guest:ibg_notify' >> $t/kprobe_events && "
            "echo 'p:qemuk vp_notify' >> $t/kprobe_events && "
            "echo 1 > $t/events/kprobes/iobk/enable && "
            "echo 1 > $t/events/kprobes/qemuk/enable", check=False)
        self.kprobes = rc == 0
        if not self.kprobes:
            print(f"# bench: no kprobes on the board, kicks not counted: {out.strip()}")

    def unprobe_kicks(self):
        """Off again: a probe's cost must not weigh on the CPU measures."""
        if self.kprobes:
            self.board.sh("t=/sys/kernel/tracing/events/kprobes; "
                          "echo 0 > $t/iobk/enable; echo 0 > $t/qemuk/enable")
            self.kprobes = False

    def kicks(self):
        """{BOND: n, QEMU: n}: notifications so far, or None each."""
        if not self.kprobes:
            return {BOND: None, QEMU: None}
        out = self.board.sh("cat /sys/kernel/tracing/kprobe_profile")[1]
        hits = {l.split()[0]: int(l.split()[1]) for l in out.splitlines() if l.strip()}
        return {BOND: hits.get("iobk"), QEMU: hits.get("qemuk")}

    def irqs(self):
        """{BOND: n, QEMU: n}: the disks' interrupts so far, on all the
        board's CPUs, from one read of /proc/interrupts."""
        pats = {BOND: r"iobond_guest-v[1-9]", QEMU: r"virtio[0-9]+-req"}
        out = self.board.sh("cat /proc/interrupts")[1]
        counts = {BOND: 0, QEMU: 0}
        for line in out.splitlines():
            for who, pat in pats.items():
                if re.search(pat, line):
                    counts[who] += sum(int(x) for x in line.split()[1:1 + self.board_cpus])
        return counts

    # -- the disks --------------------------------------------------------

    def fio(self, dev, args):
        """One fio job on the board's @dev; its read side, with the
        board's vCPU and the engine's CPU time and the kicks and
        interrupts it cost."""
        # The counters read in the board cost its vCPUs: outside the clock.
        # cpu_split() holds the board's vCPU time and the engine's too.
        k0, i0 = self.kicks(), self.irqs()
        s0, w0 = self.cpu_split(), time.monotonic()
        out = self.board.sh(
            f"fio --name=b --filename=/dev/{dev} --direct=1 --ioengine=io_uring "
            f"--time_based --runtime={RUNTIME} --percentile_list={PERCENTILES} "
            f"--output-format=json {args}", RUNTIME * 10 + 60)[1]
        s1, w1 = self.cpu_split(), time.monotonic()
        k1, i1 = self.kicks(), self.irqs()
        job = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]["jobs"][0]["read"]
        pct = {float(k): v / 1e6 for k, v in job["clat_ns"].get("percentile", {}).items()}
        return {"iops": job["iops"], "mib": job["bw"] / 1024,
                "p50_ms": pct.get(50.0), "p99_ms": pct.get(99.0), "cdf_ms": pct,
                "ios": job["total_ios"],
                "vcpu_ms": s1["board_vcpu"] - s0["board_vcpu"],
                "engine_ms": s1["engine"] - s0["engine"], "wall_s": w1 - w0,
                # Where the real machine's cores went: busy cores each.
                "cores": {k: (s1[k] - s0[k]) / ((w1 - w0) * 1000) for k in s0},
                "kicks": {k: None if k0[k] is None else k1[k] - k0[k] for k in k0},
                "irqs": {k: i1[k] - i0[k] for k in i0}}

    def alternate(self, name, args, disks):
        """@name: a warm-up on each disk, then REPS runs on each, the first
        of each pair alternating; the medians and spreads per disk."""
        order = [BOND, QEMU]
        for who in order:
            self.fio(disks[who], args)
        runs = {BOND: [], QEMU: []}
        for rep in range(REPS):
            for who in order if rep % 2 == 0 else order[::-1]:
                r = self.fio(disks[who], args)
                r["kicks_per_req"] = (None if r["kicks"][who] is None
                                      else r["kicks"][who] / max(r["ios"], 1))
                r["irqs_per_req"] = r["irqs"][who] / max(r["ios"], 1)
                r["cpu_ms_per_io"] = r["vcpu_ms"] / max(r["ios"], 1)
                r["engine_ms_per_io"] = r["engine_ms"] / max(r["ios"], 1) if who == BOND else None
                runs[who].append(r)
        res = {}
        for who, rs in runs.items():
            res[who] = {k: summary([r[k] for r in rs])
                        for k in ("iops", "mib", "p50_ms", "p99_ms", "kicks_per_req",
                                  "irqs_per_req", "cpu_ms_per_io", "engine_ms_per_io")}
            res[who]["runs"] = rs
            res[who]["cores"] = {k: statistics.median(r["cores"][k] for r in rs)
                                 for k in rs[0]["cores"]}
        self.results["disk"][name] = res
        def m(who, key):
            return res[who][key]["median"] if res[who][key] else float("nan")
        print(f"{name:<22} IOPS {m(BOND, 'iops'):8.0f} vs {m(QEMU, 'iops'):8.0f}  "
              f"MiB/s {m(BOND, 'mib'):7.1f} vs {m(QEMU, 'mib'):7.1f}  "
              f"p99 {m(BOND, 'p99_ms'):6.2f} vs {m(QEMU, 'p99_ms'):6.2f} ms", flush=True)
        for who in order:
            print(f"# cores busy, {name}, {who}: " +
                  ", ".join(f"{k} {v:.2f}" for k, v in res[who]["cores"].items()),
                  flush=True)
        return res

    def disks(self, devs):
        """Every disk job; @devs: the board's names of both disks."""
        print(f"# disks: fio io_uring O_DIRECT, {RUNTIME} s a run, warm-up + {REPS} "
              "alternating runs each; IO-Bond vs QEMU, medians")
        for qd in QDS:
            self.alternate(f"randread_4k_qd{qd}", f"--rw=randread --bs=4k --iodepth={qd}",
                           devs)
        for bs in BSS:
            self.alternate(f"seqread_{bs}_qd8", f"--rw=read --bs={bs} --iodepth=8", devs)
        # The board's CPU per request at one fixed rate for both: the
        # tenant's cycles I/O costs, with no probe firing, less what its
        # vCPUs burn idle over the same wall time.
        self.unprobe_kicks()
        c0, w0 = self.vcpu_ms(), time.monotonic()
        time.sleep(RUNTIME)
        idle = (self.vcpu_ms() - c0) / (time.monotonic() - w0)     # ms per s
        res = self.alternate("rate", RATE_JOB, devs)
        for who in (BOND, QEMU):
            for r in res[who]["runs"]:
                r["cpu_ms_per_io"] = ((r["vcpu_ms"] - idle * r["wall_s"]) /
                                      max(r["ios"], 1))
            res[who]["cpu_ms_per_io"] = summary([r["cpu_ms_per_io"] for r in res[who]["runs"]])
        res["idle_vcpu_ms_per_s"] = idle

    def floor(self, dev):
        """The board's vCPU ms per request for the fixed-rate job on
        null_blk @dev (its defaults: no media, completion in a softirq):
        what the board's own block stack and fio cost with no device at
        all, the floor under any device's figure."""
        idle = self.results["disk"]["rate"]["idle_vcpu_ms_per_s"]
        self.fio(dev, RATE_JOB)
        runs = [self.fio(dev, RATE_JOB) for _ in range(REPS)]
        per = summary([(r["vcpu_ms"] - idle * r["wall_s"]) / max(r["ios"], 1)
                       for r in runs])
        self.results["disk"]["rate_floor"] = {"null_blk": {"cpu_ms_per_io": per},
                                              "runs": runs}
        q = self.summary_of("disk", "rate", "cpu_ms_per_io", QEMU)
        print(f"# board vCPU ms per I/O at {RATE_IOPS} IOPS on null_blk, no device "
              f"at all: {per['median']:.3g} [{per['min']:.3g},{per['max']:.3g}]; "
              f"{per['median'] / q['median']:.2f} of QEMU's disk", flush=True)

    # -- the NICs ---------------------------------------------------------

    def nic_once(self, ifc, peer):
        """ping and iperf3 both ways from the board through @ifc; for
        each iperf3 run, where the real machine's CPU went, in cores."""
        out = self.board.sh(f"ping -c 30 -i 0.1 -I {ifc} {peer} | tail -1")[1]
        res = {"ping_ms": float(out.split("=")[1].split()[0].split("/")[1])
               if "=" in out else None}
        for key, rev in (("tcp_board_to_host", ""), ("tcp_host_to_board", " -R")):
            before, start = self.cpu_split(), time.time()
            out = self.board.sh(f"iperf3 -c {peer} -t 5 -f m{rev} | grep receiver")[1]
            wall_ms = (time.time() - start) * 1000
            res[key] = float(out.split("Mbits/sec")[0].split()[-1])
            res[f"cpu_{key}"] = {k: (v - before[k]) / wall_ms
                                 for k, v in self.cpu_split().items()}
        return res

    def nics(self, ifcs, peers):
        print(f"# NICs: ping -c 30, iperf3 -t 5 each way, warm-up + {REPS} alternating "
              "runs each; IO-Bond (vhost-net) vs QEMU virtio-net-pci on a tap")
        order = [BOND, QEMU]
        for who in order:
            self.nic_once(ifcs[who], peers[who])
        runs = {BOND: [], QEMU: []}
        for rep in range(REPS):
            for who in order if rep % 2 == 0 else order[::-1]:
                runs[who].append(self.nic_once(ifcs[who], peers[who]))
        for key in ("ping_ms", "tcp_board_to_host", "tcp_host_to_board"):
            self.results["net"][key] = {who: summary([r[key] for r in runs[who]])
                                        for who in runs}
        self.results["net"]["runs"] = runs
        for key in ("ping_ms", "tcp_board_to_host", "tcp_host_to_board"):
            b, q = (self.results["net"][key][w] for w in (BOND, QEMU))
            print(f"{key:<22} {b['median'] if b else float('nan'):8.2f} vs "
                  f"{q['median'] if q else float('nan'):8.2f}", flush=True)
        # Where the time goes: median cores busy during each iperf3 run.
        for key in ("tcp_board_to_host", "tcp_host_to_board"):
            for who in (BOND, QEMU):
                split = {k: statistics.median(r[f"cpu_{key}"][k] for r in runs[who])
                         for k in runs[who][0][f"cpu_{key}"]}
                self.results["net"][f"cpu_{key}"] = dict(
                    self.results["net"].get(f"cpu_{key}", {}), **{who: split})
                print(f"# cores busy, {key}, {who}: " +
                      ", ".join(f"{k} {v:.2f}" for k, v in split.items()), flush=True)

    # -- the verdict ------------------------------------------------------

    def summary_of(self, section, name, key, who):
        """The summary a goal names, or None if it was not measured."""
        node = self.results[section].get(name, {}).get(who)
        return node.get(key) if node and key else node

    def table(self):
        """Print the goals' table; put it in the results too."""
        def num(v):
            return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}"

        def fmt(s):
            return f"{num(s['median'])} [{num(s['min'])},{num(s['max'])}]" if s else "n/a"

        rows = []
        print(f"{'goal':<26} {'IO-Bond median [min,max]':>26} "
              f"{'QEMU median [min,max]':>26} {'value':>7} {'goal':>7}  met")
        for label, section, name, key, kind, op, bound in GOALS:
            b = self.summary_of(section, name, key, BOND)
            q = self.summary_of(section, name, key, QEMU)
            # A count of nothing, or a CPU figure the idle cost outweighed,
            # judges nothing.
            if not b or b["median"] < 0 or \
                    (kind == "ratio" and not (q and q["median"] > 0)):
                rows.append({"goal": label, "value": None, "met": None})
                print(f"{label:<26} {'not measured':>26}")
                continue
            if kind == "info":
                rows.append({"goal": label, "kind": kind, "iobond": b})
                print(f"{label:<26} {fmt(b):>26}")
                continue
            value = b["median"] / q["median"] if kind == "ratio" else b["median"]
            met = value >= bound if op == ">=" else value <= bound
            rows.append({"goal": label, "kind": kind, "iobond": b, "qemu": q,
                         "value": value, "bound": f"{op} {bound}", "met": met})
            print(f"{label:<26} {fmt(b):>26} {fmt(q):>26} {value:7.2f} "
                  f"{op + str(bound):>7}  {'yes' if met else 'NO'}", flush=True)
        self.results["goals"] = rows

    def write(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(self.results, f, indent=1)
        print(f"# bench: results in {path}")
