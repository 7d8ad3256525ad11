# SPDX-License-Identifier: GPL-2.0
"""The control channel's stress test: many commands, each with a random
payload that the VM's `cat` must echo back byte for byte.

The payloads hold every byte value: NUL, the tty's control characters
(^C ^D ^Q ^S ^Z, CR, DEL), the shell's quotes, backslashes, `$` and
backticks, and the channel's own frame magic, so a framing bug, a tty in
cooked mode or a shell in the path would garble them.
"""

import random

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
