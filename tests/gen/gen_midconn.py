#!/usr/bin/python3
"""Generate captures that join connections already in use (no SYN, no preface, no HPACK
history): pcaps/midconn.pcap and pcaps/midconn-bigvalue.pcap (+ .truth.jsonl).

Truth records carry "after_capture": only those that are true happened while tcpdump ran;
tests check only those (tests/check_truth.py --midconn).
Usage: /usr/bin/python3 tests/gen/gen_midconn.py [--out DIR | DIR]   (default: pcaps/)
"""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, CtlWatch, PyOps, SlowProxy  # noqa: E402

BIG = 2 * 1024 * 1024          # the value in flight when the capture starts
MAX_PCAP = 1000 * 1000         # keep committed captures under 1 MB
MIN_CAUGHT = 64 * 1024         # ... but catch a real piece of the big message


def gen_midconn(pcap):
    """Warm both connections (python channel, etcdctl watch -i) so their HPACK tables hold
    every :path, then capture only what follows on the same connections."""
    with Env(pcap, capture_at_start=False,
             etcd_args=["--experimental-watch-progress-notify-interval=1s"]) as env:
        env.meta("gen_midconn.py", "capture joins a python channel and an etcdctl watch")
        o = PyOps(env)
        tx = o.etcd3.transactions
        w = CtlWatch(env)
        w.watch("/m/w/", "--prefix", "--prev-kv")
        wid = o.watch("/m/pw/", prefix=True, prev_kv=True)

        # before the capture: one of each call, so later header blocks are table indexes
        o.put("/m/a", "1")
        o.put("/m/w/x", "1")
        o.put("/m/pw/x", "1")
        o.get("/m/a")
        o.get("/m/", prefix=True)
        o.delete("/m/nothing")
        o.txn([tx.Version("/m/a") > 0], [tx.Put("/m/b", "1")], [])
        lease = o.lease_grant(120)
        o.lease_keepalive(lease)
        o.status()
        time.sleep(0.3)
        o.watch_flush(wid)
        before_rev = o.get("/m/a")["revision"]

        env.start_capture()
        # after: the same kinds of calls on the already-open connections
        o.put("/m/a", "2")
        o.put("/m/c", "3", prev_kv=True)
        o.get("/m/a")
        o.get("/m/", prefix=True)
        o.get("/m/", prefix=True, keys_only=True, limit=1)
        o.put("/m/w/x", "2")
        o.put("/m/w/y", "1")
        o.put("/m/pw/x", "2")
        o.delete("/m/w/x", prev_kv=True)
        o.delete("/m/pw/x")
        o.txn([tx.Mod("/m/a") > 0], [tx.Put("/m/t", "ok"), tx.Get("/m/a")], [tx.Put("/m/t", "no")])
        o.txn([tx.Value("/m/a") == "nope"], [tx.Put("/m/t2", "ok")], [tx.Delete("/m/c")])
        w.watch("/m/w2/", "--prefix")       # a new watch on the existing Watch stream
        o.put("/m/w2/k", "v")
        o.put("/m/a", "4")
        o.delete("/m/", prefix=True)
        o.lease_keepalive(lease)
        o.lease_revoke(lease)
        o.status()
        o.member_list()
        time.sleep(0.3)
        w.progress()
        o.watch_flush(wid)
        env.stop_capture()
        w.close(after_rev=before_rev)
        o.watch_cancel(wid)


def gen_bigvalue(pcap, tries=20):
    """Start tcpdump while 2 MB puts and gets stream back to back on one python channel, so
    the capture opens inside a message; keep a try whose capture is 64 KB .. 1 MB."""
    with Env(pcap, capture_at_start=False,
             etcd_args=["--max-request-bytes=%d" % (3 * 1024 * 1024)]) as env, \
            SlowProxy(env) as px:
        env.meta("gen_midconn.py", "capture opens inside a 2 MB put/get")
        o = PyOps(env, env.client(port=px.port))
        value = bytes((i * 7 + 13) & 0xff for i in range(256)) * (BIG // 256)
        o.put("/bv/big", value)
        o.put("/bv/small", "s")
        for attempt in range(tries):
            stop = threading.Event()

            def churn():
                n = 0
                while not stop.is_set():
                    if n % 2:
                        o.c.put("/bv/big", value)
                    else:
                        o.c.get_response("/bv/big")
                    n += 1
            t = threading.Thread(target=churn)
            t.start()
            time.sleep(0.05 + 0.09 * attempt)   # a different phase of the churn each try
            env.start_capture(settle=0)  # returns once tcpdump is listening
            stop.set()
            t.join()
            time.sleep(0.2)
            size = os.path.getsize(pcap)
            if MIN_CAUGHT <= size <= MAX_PCAP - 200 * 1024:
                break
            env.stop_capture()
            print("  bigvalue try %d: %d bytes captured, again" % (attempt + 1, size))
        else:
            raise RuntimeError("could not start a capture inside a big transfer")
        o.get("/bv/small")
        o.put("/bv/small", "after")
        o.get("/bv/", prefix=True, keys_only=True)
        o.put("/bv/mid", b"m" * 20 * 1024)
        o.delete("/bv/mid")
        o.status()
        env.stop_capture()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", nargs="?", help="output directory (default: pcaps/)")
    ap.add_argument("--out", help="output directory (same as OUTDIR)")
    a = ap.parse_args()
    out = a.out or a.outdir or os.path.normpath(os.path.join(here, "..", "..", "pcaps"))
    os.makedirs(out, exist_ok=True)
    for name, fn in (("midconn", gen_midconn), ("midconn-bigvalue", gen_bigvalue)):
        p = os.path.join(out, name + ".pcap")
        t0 = time.time()
        fn(p)
        print("%s: %d bytes, %.1f s" % (p, os.path.getsize(p), time.time() - t0))


if __name__ == "__main__":
    main()
