#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Boot the IO-Bond VM pair and run both sides' kselftests.

A fabric daemon serves the link.  A host VM (q35 + intel-iommu) holds the
link's host end, a board VM its board end.  Each VM runs a busybox
initramfs with our modules and test binaries, and takes shell commands on
its second serial port from iobond-agent (vm/agent.c), over a framed,
acknowledged channel (channel.py).  The runner walks a plan: commands
that set the stage, and kselftest binaries whose KTAP it counts.

The run fails on any failed test, on a kernel splat in either VM's
console, on a VM that dies when the plan did not kill it, and on a step
that outlives its timeout (the VM is killed and its console tail shown).
The last line is always "N passed, N failed, N skipped".
"""

import argparse
import collections
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from channel import Channel, ChannelError, Damage
import bench
import mainboard
import skips
import stress

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../../../.."))
TESTS = os.path.join(ROOT, "tools/testing/selftests/iobond")
FABRIC = os.path.join(ROOT, "tools/iobond/iobond-fabric")
ENGINE = os.path.join(ROOT, "tools/iobond/iobond-engine")
AGENT = os.path.join(TESTS, "vm/iobond-agent")
VM_PROGS = ["module_test", "link_test", "loss_test", "testbed_test",
            "ctrl_test", "slot_test", "events_test", "vnet_test", "net_test",
            "window_test", "blk_test", "blkkill_test", "blkraw_test", "vfio_test",
            "fault_test", "fuzz_ctrl_test", "scribble_test", "engine_board_test",
            "engine_host_test",
            "cli_test"]
HOST_IP, BOARD_IP = "169.254.77.1", "169.254.77.2"   # link-local, VM-internal
# The benchmark's comparison NICs: QEMU's virtio-net-pci in each VM.
QEMU_MAC = {"host": "52:54:00:99:00:01", "board": "52:54:00:99:00:02"}
QEMU_IP = {"host": "169.254.78.1", "board": "169.254.78.2"}
# The benchmark's disks: the same size and content, each in RAM.
BENCH_DISK_MIB = 128
QEMU_DISK, BOND_DISK, BENCH_SRC = "qemu-disk", "bond-disk", "bench-src"
# Both bench disks: two queues (one per board CPU) of 128, IO-Bond's size.
BENCH_QUEUES, BENCH_QUEUE_SIZE = 2, 128
# The host VM's own disk, and the durability step's pattern sizes.
HOST_DISK, HOST_DISK_MIB = "host-disk", 64
DURABLE_KIB = 256
IOBONDCTL = os.path.join(ROOT, "tools/iobond/iobondctl")
IOBOND_BLK = os.path.join(ROOT, "tools/iobond/iobond-blk")
# Debian modules each VM loads at boot, with their dependencies.  The host
# takes VFIO and mdev, the face the block backend is handed its disk by.
KMODS = {"host": ["vfio_iommu_type1", "vfio_pci", "mdev", "vhost_net", "tun", "bridge",
                  "sch_ingress", "cls_matchall", "act_police",
                  "virtio_pci", "virtio_blk", "ext4", "crc32c_generic"],
         "board": ["virtio_net", "virtio_blk", "ext4", "crc32c_generic"]}
# Debian programs each VM gets, with the libraries ldd names.
PROGRAMS = {"host": ["/usr/bin/iperf3", "/sbin/mkfs.ext4", "/usr/bin/nbdkit",
                     # the mainboard's switch: VLANs on its bridge, and
                     # the limits iobondctl limit-net sets with tc
                     "/usr/sbin/bridge", "/usr/sbin/tc"],
            "board": ["/usr/bin/iperf3", "/usr/sbin/ethtool", "/usr/bin/fio",
                      "/sbin/mkfs.ext4", "/sbin/e2fsck"]}
# The NBD servers of the cloud-disk steps, in the host VM: nbdkit's
# plugins and filter, loaded from where they were built for.
NBDKIT_MODULES = [f"/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-{p}-plugin.so"
                  for p in ("memory", "file")] + [
    "/usr/lib/x86_64-linux-gnu/nbdkit/filters/nbdkit-delay-filter.so"]
RESULTS = os.path.join(ROOT, "build/vmpair")   # each step's raw KTAP
MAINBOARD_BOARDS = 4    # make check's mainboard (mainboard.py)
VECTORS = 8
IOBOND_BLK_GRACE_S = 5     # IOBOND_BLK_GRACE_MS in the uAPI
# How long the board holds its devices for a lost host: the default, and
# the short one the steps that watch it give up use.
GRACE_PARAM = "/sys/module/iobond_guest/parameters/host_grace_ms"
HOST_GRACE_MS, SHORT_GRACE_MS = 60000, 3000
REGION = "64M"
# The board VM's RAM: a file in /dev/shm that the engine maps too.  The
# host VM has as much, and more for each further board (mainboard.py).
BOARD_RAM_MIB = 512
HOST_MIB_PER_BOARD = 64
BOARD_NICE = 5          # a mainboard's boards' niceness (VM.launch())
# How much slower the debug tier's kernel runs the tests, at most.
DEBUG_SLOWDOWN = 4
# Two board CPUs, so that a two-queue disk uses both queues (blk-mq maps
# queues to CPUs).
BOARD_CPUS = "2"
# One host CPU, but room for two.  TCG makes a guest's locked instructions
# atomic, and so fencing, only on a machine of more than one possible CPU
# (tcg_cpu_init_cflags(): CF_PARALLEL), as if no one else shared its
# memory; on one CPU "lock or" is a plain load and store.  x86's full
# fences are locked instructions (GCC's __atomic_thread_fence(), the
# kernel's smp_mb()), and the host shares the window with the engine, a
# native process: without them a backend's "ask for a kick, then look
# again" passes the engine's "publish, then look" (a store-load
# reordering), and the kick is lost.  A second possible CPU is never
# plugged; it only makes locked instructions cost an atomic helper.  Only
# multi-threaded TCG keeps CF_PARALLEL: VM.start() says thread=multi.
# (QEMU 8.1 stopped eliding mfence alone, c914d46d0a64; not locked ops.)
HOST_CPUS = "1,maxcpus=2"

# What a kernel splat looks like on the console (slub_debug=FZPU reports
# start with "BUG <cache>" and name the slab).
SPLAT = re.compile(r"\bBUG\b|WARNING:|Oops|general protection|KASAN|UBSAN|"
                   r"list_add corruption|list_del corruption|\bslab\b|"
                   r"Kernel panic|kernel BUG|soft lockup|hung_task|"
                   r"blocked for more than|Disabling lock debugging|"
                   # lockdep's reports that also switch it off for good
                   r"non-static key|locking correctness validator|"
                   r"detected stall|printk messages dropped|"
                   # virtio's ring checks: a device replayed or forged a used id
                   r"is not a head!")
SPLAT_CONTEXT = 60     # console lines shown of the first splat

# Not a splat: with slub_debug, each virtio_blk disk's bio slab asks for a
# debugfs directory a merged cache already has, and 6.1 says so.
BENIGN = re.compile(r"debugfs: Directory '[^']*' with parent 'slab' already present")


def kver():
    v = os.environ.get("KVER")
    if v:
        return v
    heads = glob.glob("/usr/src/linux-headers-*-amd64")
    if not heads:
        sys.exit("vmpair: no kernel headers: run 'make deps'")
    def key(p):
        return [int(x) if x.isdigit() else x
                for x in re.split(r"[.-]", p.split("linux-headers-")[1])]
    return sorted(heads, key=key)[-1].split("linux-headers-")[1]


def iperf3_server(port=5201):
    """Shell, for the host: start iperf3's server on @port, and wait until
    it listens (-D returns before it does)."""
    return (f"iperf3 -s -D -p {port} > /dev/null; for i in $(seq 50); do "
            f"grep -q ':{port:04X} [0-9A-F]*:0000 0A' /proc/net/tcp /proc/net/tcp6 "
            "&& exit 0; sleep 0.1; done; exit 1")


def tap_up(tap="tap0"):
    """Shell, for the host: wait for @tap to appear, then address it and
    bring it up."""
    return (f"for i in $(seq 100); do [ -e /sys/class/net/{tap} ] && break; "
            f"sleep 0.1; done; ip addr add {HOST_IP}/24 dev {tap} && "
            f"ip link set {tap} up")


def stop_daemon(proc):
    """SIGTERM @proc (the fabric, the engine), SIGKILL if it lingers."""
    if not proc:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


class Failure(Exception):
    pass


class VM:
    """One QEMU VM and the control channel to its agent."""

    def __init__(self, run, side, link=0):
        self.run = run
        self.side = side            # "host" or "board": what it boots
        # The board on @link: "board" for the pair's, "boardN" for more.
        self.link = link
        self.name = side if side == "host" or not link else f"board{link}"
        self.cpus = None        # a board's -smp, if not the run's
        self.proc = None
        self.sock = None
        self.chan = None
        self.seq = 0
        # The agent runs one command at a time: sh() from several threads
        # (mainboard.py) takes turns.
        self.lock = threading.Lock()
        self.boots = 0
        self.console = None
        self.expect_death = False
        self.expected_warnings = []
        # The channel's counts over every boot: frames resent, bytes
        # dropped, by the runner and by the agent.
        self.resent = self.bad = self.peer_resent = self.peer_bad = 0
        # Of those, the resends that channel_damage() caused on purpose.
        self.harm_resent = self.harm_peer_resent = 0

    def start(self, boot_s=120):
        self.launch()
        self.wait_ready(boot_s)

    def launch(self):
        """Start QEMU; wait_ready() waits for its agent."""
        r = self.run
        self.boots += 1
        self.console = os.path.join(r.work, f"{self.name}-console-{self.boots}.log")
        self.ctl = os.path.join(r.work, f"{self.name}.ctl")
        cmdline = "console=ttyS0 ignore_loglevel panic=-1 rdinit=/init"
        cpu = "max"
        if r.args.bench:
            # TCG runs rep movsb, the memcpy of an ERMS CPU, about a byte a
            # step, where real CPUs move a cache line: every copy a guest
            # makes (its network stack's, fio's) would weigh far more than
            # on hardware.  Off in both VMs, so both devices' guests pay
            # alike.
            cpu = "max,erms=off"
        else:
            # The check tier's slab poisoning; never in a benchmark.
            cmdline += " slub_debug=FZPU"
        if r.debug:
            # -cpu max offers LA57.  6.1's identify_cpu() zeroes the boot
            # CPU's feature words with interrupts on; an interrupt in that
            # window sees 4-level paging, and KASAN calls its 5-level
            # irq_desc address a "wild-memory-access" (1 boot in 6), then
            # turns lock debugging off.  4-level paging has no such window.
            cmdline += " no5lvl"
        args = [
            "qemu-system-x86_64", "-cpu", cpu, "-accel", r.accel_opts(),
            "-m", str(r.board_mib if self.side == "board" else r.host_mib()),
            "-smp", self.cpus or r.board_cpus if self.side == "board" else HOST_CPUS,
            "-name", f"{self.name},debug-threads=on",    # "CPU n/TCG": bench.py
            "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot",
            "-kernel", r.kernel, "-initrd", r.initrd[self.side],
            "-serial", f"file:{self.console}",
            "-chardev", f"socket,id=ctl,path={self.ctl},server=on,wait=off",
            "-serial", "chardev:ctl",
            "-monitor", f"unix:{r.work}/{self.name}.mon,server=on,wait=off",
        ]
        # The board's end of its link; the host holds the host end of
        # every link, one ivshmem function each, in link order (so that
        # link N is /dev/iobond/boardN).
        for link in range(r.links) if self.side == "host" else [self.link]:
            args += ["-chardev", f"socket,id=link{link},path={r.link_sock(link)}",
                     "-device", f"ivshmem-doorbell,chardev=link{link},vectors={VECTORS}"]
        if self.side == "host":
            args[args.index("-m"):args.index("-m")] = [
                "-M", "q35", "-device", "intel-iommu,intremap=on"]
            cmdline += " intel_iommu=on"
            # The mainboard's own disk, a file on the real machine: a
            # flush in the host VM reaches it (cache=writeback honours
            # flushes with fdatasync), and it outlives a killed QEMU.
            args += ["-drive", f"file={r.host_disk},if=none,id=hd,format=raw,"
                     "cache=writeback",
                     "-device", f"virtio-blk-pci,drive=hd,serial={HOST_DISK}"]
        else:
            # Its RAM is a shared file, which the engine maps: what the
            # board's devices DMA to is board memory, as on real hardware.
            args[args.index("-m"):args.index("-m")] = [
                "-M", "q35,memory-backend=ram", "-object",
                f"memory-backend-file,id=ram,size={r.board_mib}M,"
                f"mem-path={r.ram_file(self.link)},share=on"]
        if r.args.bench:
            # QEMU's own virtio-net-pci on a tap, both VMs' taps on one
            # bridge: what a user would run instead (bench.py).  With
            # vhost-net where this machine has it; these containers do not.
            args += ["-netdev", f"tap,id=qn,ifname={r.bench_taps[self.side]},"
                     f"script=no,downscript=no,vhost={'on' if r.bench_vhost else 'off'}",
                     "-device", f"virtio-net-pci,netdev=qn,mac={QEMU_MAC[self.side]}"]
            if self.side == "board":
                # And QEMU's own virtio-blk-pci on a file in RAM, with the
                # IO-Bond disk's queues and depth.
                # No indirect descriptors, as IO-Bond's disk offers none:
                # without them virtio_blk takes half a ring's depth.
                args += ["-drive", f"file={r.bench_disk},if=none,id=qd,format=raw",
                         "-device", f"virtio-blk-pci,drive=qd,serial={QEMU_DISK},"
                         f"num-queues={BENCH_QUEUES},queue-size={BENCH_QUEUE_SIZE},"
                         "indirect_desc=off"]
            else:
                # A copy of that file, for the host to copy into its tmpfs:
                # the IO-Bond disk starts with the same content.
                args += ["-drive", f"file={r.bench_src},if=none,id=src,format=raw,"
                         "readonly=on",
                         "-device", f"virtio-blk-pci,drive=src,serial={BENCH_SRC}"]
        args += ["-append", cmdline]
        if os.path.exists(self.ctl):
            os.unlink(self.ctl)
        if self.side == "board" and r.links > 1:
            # A mainboard's boards share the machine's two cores with the
            # host VM and each other, where real boards have their own:
            # they yield to the host VM, which serves them all.
            args = ["nice", "-n", str(BOARD_NICE)] + args
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.console + ".qemu", "w"))
        self.expect_death = False

    def wait_ready(self, boot_s=120):
        """Connect to the agent; it must say it is ready within @boot_s."""
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise Failure(f"{self.name}: QEMU exited at start: "
                              + open(self.console + ".qemu").read().strip())
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(self.ctl)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise Failure(f"{self.name}: no control channel")
                time.sleep(0.02)
        self.chan = Channel(self.sock, self.alive)
        try:
            ready = self.chan.wait_ready(boot_s)
        except ChannelError as e:
            self.die(f"failed at boot: {e}")
        if ready is None:
            self.die(f"did not boot within {boot_s}s")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n=25):
        try:
            with open(self.console, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no console)\n"

    def die(self, why):
        """Kill the VM, show its console, and fail the run."""
        self.kill()
        raise Failure(f"{self.name} VM {why}; console tail:\n{self.tail()}")

    def sh(self, cmd, timeout=300, check=True, stdin=b"", raw=False):
        """Run @cmd in the VM, with @stdin; return (status, output), the
        output as bytes if @raw."""
        with self.lock:
            return self.sh_locked(cmd, timeout, check, stdin, raw)

    def sh_locked(self, cmd, timeout, check, stdin, raw):
        self.seq += 1
        if self.run.debug:
            timeout *= DEBUG_SLOWDOWN
        if not self.alive():
            self.die(f"is not running for '{cmd}'")
        try:
            rc, out = self.chan.run(self.seq, cmd, stdin, timeout)
        except ChannelError as e:
            self.die(f"lost its channel in '{cmd}': {e}")
        text = out.decode(errors="replace")
        if rc is None:
            self.die(f"timed out after {timeout}s in '{cmd}'; its output "
                     f"so far:\n{text[-2000:]}\n--")
        if check and rc:
            raise Failure(f"{self.name}: '{cmd}' exited {rc}:\n{text}")
        return rc, out if raw else text

    def close_channel(self):
        """Add this boot's channel counts to the VM's, and close it."""
        if self.chan:
            c = self.chan
            self.resent += c.resent
            self.bad += c.bad
            self.peer_resent += c.peer_resent
            self.peer_bad += c.peer_bad
            self.chan = None
        if self.sock:
            self.sock.close()
            self.sock = None

    def kill(self):
        """Pull the plug."""
        self.expect_death = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.close_channel()

    def poweroff(self):
        """A clean OS shutdown: drivers' shutdown hooks run."""
        self.expect_death = True
        self.seq += 1
        try:
            self.chan.post(self.seq, "poweroff -f")
        except ChannelError:
            pass        # it went down before our ack came back
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.die("did not power off")
        self.close_channel()

    def console_mark(self):
        """Where this boot's console log ends now."""
        try:
            return self.console, os.path.getsize(self.console)
        except OSError:
            return self.console, 0

    def splats(self):
        """Splat lines of every boot's console; a line a step expected
        (self.expected_warnings: console, start, end, pattern) is not one."""
        found, context = [], []
        # In boot order: console-10 comes after console-9.
        paths = glob.glob(os.path.join(self.run.work, f"{self.name}-console-*.log"))
        for path in sorted(paths, key=lambda p: int(re.search(r"-(\d+)\.log$", p).group(1))):
            with open(path, "rb") as f:
                lines = f.readlines()
            off = 0
            for n, raw in enumerate(lines):
                line = raw.decode(errors="replace")
                at, off = off, off + len(raw)
                if not SPLAT.search(line) or BENIGN.search(line):
                    continue
                if any(p == path and start <= at < end and pat.search(line)
                       for p, start, end, pat in self.expected_warnings):
                    continue
                found.append(line.rstrip())
                if not context:
                    # The first report whole: a lockdep or KASAN report
                    # says what it is in the lines after its title.
                    context = [l.decode(errors="replace").rstrip()
                               for l in lines[n:n + SPLAT_CONTEXT]]
        return found, context

    def expect_warnings(self, pattern, step):
        """Run @step(); console lines matching @pattern that it caused
        are expected, not splats."""
        path, start = self.console_mark()
        try:
            step()
        finally:
            time.sleep(1)       # what the step printed reaches the log
            try:
                end = os.path.getsize(path)
            except OSError:
                end = start
            self.expected_warnings.append((path, start, end, re.compile(pattern)))


