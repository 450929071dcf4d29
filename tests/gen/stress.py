#!/usr/bin/python3
"""Write crafted stress captures for tests/run-stress.sh: no etcd needed, every byte is built
here (classic pcap, Ethernet, IPv4, TCP; HTTP/2 frames and HPACK by hand; etcd protobuf with
the wire primitives of k8s_encode.py).

Each scenario NAME gives DIR/NAME.pcap and DIR/NAME.expect.json, what run-stress.sh checks in
the tool's `--json trace` summary line:
  {"scenario": NAME, "what": "...", "min": {counter: n}, "max": {counter: n},
   "notices": [what, ...]}   (notice `what` values that must appear at least once)

Scenarios (issue 5, "Damaged input"):
  conns      5000 TCP connections (handshake, preface, SETTINGS), 3 unary Range calls each
  streams    one connection, 20000 streams opened (HEADERS + a request) and never closed
  lengths    declared lengths far beyond the data: an HTTP/2 frame of 16 MB, a gRPC message
             of 4 GB, protobuf length-delimited fields claiming 2^31 bytes
  hpack      an HPACK bomb (a 4 KB entry inserted once and referenced thousands of times;
             table size updates up to 2^31) and a CONTINUATION flood without END_HEADERS
  protobuf   a protobuf bomb: Txn nested thousands deep, a RangeResponse of a million empty
             kvs, a gzip gRPC message that inflates to 1 GB of zeros
  garbage    a connection joined mid-stream whose first bytes are garbage, then frames

  kvbomb     a 16 MB RangeResponse of 8 million empty kvs: within every wire limit, but each
             2-byte element unpacks to a struct (memory amplification)

Usage: stress.py --out DIR [NAME ...]     (default: every scenario)
       stress.py --check NAME.expect.json OUT.jsonl   (exit 1 when a check fails)
"""

import argparse
import json
import os
import random
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from k8s_encode import enc_ld, enc_varint, enc_vf  # noqa: E402

SRV_PORT = 2379
T0 = 1700000000


# ---- pcap / Ethernet / IPv4 / TCP ------------------------------------------------------------

