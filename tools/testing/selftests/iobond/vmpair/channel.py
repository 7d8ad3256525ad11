# SPDX-License-Identifier: GPL-2.0
"""The runner's end of a VM's control channel.

The VM's end is vm/agent.c (iobond-agent), on the VM's second serial
port; QEMU connects that port to a unix socket here.  Every message both
ways is a frame:

    0   4  magic "IOBF"
    4   1  type: A ack, R ready, C command, O output, X exit
    5   1  flags, 0
    6   2  payload length, little-endian, at most 8192
    8   4  sequence number (of the frame acked, for A)
    12  4  CRC32 of bytes 0..11
    16  4  CRC32 of the payload
    20     payload

Data frames (all but A) carry a sequence number per direction, starting
at 1, and are acknowledged; the sender resends one that is not acked
within RESEND_S.  A receiver acks a repeat again and drops it.  Bytes that
make no valid frame are dropped and counted; after a bad frame the
receiver looks for the next magic one byte on, so a frame that lost bytes
does not take its resend down with it.  Nothing is lost, and
whatever had to be resent is counted for the run's summary.
"""

import random
import socket
import struct
import time
import zlib

MAGIC = b"IOBF"
HDR = struct.Struct("<4sBBHII")        # magic, type, flags, len, seq, hcrc
HDR_LEN = 20
MAX_PAYLOAD = 8192
RESEND_S = 5.0
# No ack for this long: the VM is wedged (its kernel, or the agent in D
# state) though QEMU runs.  A resend loop must not outlive the run.
GIVE_UP_S = 300.0
SEND_TIMEOUT_S = 60.0      # QEMU not taking our bytes for this long: dead


class ChannelError(Exception):
    """The VM's end is gone (its QEMU exited or closed the socket)."""


class Damage:
    """Harm done to a channel on purpose, so that a test sees the channel
    repair what a real loss would do (stress.py).  Of every EVERY data
    frames the runner sends, one is dropped, cut short or has a bit
    flipped, in turn; of every EVERY acks, one is dropped, so the agent
    must resend its frame; of every EVERY reads, one has a bit flipped, so
    the frame it hit fails its CRC.  Each kind is done BUDGET times; the
    bytes cut and the bits flipped are the seed's."""

    EVERY = 5
    BUDGET = 3
    DATA_KINDS = ("drop", "flip", "cut")

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.left = dict.fromkeys(self.DATA_KINDS + ("ack", "rx"), self.BUDGET)
        self.seen = {"data": 0, "ack": 0, "rx": 0}
        self.turn = 0

    def done(self):
        return not any(self.left.values())

    def _due(self, what):
        self.seen[what] += 1
        return self.seen[what] % self.EVERY == 0

    def _flip(self, data):
        b = bytearray(data)
        b[self.rng.randrange(len(b))] ^= 1 << self.rng.randrange(8)
        return bytes(b)

    def outgoing(self, ftype, frame):
        """The bytes to write in place of @frame (b"": none at all)."""
        if ftype == "A":
            if self._due("ack") and self.left["ack"]:
                self.left["ack"] -= 1
                return b""
            return frame
        if not self._due("data"):
            return frame
        kinds = [k for k in self.DATA_KINDS if self.left[k]]
        if not kinds:
            return frame
        kind = kinds[self.turn % len(kinds)]
        self.turn += 1
        self.left[kind] -= 1
        if kind == "drop":
            return b""
        if kind == "cut":
            return frame[:self.rng.randrange(1, len(frame))]
        return self._flip(frame)

    def incoming(self, data):
        """The bytes to parse in place of @data, just read."""
        if self._due("rx") and self.left["rx"]:
            self.left["rx"] -= 1
            return self._flip(data)
        return data


