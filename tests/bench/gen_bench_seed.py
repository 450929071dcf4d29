#!/usr/bin/python3
"""Seed capture for `make bench`: a busy API-server-like workload recorded from a real etcd.

tests/gen/harness.py Env starts a throw-away etcd on loopback and records its client port with
tcpdump; WORKERS processes (python3-etcd3 = grpc C-core, one channel for unary calls and one for
the Watch stream each; grpc C-core shares one subchannel between them, so each worker's calls
and watches are multiplexed on 1 TCP connection, as kube-apiserver's grpc-go client does) then
run for SECONDS:

  - Txn create/update of Kubernetes objects (ConfigMaps with 1-4 KB of data, Pods, Leases)
    with a mod_revision compare, exactly like kube-apiserver's GuaranteedUpdate (Api._txn);
  - single-key Range gets, paged LISTs (Range with limit, pinned revision), count_only;
  - occasional deletes and re-creates;
  - one Watch stream per worker with prefix watches (prev_kv, progress_notify): workers 0
    and 1 watch the whole /registry/configmaps/ and /registry/pods/ trees (two API servers:
    every write fans out to both as an event carrying the new and the previous value), the
    others their own namespace's pods; a progress request every 500 operations.
Also in worker mode (--worker I --port P) for scripts/bench-live.sh's load.

A few etcdctl calls (grpc-go stack, one connection each) are mixed in by the parent.
The capture is then replicated to hundreds of MB by tests/bench/replicate.c.
Encoders are imported from tests/gen/gen_apiserver.py and k8s_encode.py (not copied).

Run: /usr/bin/python3 tests/bench/gen_bench_seed.py OUT.pcap [--workers N] [--seconds S]
     [--max-mb M]   (stops early once the capture holds M MB)
"""

import argparse
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "gen")
sys.path.insert(0, GEN)

import harness  # noqa: E402


class NullTruth:
    """Api records a truth line per call; the bench does not need them."""
    n = 0

    def add(self, op, **fields):
        return {}


class NullEnv:
    truth = NullTruth()


def blob(rng, size):
    """Printable text of SIZE bytes (a ConfigMap data value)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_=\n"
    return "".join(rng.choice(alphabet) for _ in range(size))


def worker(idx, port, seconds, seed):
    """One API-server-like client process: unary KV traffic on one channel, a Watch stream
    on another (both on one TCP connection: grpc C-core's global subchannel pool).  Runs
    until `seconds` have passed."""
    import etcd3
    import gen_apiserver as ga

    rng = random.Random(seed)
    harness._quiet_watch_threads()
    c_unary = etcd3.client(host=harness.HOST, port=port)
    c_watch = etcd3.client(host=harness.HOST, port=port)
    api = ga.Api(NullEnv(), c_unary)
    wapi = ga.Api(NullEnv(), c_watch)
    ws = ga.WatchStream(wapi, actor="kube-apiserver")
    ns = "bench-%d" % idx
    if idx < 2:
        # two "API servers" watch whole resource trees (every write fans out to both)
        ws.watch("/registry/configmaps/", prev_kv=True, progress_notify=True)
        ws.watch("/registry/pods/", prev_kv=True, progress_notify=True)
    else:
        # the others watch their own namespace's pods (a namespaced informer)
        ws.watch("/registry/pods/%s/" % ns, prev_kv=True, progress_notify=True)
    actor = "worker-%d" % idx
    mods = {}       # key -> mod_revision of our last write
    objs = {}       # key -> object (for updates)
    blobs = [blob(rng, rng.randint(1024, 4096)) for _ in range(32)]
    n_cm, n_pod = 300, 100
    clock = 0.0
    deadline = time.time() + seconds
    ops = 0

    def cm_key(i):
        return "/registry/configmaps/%s/cm-%04d" % (ns, i)

    def pod_key(i):
        return "/registry/pods/%s/pod-%04d" % (ns, i)

    def write(key, obj):
        if key in mods:
            ok, rev, cur = api.update(actor, key, obj, mods[key])
            if not ok:   # only this worker writes its namespace; resync anyway
                mods[key] = int(cur.mod_revision) if cur is not None else 0
                return
            mods[key] = rev
        else:
            mods[key] = api.create(actor, key, obj)
        objs[key] = obj

    while time.time() < deadline:
        clock += 0.01
        r = rng.random()
        if r < 0.06:
            i = rng.randrange(n_cm)
            data = {"config.yaml": rng.choice(blobs), "rev": str(ops)}
            write(cm_key(i), ga.configmap("cm-%04d" % i, data, clock, manager=actor))
        elif r < 0.35:
            i = rng.randrange(n_pod)
            write(pod_key(i), ga.pod("pod-%04d" % i, clock, labels={"app": "bench", "n": str(ops)}))
        elif r < 0.50:
            key = "/registry/leases/%s/holder-%d" % (ns, rng.randrange(4))
            write(key, ga.lease(key.rsplit("/", 1)[1], actor, clock))
        elif r < 0.80:
            key = cm_key(rng.randrange(n_cm)) if rng.random() < 0.15 else pod_key(rng.randrange(n_pod))
            api.range(actor, key)
        elif r < 0.81:
            # a paged LIST of the pods (every page, pinned to the first page's revision)
            api.list_paged(actor, "/registry/pods/%s/" % ns, rng.choice((20, 50)))
        elif r < 0.815:
            # the first page of a ConfigMap LIST (a client that asked for limit=N)
            pre = "/registry/configmaps/%s/" % ns
            api.range(actor, pre, range_end=harness.prefix_end(pre), limit=rng.choice((10, 25)))
        elif r < 0.84:
            api.count(actor, "/registry/configmaps/")
        elif r < 0.87:
            live = [k for k in mods if mods[k]]
            if live:
                k = rng.choice(live)
                ok, _ = api.delete(actor, k, mods[k])
                if ok:
                    del mods[k]
                    objs.pop(k, None)
        else:
            api.health()
        ops += 1
        if ops % 500 == 0:
            ws.request_progress()
    time.sleep(0.3)
    ws.close()
    c_unary.close()
    c_watch.close()
    print("worker %d: %d ops" % (idx, ops), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-mb", type=float, default=80.0)
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker is not None:
        worker(a.worker, a.port, a.seconds, 1000 + a.worker)
        return
    out = os.path.abspath(a.out)
    t0 = time.time()
    with harness.Env(out, truth_path=os.devnull,
                     etcd_args=["--experimental-watch-progress-notify-interval=1s",
                                "--quota-backend-bytes=4294967296"]) as env:
        procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), out,
                                   "--worker", str(i), "--port", str(env.port),
                                   "--seconds", str(a.seconds)])
                 for i in range(a.workers)]
        # grpc-go clients too: one connection per etcdctl call
        n_ctl = 0
        while any(p.poll() is None for p in procs):
            if os.path.getsize(out) > a.max_mb * 1e6:
                for p in procs:
                    if p.poll() is None:
                        p.terminate()
                break
            if n_ctl < 40:
                env.etcdctl("put", "/registry/configmaps/ctl/c-%d" % (n_ctl % 8), "x" * 1500)
                env.etcdctl("get", "--prefix", "--limit=5", "/registry/pods/")
                n_ctl += 1
            time.sleep(0.5)
        for p in procs:
            p.wait()
    print("%s: %.1f MB, %d workers, %.1f s" % (out, os.path.getsize(out) / 1e6, a.workers,
                                               time.time() - t0))


if __name__ == "__main__":
    main()
