#!/usr/bin/python3
"""Generate pcaps/basic-etcdctl.pcap and pcaps/basic-python.pcap (+ .truth.jsonl).

Each capture is recorded from the first SYN: a throw-away etcd 3.4 on a random loopback
port, driven by one client stack (etcdctl = grpc-go, python3-etcd3 = grpc C-core) through
every kind of etcd v3 call the decoder must understand, including errors.
Usage: /usr/bin/python3 tests/gen/gen_basic.py [--out DIR | DIR]   (default: pcaps/)
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, CtlOps, CtlWatch, PyOps  # noqa: E402

BIG = 100 * 1024   # > 64 KB so the value spans many DATA frames / flow-control windows


def big_value(n, seed):
    """Deterministic printable value of n bytes."""
    line = ("%s-0123456789abcdefghijklmnopqrstuvwxyz\n" % seed).encode()
    return (line * (n // len(line) + 1))[:n]


def gen_etcdctl(pcap):
    """Every etcdctl command kind, one etcdctl process (one TCP connection) per command."""
    with Env(pcap) as env:
        env.meta("gen_basic.py", "etcdctl: every command kind, one connection per command")
        o = CtlOps(env)
        w = CtlWatch(env)
        w.watch("/w/", "--prefix", "--prev-kv")

        o.put("/a/1", "one")
        o.put("/a/2", "two")
        o.put("/a/3", "three")
        o.put("/a/1", "uno", "--prev-kv")
        o.get("/a/1")
        o.get("/a/", "--prefix")
        o.get("/a/", "--prefix", "--limit=2")
        o.get("/a/", "--prefix", "--keys-only")
        r = o.get("/a/1")
        o.get("/a/1", "--rev=%d" % (r["revision"] - 1))
        o.get("/nope")

        o.put("/w/x", "1")
        o.put("/w/x", "2")
        o.put("/w/y", "3")
        o.delete("/w/x")
        time.sleep(0.3)
        w.progress()

        o.put("/d/1", "a")
        o.put("/d/2", "b")
        o.put("/d/3", "c")
        o.delete("/d/1")
        o.delete("/d/", "--prefix", "--prev-kv")
        o.delete("/nope")

        o.txn(['mod("/a/2") > "0"'], ["put /t/ok yes", "get /a/2"], ["put /t/bad no"])
        o.txn(['value("/a/3") = "wrong"'], ["put /t/ok2 yes"], ["put /t/bad2 no", "del /a/3"])

        lease = o.lease_grant(60)["id"]
        o.put("/l/1", "leased", "--lease=%x" % lease)
        o.lease_keepalive_once(lease)
        o.lease_revoke(lease)
        o.lease_revoke(0x1234abcd)          # NotFound: requested lease not found

        o.put(b"/bin/\xff\xfe\x80key", b"binary-key")
        o.get(b"/bin/\xff\xfe\x80key")

        o.put("/big/1", big_value(BIG, "ctl"), stdin_value=True)
        o.get("/big/1")

        o.member_list()
        o.status()

        r = o.get("/a/1")
        o.compact(r["revision"])
        o.get("/a/1", "--rev=2")            # OutOfRange: required revision has been compacted
        o.put("/w/z", "last")
        time.sleep(0.3)
        w.close()


def gen_python(pcap):
    """The same kinds of operations through python3-etcd3 on one channel."""
    # progress notifications every second so a watch with progress_notify shows one
    with Env(pcap, etcd_args=["--experimental-watch-progress-notify-interval=1s"]) as env:
        env.meta("gen_basic.py", "python3-etcd3: every call kind on one channel")
        o = PyOps(env)
        tx = o.etcd3.transactions
        wid = o.watch("/pw/", prefix=True, prev_kv=True, progress_notify=True)
        wid1 = o.watch("/pw/only")

        o.put("/p/1", "one")
        o.put("/p/2", "two")
        o.put("/p/3", "three")
        o.put("/p/1", "uno", prev_kv=True)
        o.get("/p/1")
        o.get("/p/", prefix=True)
        o.get("/p/", prefix=True, limit=2)
        o.get("/p/", prefix=True, keys_only=True)
        o.get("/p/", prefix=True, count_only=True)
        r = o.get("/p/1")
        o.get("/p/1", revision=r["revision"] - 1)
        o.get("/nope")

        o.put("/pw/x", "1")
        o.put("/pw/only", "2")
        o.put("/pw/x", "3")
        o.delete("/pw/x", prev_kv=True)
        o.watch_wait_progress(wid)   # progress notifications come every ~1-2.5 s
        o.watch_flush(wid)
        o.watch_cancel(wid1)

        o.put("/pd/1", "a")
        o.put("/pd/2", "b")
        o.put("/pd/3", "c")
        o.delete("/pd/1")
        o.delete("/pd/", prefix=True)
        o.delete("/nope")

        r = o.get("/p/2")
        mod = r["revision"]
        o.txn([tx.Mod("/p/2") < mod + 1], [tx.Put("/pt/ok", "yes"), tx.Get("/p/2")],
              [tx.Put("/pt/bad", "no")])
        o.txn([tx.Mod("/p/2") == 1], [tx.Put("/pt/ok2", "yes")],
              [tx.Put("/pt/bad2", "no"), tx.Delete("/p/3")])

        lease = o.lease_grant(60)
        o.put("/pl/1", "leased", lease=lease)
        o.lease_keepalive(lease)
        o.lease_timetolive(lease)
        o.lease_revoke(lease)
        o.lease_revoke(0x1234abcd)          # NotFound

        o.put(b"/pbin/\xff\x00\xfekey", b"\x00\x01binary")
        o.get(b"/pbin/\xff\x00\xfekey")

        o.put("/pbig/1", big_value(BIG, "py"))
        o.get("/pbig/1")

        o.member_list()
        o.status()

        r = o.get("/p/1")
        o.compact(r["revision"])
        o.get("/p/1", revision=2)           # OutOfRange
        o.put("/pw/z", "last")
        time.sleep(0.3)
        o.watch_cancel(wid)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", nargs="?", help="output directory (default: pcaps/)")
    ap.add_argument("--out", help="output directory (same as OUTDIR)")
    a = ap.parse_args()
    out = a.out or a.outdir or os.path.normpath(os.path.join(here, "..", "..", "pcaps"))
    os.makedirs(out, exist_ok=True)
    for name, fn in (("basic-etcdctl", gen_etcdctl), ("basic-python", gen_python)):
        p = os.path.join(out, name + ".pcap")
        t0 = time.time()
        fn(p)
        print("%s: %d bytes, %.1f s" % (p, os.path.getsize(p), time.time() - t0))


if __name__ == "__main__":
    main()