class Channel:
    resend_s_default = RESEND_S

    def __init__(self, sock, alive):
        self.sock = sock
        self.alive = alive          # callable: is the VM still running?
        self.rx = bytearray()
        self.tx_seq = 0
        self.rx_seq = 0
        self.acked = 0
        self.inbox = []             # data frames received, in order
        self.resent = 0             # our frames sent again
        self.bad = 0                # bytes we dropped
        self.peer_resent = 0        # the agent's counts, from its last exit
        self.peer_bad = 0
        self.damage = None          # a Damage while a test harms the channel
        self.resend_s = RESEND_S

    # -- frames -----------------------------------------------------------

    def _send_raw(self, ftype, seq, payload=b""):
        hdr = struct.pack("<4sBBHI", MAGIC, ord(ftype), 0, len(payload), seq)
        frame = (hdr + struct.pack("<II", zlib.crc32(hdr), zlib.crc32(payload))
                 + payload)
        if self.damage:
            frame = self.damage.outgoing(ftype, frame)
        try:
            # pump() may have left a short receive timeout on the socket.
            self.sock.settimeout(SEND_TIMEOUT_S)
            self.sock.sendall(frame)
        except OSError as e:
            raise ChannelError(f"send: {e}") from e

    def _parse(self):
        """Take whole valid frames out of the receive buffer."""
        rx = self.rx
        while True:
            i = rx.find(MAGIC)
            if i < 0:
                keep = min(len(rx), 3)      # a magic may be split
                self.bad += len(rx) - keep
                del rx[:len(rx) - keep]
                return
            if i:
                self.bad += i
                del rx[:i]
            if len(rx) < HDR_LEN:
                return
            _, ftype, _, length, seq, hcrc = HDR.unpack_from(rx)
            if hcrc != zlib.crc32(rx[:12]) or length > MAX_PAYLOAD:
                self.bad += 1
                del rx[:1]
                continue
            if len(rx) < HDR_LEN + length:
                return
            payload = bytes(rx[HDR_LEN:HDR_LEN + length])
            pcrc = struct.unpack_from("<I", rx, 16)[0]
            if pcrc != zlib.crc32(payload):
                # A frame that lost bytes took the front of the next one
                # (the resend) as payload: resync on that one's magic.
                self.bad += 1
                del rx[:1]
                continue
            del rx[:HDR_LEN + length]
            self._frame(chr(ftype), seq, payload)

    def _frame(self, ftype, seq, payload):
        if ftype == "A":
            self.acked = max(self.acked, seq)
            return
        self._send_raw("A", seq)
        if seq == self.rx_seq:
            return                          # a repeat: our ack was lost
        self.rx_seq = seq
        self.inbox.append((ftype, payload))

    def pump(self, timeout):
        """Read what arrives within @timeout seconds and parse it."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            if not self.alive():
                raise ChannelError("the VM is not running")
            return
        except OSError as e:
            raise ChannelError(f"receive: {e}") from e
        if not data:
            raise ChannelError("the VM closed its end")
        if self.damage:
            data = self.damage.incoming(data)
        self.rx += data
        self._parse()

    def send(self, ftype, payload):
        """Send a data frame and wait for its ack, resending as needed."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"a {len(payload)}-byte frame is over {MAX_PAYLOAD}")
        self.tx_seq += 1
        seq = self.tx_seq
        first = True
        give_up = time.time() + GIVE_UP_S
        while self.acked < seq:
            if not first:
                self.resent += 1
                if time.time() > give_up:
                    raise ChannelError(f"no ack for {GIVE_UP_S:.0f}s: the VM "
                                       "runs but does not answer")
            first = False
            self._send_raw(ftype, seq, payload)
            end = time.time() + self.resend_s
            while self.acked < seq and time.time() < end:
                self.pump(end - time.time())

    def recv(self, deadline):
        """The next data frame as (type, payload), or None at @deadline."""
        while not self.inbox:
            left = deadline - time.time()
            if left <= 0:
                return None
            self.pump(min(left, 1.0))
        return self.inbox.pop(0)

    # -- commands ---------------------------------------------------------

    def wait_ready(self, timeout):
        """The agent's first frame; returns the side it names."""
        frame = self.recv(time.time() + timeout)
        if frame is None:
            return None
        ftype, payload = frame
        if ftype != "R":
            raise ChannelError(f"expected READY, got {ftype!r}")
        return payload.decode(errors="replace")

    def run(self, cid, cmd, stdin=b"", timeout=300, on_output=None):
        """Run @cmd in the VM; return (status, output bytes), or
        (None, output so far) if it did not end within @timeout."""
        cmd = cmd.encode() if isinstance(cmd, str) else cmd
        self.send("C", struct.pack("<II", cid, len(cmd)) + cmd + stdin)
        deadline = time.time() + timeout
        out = bytearray()
        while True:
            frame = self.recv(deadline)
            if frame is None:
                return None, bytes(out)
            ftype, payload = frame
            fid = struct.unpack_from("<I", payload)[0] if len(payload) >= 4 else -1
            if fid != cid:
                raise ChannelError(f"frame {ftype!r} for command {fid}, "
                                   f"expected {cid}")
            if ftype == "O":
                out += payload[4:]
                if on_output:
                    on_output(payload[4:])
            elif ftype == "X":
                _, status, self.peer_resent, self.peer_bad = \
                    struct.unpack_from("<IiII", payload)
                return status, bytes(out)
            else:
                raise ChannelError(f"unexpected frame {ftype!r}")

    def post(self, cid, cmd):
        """Send @cmd and do not wait for it: for poweroff."""
        cmd = cmd.encode()
        self.send("C", struct.pack("<II", cid, len(cmd)) + cmd)
