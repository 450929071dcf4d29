#!/usr/bin/python3
"""Steady-state capture for tests/run-alloc.sh: the same API-server-like work, round after round.

tests/gen/harness.py Env starts a throw-away etcd on loopback and records its client port.
One python3-etcd3 client (grpc C-core) carries the unary calls on ONE channel (one TCP
connection), a second one carries ONE Watch stream on its own connection (a prefix watch on /registry/ with prev_kv and progress_notify, so
every write comes back as an event with the new and the previous value), like one
kube-apiserver.  Warm-up: create a fixed key set (CONFIGMAPS ConfigMaps with 1-3 KB of data,
PODS Pods, LEASES Leases; encoders from gen_apiserver.py), then ROUNDS rounds, each:

  - every key updated once by a mod_revision-guarded Txn (gen_apiserver Api.update, the
    apiserver's GuaranteedUpdate); every 10th round one of them first with a stale
    mod_revision, so the Txn fails and its failure branch returns the current object;
  - a few single-key Range gets;
  - every 5th round a paged LIST (pods or configmaps, limit 5, pinned revision);
  - every 10th round a WatchProgressRequest on the Watch stream.

No new keys, no new connections and no etcdctl after the warm-up: once the key set exists, a
decoder's state should stop growing, which is what the allocation test measures (the
capture's last two thirds against its first third).  Content is deterministic (seeded
random; synthetic timestamps); ports, revisions and lease ids are not.
The only truth line is `meta` (the etcd port): operations are not recorded.
Helpers are imported from tests/bench/gen_bench_seed.py (NullEnv, blob) and gen_apiserver.py.

Run: /usr/bin/python3 tests/gen/gen_steady.py OUT.pcap [--rounds R] [--seed S]
"""

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))

import harness  # noqa: E402
import gen_apiserver as ga  # noqa: E402
from gen_bench_seed import NullEnv, blob  # noqa: E402

CONFIGMAPS, PODS, LEASES = 12, 12, 4
ACTOR = "kube-apiserver"


def cm_key(i):
    return "/registry/configmaps/demo/cm-%02d" % i


def pod_key(i):
    return "/registry/pods/demo/pod-%02d" % i


def lease_key(i):
    return "/registry/leases/kube-system/node-%d" % i


class Steady:
    def __init__(self, port, seed):
        import etcd3
        harness._quiet_watch_threads()
        self.rng = random.Random(seed)
        # grpc C-core shares one subchannel (one TCP connection) between channels to the same
        # target; a local subchannel pool per channel gives each its own connection.
        opts = [("grpc.use_local_subchannel_pool", 1)]
        self.c_unary = etcd3.client(host=harness.HOST, port=port, grpc_options=opts)
        self.c_watch = etcd3.client(host=harness.HOST, port=port, grpc_options=opts)
        self.api = ga.Api(NullEnv(), self.c_unary)
        self.ws = ga.WatchStream(ga.Api(NullEnv(), self.c_watch), actor=ACTOR)
        self.blobs = [blob(self.rng, self.rng.randint(1024, 3072)) for _ in range(8)]
        self.mods = {}     # key -> mod_revision of our last write
        self.keys = [cm_key(i) for i in range(CONFIGMAPS)] + \
                    [pod_key(i) for i in range(PODS)] + [lease_key(i) for i in range(LEASES)]
        self.clock = 0.0

    def obj(self, key, n):
        """The object stored at KEY in round N (same shape and size class every round)."""
        name = key.rsplit("/", 1)[1]
        if key.startswith("/registry/configmaps/"):
            return ga.configmap(name, {"config.yaml": self.rng.choice(self.blobs),
                                       "round": str(n)}, self.clock)
        if key.startswith("/registry/pods/"):
            return ga.pod(name, self.clock, labels={"app": "steady", "round": str(n)})
        return ga.lease(name, name + "-kubelet", self.clock)

    def warm_up(self):
        self.ws.watch("/registry/", prev_kv=True, progress_notify=True)
        for key in self.keys:
            self.mods[key] = self.api.create(ACTOR, key, self.obj(key, 0))
        self.api.health()

    def round(self, n):
        api, rng = self.api, self.rng
        self.clock += 1.0
        stale = self.keys[n % len(self.keys)] if n % 10 == 0 else None
        for key in self.keys:
            obj = self.obj(key, n)
            if key == stale:
                ok, _, cur = api.update(ACTOR, key, obj, self.mods[key] - 1)
                if ok or cur is None:
                    raise RuntimeError("stale update of %s did not conflict" % key)
                self.mods[key] = int(cur.mod_revision)
            ok, rev, cur = api.update(ACTOR, key, obj, self.mods[key])
            if not ok:
                raise RuntimeError("update of %s conflicted (only this client writes)" % key)
            self.mods[key] = rev
        for _ in range(3):
            api.range(ACTOR, rng.choice(self.keys))
        if n % 5 == 0:
            pre = "/registry/pods/demo/" if n % 10 == 0 else "/registry/configmaps/demo/"
            api.list_paged(ACTOR, pre, 5)
        if n % 10 == 5:
            self.ws.request_progress()

    def finish(self):
        last = self.keys[-1]
        if not self.ws.wait_event(last, self.mods[last]):
            raise RuntimeError("the watch did not deliver the last write")
        time.sleep(0.3)
        self.ws.close()
        self.c_unary.close()
        self.c_watch.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rounds", type=int, default=250)
    ap.add_argument("--seed", type=int, default=6)
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    t0 = time.time()
    with harness.Env(out) as env:
        env.meta("gen_steady.py", "steady state: %d rounds over %d keys, one unary channel "
                 "and one watch channel" % (a.rounds, CONFIGMAPS + PODS + LEASES))
        s = Steady(env.port, a.seed)
        s.warm_up()
        for n in range(1, a.rounds + 1):
            s.round(n)
        s.finish()
    print("%s: %.1f MB, port %d, %d rounds, %.1f s" % (out, os.path.getsize(out) / 1e6,
                                                        env.port, a.rounds, time.time() - t0))


if __name__ == "__main__":
    main()
