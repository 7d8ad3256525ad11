# SPDX-License-Identifier: GPL-2.0
"""The control channel's stress test: many commands, each with a random
payload that the VM's `cat` must echo back byte for byte.

The payloads hold every byte value: NUL, the tty's control characters
(^C ^D ^Q ^S ^Z, CR, DEL), the shell's quotes, backslashes, `$` and
backticks, and the channel's own frame magic, so a framing bug, a tty in
cooked mode or a shell in the path would garble them.
"""

import random

from channel import Damage

# Payloads the first commands carry, before the random ones.
SPECIAL = [
    bytes(range(256)),
    b"IOBF" * 64,                               # the frame magic, inside a frame
    b"\x03\x04\x11\x13\x1a\r\n\x7f\x00\xff" * 100,
    b"'\"\\$`!*?;&|<>(){}[]~#%\n" * 50,
    b"\n",
    b"\x00",
]


def payloads(n, seed, largest=4000):
    rng = random.Random(seed)
    for i in range(n):
        if i < len(SPECIAL):
            yield SPECIAL[i]
        else:
            size = rng.randint(1, largest)
            yield bytes(rng.getrandbits(8) for _ in range(size))


def echo(vm, n, seed):
    """Send @n commands to @vm; return (garbled, resent, bytes moved).
    A lost command never ends, and vm.sh() fails the run for it."""
    chan = vm.chan
    before = chan.resent + chan.peer_resent
    garbled = moved = 0
    for data in payloads(n, seed):
        rc, out = vm.sh("cat", timeout=60, check=False, stdin=data, raw=True)
        moved += len(data) + len(out)
        if rc or out != data:
            garbled += 1
    return garbled, chan.resent + chan.peer_resent - before, moved


def damaged(vm, seed, limit=1000):
    """Echo commands over a channel that Damage harms, until it has done
    all its harm (at most @limit commands).  Returns (commands, garbled,
    whether all the harm was done, and the four repair counts' growth:
    runner resent, agent resent, runner bytes dropped, agent bytes
    dropped)."""
    chan = vm.chan
    before = (chan.resent, chan.peer_resent, chan.bad, chan.peer_bad)
    chan.damage = Damage(seed)
    # A dropped frame waits out a resend: a short one keeps this quick.
    chan.resend_s = 1.0
    garbled = n = 0
    try:
        for data in payloads(limit, seed + 1):
            if chan.damage.done():
                break
            n += 1
            rc, out = vm.sh("cat", timeout=60, check=False, stdin=data, raw=True)
            if rc or out != data:
                garbled += 1
        done = chan.damage.done()
    finally:
        chan.damage = None
        chan.resend_s = type(chan).resend_s_default
    # One clean command, so the agent's counts arrive with its exit frame.
    vm.sh("true")
    after = (chan.resent, chan.peer_resent, chan.bad, chan.peer_bad)
    return (n, garbled, done) + tuple(a - b for a, b in zip(after, before))