class Pcap:
    """A classic pcap being written: Ethernet link type, microsecond timestamps."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        self.us = 0
        self.packets = 0

    def frame(self, data):
        self.us += 10
        sec, usec = divmod(self.us, 1000000)
        self.f.write(struct.pack("<IIII", T0 + sec, usec, len(data), len(data)))
        self.f.write(data)
        self.packets += 1

    def close(self):
        self.f.close()


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
# Largest TCP payload per frame: what loopback captures show with TSO (64 KB IP datagrams).
MSS = 32768


class Conn:
    """One TCP connection; c2s/s2c segment bytes and keep the sequence numbers."""

    def __init__(self, pcap, n, handshake=True):
        self.p = pcap
        self.cli = bytes([10, 1 + (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])
        self.srv = bytes([10, 0, 0, 1])
        self.cport = 30000 + n % 30000
        self.seq = [1000 + n * 7, 5000000 + n * 13]   # next seq per direction
        if handshake:
            self.seg(0, SYN, b"")
            self.seq[0] += 1
            self.seg(1, SYN | ACK, b"")
            self.seq[1] += 1
            self.seg(0, ACK, b"")

    def seg(self, d, flags, payload):
        src, dst = (self.cli, self.srv) if d == 0 else (self.srv, self.cli)
        sport, dport = (self.cport, SRV_PORT) if d == 0 else (SRV_PORT, self.cport)
        tcp = struct.pack("!HHIIBBHHH", sport, dport, self.seq[d] & 0xffffffff,
                          self.seq[1 - d] & 0xffffffff, 5 << 4, flags, 65535, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64,
                         6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
        self.p.frame(eth + ip + tcp + payload)
        self.seq[d] += len(payload)

    def send(self, d, data):
        for i in range(0, len(data), MSS):
            self.seg(d, PSH | ACK, data[i:i + MSS])

    def c2s(self, data):
        self.send(0, data)

    def s2c(self, data):
        self.send(1, data)

    def fin(self):
        self.seg(0, FIN | ACK, b"")
        self.seq[0] += 1
        self.seg(1, FIN | ACK, b"")
        self.seq[1] += 1
        self.seg(0, ACK, b"")


# ---- HTTP/2 and HPACK (RFC 9113, RFC 7541) ---------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, CONTINUATION = 0, 1, 4, 9
END_STREAM, END_HEADERS = 0x01, 0x04


def frame(ftype, flags, stream, payload, length=None):
    n = len(payload) if length is None else length
    return struct.pack("!I", n)[1:] + bytes([ftype, flags]) + struct.pack("!I", stream) + payload


def hp_int(v, prefix, first):
    """HPACK integer with an N-bit prefix; `first` holds the pattern bits above the prefix."""
    top = (1 << prefix) - 1
    if v < top:
        return bytes([first | v])
    out = bytearray([first | top])
    v -= top
    while v >= 128:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def hp_str(s):
    return hp_int(len(s), 7, 0) + s


def hp_lit(name, value, index=False):
    """Literal field with a new name: without indexing (0x00) or incremental indexing (0x40)."""
    return (b"\x40" if index else b"\x00") + hp_str(name) + hp_str(value)


def hp_lit_idx(name_idx, value):
    """Literal without indexing, name from the static table (4-bit prefix)."""
    return hp_int(name_idx, 4, 0x00) + hp_str(value)


def hp_indexed(i):
    return hp_int(i, 7, 0x80)


def hp_size_update(v):
    return hp_int(v, 5, 0x20)


# static table: 1 :authority, 3 :method POST, 4 :path, 6 :scheme http, 8 :status 200,
# 31 content-type
def req_headers(path, extra=b""):
    return (hp_indexed(3) + hp_indexed(6) + hp_lit_idx(4, path) + hp_lit_idx(1, b"10.0.0.1:2379")
            + hp_lit_idx(31, b"application/grpc") + hp_lit(b"te", b"trailers") + extra)


RESP_HEADERS = hp_indexed(8) + hp_lit_idx(31, b"application/grpc")
TRAILERS_OK = hp_lit(b"grpc-status", b"0") + hp_lit(b"grpc-message", b"")
SETTINGS_FRAME = frame(SETTINGS, 0, 0, b"")


def grpc_msg(body, compressed=False, length=None):
    n = len(body) if length is None else length
    return bytes([1 if compressed else 0]) + struct.pack("!I", n) + body


# ---- etcd messages (proto/rpc.proto, proto/kv.proto) -----------------------------------------

KV_RANGE = b"/etcdserverpb.KV/Range"
KV_PUT = b"/etcdserverpb.KV/Put"
KV_TXN = b"/etcdserverpb.KV/Txn"


def resp_header(rev):
    return enc_ld(1, enc_vf(1, 0x1234) + enc_vf(2, 0x5678) + enc_vf(3, rev) + enc_vf(4, 2))


def range_req(key):
    return enc_ld(1, key)


def kv(key, rev, value):
    return enc_ld(1, key) + enc_vf(2, rev) + enc_vf(3, rev) + enc_vf(4, 1) + enc_ld(5, value)


def range_resp(key, rev, value):
    return resp_header(rev) + enc_ld(2, kv(key, rev, value)) + enc_vf(4, 1)


def unary(c, sid, path, req, resp):
    """A whole unary call on stream sid: request HEADERS+DATA, response HEADERS, DATA, trailers."""
    c.c2s(frame(HEADERS, END_HEADERS, sid, req_headers(path)) +
          frame(DATA, END_STREAM, sid, grpc_msg(req)))
    c.s2c(frame(HEADERS, END_HEADERS, sid, RESP_HEADERS) + frame(DATA, 0, sid, grpc_msg(resp)) +
          frame(HEADERS, END_HEADERS | END_STREAM, sid, TRAILERS_OK))


def open_h2(c):
    c.c2s(PREFACE + SETTINGS_FRAME)
    c.s2c(SETTINGS_FRAME)


# ---- scenarios -------------------------------------------------------------------------------

def sc_conns(pcap):
    n, calls = 5000, 3
    for i in range(n):
        c = Conn(pcap, i)
        open_h2(c)
        for k in range(calls):
            key = b"/registry/pods/ns%d/p%d" % (i % 50, k)
            unary(c, 1 + 2 * k, KV_RANGE, range_req(key), range_resp(key, 10 + k, b"v%d" % i))
        c.fin()
    return {"what": "%d connections x %d Range calls" % (n, calls),
            "min": {"connections": n, "rpcs": n * calls, "streams": n * calls},
            "max": {"undecodable": 0, "gaps": 0, "resyncs": 0}, "notices": [],
            "keys": ["/registry/pods/ns0/p0", "/registry/pods/ns49/p2"]}


def sc_streams(pcap):
    n = 20000
    c = Conn(pcap, 1)
    open_h2(c)
    buf = bytearray()
    for k in range(n):
        sid = 1 + 2 * k
        buf += frame(HEADERS, END_HEADERS, sid, req_headers(KV_RANGE))
        buf += frame(DATA, 0, sid, grpc_msg(range_req(b"/registry/s/%d" % k)))
        if len(buf) > MSS:
            c.c2s(bytes(buf))
            buf = bytearray()
    c.c2s(bytes(buf))
    return {"what": "%d streams opened and never closed on one connection" % n,
            "min": {"connections": 1, "streams": n, "rpcs": n}, "max": {"gaps": 0}, "notices": [],
            "keys": ["/registry/s/0", "/registry/s/%d" % (n - 1)]}


def sc_lengths(pcap):
    # 1. an HTTP/2 DATA frame declaring 16 MB (2^24 - 1) with 100 bytes behind it, then the
    #    connection ends: the framer must not wait for or allocate the declared size up front.
    c = Conn(pcap, 1)
    open_h2(c)
    unary(c, 1, KV_RANGE, range_req(b"/a"), range_resp(b"/a", 5, b"x"))
    c.c2s(frame(HEADERS, END_HEADERS, 3, req_headers(KV_RANGE)) +
          frame(DATA, 0, 3, b"\0" * 100, length=0xffffff))
    c.fin()
    # 2. a gRPC message prefix declaring 4 GB - 1 inside a normal DATA frame, then more calls.
    c = Conn(pcap, 2)
    open_h2(c)
    c.c2s(frame(HEADERS, END_HEADERS, 1, req_headers(KV_PUT)) +
          frame(DATA, 0, 1, grpc_msg(b"\x0a\x02/b", length=0xffffffff)))
    unary(c, 3, KV_RANGE, range_req(b"/c"), range_resp(b"/c", 6, b"y"))
    c.fin()
    # 3. protobuf fields claiming 2^31 bytes: a RangeRequest key, a RangeResponse kv, a value.
    c = Conn(pcap, 3)
    open_h2(c)
    big = enc_varint(1 << 31)
    unary(c, 1, KV_RANGE, b"\x0a" + big + b"/d", range_resp(b"/d", 7, b"z"))
    unary(c, 3, KV_RANGE, range_req(b"/e"), resp_header(8) + b"\x12" + big + b"\x0a\x02/e")
    unary(c, 5, KV_PUT, b"\x0a\x02/f\x12" + big + b"v", resp_header(9))
    unary(c, 7, KV_RANGE, range_req(b"/g"), range_resp(b"/g", 10, b"w"))
    c.fin()
    return {"what": "declared lengths beyond the data: h2 frame 16 MB, gRPC 4 GB, protobuf 2^31",
            "min": {"connections": 3, "oversize_messages": 1, "undecodable": 1, "rpcs": 4},
            "max": {}, "notices": ["undecodable", "loss"], "keys": ["/a", "/c", "/g"]}


def sc_hpack(pcap):
    # 1. a 4 KB entry inserted with incremental indexing, then referenced 5000 times in one
    #    block (index 62 = the newest dynamic entry): 20 MB of decoded fields from 9 KB.
    c = Conn(pcap, 1)
    open_h2(c)
    blk = req_headers(KV_RANGE, hp_lit(b"x-bomb", b"A" * 4096, index=True) +
                      hp_indexed(62) * 5000)
    c.c2s(frame(HEADERS, END_HEADERS, 1, blk) + frame(DATA, END_STREAM, 1,
                                                      grpc_msg(range_req(b"/h1"))))
    # table size updates up to 2^31 (beyond any SETTINGS bound), at the start of a block
    blk = hp_size_update(1 << 31) + hp_size_update(0xffffffff) + req_headers(KV_RANGE)
    c.c2s(frame(HEADERS, END_HEADERS, 3, blk) + frame(DATA, END_STREAM, 3,
                                                      grpc_msg(range_req(b"/h2"))))
    unary(c, 5, KV_RANGE, range_req(b"/h3"), range_resp(b"/h3", 11, b"q"))
    c.fin()
    # 2. a CONTINUATION flood: HEADERS without END_HEADERS, then 20000 CONTINUATIONs of
    #    1 KB, none with END_HEADERS, then the connection goes on with a new stream.
    c = Conn(pcap, 2)
    open_h2(c)
    flood = bytearray(frame(HEADERS, 0, 1, req_headers(KV_RANGE)))
    piece = frame(CONTINUATION, 0, 1, hp_lit(b"x-flood", b"B" * 1000))
    for _ in range(20000):
        flood += piece
        if len(flood) > MSS:
            c.c2s(bytes(flood))
            flood = bytearray()
    c.c2s(bytes(flood))
    unary(c, 3, KV_RANGE, range_req(b"/h4"), range_resp(b"/h4", 12, b"r"))
    c.fin()
    return {"what": "HPACK bomb (4 KB entry x 5000, size update 2^31), CONTINUATION flood",
            "min": {"connections": 2, "rpcs": 3, "hpack_errors": 1}, "max": {}, "notices": [],
            "keys": ["/h3"]}


def txn_nested(depth):
    """TxnRequest whose success op is a Txn whose success op is a Txn ... depth deep."""
    inner = enc_ld(2, enc_ld(1, range_req(b"/n")))   # success: RequestOp{request_range}
    for _ in range(depth):
        inner = enc_ld(2, enc_ld(4, inner))           # success: RequestOp{request_txn: inner}
    return inner


def sc_protobuf(pcap):
    c = Conn(pcap, 1)
    open_h2(c)
    # 1. Txn nested 5000 deep (about 25 KB)
    unary(c, 1, KV_TXN, txn_nested(5000), resp_header(20) + enc_vf(2, 1))
    # 2. a RangeResponse of a million empty kvs: 2 MB on the wire
    unary(c, 3, KV_RANGE, range_req(b"/m"), resp_header(21) + b"\x12\x00" * 1000000)
    # 3. a gzip message inflating to 1 GB of zeros (about 1 MB compressed)
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + 15)
    chunk = b"\0" * (1 << 20)
    gz = b"".join(z.compress(chunk) for _ in range(1024)) + z.flush()
    c.c2s(frame(HEADERS, END_HEADERS, 5, req_headers(KV_PUT, hp_lit(b"grpc-encoding", b"gzip")))
          + frame(DATA, END_STREAM, 5, grpc_msg(gz, compressed=True)))
    c.s2c(frame(HEADERS, END_HEADERS, 5, RESP_HEADERS) + frame(DATA, 0, 5, grpc_msg(resp_header(22)))
          + frame(HEADERS, END_HEADERS | END_STREAM, 5, TRAILERS_OK))
    unary(c, 7, KV_RANGE, range_req(b"/o"), range_resp(b"/o", 23, b"s"))
    c.fin()
    return {"what": "protobuf bombs: Txn nested 5000 deep, 1M empty kvs, gzip of 1 GB zeros",
            "min": {"connections": 1, "rpcs": 3}, "max": {},
            "notices": ["loss"], "keys": ["/m", "/o"]}


def sc_kvbomb(pcap):
    # 16 MB of empty kvs (8 million elements): within the 64 MB message limit, but every
    # 2-byte element unpacks to a KeyValue struct and a pointer (about 65x).
    c = Conn(pcap, 1)
    open_h2(c)
    unary(c, 1, KV_RANGE, range_req(b"/k"), resp_header(40) + b"\x12\x00" * 8000000)
    unary(c, 3, KV_RANGE, range_req(b"/l"), range_resp(b"/l", 41, b"u"))
    c.fin()
    return {"what": "a 16 MB RangeResponse of 8 million empty kvs (unpacked size amplification)",
            "min": {"connections": 1, "rpcs": 2}, "max": {}, "notices": [], "keys": ["/l"]}


def sc_garbage(pcap):
    rng = random.Random(5)
    c = Conn(pcap, 1, handshake=False)
    # the capture starts inside a DATA frame: garbage first, in both directions
    c.c2s(bytes(rng.randrange(256) for _ in range(3000)))
    c.s2c(bytes(rng.randrange(256) for _ in range(3000)))
    for k in range(20):
        sid = 101 + 2 * k
        key = b"/registry/configmaps/default/g%d" % k
        unary(c, sid, KV_RANGE, range_req(key), range_resp(key, 30 + k, b"t"))
    return {"what": "joined mid-connection, 3000 garbage bytes each way before the first frame",
            "min": {"connections": 1, "connections_midstream": 1, "resyncs": 1, "rpcs": 15},
            "max": {}, "notices": [],
            "keys": ["/registry/configmaps/default/g5", "/registry/configmaps/default/g19"]}


SCENARIOS = {
    "conns": sc_conns,
    "streams": sc_streams,
    "lengths": sc_lengths,
    "hpack": sc_hpack,
    "protobuf": sc_protobuf,
    "garbage": sc_garbage,
    "kvbomb": sc_kvbomb,
}


def check(expect_path, out_path):
    """Checks a `--json trace` output against NAME.expect.json; prints each failure, returns
    the number of failures."""
    with open(expect_path) as f:
        exp = json.load(f)
    recs, bad = [], 0
    with open(out_path) as f:
        for n, line in enumerate(f, 1):
            try:
                recs.append(json.loads(line))
            except ValueError:
                print("  line %d is not JSON: %.80s" % (n, line))
                bad += 1
    summ = [r for r in recs if r.get("kind") == "summary"]
    if len(summ) != 1 or recs[-1].get("kind") != "summary":
        print("  expected one summary line, last: %d summary lines" % len(summ))
        return bad + 1
    s = summ[0]
    for k, v in exp.get("min", {}).items():
        if not isinstance(s.get(k), int) or s[k] < v:
            print("  summary %s = %s, expected >= %d" % (k, s.get(k), v))
            bad += 1
    for k, v in exp.get("max", {}).items():
        if not isinstance(s.get(k), int) or s[k] > v:
            print("  summary %s = %s, expected <= %d" % (k, s.get(k), v))
            bad += 1
    if s.get("packets") != exp.get("packets"):
        print("  summary packets = %s, the capture has %s" % (s.get("packets"), exp.get("packets")))
        bad += 1
    seen = {r.get("what") for r in recs if r.get("kind") == "notice"}
    for w in exp.get("notices", []):
        if w not in seen:
            print("  no notice with what=%s (seen: %s)" % (w, sorted(x for x in seen if x)))
            bad += 1
    keys = {r.get("key") for r in recs if r.get("kind") == "rpc" and r.get("method") != "Unknown"}
    for k in exp.get("keys", []):
        if k not in keys:
            print("  no rpc record with key %s (decoding did not resume)" % k)
            bad += 1
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(description="write crafted stress captures")
    ap.add_argument("--out")
    ap.add_argument("--check", nargs=2, metavar=("EXPECT", "JSONL"))
    ap.add_argument("names", nargs="*", help="scenarios (default: all): " + " ".join(SCENARIOS))
    a = ap.parse_args(argv)
    if a.check:
        return 1 if check(*a.check) else 0
    if not a.out:
        ap.error("--out DIR is required")
    os.makedirs(a.out, exist_ok=True)
    for name in a.names or SCENARIOS:
        if name not in SCENARIOS:
            print("stress.py: unknown scenario %s" % name, file=sys.stderr)
            return 2
        p = Pcap(os.path.join(a.out, name + ".pcap"))
        exp = SCENARIOS[name](p)
        p.close()
        exp["scenario"] = name
        exp["packets"] = p.packets
        with open(os.path.join(a.out, name + ".expect.json"), "w") as f:
            json.dump(exp, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
