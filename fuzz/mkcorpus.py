#!/usr/bin/env python3
"""mkcorpus.py - write the seed corpora of the channel fuzz targets.

    fuzz/mkcorpus.py            # (re)writes fuzz/corpus/{chan_hello,
                                #  chan_frames,fd_packet}/<seed>

Each seed is a valid or near-valid input in the format the target's header
comment describes.  Files named regress-* are not written here: they are
reproducers the fuzzer found, kept as they were.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


# ---- fuzz_chan_hello: prefix (deltas from the real server), then steps ----

def hello(cap=0, msg=0, nfd=0, kinds=(0, 0, 0, 0, 0), seals=0, pages=0,
          extra=0, flags=0, hlen=0, xor=b"", patches=(), steps=b""):
    b = bytes([cap, msg, nfd]) + bytes(kinds) + bytes([seals, pages & 0xFF,
                                                       extra & 0xFF, flags,
                                                       hlen])
    n = (32 + hlen) % 65
    b += (xor + bytes(64))[:n]
    b += bytes([len(patches)])
    for off, data in patches:
        b += u16(off) + bytes([len(data)]) + data
    return b + steps


def hstep(op, length=0, off=0, val=0):
    s = bytes([op]) + u16(length)
    if op % 6 == 3:
        s += u32(off) + u64(val)
    return s


def xor_at(off, data):
    return bytes(off) + data


HELLO_STEPS = (hstep(0, 5) + hstep(1, 16) + hstep(2, 3) + hstep(4) +
               hstep(0, 1000) + hstep(128 + 5, 5) + hstep(5) + hstep(1, 5))

CHAN_HELLO = {
    "valid": hello(steps=HELLO_STEPS),
    "valid-big": hello(cap=3, msg=3, steps=HELLO_STEPS),
    "valid-poked": hello(cap=2, msg=1, steps=hstep(3, 0, 4096 + 64, 5) +
                         hstep(3, 0, 4096 + 128, 7) + hstep(1, 16) +
                         hstep(2, 2) + hstep(3, 0, 264, 1) + hstep(1, 16)),
    "patched-queue": hello(cap=1, msg=2, patches=[(4096 + 64, b"\x09")],
                           steps=hstep(1, 64) + hstep(2, 8) + hstep(0, 8)),
    "refused": hello(nfd=3, xor=xor_at(12, u32(-13))),
    "bad-version": hello(xor=xor_at(8, b"\x02")),
    "short-hello": hello(hlen=256 - 8),
    "wrong-size": hello(pages=1, flags=4),
    "unsealed": hello(seals=3),
    "five-fds": hello(nfd=2),
    "no-eventfd": hello(kinds=(0, 1, 0, 0, 0)),
    "silent": hello(flags=1),
    "hang-up": hello(flags=2, steps=hstep(1, 16) + hstep(0, 4)),
    "bad-header": hello(patches=[(12, b"\x05")]),
}

# ---- fuzz_chan_frames: capacity, size, then steps ----

ONEWAY, REQUEST, REPLY = 1, 2, 3


def publish(kind, token, ulen, hold=False, ack=False):
    """Step 0 (or 2: hold) with a frame of KIND / TOKEN and ULEN bytes."""
    k = kind if kind < 4 else 0x80
    k |= 0x20 if ack else 0
    s = bytes([2 if hold else 0, k, token if token < 6 else 0x80,
               (16 + ulen) if ulen >= -16 else 0])
    if kind >= 4:
        s += u32(kind)
    if token >= 6:
        s += u64(token)
    return s


def recv(cap):
    return bytes([4, cap])


def call(length, cap):
    return bytes([5, length, cap])


def send(length):
    return bytes([6, length])


DRAIN, POLL, RELEASE, CLOSE = b"\x07", b"\x08", b"\x03", b"\x0a"


def poke(off, val):
    return b"\x09" + u32(off) + u64(val)


def frames(cap, msg, steps):
    return bytes([cap, msg]) + b"".join(steps)


CHAN_FRAMES = {
    # capacity 4, messages up to 64 bytes
    "oneway": frames(3, 3, [publish(ONEWAY, 0, 10), POLL, recv(64), POLL,
                            recv(64)]),
    "rpc": frames(3, 3, [publish(REPLY, 1, 5), call(8, 20), DRAIN,
                         publish(REQUEST, 2, 4), recv(64), send(4), DRAIN]),
    "stash": frames(3, 3, [publish(ONEWAY, 0, 40), recv(10), recv(64),
                           publish(ONEWAY, 0, 3), publish(REPLY, 2, 1),
                           publish(REPLY, 1, 1), call(1, 4), recv(4), POLL]),
    "reply-too-long": frames(3, 3, [publish(REPLY, 1, 30), call(0, 8)]),
    "malformed": frames(3, 3, [publish(ONEWAY, 0, -8), recv(64),
                               publish(0, 0, 4), recv(64),
                               publish(REQUEST, 0, 4), recv(64),
                               publish(7, 0, 4), recv(64),
                               publish(REPLY, 1 << 40, 4), call(2, 64)]),
    "held": frames(3, 3, [publish(ONEWAY, 0, 20, hold=True),
                          publish(ONEWAY, 0, 20), recv(64), POLL, RELEASE,
                          recv(64), recv(64),
                          publish(ONEWAY, 0, 5, hold=True), CLOSE, POLL,
                          recv(64), recv(64)]),
    "ack": frames(0, 1, [publish(ONEWAY, 0, 7, ack=True), recv(7),
                         publish(ONEWAY, 0, 7), recv(7), recv(7)]),
    "full": frames(0, 1, [send(1), send(2), call(1, 7), DRAIN, call(1, 7),
                          publish(REPLY, 2, 0), DRAIN, call(0, 0)]),
    "closed": frames(3, 3, [publish(ONEWAY, 0, 1), CLOSE, send(1),
                            call(1, 1), recv(64), recv(64), POLL]),
    "poke": frames(3, 3, [publish(ONEWAY, 0, 10), poke(4096, 0),
                          poke(4096 + 64, 5), recv(64), call(1, 1),
                          poke(128, 1), recv(64), POLL]),
    "big": frames(5, 4, [publish(ONEWAY, 0, 200), publish(REQUEST, 3, 199),
                         recv(201), recv(201), call(200, 201)]),
}

# ---- fuzz_fd_packet: steps ----

MAGIC = 0x44465843


def pkt(mailbox=False, xor=None, dlen=None, dnfd=None, dkinds=None,
        region=None, mbox=None, patches=()):
    b = 1 if mailbox else 0
    s = b""
    if xor is not None:
        b |= 2
        s += xor
    if dlen is not None:
        b |= 4
        s += bytes([dlen])
    if dnfd is not None:
        b |= 8
        s += bytes([dnfd])
    if dkinds is not None:
        b |= 16
        s += bytes(dkinds)
    if region is not None:
        b |= 32
        s += bytes(region)
    if mbox is not None:
        b |= 64
        tmpl, seals = mbox
        s += bytes([tmpl + 3 * len(patches), seals])
        for off, data in patches:
            s += u16(off) + bytes([off >> 16, len(data)]) + data
    return bytes([0, b]) + s


def rrecv(flags=0):
    return bytes([2, flags])


MRECV, PCLOSE = b"\x03", b"\x04"

FD_PACKET = {
    "region": pkt() + rrecv() + rrecv(),
    "region-rdonly": pkt(region=(6, 0)) + rrecv() + pkt(region=(6, 0)) +
    rrecv(1),
    "region-sizes": pkt(region=(1, 0)) + rrecv() + pkt(region=(2, 0)) +
    rrecv() + pkt(region=(5, 0)) + rrecv(),
    "mailbox": pkt(True) + MRECV + MRECV,
    "mailbox-pair": pkt(True, mbox=(1, 0)) + MRECV,
    "mailbox-unbounded": pkt(True, mbox=(2, 0)) + MRECV,
    "mailbox-rights": pkt(True, xor=u32(0) + u32(0) + u32(2) + u32(0)) +
    MRECV + pkt(True, xor=u32(0) + u32(0) + u32(7) + u32(0)) + MRECV,
    "mailbox-patched": pkt(True, mbox=(0, 0), patches=[(8, b"\x02")]) + MRECV,
    "other-kind": pkt() + MRECV + rrecv() + pkt(True) + rrecv() + MRECV,
    "bad-magic": pkt(xor=u32(1) + bytes(12)) + rrecv() + rrecv(),
    "extra-fds": pkt(dnfd=4) + rrecv() + pkt(True, dnfd=1) + MRECV,
    "short": pkt(dlen=33 - 4) + rrecv() + pkt(dlen=4) + MRECV,
    "empty": pkt(dlen=17) + rrecv() + MRECV,
    "wrong-fds": pkt(dkinds=(2, 0, 0, 0, 0)) + rrecv() +
    pkt(True, dkinds=(0, 1, 0, 0, 0)) + MRECV,
    "peer-gone": pkt() + pkt(True) + PCLOSE + rrecv() + MRECV + rrecv(),
}


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        assert len(data) < 4096, name
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("chan_hello", CHAN_HELLO)
write("chan_frames", CHAN_FRAMES)
write("fd_packet", FD_PACKET)
