#!/usr/bin/python3
"""Write damaged variants of a pcap for robustness tests (reordering, duplicates, a lost
segment, bursts of lost packets, short snaplen, bit flips).  Pure python, no scapy: classic pcap only (either byte
order, usec or nsec); the link layer is parsed just enough to find the TCP payload
(Ethernet + 802.1Q, Linux SLL/SLL2, BSD NULL/loopback, raw IPv4/IPv6).
Deterministic: the same input, options and --seed give the same output bytes.

Usage: damage.py IN.pcap OUT.pcap [--reorder W] [--duplicate P] [--drop-one N]
                 [--drop-bursts F [--burst-len MIN:MAX]] [--snaplen S] [--bitflip P]
                 [--seed N]
Steps run in this order: drop-one, drop-bursts, duplicate, reorder, bitflip, snaplen.

--drop-bursts F drops about the fraction F (0..1) of all records, in runs of consecutive
records (both directions, handshakes and ACKs alike) of MIN..MAX records (default 50:2000),
as a kernel capture ring that overflows loses them; the kept runs between bursts are drawn
so that the expected lost fraction is F.
"""

import argparse
import random
import struct
import sys

MAGIC_US = 0xa1b2c3d4
MAGIC_NS = 0xa1b23c4d


class Pcap:
    """A whole classic pcap in memory: header fields + list of [ts_sec, ts_frac, data, orig]."""

    def __init__(self, raw):
        if len(raw) < 24:
            raise ValueError("not a pcap: shorter than the 24-byte global header")
        for endian in ("<", ">"):
            magic = struct.unpack(endian + "I", raw[:4])[0]
            if magic in (MAGIC_US, MAGIC_NS):
                break
        else:
            raise ValueError("not a classic pcap (pcapng is not supported here)")
        self.e = endian
        self.magic = magic
        (_, self.vmaj, self.vmin, self.zone, self.sigfigs, self.snaplen,
         self.linktype) = struct.unpack(endian + "IHHiIII", raw[:24])
        self.recs = []
        off = 24
        while off + 16 <= len(raw):
            sec, frac, incl, orig = struct.unpack(endian + "IIII", raw[off:off + 16])
            off += 16
            if off + incl > len(raw):
                break   # truncated last record: drop it, as tcpdump would stop
            self.recs.append([sec, frac, raw[off:off + incl], orig])
            off += incl

    def dump(self):
        e = self.e
        out = [struct.pack(e + "IHHiIII", self.magic, self.vmaj, self.vmin, self.zone,
                           self.sigfigs, self.snaplen, self.linktype)]
        for sec, frac, data, orig in self.recs:
            out.append(struct.pack(e + "IIII", sec, frac, len(data), orig))
            out.append(bytes(data))
        return b"".join(out)


def ip_offset(linktype, d):
    """Offset of the IP header in a frame, or None for frames that carry no IP."""
    if linktype == 1:                      # Ethernet
        off, et = 14, struct.unpack(">H", d[12:14])[0] if len(d) >= 14 else 0
        while et in (0x8100, 0x88a8) and len(d) >= off + 4:
            et = struct.unpack(">H", d[off + 2:off + 4])[0]
            off += 4
        return off if et in (0x0800, 0x86dd) else None
    if linktype == 113:                    # Linux cooked SLL
        return 16 if len(d) >= 16 and struct.unpack(">H", d[14:16])[0] in (0x0800, 0x86dd) else None
    if linktype == 276:                    # SLL2
        return 20 if len(d) >= 20 and struct.unpack(">H", d[0:2])[0] in (0x0800, 0x86dd) else None
    if linktype in (0, 108):               # BSD NULL / OpenBSD loopback
        return 4
    if linktype in (12, 101, 228, 229):    # raw IP
        return 0
    return None


def tcp_payload(linktype, d):
    """(start, end) of the TCP payload inside frame bytes d, or None if not TCP / no data."""
    off = ip_offset(linktype, d)
    if off is None or len(d) < off + 20:
        return None
    v = d[off] >> 4
    if v == 4:
        ihl = (d[off] & 0x0f) * 4
        if d[off + 9] != 6:
            return None
        tot = struct.unpack(">H", d[off + 2:off + 4])[0]
        ip_end = off + tot
        t = off + ihl
    elif v == 6:
        if len(d) < off + 40 or d[off + 6] != 6:
            return None        # extension headers are not followed here
        ip_end = off + 40 + struct.unpack(">H", d[off + 4:off + 6])[0]
        t = off + 40
    else:
        return None
    if len(d) < t + 20:
        return None
    start = t + (d[t + 12] >> 4) * 4
    end = min(ip_end, len(d))
    return (start, end) if end > start else None


def step_drop_one(p, n, rng):
    """Drop the n-th (1-based) record that carries TCP payload."""
    k = 0
    for i, r in enumerate(p.recs):
        if tcp_payload(p.linktype, r[2]):
            k += 1
            if k == n:
                del p.recs[i]
                return "dropped record %d (payload packet #%d)" % (i + 1, n)
    return "fewer than %d payload packets: nothing dropped" % n