class Run:
    def __init__(self, args):
        self.args = args
        # The debug tier boots the sanitizer kernel it was handed, with
        # our modules built against it and everything else built in.
        self.debug = args.debug_kernel
        if self.debug:
            with open(os.path.join(self.debug, "include/config/kernel.release")) as f:
                self.kver = f.read().strip()
            self.kernel = os.path.join(self.debug, "arch/x86/boot/bzImage")
            self.modules = args.modules or ROOT
        else:
            self.kver = kver()
            self.kernel = f"/boot/vmlinuz-{self.kver}"
            self.modules = ROOT
        self.work = tempfile.mkdtemp(prefix="iobond-vmpair-")
        self.fabric_dir = os.path.join(self.work, "fabric")
        self.fabric = None
        self.initrd = {}
        self.passed = self.failed = self.skipped = 0
        self.accel = self.pick_accel()
        # One seed for the run's random parts: the channel stress and the
        # fuzzers.  IOBOND_SEED replays a run.
        seed = os.environ.get("IOBOND_SEED", str(random.randrange(1 << 32)))
        if not re.fullmatch(r"\d+", seed) or int(seed) >= 1 << 64:
            sys.exit(f"vmpair: IOBOND_SEED={seed!r}: a number below 2^64, please")
        self.seed = int(seed)
        print(f"# vmpair: seed {self.seed} (IOBOND_SEED={self.seed} replays it)",
              flush=True)
        # The bench's bridge and taps on this machine: named by our PID
        # (15 characters at most), and only those we made are removed.
        self.bench_bridge = f"iobbr{os.getpid()}"
        self.bench_taps = {side: f"iob{side[0]}{os.getpid()}" for side in ("host", "board")}
        self.bench_made = []
        self.bench_vhost = os.access("/dev/vhost-net", os.R_OK | os.W_OK)
        self.bench_disk = f"/dev/shm/iobond-bench-{os.getpid()}.img"
        self.bench_src = f"/dev/shm/iobond-bench-src-{os.getpid()}.img"
        self.host_disk = os.path.join(self.work, "host-disk.img")
        # The mainboard: its links (one board each), and each board's
        # size; the pair has one board, the mainboard steps more
        # (mainboard.py).
        self.links, self.board_mib, self.board_cpus = 1, BOARD_RAM_MIB, BOARD_CPUS
        self.engines = {}       # by link
        self.vms = {"host": VM(self, "host"), "board": VM(self, "board")}

    @property
    def engine(self):
        """The pair's engine: link 0's."""
        return self.engines.get(0)

    def host_mib(self):
        """The host VM's RAM: the pair's, and room for each further
        board's backends and its disk in the host's tmpfs."""
        return BOARD_RAM_MIB + HOST_MIB_PER_BOARD * (self.links - 1)

    def link_sock(self, link):
        return os.path.join(self.fabric_dir, f"board{link}.sock")

    def ram_file(self, link):
        """Board @link's RAM: a file in /dev/shm the engine maps too."""
        return f"/dev/shm/iobond-board{link}-{os.getpid()}.ram"

    # -- set-up ---------------------------------------------------------

    def accel_opts(self):
        """-accel's value: TCG multi-threaded, for HOST_CPUS's sake."""
        if self.accel.split(",")[0] != "tcg" or "thread=" in self.accel:
            return self.accel
        return self.accel + ",thread=multi"

    def pick_accel(self):
        want = os.environ.get("IOBOND_ACCEL", "auto")
        if "thread=single" in want:
            sys.exit("vmpair: IOBOND_ACCEL: single-threaded TCG makes a guest's "
                     "fences no-ops, and the host VM loses kicks (HOST_CPUS)")
        if want != "auto":
            return want
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return "tcg"
        # KVM is present on these machines but guests may hang: boot a
        # trivial initramfs and give it a few seconds to say so.
        probe = os.path.join(self.work, "kvm-probe")
        os.makedirs(os.path.join(probe, "bin"))
        shutil.copy("/bin/busybox", os.path.join(probe, "bin"))
        with open(os.path.join(probe, "init"), "w") as f:
            f.write("#!/bin/busybox sh\n/bin/busybox echo KVM-WORKS\n"
                    "/bin/busybox poweroff -f\n")
        os.chmod(os.path.join(probe, "init"), 0o755)
        initrd = self.cpio(probe, "kvm-probe.cpio.gz")
        try:
            out = subprocess.run(
                ["qemu-system-x86_64", "-accel", "kvm", "-m", "128",
                 "-nodefaults", "-display", "none", "-no-reboot",
                 "-kernel", self.kernel, "-initrd", initrd,
                 "-append", "console=ttyS0 quiet panic=-1", "-serial", "stdio"],
                capture_output=True, timeout=8).stdout
        except subprocess.TimeoutExpired:
            out = b""
        return "kvm" if b"KVM-WORKS" in out else "tcg"

    def cpio(self, tree, name):
        out = os.path.join(self.work, name)
        files = subprocess.run(["find", "."], cwd=tree, capture_output=True,
                               check=True).stdout
        with open(out, "wb") as f:
            cp = subprocess.Popen(["cpio", "-o", "-H", "newc", "--quiet"],
                                  cwd=tree, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
            gz = subprocess.Popen(["gzip", "-1"], stdin=cp.stdout, stdout=f)
            cp.stdin.write(files)
            cp.stdin.close()
            cp.stdout.close()
            if cp.wait() or gz.wait():
                raise Failure(f"cannot pack {name}")
        return out

    def build_initrd(self, side):
        tree = os.path.join(self.work, f"{side}-root")
        module = "iobond_host" if side == "host" else "iobond_guest"
        moddir = "iobond-host" if side == "host" else "iobond-guest"
        for d in ("bin", "etc", "lib/iobond", "usr/lib/iobond"):
            os.makedirs(os.path.join(tree, d))
        shutil.copy("/bin/busybox", os.path.join(tree, "bin"))
        shutil.copy(os.path.join(TESTS, "vm/init"), tree)
        shutil.copy(AGENT, os.path.join(tree, "bin"))
        os.chmod(os.path.join(tree, "init"), 0o755)
        shutil.copy(os.path.join(self.modules, f"drivers/{moddir}/{module}.ko"),
                    os.path.join(tree, "lib/iobond"))
        if side == "host":
            os.makedirs(os.path.join(tree, "usr/sbin"))
            shutil.copy(IOBONDCTL, os.path.join(tree, "usr/sbin"))
            # Beside iobondctl, which looks for it there.
            self.copy_programs(tree, [IOBOND_BLK], "usr/sbin")
            self.copy_programs(tree, NBDKIT_MODULES, None)
        for prog in VM_PROGS:
            shutil.copy(os.path.join(TESTS, prog),
                        os.path.join(tree, "usr/lib/iobond"))
        # The benchmark's QEMU NICs need virtio over PCI, in both VMs; its
        # board measures its block stack's own cost on null_blk.
        kmods = KMODS[side] + (["virtio_pci", "virtio_net"] +
                               (["null_blk"] if side == "board" else [])
                               if self.args.bench else [])
        if self.debug:
            kmods = []          # built into the debug kernel
        else:
            self.copy_kmods(tree, kmods)
        self.copy_programs(tree, PROGRAMS[side])
        with open(os.path.join(tree, "etc/iobond.env"), "w") as f:
            f.write(f"IOBOND_SIDE={side}\nIOBOND_MODULE={module}\n"
                    f"IOBOND_KMODS='{' '.join(kmods)}'\n")
        self.initrd[side] = self.cpio(tree, f"{side}.cpio.gz")

    def copy_kmods(self, tree, names):
        """Copy Debian modules and what they depend on, with a modules.dep."""
        src = f"/lib/modules/{self.kver}"
        deps = {}
        with open(os.path.join(src, "modules.dep")) as f:
            for line in f:
                path, _, rest = line.partition(":")
                deps[path] = rest.split()
        by_name = {os.path.basename(p).split(".ko")[0].replace("-", "_"): p
                   for p in deps}
        want, todo = set(), []
        for n in names:
            if n not in by_name:
                raise Failure(f"no module {n} in {src}")
            todo.append(by_name[n])
        while todo:
            p = todo.pop()
            if p not in want:
                want.add(p)
                todo += deps[p]
        dst = os.path.join(tree, "lib/modules", self.kver)
        os.makedirs(dst, exist_ok=True)
        for p in want:
            os.makedirs(os.path.join(dst, os.path.dirname(p)), exist_ok=True)
            shutil.copy(os.path.join(src, p), os.path.join(dst, p))
        with open(os.path.join(dst, "modules.dep"), "w") as f:
            for p in sorted(want):
                f.write(f"{p}: {' '.join(deps[p])}\n")

    def copy_programs(self, tree, programs, where="usr/bin"):
        """Copy dynamically linked programs into @where, with the
        libraries they load; @where None: each to its own path (a plugin,
        loaded from where it was built for)."""
        for prog in programs:
            dst = (os.path.join(where, os.path.basename(prog)) if where
                   else prog.lstrip("/"))
            out = subprocess.run(["ldd", prog], capture_output=True,
                                 text=True, check=True).stdout
            for src, d in [(prog, dst)] + [(lib, lib.lstrip("/")) for lib in
                                           re.findall(r"(/\S+) \(0x", out)]:
                d = os.path.join(tree, d)
                os.makedirs(os.path.dirname(d), exist_ok=True)
                shutil.copy(src, d)

    def start_fabric(self):
        log = open(os.path.join(self.work, "fabric.log"), "a")
        # Three peers a link: the host end, the board end and the engine.
        self.fabric = subprocess.Popen(
            [FABRIC, "-d", self.fabric_dir, "-b", str(self.links), "-m", REGION,
             "-v", str(VECTORS), "-P", "3"], stdout=log, stderr=log)
        sock = self.link_sock(self.links - 1)
        deadline = time.time() + 10
        while not os.path.exists(sock):
            if self.fabric.poll() is not None or time.time() > deadline:
                raise Failure("the fabric did not start: "
                              + open(log.name).read())
            time.sleep(0.02)

    def stop_fabric(self):
        """Stop the fabric; a socket a killed one left is not a new one's."""
        stop_daemon(self.fabric)
        self.fabric = None
        for sock in glob.glob(os.path.join(self.fabric_dir, "*.sock")):
            os.unlink(sock)

    def start_engine(self, link=0):
        """@link's engine, on its board's RAM file, made here first so
        that the engine can map it before the board boots (QEMU takes the
        file as it is)."""
        # The tenant's memory: for the engine's eyes only.
        ram = self.ram_file(link)
        fd = os.open(ram, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.ftruncate(fd, self.board_mib << 20)
        os.close(fd)
        log = open(self.engine_log_path(link), "a")
        self.engines[link] = subprocess.Popen(
            [ENGINE, "-s", self.link_sock(link), "-m", ram],
            stdout=log, stderr=log)

    def stop_engines(self):
        for link, proc in self.engines.items():
            stop_daemon(proc)
            if os.path.exists(self.ram_file(link)):
                os.unlink(self.ram_file(link))
        self.engines = {}

    def engine_log_path(self, link=0):
        return os.path.join(self.work, "engine.log" if not link else f"engine{link}.log")

    def engine_log(self, link=0):
        try:
            with open(self.engine_log_path(link), errors="replace") as f:
                return f.read()
        except OSError:
            return "(no engine log)"

    def setup(self):
        """Prepare, then boot the pair."""
        self.prepare()
        # The host end connects first and is formatted before the board
        # boots, as on a real mainboard.
        self.start_fabric()
        self.start_engine()
        self.vms["host"].start()
        self.vms["board"].start()
        if self.debug:
            for side in self.vms:
                self.sanitizers(side)

    def prepare(self):
        """The VMs' initramfs and disks; the bench's network."""
        for side in ("host", "board"):
            self.build_initrd(side)
        if self.args.bench:
            subprocess.run(["dd", "if=/dev/urandom", f"of={self.bench_disk}",
                            "bs=1M", f"count={BENCH_DISK_MIB}"], check=True,
                           capture_output=True)
            shutil.copyfile(self.bench_disk, self.bench_src)
            self.bench_net(True)
        with open(self.host_disk, "wb") as f:
            f.truncate(HOST_DISK_MIB << 20)
        print(f"# vmpair: kernel {self.kver}, accel {self.accel}, "
              f"work dir {self.work}", flush=True)

    # What the debug kernel says it checks: KASAN and lockdep announce
    # themselves at boot; the rest shows in its config and debugfs.
    SANITIZERS = [
        ("KASAN", "dmesg | grep -q 'KernelAddressSanitizer initialized'"),
        ("lockdep", "dmesg | grep -q 'Lock dependency validator'"),
        ("UBSAN bounds", "zcat /proc/config.gz | grep -qx CONFIG_UBSAN_BOUNDS=y"),
        ("might_sleep", "zcat /proc/config.gz | grep -qx CONFIG_DEBUG_ATOMIC_SLEEP=y"),
        ("DEBUG_LIST", "zcat /proc/config.gz | grep -qx CONFIG_DEBUG_LIST=y"),
        ("hung tasks", "[ -e /proc/sys/kernel/hung_task_timeout_secs ]"),
        ("soft lockups", "[ -e /proc/sys/kernel/soft_watchdog ]"),
        ("failslab", "[ -d /sys/kernel/debug/failslab ]"),
    ]

    def sanitizers(self, side):
        """Print the sanitizers @side's kernel reports; all must be there."""
        have, missing = [], []
        for name, probe in self.SANITIZERS:
            rc, _ = self.vms[side].sh(probe, check=False)
            (missing if rc else have).append(name)
        print(f"# {side} kernel {self.kver}: sanitizers active: {', '.join(have)}"
              + (f"; MISSING: {', '.join(missing)}" if missing else ""), flush=True)
        self.check(f"{side}.sanitizers_active", not missing,
                   f"missing: {', '.join(missing)}")

    def teardown(self):
        for vm in self.vms.values():
            vm.kill()
        self.stop_engines()
        self.stop_fabric()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        for f in (self.bench_disk, self.bench_src):
            if os.path.exists(f):
                os.unlink(f)
        if self.args.bench:
            self.bench_net(False)

    def bench_net(self, up):
        """Make (@up) or remove the bench's bridge and its two taps, one
        per VM's QEMU NIC, here on the real machine."""
        br, taps = self.bench_bridge, self.bench_taps.values()
        if not up:
            while self.bench_made:
                subprocess.run(["ip", "link", "del", self.bench_made.pop()],
                               capture_output=True)
            return
        steps = [(br, f"ip link add {br} type bridge"), (None, f"ip link set {br} up")]
        for tap in taps:
            steps += [(tap, f"ip tuntap add dev {tap} mode tap"),
                      (None, f"ip link set {tap} master {br}"),
                      (None, f"ip link set {tap} up")]
        for made, cmd in steps:
            p = subprocess.run(cmd.split(), capture_output=True, text=True)
            if p.returncode:
                raise Failure(f"bench network (make bench needs root): {cmd}: "
                              f"{p.stderr.strip()}")
            if made:
                self.bench_made.append(made)

    # -- steps ----------------------------------------------------------

    def count(self, where, out, rc):
        """Keep a binary's KTAP in RESULTS and count its results.

        A skip that skips.py does not expect for @where, for the reason
        given, is a failure,
        and so is every result the binary's plan line promised but never
        printed: a binary that dies halfway fails what it did not run."""
        with open(os.path.join(RESULTS, f"{where}.ktap"), "w") as f:
            f.write(out)
        counted, planned, failed, running = 0, None, self.failed, "?"
        for line in out.splitlines():
            plan = re.match(r"1\.\.(\d+)$", line)
            if plan and planned is None:
                planned = int(plan.group(1))
            # 6.1's harness names a skipped test only in its RUN line.
            run = re.match(r"#\s+RUN\s+(\S+) \.\.\.", line)
            if run:
                running = run.group(1)
            m = re.match(r"(not ok|ok) \d+ (\S+)?(.*)", line)
            if not m:
                if self.args.verbose or rc:
                    print(f"#   {line}")
                continue
            counted += 1
            name, rest = m.group(2), m.group(3)
            if name is None or name == "#":
                name, rest = running, (m.group(2) or "") + rest
            rest = rest if rest.startswith(" ") or not rest else " " + rest
            skip = re.search(r"# SKIP\s*(.*)", rest)
            # "not ok ... # SKIP" is a failure, whatever it says.
            if skip and m.group(1) == "ok":
                if skips.expected(where, name, skip.group(1), bool(self.debug)):
                    self.skipped += 1
                    print(f"ok {where}.{name}{rest}")
                else:
                    self.failed += 1
                    print(f"not ok {where}.{name} (unexpected skip){rest}")
            elif m.group(1) == "ok":
                self.passed += 1
                print(f"ok {where}.{name}")
            else:
                self.failed += 1
                print(f"not ok {where}.{name}")
        if planned is None:
            self.failed += 1
            print(f"not ok {where} (exit {rc}, no KTAP plan line)")
        elif planned == 0:
            self.failed += 1
            print(f"not ok {where} (the whole binary skipped: {out.strip()[-200:]})")
        elif counted != planned:
            self.failed += max(planned - counted, 1)
            print(f"not ok {where} (exit {rc}: {counted} results for a plan of "
                  f"{planned})")
        elif rc not in (0, 4) and self.failed == failed:
            self.failed += 1
            print(f"not ok {where} (exit {rc} with no failed result)")
        sys.stdout.flush()

    def local_test(self, prog):
        """A kselftest binary that runs here, on the build machine."""
        print(f"# local: ./{prog}", flush=True)
        p = subprocess.run([os.path.join(TESTS, prog)], capture_output=True,
                           text=True, timeout=600)
        self.count(f"local.{prog}", p.stdout + p.stderr, p.returncode)

    def test(self, side, prog, label, env=None, timeout=600):
        """Run a kselftest binary in a VM and count its KTAP results."""
        env = dict(env or {})
        if self.debug:
            # The sanitizer kernel is slower: the harness's timeouts grow
            # (and VM.sh() makes the runner's grow).
            env["IOBOND_TIMEOUT_SCALE"] = DEBUG_SLOWDOWN
            # module_test's slab count means nothing with KASAN's quarantine.
            env["IOBOND_KASAN"] = 1
        envs = " ".join(f"{k}={v}" for k, v in env.items())
        print(f"# {side}: {label}: {envs} ./{prog}", flush=True)
        rc, out = self.vms[side].sh(f"{envs} ./{prog}", timeout, check=False)
        self.count(f"{side}.{label}", out, rc)

    def wait_board_nic(self, mac):
        """Wait until the board has a NIC with @mac."""
        self.vms["board"].sh(
            f"for i in $(seq 200); do grep -qi {mac} /sys/class/net/*/address "
            "&& exit 0; sleep 0.1; done; exit 1")

    def board_virtio(self, mac):
        """The board's virtio device (virtioN) of its NIC with @mac."""
        return self.vms["board"].sh(
            "for d in /sys/class/net/*; do grep -qi " + mac +
            " $d/address && basename $(readlink $d/device); done; true")[1].strip()

    def serve_nic(self, mac, opts):
        """A NIC added with @opts, served on tap0, with a TCP echo server
        on the host's port 5001; both ends addressed."""
        self.vms["host"].sh(
            f"iobondctl board0 add-net --mac {mac} {opts} --tap tap0 && "
            f"iobondctl board0 start && {tap_up()} && "
            "(nc -ll -p 5001 -e cat > /dev/null 2>&1 &)")
        self.wait_board_nic(mac)
        self.board_ip(mac)

    def board_ip(self, mac):
        """Address the board's NIC with @mac; wait until the host answers."""
        self.vms["board"].sh(
            f"for d in /sys/class/net/*; do grep -qi {mac} $d/address && "
            "ifc=${d##*/}; done; "
            f"ip addr add {BOARD_IP}/24 dev $ifc && ip link set $ifc up && "
            f"for i in $(seq 30); do ping -c 1 -W 1 {HOST_IP} > /dev/null && "
            "exit 0; done; exit 1")

    def check(self, label, ok, detail=""):
        """Count a check the runner makes itself, across both VMs."""
        if ok:
            self.passed += 1
            print(f"ok {label}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {label}", flush=True)
            for line in detail.splitlines():
                print(f"#   {line}")

    def add_disk(self, img, mib, opts="", serial=None):
        """Make a @mib MiB file in the host's tmpfs, give it to the board
        with iobondctl add-blk @opts, and return the board's name for it."""
        serial = serial or os.path.basename(img)
        self.vms["host"].sh(
            f"[ -e {img} ] || dd if=/dev/zero of={img} bs=1M count={mib} 2>/dev/null; "
            f"iobondctl board0 add-blk --file {img} --serial {serial} {opts} && "
            "iobondctl board0 start")
        return self.board_disk(serial)

    def board_disk(self, serial):
        """Wait for the board's disk with @serial; its name (vda, ...).
        "$d/serial" is quoted: a glob that matched nothing must not match
        a disk that appears meanwhile."""
        return self.vms["board"].sh(
            f"for i in $(seq 200); do for d in /sys/block/vd*; do "
            f"[ \"$(cat \"$d/serial\" 2>/dev/null)\" = {serial} ] && "
            "echo ${d##*/} && exit 0; done; sleep 0.1; done; exit 1")[1].strip()

    def rebind_disk(self, dev, serial):
        """Unbind virtio_blk from the board's disk @dev and bind it again;
        the disk's new name, found by its @serial."""
        self.vms["board"].sh(
            f"v=$(basename $(readlink /sys/block/{dev}/device)); "
            "echo $v > /sys/bus/virtio/drivers/virtio_blk/unbind && "
            "echo $v > /sys/bus/virtio/drivers/virtio_blk/bind")
        return self.board_disk(serial)

    def md5(self, path):
        return self.vms["host"].sh(f"md5sum {path}")[1].split()[0]

    def restart_backend(self, img, log, opts=""):
        """Start iobond-blk again on dev0's mdev, as a service manager would."""
        self.vms["host"].sh(
            "u=$(ls /sys/class/iobond/board0/mdev_supported_types/iobond-dev0/devices/); "
            f"(iobond-blk --mdev $u --file {img} {opts} > {log} 2>&1 3>&- &); "
            f"for i in $(seq 100); do grep -q 'serving\\|waiting' {log} && exit 0; "
            f"sleep 0.1; done; cat {log}; exit 1")

    def wait_disk_busy(self, index, kicks=32, timeout=60):
        """Wait until the board has kicked disk @index's queues @kicks more
        times: fio is under way, and a backend killed now has requests in
        flight (a fixed sleep was too short on the debug kernel)."""
        def total():
            out = self.vms["host"].sh(f"iobondctl --json board0 stats {index}")[1]
            return sum(q["kicks"] for q in json.loads(out)["queues"])
        start, deadline = total(), time.time() + timeout
        while total() - start < kicks:
            if time.time() > deadline:
                raise Failure(f"disk {index}: fewer than {kicks} kicks in {timeout}s")
            time.sleep(0.2)

    def board_fio_bg(self, dev, args):
        """Start fio on the board in the background; /tmp/fio.rc at its end."""
        self.vms["board"].sh(
            f"rm -f /tmp/fio.rc; (fio --name=bg --filename=/dev/{dev} --direct=1 "
            f"--ioengine=io_uring --bs=4k {args} > /tmp/fio.log 2>&1; "
            "echo $? > /tmp/fio.rc) &")

    def board_fio_wait(self, timeout):
        """Seconds until the background fio ended, or None after @timeout."""
        start = time.time()
        rc, _ = self.vms["board"].sh(
            f"for i in $(seq {timeout * 10}); do [ -e /tmp/fio.rc ] && exit 0; "
            "sleep 0.1; done; exit 1", timeout + 30, check=False)
        return None if rc else time.time() - start

    def fio_until_backend_lost(self, dev, sig, how, bound):
        """Run fio on the board's disk @dev; once it is busy, send
        iobond-blk SIG@sig; fio must end by itself within @bound s."""
        board = self.vms["board"]
        self.board_fio_bg(dev, "--rw=randwrite --iodepth=16 --offset=4M "
                               "--runtime=60 --time_based")
        self.wait_disk_busy(0)
        self.vms["host"].sh(f"killall -{sig} iobond-blk")
        took = self.board_fio_wait(bound)
        self.check(f"board.fio_ends_after_backend_{how}", took is not None,
                   board.sh("cat /tmp/fio.log", check=False)[1])
        if took is not None:
            print(f"# fio ended {took:.1f}s after SIG{sig} to the backend "
                  f"(grace {IOBOND_BLK_GRACE_S}s)")

    def window_path(self, mac):
        """The fallback for a bond without an engine: a NIC added with
        --window bounces its buffers through the board's window.  Run dry,
        the window fails mappings and loses pings; a reset the host does
        not answer fences the NIC's zone."""
        host = self.vms["host"]
        self.serve_nic(mac, "--window")
        self.test("board", "net_test", "window_net",
                  {"IOBOND_PEER_IP": HOST_IP, "IOBOND_ECHO_PORT": 5001})
        self.test("board", "window_test", "window", {"IOBOND_PEER_IP": HOST_IP})
        self.unacked_reset(mac)
        host.sh("killall iobondctl nc; iobondctl board0 reset && "
                "iobondctl board0 remove 0")

    def engine_unacked_reset(self, mac):
        """A host too slow to answer (answer_delay_ms 3000 against the
        board's 1 s), and the engine NIC's driver unbound: the board stops
        the engine itself before it asks the host, so that nothing is
        copied into the rings and buffers its driver frees; the host's late
        answer starts nothing.  Bound again, the NIC carries traffic."""
        host, board = self.vms["host"], self.vms["board"]
        delay = "/sys/kernel/debug/iobond_host/*/answer_delay_ms"
        virtio = self.board_virtio(mac)
        mark = len(self.engine_log())
        host.sh(f"for f in {delay}; do echo 3000 > $f; done")
        try:
            board.sh(f"echo {virtio} > /sys/bus/virtio/drivers/virtio_net/unbind")
            log = self.engine_log()[mark:]
            self.check("engine.board_reset_stops_it",
                       re.search(r"dev\d+: the board reset it: 2 queues stopped", log)
                       is not None, log)
            late = board.sh("dmesg | grep -c 'the engine did not stop'; true")[1]
            self.check("board.engine_answers_reset", late.strip() == "0", late)
        finally:
            host.sh(f"for f in {delay}; do echo 0 > $f; done; sleep 4")
        board.sh(f"echo {virtio} > /sys/bus/virtio/drivers/virtio_net/bind")
        self.wait_board_nic(mac)
        self.board_ip(mac)
        self.test("board", "net_test", "engine_after_unacked_reset",
                  {"IOBOND_PEER_IP": HOST_IP, "IOBOND_ECHO_PORT": 5001})

    def engine_stats(self):
        """What the engine says each queue relayed: {(dev, queue): (chains,
        back)}.  Its dump is whole at its "stats:" line: one line at a
        time, a read before it can hold some queues only."""
        mark = len(self.engine_log())
        self.engine.send_signal(signal.SIGUSR1)
        deadline = time.time() + 10
        while time.time() < deadline:
            new = self.engine_log()[mark:]
            if re.search(r"stats: \d+ queues\n", new):
                got = re.findall(r"dev(\d+) queue (\d+): (\d+) chains, (\d+) back", new)
                return {(int(d), int(q)): (int(c), int(b)) for d, q, c, b in got}
            time.sleep(0.1)
        return {}

    def engine_path(self):
        """The engine as the data path: a NIC and disks added with --engine
        keep their rings and buffers in board memory, which the engine
        reaches and the host never does, and the engine relays them to
        shadow rings in the window, which vhost-net and iobond-blk serve as
        they are."""
        host, board = self.vms["host"], self.vms["board"]
        mac = "52:54:00:ab:cd:03"
        # The engine publishes itself within a heartbeat of a format.
        host.sh("for i in $(seq 50); do iobondctl --json board0 status | "
                "grep -q '\"engine\":true' && exit 0; sleep 0.1; done; "
                "iobondctl board0 status; exit 1")
        self.serve_nic(mac, "--engine")
        self.test("board", "net_test", "engine_net",
                  {"IOBOND_PEER_IP": HOST_IP, "IOBOND_ECHO_PORT": 5001})
        self.test("host", "net_test", "engine_net", {"IOBOND_PEER_IP": BOARD_IP})
        self.engine_unacked_reset(mac)
        dev = self.add_disk("/tmp/engine1.img", 16, "--engine")
        self.test("board", "blk_test", "engine_disk",
                  {"IOBOND_BLK_DEV": dev, "IOBOND_BLK_SECTORS": 32768,
                   "IOBOND_BLK_LBS": 512, "IOBOND_BLK_PBS": 4096,
                   "IOBOND_BLK_SERIAL": "engine1.img", "IOBOND_BLK_QUEUES": 1,
                   "IOBOND_BLK_DISCARD": 1, "IOBOND_BLK_FIO": "1:1,32:1"})
        # Both devices' data went through the engine, none through the
        # board's window: the board mapped nothing there.
        status = json.loads(host.sh("iobondctl --json board0 status")[1])
        paths = [d["data"] for d in status["devices"]]
        self.check("host.engine_devices", paths == ["engine", "engine"],
                   f"data paths: {paths}")
        stats = self.engine_stats()
        moved = {k: v for k, v in stats.items() if v[0]}
        self.check("engine.relayed_nic_and_disk",
                   {d for d, _ in moved} == {0, 1} and
                   all(c - b <= 256 for c, b in moved.values()),
                   f"chains relayed and back, by (device, queue): {stats}")
        window = board.sh("cat /sys/kernel/debug/iobond_guest/*/window")[1]
        self.check("board.engine_maps_no_window",
                   re.search(r"^used: 0$", window, re.M) is not None and
                   re.search(r"^streaming_maps: 0$", window, re.M) is not None,
                   window)
        self.engine_fuzz(mac, "engine1.img")
        self.engine_host_fuzz(mac, "engine1.img")
        host.sh("killall iobondctl iobond-blk nc; iobondctl board0 reset && "
                "iobondctl board0 remove 0 && iobondctl board0 remove 1 && "
                "rm -f /tmp/engine1.img")

    def engine_fuzz(self, mac, serial):
        """A raw board drives the engine's NIC and disk itself, with rings
        and chains at random (engine_board_test.c), while vhost-net and
        iobond-blk serve their shadow rings.  The engine stops each queue
        the board breaks, and only those, and never for the host's fault;
        the NIC and the disk work again once iobond_guest is back."""
        host, board = self.vms["host"], self.vms["board"]
        mark = len(self.engine_log())
        board.sh("rmmod iobond_guest")
        # Each 16 operations end in a reset and a start of every device:
        # fewer operations than the other fuzzers make a run as long.
        args = self.fuzz_args()
        if "IOBOND_FUZZ_OPS" not in os.environ:
            args["IOBOND_FUZZ_OPS"] = 4000 if self.debug else 2000
        self.test("board", "engine_board_test", "engine_fuzz", args, timeout=1800)
        # The fuzz reached the engine's checks, not just the host's.
        self.engine_verdict(mark, "board", "host", 5)
        self.load("board")
        self.wait_board_nic(mac)
        self.board_ip(mac)
        self.test("board", "net_test", "engine_after_fuzz",
                  {"IOBOND_PEER_IP": HOST_IP, "IOBOND_ECHO_PORT": 5001})
        self.engine_disk_verified(serial, "board.engine_disk_after_fuzz")

    def engine_verdict(self, mark, side, other, kinds):
        """After a fuzz from @side ("board" or "host"), since engine log
        offset @mark: queues faulted for at least @kinds kinds of @side's
        fault, none for @other's, and the engine alive."""
        log = self.engine_log()[mark:]
        faults = collections.Counter(re.findall(rf"the {side} broke it: ([^;\n]*)", log))
        for why, n in faults.most_common():
            print(f"# engine: {n} queues faulted by the {side}: {why}")
        self.check(f"engine.{side}_fuzz_reaches_its_checks", len(faults) >= kinds,
                   f"{side} faults seen: {dict(faults)}")
        wrong = re.findall(rf".*the {other} broke it.*", log)
        self.check(f"engine.no_{other}_fault_in_{side}_fuzz", not wrong,
                   "\n".join(wrong[:10]))
        self.check(f"engine.outlives_{side}_fuzz", self.engine.poll() is None,
                   log[-2000:])

    def engine_disk_verified(self, serial, label):
        """A fio verify on the board's disk @serial passes: check @label."""
        self.board_fio_bg(self.board_disk(serial),
                          "--rw=randwrite --iodepth=8 --size=8M --verify=crc32c")
        took = self.board_fio_wait(120)
        rc = self.vms["board"].sh("cat /tmp/fio.rc /tmp/fio.log", check=False)[1]
        self.check(label, took is not None and rc.startswith("0\n"), rc)

    def engine_host_fuzz(self, mac, serial):
        """A hostile backend (engine_host_test.c) serves an engine disk's
        shadow ring through its VFIO face, while the board binds, uses and
        unbinds the disk again and again.  A host fault fails the board's
        requests at once and hangs none; no fault is blamed on the board;
        the engine lives, and the board's NIC and other disk work on."""
        host, board = self.vms["host"], self.vms["board"]
        mark = len(self.engine_log())
        add = json.loads(host.sh(
            "dd if=/dev/zero of=/tmp/ehf.img bs=1M count=4 2>/dev/null && "
            "iobondctl --json board0 add-blk --file /tmp/ehf.img --serial ehfuzz "
            "--engine")[1])
        dev = self.board_disk("ehfuzz")
        virtio = board.sh(f"basename $(readlink /sys/block/{dev}/device)")[1].strip()
        # The board's loop starts from an unbound disk, and the test takes
        # the mdev from the backend iobondctl started.
        board.sh(f"echo {virtio} > /sys/bus/virtio/drivers/virtio_blk/unbind")
        host.sh(f"p=$(ps -o pid,args | grep '[i]obond-blk --mdev {add['mdev']}'); "
                "p=${p%% /*}; kill -KILL $p && for i in $(seq 100); do "
                "[ -e /proc/$p ] || exit 0; sleep 0.1; done; exit 1")
        # Each round: bind (a reset and a start of the engine's queue), a
        # read and a write, unbind.  An O_DIRECT dd waits uninterruptibly:
        # a hang keeps the loop from its result; a slow round is timed
        # (/proc/uptime's centiseconds).  Only rounds and dds that end while
        # the test runs (/tmp/ehf.fuzzing) count: once it closed the
        # device, the kernel fails what is left (after its 5 s grace, long
        # after the marker goes).
        board.sh(
            "rm -f /tmp/ehf.stop /tmp/ehf.result; touch /tmp/ehf.fuzzing; "
            "cat > /tmp/ehf.sh <<'EOF'\n"
            "v=$1; rounds=0; ok=0; err=0; slow=0\n"
            "cs() { u=$(cut -d' ' -f1 /proc/uptime); echo ${u%.*}${u#*.}; }\n"
            "io() { dd \"$@\" bs=4k count=8 2>/dev/null; r=$?\n"
            "  [ -e /tmp/ehf.fuzzing ] || return 0\n"
            "  [ $r = 0 ] && ok=$((ok+1)) || err=$((err+1)); }\n"
            "while [ ! -e /tmp/ehf.stop ]; do\n"
            "  [ -e /tmp/ehf.fuzzing ] && f=1 || f=0; t=$(cs)\n"
            "  echo $v > /sys/bus/virtio/drivers/virtio_blk/bind\n"
            "  d=$(ls /sys/bus/virtio/devices/$v/block 2>/dev/null)\n"
            "  if [ -n \"$d\" ]; then\n"
            "    io if=/dev/$d of=/dev/null iflag=direct\n"
            "    io if=/dev/zero of=/dev/$d oflag=direct\n"
            "  fi\n"
            "  echo $v > /sys/bus/virtio/drivers/virtio_blk/unbind\n"
            "  t=$(($(cs) - t)); [ $t -gt $slow ] && slow=$t\n"
            "  rounds=$((rounds+f)); sleep 0.1\n"
            "done\n"
            "echo $rounds $ok $err $slow > /tmp/ehf.tmp && mv /tmp/ehf.tmp /tmp/ehf.result\n"
            "EOF\n"
            f"(sh /tmp/ehf.sh {virtio} > /tmp/ehf.log 2>&1 &)")
        host.sh(f"(ping -i 0.2 {BOARD_IP} > /tmp/ehfping.log 2>&1 &)")
        args = {"IOBOND_EH_INDEX": add["index"], "IOBOND_SEED": self.seed,
                "IOBOND_EH_SECONDS": 60 if self.debug else 30}
        self.test("host", "engine_host_test", "engine_host_fuzz", args, timeout=600)
        board.sh("rm /tmp/ehf.fuzzing; touch /tmp/ehf.stop")
        rc, result = board.sh("for i in $(seq 1800); do [ -e /tmp/ehf.result ] && "
                              "cat /tmp/ehf.result && exit 0; sleep 0.1; done; "
                              "cat /tmp/ehf.log; exit 1", timeout=400, check=False)
        print(f"# board: rounds, dd ok, dd failed, slowest round (cs): {result.strip()}")
        counts = [int(x) for x in result.split()] if rc == 0 else []
        # Every round ended, none slowly (20 s, scaled in the debug tier):
        # a failed request fails at once.
        bound = 2000 * (DEBUG_SLOWDOWN if self.debug else 1)
        self.check("board.engine_host_fuzz_hangs_nothing",
                   len(counts) == 4 and counts[0] >= 3 and counts[3] < bound, result)
        # The test's good answers reached the board between its faults,
        # and the failures reached it as errors, not as stale successes.
        self.check("board.engine_host_fuzz_answers_and_fails",
                   len(counts) == 4 and counts[1] > 0 and counts[2] > 0, result)
        # Both kinds of host fault, neither blamed on the board.
        self.engine_verdict(mark, "host", "board", 2)
        host.sh("killall ping; tail -3 /tmp/ehfping.log", check=False)
        host.sh(f"iobondctl board0 remove {add['index']} && rm -f /tmp/ehf.img")
        self.test("board", "net_test", "engine_after_host_fuzz",
                  {"IOBOND_PEER_IP": HOST_IP, "IOBOND_ECHO_PORT": 5001})
        self.engine_disk_verified(serial, "board.engine_disk_after_host_fuzz")

    def plan_disks(self):
        """Disks over the VFIO face, served by iobond-blk from the host's
        tmpfs: geometry, fio verify, discard, a killed backend, queues,
        read-only, throttling, and a raw board's bad requests."""
        host, board = self.vms["host"], self.vms["board"]
        self.test("host", "vfio_test", "vfio")

        dev = self.add_disk("/tmp/disk1.img", 16)
        geometry = {"IOBOND_BLK_DEV": dev, "IOBOND_BLK_SECTORS": 32768,
                    "IOBOND_BLK_LBS": 512, "IOBOND_BLK_PBS": 4096,
                    "IOBOND_BLK_SERIAL": "disk1.img"}
        self.test("board", "blk_test", "disk",
                  dict(geometry, IOBOND_BLK_QUEUES=1, IOBOND_BLK_DISCARD=1,
                       IOBOND_BLK_FIO="1:1,32:1"))

        # The backend killed under fio, nothing to take over: the kernel
        # fails what it left once the grace period is out, and the board
        # is told its disk needs a reset.  A new backend and a rebind of
        # virtio_blk bring the disk back with the flushed data.
        step = {"IOBOND_BLK_DEV": dev}
        self.test("board", "blkkill_test", "kill_seed", dict(step, IOBOND_BLK_STEP="seed"))
        self.fio_until_backend_lost(dev, "KILL", "kill", IOBOND_BLK_GRACE_S + 10)
        self.test("board", "blkkill_test", "kill_failed", dict(step, IOBOND_BLK_STEP="failed"))
        self.restart_backend("/tmp/disk1.img", "/run/iobond/restart1.log")
        dev = step["IOBOND_BLK_DEV"] = self.rebind_disk(dev, "disk1.img")
        self.test("board", "blkkill_test", "kill_recovered", dict(step, IOBOND_BLK_STEP="seeded"))

        # The backend alive but stopped (SIGSTOP) under fio: the same clock
        # cuts it off once it served nothing for a grace period, and fio
        # ends with errors as for a dead one.  Woken, it finds its zone
        # revoked; a new backend and a rebind bring the disk back.
        cuts = int(host.sh("dmesg | grep -c 'served nothing'; true")[1].split()[0])
        self.fio_until_backend_lost(dev, "STOP", "stop", 2 * IOBOND_BLK_GRACE_S + 10)
        self.test("board", "blkkill_test", "stop_failed", dict(step, IOBOND_BLK_STEP="failed"))
        log = host.sh("dmesg | grep 'served nothing'; true")[1]
        self.check("host.stopped_backend_cut_off",
                   len(log.splitlines()) > cuts, log)
        # Woken, it finds its zone revoked and waits for a reset; killed,
        # it lets go of the mdev for the next one.
        host.sh("killall -CONT iobond-blk; sleep 1; killall -9 iobond-blk; "
                "for i in $(seq 100); do pidof iobond-blk > /dev/null || exit 0; "
                "sleep 0.1; done; exit 1")
        self.restart_backend("/tmp/disk1.img", "/run/iobond/restart4.log")
        dev = step["IOBOND_BLK_DEV"] = self.rebind_disk(dev, "disk1.img")
        self.test("board", "blkkill_test", "stop_recovered", dict(step, IOBOND_BLK_STEP="seeded"))

        # Killed and restarted within the grace period: the new backend
        # runs again what the old one took, and fio sees no error.  The
        # throttle (100 IOPS: the 1,024 requests take ten seconds) keeps
        # requests in flight when the kill lands.
        host.sh("killall iobond-blk")
        self.restart_backend("/tmp/disk1.img", "/run/iobond/restart2.log", "--iops 100")
        self.board_fio_bg(dev, "--rw=randwrite --iodepth=16 --offset=4M --size=2M "
                               "--verify=crc32c --verify_fatal=1")
        self.wait_disk_busy(0)
        host.sh("killall -9 iobond-blk")
        self.restart_backend("/tmp/disk1.img", "/run/iobond/restart3.log", "--iops 100")
        self.board_fio_wait(120)
        self.test("board", "blkkill_test", "kill_retried", dict(step, IOBOND_BLK_STEP="retried"))
        log = host.sh("cat /run/iobond/restart3.log")[1]
        self.check("host.backend_runs_taken_requests_again", "running again" in log, log)
        host.sh("killall iobond-blk; iobondctl board0 remove 0")

        # Two queues, one per board CPU, each used.
        dev = self.add_disk("/tmp/disk2.img", 16, "--queues 2")
        self.test("board", "blk_test", "mq",
                  dict(geometry, IOBOND_BLK_DEV=dev, IOBOND_BLK_QUEUES=2,
                       IOBOND_BLK_SERIAL="disk2.img", IOBOND_BLK_FIO="1:2,32:2"))
        stats = json.loads(host.sh("iobondctl --json board0 stats 0")[1])
        kicks = [q["kicks"] for q in stats["queues"]]
        self.check("host.mq_both_queues_used", len(kicks) == 2 and min(kicks) > 100,
                   f"kicks per queue: {kicks}")
        host.sh("iobondctl board0 remove 0")

        # Read-only: the board's block layer refuses writes (EPERM); the
        # file is unchanged.  The backend's own refusal is the raw step's.
        host.sh("dd if=/dev/urandom of=/tmp/ro.img bs=1M count=4 2>/dev/null")
        before = self.md5("/tmp/ro.img")
        dev = self.add_disk("/tmp/ro.img", 4, "--readonly")
        self.test("board", "blk_test", "readonly",
                  dict(geometry, IOBOND_BLK_DEV=dev, IOBOND_BLK_SECTORS=8192,
                       IOBOND_BLK_SERIAL="ro.img", IOBOND_BLK_RO=1))
        host.sh("iobondctl board0 remove 0")
        self.check("host.readonly_file_unchanged", self.md5("/tmp/ro.img") == before)

        # Throttled to 500 IOPS; 200 on the debug kernel, whose board
        # reaches only about 360 unthrottled.
        iops = 200 if self.debug else 500
        dev = self.add_disk("/tmp/disk1.img", 16, f"--iops {iops}")
        self.test("board", "blk_test", "throttle",
                  dict(geometry, IOBOND_BLK_DEV=dev, IOBOND_BLK_IOPS=iops))
        host.sh("iobondctl board0 remove 0")

        # A raw board sends what virtio_blk never would; and a raw board's
        # write to a read-only disk reaches iobond-blk, which refuses it
        # (VIRTIO_BLK_S_IOERR): virtio_blk would stop it first.
        board.sh("rmmod iobond_guest")
        self.raw_disk("raw_disk", "/tmp/disk1.img", "raw-disk", 32768)
        host.sh("dd if=/dev/urandom of=/tmp/ro.img bs=1M count=4 2>/dev/null")
        self.raw_disk("raw_readonly", "/tmp/ro.img", "raw-ro", 8192, "--readonly",
                      {"IOBOND_BLK_RO": 1})
        self.load("board")
        host.sh("iobondctl board0 stop; rm -f /tmp/*.img")

    def nbdkit(self, pidfile, args):
        """Start nbdkit in the host VM; it is serving once it returns (it
        binds its socket before it goes to the background)."""
        self.vms["host"].sh(f"nbdkit -P {pidfile} {args} "
                            "< /dev/null >> /run/nbdkit.log 2>&1")

    def fio_figures(self, dev):
        """4k random reads at QD32 (IOPS) and 128k sequential reads (MiB/s)
        on the board's disk @dev, 3 s each: for the note, never judged."""
        out = []
        for bs, rw, key in (("4k", "randread", "iops"), ("128k", "read", "bw")):
            res = json.loads(self.vms["board"].sh(
                f"fio --name=f --filename=/dev/{dev} --direct=1 --ioengine=io_uring "
                f"--bs={bs} --rw={rw} --iodepth=32 --runtime=3 --time_based "
                "--output-format=json")[1])["jobs"][0]["read"][key]
            out.append(res if key == "iops" else res / 1024)
        return out

    def nbd_log_count(self, what):
        """How many lines of disk 0's backend log say @what."""
        return int(self.vms["host"].sh(
            f"grep -c '{what}' /run/iobond/board0-dev0.log; true")[1].split()[0])

    def wait_nbd_log(self, what, count, timeout=30):
        """Wait until disk 0's backend log has said @what @count times."""
        self.vms["host"].sh(
            f"for i in $(seq {timeout * 10}); do [ $(grep -c '{what}' "
            f"/run/iobond/board0-dev0.log) -ge {count} ] && exit 0; "
            "sleep 0.1; done; cat /run/iobond/board0-dev0.log; exit 1")

    def board_read_timed(self, dev, skip):
        """A direct 4k read of the board's disk @dev: (status, output,
        seconds)."""
        start = time.time()
        rc, out = self.vms["board"].sh(
            f"dd if=/dev/{dev} of=/dev/null bs=4k count=1 skip={skip} "
            "iflag=direct", check=False)
        return rc, out, time.time() - start

    def plan_nbd(self):
        """Cloud disks: iobond-blk serves the board's disk from an NBD
        export (nbdkit in the host VM).  The memory plugin over TCP takes
        the disk tests.  The file plugin over a unix socket, each write
        delayed so that many are in flight at the server, is killed
        (SIGKILL) and stopped (SIGTERM: nbdkit answers ESHUTDOWN) under
        fio, and started again each time: fio's verify must see no error.
        A server away, or hung (SIGSTOP), for longer than the reconnect
        grace fails a read after the grace, not before and not never; back,
        it serves the next."""
        host, board = self.vms["host"], self.vms["board"]
        host.sh("ip link set lo up")
        self.nbdkit("/run/nbd-mem.pid", "-i 127.0.0.1 -p 10809 memory 16M")
        host.sh("iobondctl board0 add-blk --nbd nbd://127.0.0.1:10809/ "
                "--serial nbd-mem && iobondctl board0 start")
        dev = self.board_disk("nbd-mem")
        self.test("board", "blk_test", "nbd_memory",
                  {"IOBOND_BLK_DEV": dev, "IOBOND_BLK_SECTORS": 32768,
                   "IOBOND_BLK_LBS": 512, "IOBOND_BLK_PBS": 512,
                   "IOBOND_BLK_SERIAL": "nbd-mem", "IOBOND_BLK_DISCARD": 1,
                   "IOBOND_BLK_FIO": "1:1,32:1"})
        host.sh("iobondctl board0 remove 0; kill $(cat /run/nbd-mem.pid)")

        sock, img, grace = "/run/nbd.sock", "/tmp/nbd.img", 3
        slow = f"-U {sock} --filter=delay file {img} delay-write=40ms"
        restart = f"rm -f {sock}; " + " ".join(
            f"nbdkit -P /run/nbd.pid {slow} < /dev/null >> /run/nbdkit.log 2>&1".split())
        host.sh(f"dd if=/dev/zero of={img} bs=1M count=16 2>/dev/null")
        self.nbdkit("/run/nbd.pid", slow)
        host.sh(f"iobondctl board0 add-blk --nbd 'nbd+unix:///disk?socket={sock}' "
                f"--reconnect-ms {grace * 1000} --hung-ms {grace * 1000} && "
                "iobondctl board0 start")
        dev = self.board_disk("disk")
        # Writes only, 40 ms each at the server, 16 at a time: 3,072 of them
        # take about 8 s, long enough for both restarts to land among them.
        # Its verify pass comes after the flush checks below: that pass
        # flushes first, and the first flush after the loss fails.
        job = "--rw=randwrite --iodepth=16 --size=12M --verify=crc32c --verify_fatal=1"
        self.board_fio_bg(dev, job + " --do_verify=0")
        for sig in ("KILL", "TERM"):
            lost = self.nbd_log_count("connection lost")
            self.wait_disk_busy(0)
            host.sh(f"kill -{sig} $(cat /run/nbd.pid); sleep 0.3; {restart}")
            self.wait_nbd_log("connection lost", lost + 1)
        took = self.board_fio_wait(180)
        rc = board.sh("cat /tmp/fio.rc /tmp/fio.log", check=False)[1]
        self.check("board.nbd_restarts_under_fio_no_error", took is not None and
                   rc.startswith("0\n"), rc)
        log = host.sh("cat /run/iobond/board0-dev0.log")[1]
        for line in re.findall(r".*(?:lost|again|sent|shutting).*", log):
            print(f"# {line}")
        self.check("host.nbd_requests_sent_again",
                   len(re.findall(r"waiting request\(s\) sent", log)) >= 2 and
                   "shutting down" in log, log)

        # The server lost writes it had acknowledged and nothing flushed:
        # the next flush fails, once; the one after succeeds.  (At 14M,
        # outside the 12M fio wrote.)
        flush = (f"dd if=/dev/zero of=/dev/{dev} bs=4k count=1 seek=3584 "
                 "oflag=direct conv=fsync")
        rc1, out1 = board.sh(flush, check=False)
        rc2, out2 = board.sh(flush, check=False)
        log = host.sh("cat /run/iobond/board0-dev0.log")[1]
        self.check("board.nbd_flush_after_loss_fails_once",
                   rc1 != 0 and rc2 == 0 and log.count("failing this flush") == 1,
                   f"first: {rc1}\n{out1}\nsecond: {rc2}\n{out2}\n{log}")
        # Every block fio wrote, read back through the server: none lost.
        rc, out = board.sh(f"fio --name=bg --filename=/dev/{dev} --direct=1 "
                           f"--ioengine=io_uring --bs=4k {job} --verify_only",
                           check=False)
        self.check("board.nbd_restarts_lost_no_data", rc == 0, out)

        # Away longer than the grace: a read fails after it; back, the disk
        # serves again without a reset.
        again = self.nbd_log_count("connected again")
        host.sh("kill -9 $(cat /run/nbd.pid)")
        rc, out, took = self.board_read_timed(dev, 100)
        print(f"# nbd: a read with the server away failed after {took:.1f} s")
        self.check("board.nbd_away_fails_after_grace",
                   rc != 0 and grace * 0.8 <= took <= grace * 3 and
                   self.nbd_log_count(f"no server for {grace * 1000} ms") >= 1,
                   f"status {rc} after {took:.1f} s: {out}")
        host.sh(restart)
        self.wait_nbd_log("connected again", again + 1)
        rc, out, _ = self.board_read_timed(dev, 200)
        self.check("board.nbd_back_serves_again", rc == 0, out)

        # Hung (SIGSTOP): silent for the grace, the connection is cut; the
        # read waits one more grace for a server that answers, then fails.
        again = self.nbd_log_count("connected again")
        host.sh("kill -STOP $(cat /run/nbd.pid)")
        rc, out, took = self.board_read_timed(dev, 300)
        print(f"# nbd: a read with the server hung failed after {took:.1f} s")
        self.check("board.nbd_hung_fails_after_grace",
                   rc != 0 and grace * 1.6 <= took <= grace * 4 and
                   self.nbd_log_count(f"no answer for {grace * 1000} ms") >= 1,
                   f"status {rc} after {took:.1f} s: {out}")
        host.sh("kill -CONT $(cat /run/nbd.pid)")
        self.wait_nbd_log("connected again", again + 1)
        rc, out, _ = self.board_read_timed(dev, 400)
        self.check("board.nbd_unhung_serves_again", rc == 0, out)

        # Figures beside the file backend, the same file on the same tmpfs,
        # neither throttled nor delayed.
        host.sh(f"iobondctl board0 remove 0; p=$(cat /run/nbd.pid); kill $p; "
                f"while kill -0 $p 2> /dev/null; do sleep 0.1; done; rm -f {sock}")
        self.nbdkit("/run/nbd.pid", f"-U {sock} file {img}")
        host.sh("iobondctl board0 add-blk --nbd "
                f"'nbd+unix:///?socket={sock}' --serial nbd-fast && "
                "iobondctl board0 start")
        nbd = self.fio_figures(self.board_disk("nbd-fast"))
        host.sh("iobondctl board0 remove 0")
        local = self.fio_figures(self.add_disk(img, 16, serial="nbd-img"))
        print(f"# nbd: 4k randread QD32 {nbd[0]:.0f} IOPS (file {local[0]:.0f}), "
              f"128k read {nbd[1]:.1f} MiB/s (file {local[1]:.1f})")
        host.sh(f"iobondctl board0 remove 0; iobondctl board0 stop; "
                f"kill $(cat /run/nbd.pid); rm -f {img}")

    @staticmethod
    def unit_command(unit):
        """The command line of @unit's ExecStart, for sh after the conf:
        systemd's ${X} is one word, its $X split at whitespace."""
        with open(os.path.join(ROOT, "packaging/systemd", unit)) as f:
            line = re.search(r"^ExecStart=(.*)$", f.read(), re.M).group(1)
        return re.sub(r"\$\{(\w+)\}", r'"$\1"', line.replace("@SBINDIR@/", ""))

    def plan_units(self):
        """add-blk --unit and add-net --tap --unit leave the service to
        systemd.  The host VM has no systemd: each conf is left in place
        and nothing serves the device, until the unit's own ExecStart,
        run here with the conf's values, does: the disk verifies, the NIC
        is wired.  remove takes each conf away (units_test starts the
        units themselves under systemd)."""
        host, board = self.vms["host"], self.vms["board"]
        conf = "/etc/iobond/board0-dev0.conf"
        out = host.sh("dd if=/dev/zero of=/tmp/unit.img bs=1M count=8 2>/dev/null; "
                      "iobondctl board0 add-blk --file /tmp/unit.img "
                      "--serial unit-disk --iops 5000 --unit")[1]
        rc, _ = host.sh("pidof iobond-blk", check=False)
        self.check("host.unit_blk_left_to_systemd",
                   "left in place" in out and rc != 0, out)
        text = host.sh(f"cat {conf}")[1]
        self.check("host.unit_blk_conf",
                   re.search(r"^MDEV=[0-9a-f-]{36}$", text, re.M) and
                   'DISK="--file /tmp/unit.img"' in text and
                   'OPTS="--serial unit-disk --iops 5000 '
                   '--budget /run/iobond/board0.budget"' in text, text)
        cmd = self.unit_command("iobond-blk@.service")
        host.sh(f"set -a; . {conf}; ({cmd} > /run/unit-blk.log 2>&1 < /dev/null &); "
                "for i in $(seq 100); do grep -q serial /run/unit-blk.log && exit 0; "
                "sleep 0.1; done; cat /run/unit-blk.log; exit 1")
        host.sh("iobondctl board0 start")
        dev = self.board_disk("unit-disk")
        rc, out = board.sh(f"fio --name=unit --filename=/dev/{dev} --direct=1 "
                           "--ioengine=io_uring --rw=randwrite --bs=4k --iodepth=8 "
                           "--size=4M --verify=crc32c --verify_fatal=1", check=False)
        self.check("board.unit_blk_disk_verifies", rc == 0, out)
        host.sh("iobondctl board0 remove 0")
        rc, _ = host.sh(f"[ -e {conf} ]", check=False)
        self.check("host.unit_blk_conf_removed", rc != 0)

        mac = "52:54:00:12:34:77"
        host.sh(f"iobondctl board0 add-net --mac {mac} --tap tapu --unit")
        text = host.sh(f"cat {conf}")[1]
        self.check("host.unit_serve_conf",
                   all(f"{v}\n" in text for v in ("BOARD=board0", "DEV=0", "TAP=tapu")),
                   text)
        cmd = self.unit_command("iobond-serve@.service")
        host.sh(f"set -a; . {conf}; ({cmd} > /run/unit-serve.log 2>&1 < /dev/null &)")
        self.wait_board_nic(mac)
        host.sh("for i in $(seq 300); do grep -q 'wired to vhost-net' /run/unit-serve.log "
                "&& exit 0; sleep 0.1; done; cat /run/unit-serve.log; exit 1")
        host.sh("iobondctl board0 remove 0; iobondctl board0 stop; "
                "killall iobondctl 2> /dev/null; rm -f /tmp/unit.img; true")
        rc, _ = host.sh(f"[ -e {conf} ]", check=False)
        self.check("host.unit_serve_conf_removed", rc != 0)

    def host_reload_under_traffic(self):
        """rmmod iobond_host with a NIC pinging and a disk under fio: while
        their services hold it, it is refused at once, and ping and fio
        go on unharmed.  Once the services stop it goes: the NIC leaves
        the board, and with a short grace the board holds its disk that
        long, a read issued meanwhile fails, and the disk leaves too.
        Loaded again, and the board's saved table restored, the same NIC
        and disk come back to the board without a reboot, with the disk's
        data.  Then the host goes again, under the default grace: the
        board holds the disk and a read waits; when the table is restored
        the same disk goes on, the read completes, and the NIC is back.
        The disk is idle when the host goes: a request in flight then is
        never completed on 6.1 (testbed.rst, "Known gaps")."""
        host, board = self.vms["host"], self.vms["board"]
        mac, img, serial = "52:54:00:ab:cd:03", "/tmp/reload.img", "reload.img"

        # Write-through: a board holds no other disk for a host away.
        dev = self.serve_nic_and_disk(mac, img, serial, "--write-through")
        host.sh("iobondctl board0 save > /tmp/reload.table")
        host.sh(f"(ping -q -i 0.1 {BOARD_IP} > /tmp/reloadping.log 2>&1 &)")
        self.board_fio_bg(dev, "--rw=randwrite --iodepth=16 --runtime=15 --time_based")
        self.wait_disk_busy(1)
        start = time.time()
        rc, out = host.sh("rmmod iobond_host", check=False)
        took = time.time() - start
        held = host.sh("grep -c '^iobond_host ' /proc/modules", check=False)[1].strip()
        self.check("host.rmmod_refused_while_served",
                   rc != 0 and held == "1" and took < 10,
                   f"rc {rc} after {took:.1f}s, loaded: {held}: {out}")
        self.host_pings_board("host.nic_serves_after_refused_rmmod")
        rc, out = board.sh("[ ! -e /tmp/fio.rc ]", check=False)
        self.check("board.fio_runs_after_refused_rmmod", rc == 0,
                   board.sh("cat /tmp/fio.log", check=False)[1])
        took = self.board_fio_wait(60)
        rc = board.sh("cat /tmp/fio.rc /tmp/fio.log", check=False)[1]
        self.check("board.fio_clean_across_refused_rmmod",
                   took is not None and rc.startswith("0\n"), rc)

        # The services stop (SIGTERM); then the module goes.  The board
        # holds its devices for a short grace; a read then fails.
        board.sh(f"echo {SHORT_GRACE_MS} > {GRACE_PARAM}")
        host.sh("killall ping iobondctl iobond-blk; for i in $(seq 100); do "
                "pidof iobondctl iobond-blk > /dev/null || exit 0; sleep 0.1; "
                "done; ps; exit 1")
        # The read comes once the disk is frozen: one sent to the host's
        # rings before would never be answered ("Known gaps").
        result = []
        self.board_wait_held(lambda: result.append(
            host.sh("rmmod iobond_host", check=False)))
        self.check("host.rmmod_once_services_stop", result[0][0] == 0,
                   result[0][1])
        self.board_read_bg(dev)
        rc, out = board.sh(f"for i in $(seq 150); do if ! grep -qi {mac} "
                           f"/sys/class/net/*/address && [ ! -e /sys/block/{dev} ]; "
                           "then exit 0; fi; sleep 0.1; done; "
                           "ls /sys/class/net /sys/block; exit 1", check=False)
        self.check("board.devices_gone_after_grace", rc == 0, out)
        rc = self.board_read_wait(10)
        self.check("board.read_fails_after_grace", rc not in (None, "0"), str(rc))
        board.sh(f"echo {HOST_GRACE_MS} > {GRACE_PARAM}")

        # Back, from the saved table: the same devices, no board reboot,
        # the disk's data intact.
        self.load("host")
        self.wait_peer("board")
        host.sh(f"iobondctl board0 restore < /tmp/reload.table && {tap_up()}")
        self.wait_board_nic(mac)
        self.board_ip(mac)
        dev = self.board_disk(serial)
        self.host_pings_board("host.nic_back_after_reload")
        want = self.md5(img)
        got = board.sh(f"md5sum /dev/{dev}")[1].split()[0]
        self.check("board.disk_back_after_reload", got == want,
                   f"board {got}, host file {want}")

        # Away again, within the grace: the board holds its disk.
        host.sh("killall iobondctl iobond-blk; for i in $(seq 100); do "
                "pidof iobondctl iobond-blk > /dev/null || exit 0; sleep 0.1; "
                "done; ps; exit 1")
        self.board_wait_held(lambda: host.sh("rmmod iobond_host"))
        self.board_read_bg(dev)
        time.sleep(2)
        rc, out = board.sh(f"[ -e /sys/block/{dev} ] && [ ! -e /tmp/read.rc ]",
                           check=False)
        self.check("board.read_waits_while_host_away", rc == 0,
                   board.sh("cat /tmp/read.rc; dmesg | tail", check=False)[1])
        self.load("host")
        self.wait_peer("board")
        host.sh(f"iobondctl board0 restore < /tmp/reload.table && {tap_up()}")
        rc = self.board_read_wait(30)
        self.check("board.read_completes_when_host_back", rc == "0", str(rc))
        self.check("board.same_disk_after_host_back",
                   self.board_disk(serial) == dev)
        self.wait_board_nic(mac)
        self.board_ip(mac)
        self.host_pings_board("host.nic_back_with_held_disk")
        got = board.sh(f"md5sum /dev/{dev}")[1].split()[0]
        self.check("board.held_disk_data", got == want,
                   f"board {got}, host file {want}")
        host.sh("killall iobondctl iobond-blk; sleep 1; iobondctl board0 remove 1; "
                f"iobondctl board0 remove 0; iobondctl board0 stop; rm -f {img} "
                "/tmp/reload.table")

    def board_wait_held(self, lose_host):
        """Lose the host with @lose_host(), and wait until the board holds
        its disk."""
        board = self.vms["board"]
        count = "dmesg | grep -c 'the host is away: held'"
        before = int(board.sh(count + "; true")[1].split()[0])
        lose_host()
        rc, out = board.sh(f"for i in $(seq 150); do [ $({count}) -gt {before} ] "
                           "&& exit 0; sleep 0.1; done; exit 1", check=False)
        if rc:
            raise Failure("the board did not hold its disk:\n" +
                          board.sh("dmesg | tail -30", check=False)[1])

    def host_pings_board(self, name):
        """Check @name: the host's three pings of the board are answered."""
        rc, out = self.vms["host"].sh(f"ping -c 3 -W 2 {BOARD_IP}", check=False)
        self.check(name, rc == 0, out)

    def board_idle(self, dev):
        """Wait until nothing is in flight on the board's disk @dev (a
        request the host took when it dies is never answered)."""
        self.vms["board"].sh(
            f"for i in $(seq 100); do [ \"$(cat /sys/block/{dev}/inflight)\" "
            "= '       0        0' ] && exit 0; sleep 0.1; done; "
            f"cat /sys/block/{dev}/inflight; exit 1")

    def board_read_bg(self, dev):
        """A direct read of the board's disk @dev in the background;
        /tmp/read.rc at its end."""
        self.vms["board"].sh(
            f"rm -f /tmp/read.rc; (dd if=/dev/{dev} of=/dev/null bs=64k count=16 "
            "iflag=direct 2>/tmp/read.log; echo $? > /tmp/read.rc) &")

    def board_read_wait(self, timeout):
        """The background read's exit status, or None after @timeout s."""
        rc, out = self.vms["board"].sh(
            f"for i in $(seq {timeout * 10}); do [ -e /tmp/read.rc ] && "
            "cat /tmp/read.rc && exit 0; sleep 0.1; done; exit 1", check=False)
        return out.strip() if rc == 0 else None

    def serve_nic_and_disk(self, mac, img, serial, opts=""):
        """Provision a NIC served on tap0 and a 16 MiB disk (add-blk
        @opts), start the board, address both ends; the board's name for
        the disk."""
        host = self.vms["host"]
        host.sh(f"iobondctl board0 add-net --mac {mac} --tap tap0 && "
                f"iobondctl board0 start && {tap_up()}")
        self.wait_board_nic(mac)
        self.board_ip(mac)
        return self.add_disk(img, 16, opts, serial=serial)

    def hot_unplug_under_traffic(self):
        """The NIC removed under iperf3: the board's iperf3 ends with an
        error rather than hangs, and the NIC goes, while fio on the disk
        beside it runs on.  Then the disk removed under fio: it leaves
        (its requests fail until the board's driver lets go), fio ends
        with an error, and the slot is free when `remove` returns.  Added
        again, both work."""
        host, board = self.vms["host"], self.vms["board"]
        mac, img, serial = "52:54:00:ab:cd:04", "/tmp/unplug.img", "unplug.img"
        dev = self.serve_nic_and_disk(mac, img, serial)
        host.sh(iperf3_server())
        # TCP gives up on unacknowledged data after 3 s, not minutes.
        # --forceflush: each second's line reaches the log as it ends.
        board.sh("rm -f /tmp/iperf.rc; (iperf3 -c " + HOST_IP + " -t 60 "
                 "--snd-timeout 3000 --forceflush > /tmp/iperf.log 2>&1; "
                 "echo $? > /tmp/iperf.rc) &")
        self.board_fio_bg(dev, "--rw=randrw --iodepth=16 --runtime=5 --time_based")
        self.wait_disk_busy(1)
        # iperf3 reports a second of traffic, and runs on.
        rc, out = board.sh("for i in $(seq 100); do grep -q ' sec ' /tmp/iperf.log && "
                           "[ ! -e /tmp/iperf.rc ] && exit 0; sleep 0.1; done; "
                           "cat /tmp/iperf.log; exit 1", check=False)
        self.check("board.iperf3_under_way", rc == 0, out)

        host.sh("iobondctl board0 remove 0")
        rc, out = board.sh("for i in $(seq 300); do [ -e /tmp/iperf.rc ] && "
                           "exit $(cat /tmp/iperf.rc); sleep 0.1; done; exit 0",
                           check=False)
        self.check("board.iperf3_fails_when_nic_removed", rc != 0,
                   board.sh("cat /tmp/iperf.log", check=False)[1])
        took = self.board_fio_wait(60)
        rc = board.sh("cat /tmp/fio.rc /tmp/fio.log", check=False)[1]
        self.check("board.fio_beside_nic_removal", took is not None and
                   rc.startswith("0\n"), rc)
        self.board_fio_bg(dev, "--rw=randrw --iodepth=16 --runtime=60 --time_based")
        self.wait_disk_busy(1)
        start = time.time()
        rc, out = host.sh("iobondctl board0 remove 1", check=False)
        took = time.time() - start
        print(f"# remove returned {took:.1f}s after the disk was busy")
        self.check("host.disk_removed_under_fio", rc == 0, out)
        # remove waits for the board to let go, and says if it did not.
        log = host.sh("dmesg | grep -E 'dev1: (leaving|removed)' | tail -2; true")[1]
        self.check("host.disk_left_when_board_let_go",
                   "has not let go" not in out and "leaving" in log and
                   log.rstrip().endswith("dev1: removed"), out + log)
        took = self.board_fio_wait(30)
        rc = board.sh("cat /tmp/fio.rc /tmp/fio.log", check=False)[1]
        self.check("board.fio_fails_when_disk_removed", took is not None and
                   not rc.startswith("0\n"), rc)
        rc, out = board.sh(f"for i in $(seq 100); do if ! grep -qi {mac} "
                           f"/sys/class/net/*/address && [ ! -e /sys/block/{dev} ]; "
                           "then exit 0; fi; sleep 0.1; done; "
                           "ls /sys/class/net /sys/block; exit 1", check=False)
        self.check("board.unplugged_devices_gone", rc == 0, out)

        # Added again, both carry traffic.
        dev = self.serve_nic_and_disk(mac, img, serial)
        self.host_pings_board("host.nic_back_after_unplug")
        rc, out = board.sh(f"dd if=/dev/{dev} of=/dev/null bs=64k count=64 "
                           "iflag=direct 2>&1", check=False)
        self.check("board.disk_back_after_unplug", rc == 0, out)
        host.sh("killall iperf3 iobondctl iobond-blk; sleep 1; "
                "iobondctl board0 remove 1; iobondctl board0 remove 0; "
                f"iobondctl board0 stop; rm -f {img}", check=False)

    def board_reboot_keeps_devices(self):
        """The board VM powered off and booted again with a NIC and a
        disk provisioned and served: the same MAC and serial come back,
        with the data written before, and the NIC carries traffic."""
        host, board = self.vms["host"], self.vms["board"]
        mac, img, serial = "52:54:00:ab:cd:05", "/tmp/reboot.img", "reboot.img"
        dev = self.serve_nic_and_disk(mac, img, serial)
        board.sh(f"dd if=/dev/urandom of=/tmp/pattern bs=64k count=16 2>/dev/null && "
                 f"dd if=/tmp/pattern of=/dev/{dev} bs=64k oflag=direct 2>/dev/null && "
                 "sync && md5sum < /tmp/pattern > /tmp/pattern.md5")
        want = board.sh("cat /tmp/pattern.md5")[1].split()[0]
        board.poweroff()
        board.start()
        self.load("board")
        self.wait_board_nic(mac)
        self.board_ip(mac)
        dev = self.board_disk(serial)
        got = board.sh(f"dd if=/dev/{dev} bs=64k count=16 iflag=direct "
                       "2>/dev/null | md5sum")[1].split()[0]
        self.check("board.disk_data_after_reboot", got == want,
                   f"read {got}, wrote {want}")
        self.host_pings_board("host.nic_back_after_board_reboot")
        host.sh("killall iobondctl iobond-blk; sleep 1; "
                "iobondctl board0 remove 1; iobondctl board0 remove 0; "
                f"iobondctl board0 stop; rm -f {img}", check=False)

    def raw_disk(self, step, img, serial, sectors, opts="", env=None):
        """blkraw_test, with iobond_guest unloaded, on @img as dev0: the
        backend survives, and the file is unchanged."""
        host = self.vms["host"]
        label = "raw" if step == "raw_disk" else step
        before = self.md5(img)
        # A raw board puts its rings in the window: no engine.
        host.sh(f"iobondctl board0 add-blk --file {img} --serial {serial} {opts} "
                "--queue-size 16 --window && iobondctl board0 start")
        self.test("board", "blkraw_test", step,
                  dict(env or {}, IOBOND_BLK_SECTORS=sectors, IOBOND_BLK_SERIAL=serial))
        self.check(f"host.{label}_backend_alive",
                   host.sh("pidof iobond-blk", check=False)[0] == 0,
                   host.sh("cat /run/iobond/board0-dev0.log", check=False)[1])
        host.sh("iobondctl board0 remove 0")
        self.check(f"host.{label}_file_unchanged", self.md5(img) == before)

    def host_driver_features(self, index):
        """What the host saw the board's driver accept, as hex."""
        _, out = self.vms["host"].sh("iobondctl --json board0 status")
        for dev in json.loads(out)["devices"]:
            if dev["index"] == index:
                return dev["driver_features"]
        raise Failure(f"host has no dev{index}: {out}")

    def peer_id(self, side):
        return self.status(side)["own_id"]

    @staticmethod
    def module(vm):
        return "iobond_host" if vm.side == "host" else "iobond_guest"

    def status(self, side):
        vm = self.vms[side]
        _, out = vm.sh(f"cat /sys/kernel/debug/{self.module(vm)}/*/status")
        return dict(l.split(": ", 1) for l in out.splitlines() if ": " in l)

    def load(self, side, wait_peer=True):
        """Load @side's module (side: a key of self.vms)."""
        self.vms[side].sh(f"insmod /lib/iobond/{self.module(self.vms[side])}.ko")
        if wait_peer:
            self.wait_peer(side)

    def wait_peer(self, side, want="up", timeout=20):
        """Wait until every link @side holds (the host all the run's
        links, a board its own) has its peer @want."""
        vm = self.vms[side]
        mod, links = self.module(vm), self.links if vm.side == "host" else 1
        vm.sh(
            f"for i in $(seq {timeout * 10}); do "
            f"[ $(cat /sys/kernel/debug/{mod}/*/status | grep -c '^peer: {want}$') "
            f"-ge {links} ] && exit 0; sleep 0.1; done; "
            f"cat /sys/kernel/debug/{mod}/*/status; exit 1")

    def on_both(self, fn):
        """fn(vm) for every VM at once; their results by name."""
        return self.parallel(lambda name: fn(self.vms[name]), list(self.vms))

    @staticmethod
    def parallel(fn, keys):
        """fn(key) for every key at once, a thread each (each waits on
        its own VM); their results by key.  What one raised is raised
        once all are done."""
        results = {}

        def one(key):
            try:
                results[key] = fn(key)
            except Exception as e:   # noqa: B902 - raised below, once
                results[key] = e

        threads = [threading.Thread(target=one, args=(key,)) for key in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results.values():
            if isinstance(r, Exception):
                raise r
        return results

    def channel_stress(self):
        """Every command's random payload comes back byte for byte, from
        both VMs at once (stress.py); resends are allowed, and reported."""
        # The channel is the same on either kernel; the debug tier's
        # slower fork and exec make 2,000 take half an hour there.
        n = int(os.environ.get("IOBOND_CHANNEL_CMDS", "200" if self.debug else "2000"))
        seed = self.seed
        print(f"# channel stress: {n} commands per VM, seed {seed}", flush=True)
        def one(vm):
            start = time.time()
            return stress.echo(vm, n, seed) + (time.time() - start,)

        results = self.on_both(one)
        for side in self.vms:
            garbled, resent, moved, took = results[side]
            print(f"# {side}: {n} commands, {moved / 1e6:.1f} MB echoed in "
                  f"{took:.0f}s, {garbled} garbled, {resent} frames resent",
                  flush=True)
            self.check(f"{side}.channel_echo_{n}_commands", garbled == 0,
                       f"{garbled} of {n} commands came back garbled")
        self.channel_damage(seed)

    def channel_damage(self, seed):
        """The channel repairs what it is meant to: frames dropped, cut
        short or with a bit flipped, both ways (channel.Damage), on both
        VMs at once.  Each harm forces a repair that the counts show."""
        results = self.on_both(lambda vm: stress.damaged(vm, seed))
        budget = Damage.BUDGET
        for side, vm in self.vms.items():
            n, garbled, done, resent, peer_resent, bad, peer_bad = results[side]
            vm.harm_resent += resent
            vm.harm_peer_resent += peer_resent
            print(f"# {side}: damage over {n} commands: {garbled} garbled; "
                  f"repaired by {resent} resends from the runner and "
                  f"{peer_resent} from the agent, {bad} bytes dropped by the "
                  f"runner and {peer_bad} by the agent", flush=True)
            # Each frame of ours harmed is resent; each ack dropped makes
            # the agent resend; each flipped byte fails a CRC somewhere.
            self.check(f"{side}.channel_repairs_damage",
                       done and garbled == 0 and
                       resent >= len(Damage.DATA_KINDS) * budget and
                       peer_resent >= budget and bad > 0 and peer_bad > 0,
                       f"all harm done: {done}, {garbled} garbled, "
                       f"{resent}/{peer_resent} resent, {bad}/{peer_bad} "
                       f"bytes dropped")

    def report_channels(self):
        """What each control channel had to repair, over the whole run."""
        for side, vm in self.vms.items():
            vm.close_channel()
            print(f"# channel {side}: {vm.resent} frames resent by the runner "
                  f"({vm.harm_resent} for the damage test), {vm.peer_resent} "
                  f"by the agent ({vm.harm_peer_resent} for it); {vm.bad} "
                  f"bytes dropped by the runner, {vm.peer_bad} by the agent")

    def loss_mark(self, side, label):
        """Mark @side's kernel log before its peer is taken away, so that
        loss_test counts only what this loss logged.  @side must have seen
        its peer come up first: a loss it never saw start is no loss."""
        self.wait_peer(side)
        # The peer's boot may end here: what it ran is judged now.
        self.lockdep_on(label)
        self.vms[side].sh(f"echo iobond-mark loss-{label} > /dev/kmsg")

    def lockdep_on(self, when):
        """On the debug tier, lockdep is still on in both VMs: some of its
        reports switch it off for the rest of the boot, and every later
        lock bug with it.  Judged before each loss ends a boot, and at
        the end."""
        if not self.debug:
            return
        for side, vm in self.vms.items():
            rc, _ = vm.sh("grep -Eq '^ *debug_locks: +1$' /proc/lockdep_stats",
                          check=False)
            self.check(f"{side}.lockdep_on_{when}", rc == 0,
                       "debug_locks is 0: a lock report switched lockdep off")

    def loss_test(self, side, label, how):
        self.test(side, "loss_test", label,
                  {"IOBOND_LOSS": how, "IOBOND_MARK": f"loss-{label}"})

    def check_splats(self):
        # The engines outlived everything the VMs did to them.
        self.engines_alive()
        for side, vm in self.vms.items():
            bad, context = vm.splats()
            if bad:
                self.failed += 1
                print(f"not ok {side}.no_kernel_splats")
                for l in bad[:20]:
                    print(f"#   {l}")
                print(f"#   the first of them, from {vm.side}'s console:")
                for l in context:
                    print(f"#   | {l}")
            else:
                self.passed += 1
                print(f"ok {side}.no_kernel_splats")

    def engines_alive(self, label="still_running"):
        for link, proc in sorted(self.engines.items()):
            alive = proc.poll() is None
            self.check(f"engine{link or ''}.{label}", alive,
                       "" if alive else self.engine_log(link)[-2000:])

    # -- plans ----------------------------------------------------------

    def plan_check(self):
        host, board = self.vms["host"], self.vms["board"]
        self.test("host", "testbed_test", "testbed")
        self.test("board", "testbed_test", "testbed")
        self.channel_stress()

        # Each module alone: the other side's module is not loaded.
        self.test("host", "module_test", "alone",
                  {"IOBOND_PEER": "down", "IOBOND_VECTORS": VECTORS})
        self.test("board", "module_test", "alone",
                  {"IOBOND_PEER": "down", "IOBOND_VECTORS": VECTORS})

        # The link comes up both ways; one side at a time on the vectors.
        self.load("host", wait_peer=False)
        self.load("board")
        self.wait_peer("host")
        host_id, board_id = self.peer_id("host"), self.peer_id("board")
        self.test("board", "link_test", "link", {"IOBOND_PEER_ID": host_id})
        self.test("host", "link_test", "link", {"IOBOND_PEER_ID": board_id})

        # Reload cycles with the peer up; the peer re-attaches each time.
        self.test("host", "module_test", "with_peer",
                  {"IOBOND_PEER": "up", "IOBOND_VECTORS": VECTORS})
        self.wait_peer("board")
        self.test("board", "module_test", "with_peer",
                  {"IOBOND_PEER": "up", "IOBOND_VECTORS": VECTORS})
        self.wait_peer("host")

        # The control plane: ioctls and their refusals, then a board that
        # drives its device slot raw, well and badly, and what the host
        # made of it.
        self.test("host", "ctrl_test", "ctrl")
        self.test("host", "cli_test", "cli")
        self.wait_peer("host")
        self.wait_peer("board")

        # Fault injection (the debug tier's kernel): every slab allocation in
        # board add, a call eventfd, a window mmap, mdev create and open
        # fails once in turn, unwinds, and the next try works; device add
        # and remove, start and stop must allocate nothing.
        # Two WARNs of 6.1's own error paths are expected there: an
        # injected failure in register_irq_proc() leaves an irq's proc
        # entry missing, and free_irq() WARNs removing it; and
        # vfio_create_group() unwinding a failed dev_set_name() or
        # cdev_device_add() releases a group that still names its iommu
        # group (WARN_ON in vfio_group_release()).
        host.expect_warnings(
            r"WARNING: CPU: \d+ PID: \d+ at (fs/proc/generic\.c:\d+ remove_proc_entry"
            r"|drivers/vfio/vfio_main\.c:\d+ vfio_group_release)",
            lambda: self.test("host", "fault_test", "fault", timeout=1200))
        self.wait_peer("host")
        self.wait_peer("board")
        mac = "52:54:00:ab:cd:01"
        host.sh(f"iobondctl board0 add-net --mac {mac} --window && iobondctl board0 start"
                " && iobondctl board0 events --timeout 200 > /dev/null")
        board.sh("rmmod iobond_guest")
        self.test("board", "slot_test", "raw_board", {"IOBOND_MAC": mac})
        self.test("host", "events_test", "raw_board")
        self.load("board")
        host.sh("iobondctl board0 reset && iobondctl board0 remove 0")

        # NICs over the transport: unmodified virtio_net binds with what the
        # host set, hot-add and hot-remove show, and rebinding holds.
        mac2 = "52:54:00:ab:cd:02"
        host.sh(f"iobondctl board0 add-net --mac {mac} --mtu 1400 && "
                "iobondctl board0 start")
        self.wait_board_nic(mac)
        feats = self.host_driver_features(0)
        self.test("board", "vnet_test", "nic", {
            "IOBOND_NETS": mac, "IOBOND_MTU": 1400, "IOBOND_FEATURES": feats})

        # Packets: vhost-net serves dev0 through tap0, wired once by
        # iobondctl; a TCP echo server on the host takes the stream.
        host.sh("(iobondctl board0 serve 0 --tap tap0 > /tmp/serve.log 2>&1 &); "
                f"{tap_up()} && (nc -ll -p 5001 -e cat > /dev/null 2>&1 &)")
        self.board_ip(mac)
        self.test("board", "net_test", "net",
                  {"IOBOND_PEER_IP": HOST_IP, "IOBOND_ECHO_PORT": 5001})
        self.test("host", "net_test", "net", {"IOBOND_PEER_IP": BOARD_IP})

        # The operator sets the NIC's carrier; the board hears it.
        host.sh("iobondctl board0 link 0 down")
        self.test("board", "vnet_test", "carrier_down",
                  {"IOBOND_NETS": mac, "IOBOND_CARRIER": 0})
        host.sh("iobondctl board0 link 0 up")
        self.test("board", "vnet_test", "carrier_up",
                  {"IOBOND_NETS": mac, "IOBOND_CARRIER": 1})

        # The NIC's backend dies under traffic (SIGKILL): its file closes,
        # and the host drops the carrier for it.  A new serve takes up
        # where the rings are: no replayed descriptor ("is not a head" is a
        # splat), no transmit timeout, and packets flow again.
        self.serve_killed(mac)

        self.fuzz_ctrl()
        self.scribble(mac)

        # Rebinding virtio_net while the host pings; vhost is rewired each
        # time, and the NIC carries traffic again afterwards.
        host.sh(f"(ping -q -i 0.2 {BOARD_IP} > /tmp/bgping.log 2>&1 &)")
        self.test("board", "vnet_test", "rebind",
                  {"IOBOND_NETS": mac, "IOBOND_REBIND": 20})
        host.sh("killall ping; cat /tmp/bgping.log", check=False)
        self.board_ip(mac)
        self.test("board", "net_test", "after_rebind", {"IOBOND_PEER_IP": HOST_IP})

        # A second NIC at runtime, with its own tap and service.
        host.sh(f"iobondctl board0 add-net --mac {mac2} --tap tap1")
        self.test("board", "vnet_test", "hot_add", {"IOBOND_NETS": f"'{mac} {mac2}'"})
        host.sh("for i in $(seq 100); do grep -q wired /run/iobond/board0-dev1.log "
                "&& exit 0; sleep 0.1; done; cat /run/iobond/board0-dev1.log; exit 1")
        host.sh("iobondctl board0 remove 1")
        self.test("board", "vnet_test", "hot_remove", {"IOBOND_NETS": mac})
        self.zones(mac)
        # Stopping the service drops the carrier: nothing serves the NIC.
        host.sh("killall iobondctl nc; sleep 1")
        self.test("board", "vnet_test", "serve_stopped",
                  {"IOBOND_NETS": mac, "IOBOND_CARRIER": 0})
        host.sh("iobondctl board0 reset && iobondctl board0 remove 0")

        self.window_path(mac)
        self.engine_path()
        self.plan_disks()
        self.plan_nbd()
        self.plan_units()
        self.host_reload_under_traffic()
        self.hot_unplug_under_traffic()
        self.board_reboot_keeps_devices()

        # Clean detach: the peer's module goes away.
        self.loss_mark("host", "board_unloaded")
        board.sh("rmmod iobond_guest")
        self.loss_test("host", "board_unloaded", "offline")
        self.load("board")
        self.loss_mark("board", "host_unloaded")
        host.sh("rmmod iobond_host")
        self.loss_test("board", "host_unloaded", "offline")
        self.load("host")
        self.wait_peer("board")

        # Power cut on the board: only the heartbeat can tell.
        self.loss_mark("host", "board_killed")
        board.kill()
        self.loss_test("host", "board_killed", "silent")
        board.start()
        self.load("board")
        self.test("host", "link_test", "board_rebooted",
                  {"IOBOND_PEER_ID": self.peer_id("board")})

        # Clean power-off of the board: its shutdown hook says goodbye.
        self.loss_mark("host", "board_powered_off")
        board.poweroff()
        self.loss_test("host", "board_powered_off", "offline")
        board.start()
        self.load("board")
        self.wait_peer("host")

        # Power cut on the host.
        self.loss_mark("board", "host_killed")
        host.kill()
        self.loss_test("board", "host_killed", "silent")

        self.durability()
        self.host_killed_with_devices()
        self.still_well()
        mainboard.plan(self, MAINBOARD_BOARDS)

    def serve_killed(self, mac):
        host = self.vms["host"]
        host.sh(f"(ping -q -i 0.05 {BOARD_IP} > /tmp/killping.log 2>&1 &); "
                "sleep 1; killall -9 iobondctl")
        self.test("board", "vnet_test", "serve_killed",
                  {"IOBOND_NETS": mac, "IOBOND_CARRIER": 0})
        host.sh("(iobondctl board0 serve 0 --tap tap0 >> /tmp/serve.log 2>&1 &); "
                f"{tap_up()}")
        self.test("board", "vnet_test", "serve_restarted",
                  {"IOBOND_NETS": mac, "IOBOND_CARRIER": 1})
        self.test("board", "net_test", "after_serve_killed",
                  {"IOBOND_PEER_IP": HOST_IP, "IOBOND_ECHO_PORT": 5001})
        # The host reaches the board again, through the new backend.
        host.sh("killall ping; cat /tmp/killping.log", check=False)
        rc, out = host.sh(f"ping -c 5 -i 0.2 -W 2 {BOARD_IP}", check=False)
        self.check("host.serve_killed.pings_answered", rc == 0, out)

    def unacked_reset(self, mac):
        """A host too slow to answer (debugfs answer_delay_ms, 3 s against
        the board's 1 s): the board unbinds the NIC's driver, whose reset
        goes unanswered, and keeps the NIC's zone fenced: nothing the
        backend was handed is handed out again (the tenant issue's defect
        8).  The host answers again: the driver bound again asks for the
        reset first, the fence lifts, and the NIC carries traffic."""
        host, board = self.vms["host"], self.vms["board"]
        # A redirection's word is no glob in a script: a loop names it.
        delay = "/sys/kernel/debug/iobond_host/*/answer_delay_ms"
        window = "/sys/kernel/debug/iobond_guest/*/window"
        virtio = self.board_virtio(mac)
        host.sh(f"for f in {delay}; do echo 3000 > $f; done")
        try:
            board.sh(f"echo {virtio} > /sys/bus/virtio/drivers/virtio_net/unbind")
            fenced = board.sh(f"awk '/^fenced:/ {{print $2}}' {window}")[1].strip()
            log = board.sh("dmesg | grep 'reset not acknowledged' | tail -1; true")[1]
            self.check("board.unacked_reset_fences_zone",
                       fenced.isdigit() and int(fenced) > 0 and "fenced" in log,
                       f"fenced: {fenced!r}; {log}")
        finally:
            # The host's late answer, then none held back.
            host.sh(f"for f in {delay}; do echo 0 > $f; done; sleep 4")
        board.sh(f"echo {virtio} > /sys/bus/virtio/drivers/virtio_net/bind")
        fenced = board.sh(f"awk '/^fenced:/ {{print $2}}' {window}")[1].strip()
        self.check("board.fence_lifts_when_host_answers", fenced == "0",
                   f"fenced: {fenced!r}")
        self.wait_board_nic(mac)
        self.board_ip(mac)
        self.test("board", "net_test", "after_unacked_reset",
                  {"IOBOND_PEER_IP": HOST_IP, "IOBOND_ECHO_PORT": 5001})

    def fuzz_args(self):
        """The fuzzers' length and seed: short in check, full in the debug
        tier; IOBOND_FUZZ_OPS and IOBOND_SEED override."""
        ops = os.environ.get("IOBOND_FUZZ_OPS", "100000" if self.debug else "10000")
        return {"IOBOND_FUZZ_OPS": ops, "IOBOND_SEED": self.seed}

    def zones(self, mac):
        """A disk beside the served NIC: fio on it and iperf3 over the NIC
        at once, then the disk's driver rebound and the disk removed,
        each a revocation of the disk's zone of the window.  The NIC's
        vhost-net mapping is never touched, so a ping of the NIC across
        them loses nothing (the tenant issue's defect 6: one revocation
        took the whole window, and the NIC died with the disk)."""
        host, board = self.vms["host"], self.vms["board"]
        nic = ("for d in /sys/class/net/*; do grep -qi " + mac +
               " $d/address && cat $d/ifindex; done; true")
        before = board.sh(nic)[1].strip()
        # add_disk starts the board again: a running board's devices stay
        # (a second START once republished them all, the tenant issue's
        # defect 8, and the board's NIC came back a new interface).
        dev = self.add_disk("/tmp/zone.img", 4)
        after = board.sh(nic)[1].strip()
        self.check("board.second_start_keeps_devices", before == after,
                   f"the NIC's ifindex was {before}, is {after}")
        # Both at once: virtio_blk maps and unmaps in its hard-irq
        # completion, virtio_net in softirq and process context, all on
        # the board's one map of bounce buffers (lockdep in the debug
        # tier; the tenant issue's defect 3).
        host.sh(iperf3_server())
        self.board_fio_bg(dev, "--rw=randrw --iodepth=16 --runtime=5 --time_based")
        board.sh(f"iperf3 -c {HOST_IP} -t 5 > /tmp/iperf.log")
        took = self.board_fio_wait(60)
        rc = board.sh("cat /tmp/fio.rc /tmp/fio.log", check=False)[1]
        self.check("board.fio_and_iperf3_together", took is not None and
                   rc.startswith("0\n"), rc)
        host.sh("killall iperf3", check=False)

        # A fixed count, so that no reply is still on its way at the end.
        host.sh(f"(ping -q -c 50 -i 0.2 {BOARD_IP} > /tmp/zoneping.log 2>&1 &)")
        dev = self.rebind_disk(dev, "zone.img")
        board.sh(f"dd if=/dev/{dev} of=/dev/null bs=64k count=16 iflag=direct")
        host.sh("killall iobond-blk")
        self.remove_devices_but(0)
        _, ping = host.sh("for i in $(seq 300); do grep -q 'packet loss' "
                          "/tmp/zoneping.log && break; sleep 0.1; done; "
                          "cat /tmp/zoneping.log", check=False)
        lost = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", ping)
        self.check("host.nic_pings_across_disk_resets",
                   lost is not None and lost[1] == "50" and lost[2] == "50",
                   ping)
        self.test("board", "net_test", "beside_disk_resets", {"IOBOND_PEER_IP": HOST_IP})

    def remove_devices_but(self, keep):
        """Remove every device of board0 but slot @keep."""
        _, out = self.vms["host"].sh("iobondctl --json board0 status")
        for dev in json.loads(out)["devices"]:
            if dev["index"] != keep:
                self.vms["host"].sh(f"iobondctl board0 remove {dev['index']}")

    def fuzz_ctrl(self):
        """Two threads fuzz /dev/iobond/board0, a VFIO device of their own
        slot and the vhost face while dev0, the NIC, is served and pinged;
        the NIC still pings afterwards.  The fuzzer removes devices of its
        own: each removal revokes that device's zone of the window only."""
        host = self.vms["host"]
        host.sh(f"(ping -q -i 0.2 {BOARD_IP} > /tmp/fuzzping.log 2>&1 &)")
        self.test("host", "fuzz_ctrl_test", "fuzz_ctrl", self.fuzz_args(),
                  timeout=1800)
        host.sh("killall ping; tail -3 /tmp/fuzzping.log", check=False)
        self.test("board", "net_test", "after_fuzz", {"IOBOND_PEER_IP": HOST_IP})

    def scribble(self, mac):
        """A raw board scribbles over two spare slots, a NIC nobody serves
        and a disk whose backend is gone, while dev0 stays served; the
        host keeps answering, and dev0 works once iobond_guest is back."""
        host, board = self.vms["host"], self.vms["board"]
        self.remove_devices_but(0)
        board.sh("rmmod iobond_guest")
        host.sh("iobondctl board0 add-net --mac 52:54:00:ab:cd:0e --window && "
                "dd if=/dev/zero of=/tmp/scr.img bs=1M count=4 2>/dev/null && "
                "iobondctl board0 add-blk --file /tmp/scr.img --serial scribble "
                "--window && killall iobond-blk")
        self.test("board", "scribble_test", "scribble",
                  dict(self.fuzz_args(), IOBOND_SCRIBBLE_KEEP="0"), timeout=1800)
        self.remove_devices_but(0)
        host.sh("rm -f /tmp/scr.img")
        self.load("board")
        self.wait_board_nic(mac)
        self.board_ip(mac)

    def durability(self):
        """A flush from the board reaches the host VM's QEMU drive, a file
        of the build machine: write a pattern and fsync, kill the host
        VM's QEMU, boot it again and find the pattern in the backing file.
        (What QEMU wrote is in the build machine's page cache: this proves
        the flush left the host VM, not that it reached a platter.)

        A second pattern written without a flush is the control: the host
        VM's periodic writeback is off and ext4 commits rarely, so only a
        flush writes it out, and some of it must be lost.  Were all of it
        kept, the step could not tell a flush from the host's own writeback,
        and it fails."""
        host, board = self.vms["host"], self.vms["board"]
        host.start()
        self.load("host", wait_peer=False)
        self.wait_peer("board")
        disk = (f"d=$(grep -l {HOST_DISK} /sys/block/vd*/serial); "
                "d=${d%/serial}; d=/dev/${d##*/}")
        host.sh(f"{disk}; mkfs.ext4 -q -F $d && mkdir -p /mnt/host && "
                "mount -t ext4 -o commit=600 $d /mnt/host && dd if=/dev/zero "
                "of=/mnt/host/disk.img bs=1M count=8 2>/dev/null && sync && "
                "echo 0 > /proc/sys/vm/dirty_writeback_centisecs && "
                "echo 360000 > /proc/sys/vm/dirty_expire_centisecs")
        host.sh("iobondctl board0 add-blk --file /mnt/host/disk.img --serial durable "
                "&& iobondctl board0 start")
        dev = self.board_disk("durable")
        kib = DURABLE_KIB

        def sums(path, skip=0):
            """The md5 of each 4 KiB block of the pattern at @path."""
            return (f"for i in $(seq 0 {kib // 4 - 1}); do dd if={path} bs=4k "
                    f"skip=$(({skip} + i)) count=1 2>/dev/null | md5sum; done")

        # Random patterns made on the board; only their block sums travel.
        board.sh(f"dd if=/dev/urandom of=/tmp/flushed bs=1k count={kib} 2>/dev/null && "
                 f"dd if=/dev/urandom of=/tmp/unflushed bs=1k count={kib} 2>/dev/null")
        want = [board.sh(sums(f"/tmp/{p}"))[1].split()[::2]
                for p in ("flushed", "unflushed")]
        board.sh(f"dd if=/tmp/flushed of=/dev/{dev} bs=64k conv=fsync 2>/dev/null")
        board.sh(f"dd if=/tmp/unflushed of=/dev/{dev} bs=64k seek=16 oflag=direct "
                 "2>/dev/null")
        held = "dmesg | grep -c 'the host is away: held'; true"
        before = board.sh(held)[1].strip()
        self.board_idle(dev)
        host.kill()
        # A disk with a write cache lost it with the host: not held.
        rc, out = board.sh(f"for i in $(seq 100); do [ ! -e /sys/block/{dev} ] && "
                           "exit 0; sleep 0.1; done; exit 1", check=False)
        self.check("board.writeback_disk_goes_when_host_dies",
                   rc == 0 and board.sh(held)[1].strip() == before,
                   board.sh("dmesg | tail", check=False)[1])
        host.start()
        host.sh(f"{disk}; mkdir -p /mnt/host && mount -t ext4 $d /mnt/host")
        got = [host.sh(sums("/mnt/host/disk.img", skip))[1].split()[::2]
               for skip in (0, 256)]
        kept = [sum(a == b for a, b in zip(w, g)) for w, g in zip(want, got)]
        n = kib // 4
        self.check("host.flushed_data_survives_qemu_kill", kept[0] == n,
                   f"{kept[0]} of {n} flushed blocks in the file after the kill")
        print(f"# durability: {kept[0]} of {n} flushed 4 KiB blocks survived killing "
              f"the host VM's QEMU; {kept[1]} of {n} written without a flush did",
              flush=True)
        self.check("host.unflushed_data_was_at_risk", kept[1] < n,
                   f"all {n} blocks written without a flush survived too: the "
                   "host wrote them back on its own")

    def host_killed_with_devices(self):
        """The host VM's QEMU killed while it serves the board a NIC, which
        the board pings, and a disk with ext4 mounted: the NIC leaves the
        board, the board holds the disk, and a sync issued meanwhile
        waits.  The host boots again, loads its driver and restores the
        table it saved on its own drive: the same disk goes on, the sync
        completes, the file system is clean with every file, and the NIC
        is back.  The disk is idle when the host dies: a request in flight
        then is never completed (testbed.rst, "Known gaps")."""
        host, board = self.vms["host"], self.vms["board"]
        mac, serial = "52:54:00:ab:cd:06", "killed.img"
        img, table = f"/mnt/host/{serial}", "/mnt/host/killed.table"
        self.load("host", wait_peer=False)
        self.wait_peer("board")
        # Write-through: what the host completed is on its drive, so the
        # host's death loses nothing the board's ext4 counts on.
        dev = self.serve_nic_and_disk(mac, img, serial, "--write-through")
        host.sh(f"iobondctl board0 save > {table} && sync")
        # Nothing in flight when the host dies: no lazy init behind mkfs.
        # noatime and a long commit: no journal write of its own while
        # the host is away.
        board.sh(f"mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 /dev/{dev} && "
                 "mkdir -p /mnt/t && "
                 f"mount -t ext4 -o noatime,commit=600 /dev/{dev} /mnt/t && "
                 "dd if=/dev/urandom of=/tmp/before bs=64k count=4 2>/dev/null && "
                 "cp /tmp/before /mnt/t/before && sync && "
                 "md5sum < /tmp/before > /tmp/before.md5")
        board.sh(f"(ping -i 0.2 {HOST_IP} > /tmp/killping.log 2>&1 &)")
        # Long enough for the host VM to boot again, on the debug tier too.
        grace = HOST_GRACE_MS * (DEBUG_SLOWDOWN if self.debug else 1)
        # The sync waits that long: no hung-task report before the grace.
        hung = "/proc/sys/kernel/hung_task_timeout_secs"
        hung_was = board.sh(f"cat {hung} 2>/dev/null; true")[1].strip()
        board.sh(f"echo {grace} > {GRACE_PARAM}; [ ! -e {hung} ] || "
                 f"echo {grace // 1000 + 60} > {hung}")
        self.board_idle(dev)
        start = time.time()
        self.board_wait_held(host.kill)
        print(f"# the board held its disk {time.time() - start:.1f}s after "
              "the host VM died")
        board.sh("dd if=/dev/urandom of=/tmp/during bs=64k count=4 2>/dev/null && "
                 "md5sum < /tmp/during > /tmp/during.md5")
        board.sh("rm -f /tmp/sync.rc; (cp /tmp/during /mnt/t/during && sync; "
                 "echo $? > /tmp/sync.rc) &")
        time.sleep(2)
        rc, out = board.sh(f"[ -e /sys/block/{dev} ] && grep -q ' /mnt/t ' /proc/mounts "
                           "&& [ ! -e /tmp/sync.rc ]", check=False)
        self.check("board.disk_held_while_host_dead", rc == 0,
                   board.sh("cat /tmp/sync.rc; dmesg | tail", check=False)[1])

        # Back, from the table on the host's drive: no board reboot.
        start = time.time()
        host.start()
        host.sh(f"d=$(grep -l {HOST_DISK} /sys/block/vd*/serial); d=${{d%/serial}}; "
                "mkdir -p /mnt/host && mount -t ext4 /dev/${d##*/} /mnt/host")
        self.load("host", wait_peer=False)
        self.wait_peer("board")
        host.sh(f"iobondctl board0 restore < {table} && {tap_up()}")
        rc, out = board.sh("for i in $(seq 300); do [ -e /tmp/sync.rc ] && "
                           "exit $(cat /tmp/sync.rc); sleep 0.1; done; exit 1",
                           check=False)
        print(f"# the host was back and the board's sync done {time.time() - start:.1f}s "
              "after the host VM was started again")
        self.check("board.sync_completes_when_host_back", rc == 0,
                   board.sh("dmesg | tail -20", check=False)[1])
        self.check("board.same_disk_after_host_killed",
                   self.board_disk(serial) == dev)
        self.wait_board_nic(mac)
        self.board_ip(mac)
        self.host_pings_board("host.nic_back_after_host_killed")
        # From the disk, not the page cache: remounted.
        rc, out = board.sh(f"killall ping; umount /mnt/t && e2fsck -fn /dev/{dev} && "
                           f"mount -t ext4 -o ro /dev/{dev} /mnt/t && "
                           "md5sum < /mnt/t/before | cmp - /tmp/before.md5 && "
                           "md5sum < /mnt/t/during | cmp - /tmp/during.md5 && umount /mnt/t",
                           check=False)
        self.check("board.ext4_survives_host_killed", rc == 0, out)
        board.sh(f"echo {HOST_GRACE_MS} > {GRACE_PARAM}")
        if hung_was:
            board.sh(f"echo {hung_was} > {hung}")
        host.sh("killall iobondctl iobond-blk; sleep 1; iobondctl board0 remove 1; "
                "iobondctl board0 remove 0; iobondctl board0 stop", check=False)

    def still_well(self):
        """At the end of a plan: each VM the plan did not take down still
        runs (one that died after its last command would go unnoticed),
        and on the debug tier lockdep is still on."""
        for side, vm in self.vms.items():
            if vm.expect_death:
                continue
            if not vm.alive():
                with open(vm.console + ".qemu", errors="replace") as f:
                    qemu = f.read()[-2000:]
                self.check(f"{side}.still_running", False,
                           f"QEMU exited ({vm.proc.returncode}): {qemu}\n"
                           f"console tail:\n{vm.tail()}")
                continue
            self.check(f"{side}.still_running", True)
        if all(vm.alive() for vm in self.vms.values()):
            self.lockdep_on("at_the_end")

    def plan_demo(self):
        host, board = self.vms["host"], self.vms["board"]
        mac = "52:54:00:ab:cd:01"
        print("== host: insmod iobond_host.ko; board: insmod iobond_guest.ko")
        self.load("host", wait_peer=False)
        self.load("board")
        self.wait_peer("host")
        st = self.status("host")
        print(f"link up: host id {st['own_id']}, board id {st['peer_id']}, "
              f"heartbeats {st['heartbeat']}/{st['peer_heartbeat']}")
        print(board.sh("d=$(echo /sys/kernel/debug/iobond_guest/*); "
                       "echo '1 100' > $d/echo && cat $d/echo")[1], end="")

        print(f"== host: provision board0 with a NIC {mac} on tap0, served by vhost-net")
        print(host.sh(
            f"iobondctl board0 add-net --mac {mac} --tap tap0 && {tap_up()} && "
            "iobondctl board0 start && sleep 2 && iobondctl board0 status && "
            "cat /run/iobond/board0-dev0.log")[1], end="")
        print("== board: the NIC, bound to the unmodified virtio_net")
        self.wait_board_nic(mac)
        self.board_ip(mac)
        print(board.sh("ip addr show eth0; ethtool -i eth0 | head -5")[1], end="")

        print(f"== board: ping -c 100 {HOST_IP} (the host's tap, across the bond)")
        out = board.sh(f"ping -c 100 -i 0.05 {HOST_IP} | tail -3")[1]
        print(out, end="")
        if " 0% packet loss" not in out:
            raise Failure("ping lost packets")
        print(f"== iperf3 -c {HOST_IP} -t 5 (board sends), then -R (host sends)")
        host.sh("iperf3 -s -D > /dev/null")
        for rev in ("", " -R"):
            out = board.sh(f"iperf3 -c {HOST_IP} -t 5{rev} | grep -E 'sender|receiver'")[1]
            print(out, end="")
        print("== host: queue counters; tap packet counts")
        print(host.sh("iobondctl board0 stats 0; for s in rx_packets tx_packets; do "
                      "echo tap0 $s $(cat /sys/class/net/tap0/statistics/$s); done")[1],
              end="")
        self.passed += 1
        self.demo_disk()

    def demo_disk(self):
        """The demo's disk: size, fio verify, ext4 across a board reboot."""
        host, board = self.vms["host"], self.vms["board"]
        print("== host: give board0 a 64 MiB disk, a file in its tmpfs, "
              "served by iobond-blk through the VFIO face")
        host.sh("dd if=/dev/zero of=/tmp/disk.img bs=1M count=64 2>/dev/null")
        print(host.sh("iobondctl board0 add-blk --file /tmp/disk.img --serial demo-disk && "
                      "iobondctl board0 status && cat /run/iobond/board0-dev1.log")[1],
              end="")
        dev = self.board_disk("demo-disk")
        print(f"== board: /dev/{dev}, bound to the unmodified virtio_blk")
        out = board.sh(f"dmesg | grep -E 'virtio_blk.*{dev}'; echo sectors "
                       f"$(cat /sys/block/{dev}/size); echo serial "
                       f"$(cat /sys/block/{dev}/serial)")[1]
        print(out, end="")
        if "sectors 131072" not in out:
            raise Failure(f"/dev/{dev} is not the 64 MiB the host set")
        print("== board: fio writes 32 MiB, reads it back and checks it (crc32c)")
        out = board.sh(f"fio --name=demo --filename=/dev/{dev} --direct=1 "
                       "--ioengine=io_uring --rw=randwrite --bs=64k --iodepth=8 "
                       "--size=32M --verify=crc32c --verify_fatal=1 "
                       "| grep -E 'err=|IOPS'")[1]
        print(out, end="")
        if "err= 0" not in out:
            raise Failure("fio verify failed")
        print("== board: ext4 on the disk, a file on it, then a board reboot")
        board.sh(f"mkfs.ext4 -q -F /dev/{dev} && mkdir -p /mnt && "
                 f"mount -t ext4 /dev/{dev} /mnt && "
                 "dd if=/dev/urandom of=/mnt/data bs=1M count=8 2>/dev/null && umount /mnt")
        board.sh(f"mount -t ext4 /dev/{dev} /mnt")
        before = board.sh("md5sum /mnt/data")[1].split()[0]
        print(f"/mnt/data md5 {before}")
        board.sh("umount /mnt")
        board.poweroff()
        board.start()
        self.load("board")
        dev = self.board_disk("demo-disk")
        board.sh(f"mkdir -p /mnt && mount -t ext4 /dev/{dev} /mnt")
        after = board.sh("md5sum /mnt/data")[1].split()[0]
        print(f"after the reboot: /dev/{dev} mounted, /mnt/data md5 {after}")
        print(board.sh("df -h /mnt | tail -1; umount /mnt")[1], end="")
        if after != before:
            raise Failure("the file changed across the board's reboot")
        print("== host: the disk's queue counters")
        print(host.sh("iobondctl board0 stats 1; tail -3 /run/iobond/board0-dev1.log")[1],
              end="")
        self.passed += 1
    # -- benchmark --------------------------------------------------------

    def ifname(self, side, mac):
        return self.vms[side].sh(
            f"for d in /sys/class/net/*; do grep -qi {mac} $d/address && "
            "echo ${d##*/}; done; true")[1].strip()

    def plan_bench(self):
        """Both NICs and both disks of the board, IO-Bond's and QEMU's, by
        the same jobs in one run (bench.py); results.json and the plots
        in build/bench."""
        host, board = self.vms["host"], self.vms["board"]
        mac = "52:54:00:ab:cd:01"
        self.load("host", wait_peer=False)
        self.load("board")
        self.wait_peer("host")
        host.sh(f"iobondctl board0 add-net --mac {mac} --tap tap0 && {tap_up()} && "
                "iobondctl board0 start && iperf3 -s -D > /dev/null")
        self.wait_board_nic(mac)
        self.board_ip(mac)
        for side in ("host", "board"):
            ifc = self.ifname(side, QEMU_MAC[side])
            self.vms[side].sh(f"ip addr add {QEMU_IP[side]}/24 dev {ifc} && "
                              f"ip link set {ifc} up")
        board.sh(f"for i in $(seq 30); do ping -c 1 -W 1 {QEMU_IP['host']} > /dev/null "
                 "&& exit 0; done; exit 1")
        # The IO-Bond disk starts as a copy of the QEMU disk's file.
        host.sh("for d in /sys/block/vd*; do [ \"$(cat $d/serial)\" = " + BENCH_SRC +
                " ] && dd if=/dev/${d##*/} of=/tmp/bench.img bs=1M 2>/dev/null "
                "&& exit 0; done; exit 1", 300)
        self.add_disk("/tmp/bench.img", BENCH_DISK_MIB, f"--queues {BENCH_QUEUES}",
                      BOND_DISK)
        b = bench.Bench(self, int(BOARD_CPUS))
        b.results["config"] = {
            "accel": self.accel, "board_vcpus": BOARD_CPUS, "host_smp": HOST_CPUS,
            "cpu": "max,erms=off", "disk_mib": BENCH_DISK_MIB,
            "qemu_nic": "virtio-net-pci, tap on a bridge, vhost="
                        + ("on" if self.bench_vhost else "off"),
            "queues": BENCH_QUEUES, "queue_size": BENCH_QUEUE_SIZE,
            "reps": bench.REPS, "runtime_s": bench.RUNTIME,
            "rate_iops": bench.RATE_IOPS}
        disks = {bench.BOND: self.board_disk(BOND_DISK), bench.QEMU: self.board_disk(QEMU_DISK)}
        ifcs = {bench.BOND: self.ifname("board", mac),
                bench.QEMU: self.ifname("board", QEMU_MAC["board"])}
        # What the fairness rests on, read back rather than assumed.
        for side in ("host", "board"):
            b.results["config"][f"{side}_erms_cpus"] = int(self.vms[side].sh(
                "grep -c '^flags.* erms' /proc/cpuinfo; true")[1].split()[0])
        for who, dev in disks.items():
            b.results["config"][f"{who}_disk_queue"] = board.sh(
                f"cd /sys/block/{dev}/queue && echo $(cat nr_requests max_segments "
                "max_sectors_kb)")[1].strip()
        print("# bench: " + ", ".join(f"{k} {v}" for k, v in b.results["config"].items()),
              flush=True)
        out = os.path.join(ROOT, "build/bench")
        try:
            b.probe_kicks()
            b.nics(ifcs, {bench.BOND: HOST_IP, bench.QEMU: QEMU_IP["host"]})
            # Quiet NICs: their kicks and interrupts are not the disks'.
            board.sh(f"ip link set {ifcs[bench.BOND]} down; "
                     f"ip link set {ifcs[bench.QEMU]} down")
            b.disks(disks)
            b.table()
            b.floor("nullb0")
        finally:
            b.write(os.path.join(out, "results.json"))
        # Debian's python3, which has Debian's matplotlib (scripts/deps.sh).
        p = subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__),
                                                             "plots.py"), out],
                           capture_output=True, text=True)
        self.check("bench.plots", p.returncode == 0, p.stdout + p.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", action="store_true", help="run the demo, not the tests")
    ap.add_argument("--bench", action="store_true",
                    help="benchmark the board's NIC and disk against QEMU's own")
    ap.add_argument("--scale", type=int, metavar="N",
                    help="boot N boards on one host VM, all busy at once (make scale)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--debug-kernel", metavar="DIR",
                    help="boot the sanitizer kernel built in DIR (make check-debug)")
    ap.add_argument("--modules", metavar="DIR",
                    help="take our modules from DIR/drivers/ (built against --debug-kernel)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show test output")
    args = ap.parse_args()
    if args.scale is not None and not 1 <= args.scale <= 64:
        sys.exit("vmpair: --scale N: 1 to 64 boards (the fabric's limit)")

    run = None
    start = time.time()
    try:
        shutil.rmtree(RESULTS, ignore_errors=True)
        os.makedirs(RESULTS)
        run = Run(args)
        if args.scale:
            run.prepare()
            mainboard.plan_scale(run, args.scale)
        else:
            if not args.demo and not args.bench:
                # The fabric's own tests first, here: the VMs stand on it.
                run.local_test("fabric_test")
                run.local_test("engine_test")
                run.local_test("man_test")
                run.local_test("install_test")
                run.local_test("units_test")
            run.setup()
            if args.bench:
                run.plan_bench()
            elif args.demo:
                run.plan_demo()
            else:
                run.plan_check()
    except Failure as e:
        print(f"not ok vmpair: {e}", flush=True)
        if run:
            run.failed += 1
    except (KeyboardInterrupt, Exception) as e:  # noqa: B902 - count, never hang
        import traceback
        traceback.print_exc()
        print(f"not ok vmpair: {type(e).__name__}: {e}", flush=True)
        if run:
            run.failed += 1
    finally:
        if run:
            run.check_splats()
            run.teardown()
    print(f"# vmpair took {time.time() - start:.0f}s")
    if not run:
        print("0 passed, 1 failed")
        return 1
    if args.demo:
        print("demo: " + ("ok" if not run.failed else "FAILED"))
    run.report_channels()
    # An unexpected skip is counted as failed, not skipped: every skip
    # counted here was expected.
    print(f"{run.passed} passed, {run.failed} failed, {run.skipped} skipped "
          f"({run.skipped} expected)")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