def step_drop_bursts(p, frac, rng, lo=50, hi=2000):
    """Drop about frac of the records in bursts of lo..hi consecutive records.  Bursts and
    the kept runs between them alternate; a kept run is uniform in 0..2*mean, where mean =
    mean_burst * (1 - frac) / frac, so that the expected lost fraction is frac."""
    if frac <= 0:
        return "drop-bursts 0: nothing dropped"
    frac = min(frac, 1.0)
    mean_keep = (lo + hi) / 2.0 * (1.0 - frac) / frac
    out, i, n, bursts = [], 0, len(p.recs), 0
    while i < n:
        keep = int(rng.uniform(0, 2 * mean_keep) + 0.5)
        out.extend(p.recs[i:i + keep])
        i += keep
        if i >= n:
            break
        burst = rng.randint(lo, hi)
        i += burst
        bursts += 1
    dropped = n - len(out)
    p.recs = out
    return "dropped %d of %d records (%.1f%%) in %d bursts of %d..%d" % (
        dropped, n, 100.0 * dropped / max(n, 1), bursts, lo, hi)


def step_duplicate(p, prob, rng):
    """Each record is followed by an exact copy with probability prob."""
    out, n = [], 0
    for r in p.recs:
        out.append(r)
        if rng.random() < prob:
            out.append(list(r))
            n += 1
    p.recs = out
    return "duplicated %d records" % n


def step_reorder(p, w, rng):
    """Shuffle records within consecutive windows of w; timestamps stay with the slots, so
    the file stays in time order (as if packets had arrived in that order)."""
    moved = 0
    for s in range(0, len(p.recs), w):
        win = p.recs[s:s + w]
        ts = [(r[0], r[1]) for r in win]
        order = list(range(len(win)))
        rng.shuffle(order)
        new = []
        for slot, j in enumerate(order):
            r = list(win[j])
            r[0], r[1] = ts[slot]
            new.append(r)
            moved += slot != j
        p.recs[s:s + w] = new
    return "reordered in windows of %d: %d records moved" % (w, moved)


def step_bitflip(p, prob, rng):
    """For each TCP payload record, with probability prob flip one random payload bit."""
    n = 0
    for r in p.recs:
        se = tcp_payload(p.linktype, r[2])
        if se and rng.random() < prob:
            d = bytearray(r[2])
            pos = rng.randrange(se[0], se[1])
            d[pos] ^= 1 << rng.randrange(8)
            r[2] = bytes(d)
            n += 1
    return "flipped a bit in %d records" % n


def step_snaplen(p, s, rng):
    """Cut every record to s bytes (orig_len kept), and say so in the header."""
    n = 0
    for r in p.recs:
        if len(r[2]) > s:
            r[2] = r[2][:s]
            n += 1
    p.snaplen = s
    return "cut %d records to %d bytes" % (n, s)


def damage(raw, reorder=0, duplicate=0.0, drop_one=0, snaplen=0, bitflip=0.0, seed=1,
           drop_bursts=0.0, burst_len=(50, 2000)):
    """Apply the chosen steps to pcap bytes; return (bytes, [step summaries])."""
    p = Pcap(raw)
    rng = random.Random(seed)
    notes = []
    if drop_one:
        notes.append(step_drop_one(p, drop_one, rng))
    if drop_bursts:
        notes.append(step_drop_bursts(p, drop_bursts, rng, burst_len[0], burst_len[1]))
    if duplicate:
        notes.append(step_duplicate(p, duplicate, rng))
    if reorder and reorder > 1:
        notes.append(step_reorder(p, reorder, rng))
    if bitflip:
        notes.append(step_bitflip(p, bitflip, rng))
    if snaplen:
        notes.append(step_snaplen(p, snaplen, rng))
    return p.dump(), notes


def main(argv=None):
    ap = argparse.ArgumentParser(description="write a damaged copy of a pcap")
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--reorder", type=int, default=0, metavar="W")
    ap.add_argument("--duplicate", type=float, default=0.0, metavar="P")
    ap.add_argument("--drop-one", type=int, default=0, metavar="N")
    ap.add_argument("--drop-bursts", type=float, default=0.0, metavar="F")
    ap.add_argument("--burst-len", default="50:2000", metavar="MIN:MAX")
    ap.add_argument("--snaplen", type=int, default=0, metavar="S")
    ap.add_argument("--bitflip", type=float, default=0.0, metavar="P")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    try:
        lo, hi = (int(x) for x in a.burst_len.split(":"))
        if not 1 <= lo <= hi:
            raise ValueError
    except ValueError:
        ap.error("--burst-len wants MIN:MAX with 1 <= MIN <= MAX")
    if not 0.0 <= a.drop_bursts < 1.0:
        ap.error("--drop-bursts wants a fraction in [0, 1)")
    with open(a.inp, "rb") as f:
        raw = f.read()
    try:
        out, notes = damage(raw, a.reorder, a.duplicate, a.drop_one, a.snaplen, a.bitflip,
                            a.seed, a.drop_bursts, (lo, hi))
    except ValueError as e:
        print("damage: %s: %s" % (a.inp, e), file=sys.stderr)
        return 2
    with open(a.out, "wb") as f:
        f.write(out)
    for n in notes:
        print("damage: " + n, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
