#!/usr/bin/python3
"""pcaps/why-*.pcap: one small capture per verdict of `etcd-explorer why`, each with truth.

Every story is about one object, the ConfigMapApp demo/my-nginx-app (JSON custom resource),
and a watcher standing for the operator's informer (the apiserver's watch on the resource
prefix).  Next to each capture, why-NAME.expect.json holds {"verdict", "key", ...}: the
verdict_code `etcd-explorer --json why KEY` must print, and the revisions that make it (kept
out of the truth file, whose ops check_truth.py knows).  Stories are described in
docs/workload.md.
Run: /usr/bin/python3 tests/gen/gen_why.py [outdir] [story ...]   (no story = all)
"""

import copy
import json
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from gen_apiserver import (Api, WatchStream, CMA_KEY, cma_created, cma_patch_replicas, rpc,  # noqa: E402
                           cma_set_status, configmap, namespace, crd)

CMA_PREFIX = "/registry/demo.mycompany.com/configmapapps/"
CRD_KEY = "/registry/apiextensions.k8s.io/customresourcedefinitions/configmapapps.demo.mycompany.com"
QUIET = 0.3   # seconds of silence that make "nothing was delivered" visible in the capture


def setup(api):
    """Namespace, CRD, a ConfigMap: the world the object lives in."""
    api.health()
    api.create("kube-apiserver", "/registry/namespaces/demo", namespace("demo", 0))
    api.create("kube-apiserver", CRD_KEY, crd(1))
    api.create("kube-apiserver", "/registry/configmaps/demo/app-settings",
               configmap("app-settings", {"LOG_LEVEL": "info"}, 2))


def informer_start(api, prefix):
    """The operator's informer through the apiserver: LIST, then WATCH from LIST rev + 1."""
    _, rev = api.list_paged("kube-apiserver", prefix, 500)
    ws = WatchStream(api)
    wid = ws.watch(prefix, start_revision=rev + 1)
    return ws, wid


def story_no_write(env, api):
    """The object exists and is watched; a user reads it (kubectl get) and believes they
    changed it, but no write to the key ever reaches etcd.  Other keys do change."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    ws, wid = informer_start(api, CMA_PREFIX)
    api.range("kubectl", CMA_KEY, purpose="kubectl-get")
    api.update("kube-apiserver", "/registry/configmaps/demo/app-settings",
               configmap("app-settings", {"LOG_LEVEL": "debug"}, 30), api_mod(api, "/registry/configmaps/demo/app-settings"))
    ws.request_progress()
    time.sleep(QUIET)
    api.range("kubectl", CMA_KEY, purpose="kubectl-get")
    ws.close()
    return {"verdict": "no-write", "watch_id": wid, "last_write_revision": rev0,
            "note": "no put/delete of the key after the watch started"}


def story_conflict(env, api):
    """kubectl (patch from a stale copy) sends an update whose compare mod_revision is older
    than the key's: the Txn takes the failure branch and is not retried (409 to the user)."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    ws, wid = informer_start(api, CMA_PREFIX)
    stale = copy.deepcopy(obj)
    st = cma_set_status(copy.deepcopy(obj), 10, "Ready", 3)
    ok, rev1, _ = api.update("configmapapp-operator", CMA_KEY, st, rev0)
    ws.wait_event(CMA_KEY, rev1)
    ok, rev2, cur = api.update("kubectl-patch", CMA_KEY, cma_patch_replicas(stale, 20, 5), rev0)
    assert not ok
    time.sleep(QUIET)
    ws.close()
    return {"verdict": "write-rejected-conflict", "watch_id": wid, "failed_txn_revision": rev2,
            "compare_mod_revision": rev0, "current_mod_revision": int(cur.mod_revision)}


def story_no_watch(env, api):
    """The write lands, but the only watch open is on /registry/configmaps/: nobody watches
    the ConfigMapApp prefix, so no event for it is ever sent."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    ws, wid = informer_start(api, "/registry/configmaps/")
    ok, rev1, _ = api.update("kubectl-patch", CMA_KEY, cma_patch_replicas(obj, 20, 5), rev0)
    assert ok
    ok, rev2, _ = api.update("kube-apiserver", "/registry/configmaps/demo/app-settings",
                             configmap("app-settings", {"LOG_LEVEL": "debug"}, 21),
                             api_mod(api, "/registry/configmaps/demo/app-settings"))
    ws.wait_event("/registry/configmaps/demo/app-settings", rev2)
    time.sleep(QUIET)
    ws.close()
    return {"verdict": "no-watch", "write_revision": rev1, "watch_id": wid,
            "watched_prefix": "/registry/configmaps/"}


def churn_and_compact(api):
    """Other writes (three ConfigMap updates), then the apiserver's compactor: a start-up
    round (claims compact_rev_key, remembers the header revision) and the next round, which
    compacts at that revision. Returns the compaction revision."""
    for i in range(3):
        api.update("kube-apiserver", "/registry/configmaps/demo/app-settings",
                   configmap("app-settings", {"LOG_LEVEL": "l%d" % i}, 21 + i),
                   api_mod(api, "/registry/configmaps/demo/app-settings"))
    v, claim_rev = api.compactor(0, 0)
    api.compactor(v, claim_rev)
    return claim_rev


def story_compacted(env, api):
    """A slow watcher resumes from an old revision after the apiserver compacted past it:
    the watch is created and at once canceled with compact_revision, and the writes in
    between are never delivered to it."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    _, list_rev = api.list_paged("kube-apiserver", CMA_PREFIX, 500)
    ok, rev1, _ = api.update("kubectl-patch", CMA_KEY, cma_patch_replicas(obj, 20, 5), rev0)
    assert ok
    compact_rev = churn_and_compact(api)
    ws = WatchStream(api)
    wid = ws.watch(CMA_PREFIX, start_revision=list_rev + 1)
    ws.wait_canceled(wid)
    time.sleep(QUIET)
    ws.close()
    # the exact WatchRequest bytes WatchStream.watch sent: derive_nocreate drops their packet
    create = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
        key=CMA_PREFIX.encode(), range_end=harness.prefix_end(CMA_PREFIX),
        start_revision=list_rev + 1, prev_kv=True, progress_notify=True)).SerializeToString()
    return {"verdict": "watch-compacted", "write_revision": rev1, "watch_id": wid,
            "start_revision": list_rev + 1, "compact_revision": compact_rev,
            "_derive": {"create_request": create}}


def derive_nocreate(path, exp):
    """why-compacted-nocreate.pcap: why-compacted.pcap without the one packet that carried
    the Watch create request (as if lost): the tool sees the created and canceled answers
    of a watch whose range it cannot know.  Regression capture for what `why` says then
    (no truth file: the capture lacks a request on purpose)."""
    needle = exp["_derive"]["create_request"]
    with open(path, "rb") as f:
        raw = f.read()
    endian = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, i, dropped = [raw[:24]], 24, 0
    while i + 16 <= len(raw):
        incl = struct.unpack(endian + "I", raw[i + 8:i + 12])[0]
        rec = raw[i:i + 16 + incl]
        if needle in rec:
            dropped += 1
        else:
            out.append(rec)
        i += 16 + incl
    if dropped != 1:
        raise RuntimeError("derive_nocreate: %d packets carry the create request" % dropped)
    dst = path.replace("why-compacted.pcap", "why-compacted-nocreate.pcap")
    with open(dst, "wb") as f:
        f.write(b"".join(out))
    e = {"story": "compacted-nocreate", "key": CMA_KEY, "verdict": "no-watch",
         "derived_from": os.path.basename(path), "watch_id": exp["watch_id"],
         "compact_revision": exp["compact_revision"],
         "note": "the packet with the Watch create request is removed"}
    with open(dst[:-5] + ".expect.json", "w") as f:
        f.write(json.dumps(e, sort_keys=True, indent=1) + "\n")
    print("%s: %d bytes (derived)" % (dst, os.path.getsize(dst)))


def story_late(env, api, from_now=False):
    """The write happens first; the watcher starts afterwards with a start_revision past
    the write, so the event is never delivered (a later, unrelated write is).  from_now:
    the watch asks for start_revision 0 ("from now"), which etcd starts after its current
    revision, the write's."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    ok, rev1, _ = api.update("kubectl-patch", CMA_KEY, cma_patch_replicas(obj, 20, 5), rev0)
    assert ok
    time.sleep(0.1)
    ws = WatchStream(api)
    start = 0 if from_now else rev1 + 1
    wid = ws.watch(CMA_PREFIX, start_revision=start)
    other = "/registry/demo.mycompany.com/configmapapps/demo/other-app"
    o2 = cma_created(30)
    o2["metadata"]["name"] = "other-app"
    o2["metadata"]["uid"] = "00000000-0000-4000-8000-0000000000aa"
    rev2 = api.create("kubectl-client-side-apply", other, o2)
    ws.wait_event(other, rev2)
    time.sleep(QUIET)
    ws.close()
    return {"verdict": "watch-started-late", "write_revision": rev1, "watch_id": wid, "start_revision": start}


def story_late_now(env, api):
    """story_late with a watch from revision 0 ("from now")."""
    return story_late(env, api, from_now=True)


def story_delivered(env, api):
    """The normal case: watch open, kubectl patch lands, the event reaches the watcher at
    once and the operator reacts with a status update (also delivered)."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    ws, wid = informer_start(api, CMA_PREFIX)
    new = cma_patch_replicas(copy.deepcopy(obj), 20, 5)
    ok, rev1, _ = api.update("kubectl-patch", CMA_KEY, new, rev0)
    assert ok
    ws.wait_event(CMA_KEY, rev1)
    ok, rev2, _ = api.update("configmapapp-operator", CMA_KEY,
                             cma_set_status(copy.deepcopy(new), 21, "Ready", 5), rev1)
    assert ok
    ws.wait_event(CMA_KEY, rev2)
    time.sleep(QUIET)
    ws.close()
    return {"verdict": "delivered", "write_revision": rev1, "watch_id": wid,
            "reaction_revision": rev2}


def dashboard(i, size):
    """A Grafana-dashboard-like ConfigMap of about `size` bytes (made-up panel JSON)."""
    panels = []
    n = 0
    while n < size:
        p = '{"id":%d,"title":"panel %d","type":"timeseries","targets":[{"expr":' \
            '"sum(rate(http_requests_total{job=\\"app-%d\\"}[5m])) by (code)"}]}' % (n, n, i)
        panels.append(p)
        n += len(p) + 1
    body = '{"title":"dashboard %d","panels":[%s]}' % (i, ",".join(panels))
    return configmap("dashboard-%d" % i, {"dashboard.json": body}, 40 + i, manager="helm")


# delivered-late: the watching API server reads its etcd connection at about
# SLOW_CHUNK / SLOW_PAUSE bytes per second; BURST ConfigMaps of BURST_SIZE bytes are queued
# on its Watch stream just before the object's write, so that event waits behind
# (BURST * BURST_SIZE - window) / rate seconds, about 2 s, in etcd's send queue.
SLOW_CHUNK, SLOW_PAUSE, SLOW_BUF = 1024, 0.05, 8 * 1024
BURST, BURST_SIZE = 6, 8 * 1024


def slow_consumer_write(env, api, obj, rev0, story, fast=None, wait=True):
    """The delivered-late setup: a second API server whose etcd connection goes through
    harness.SlowProxy (read at ~20 KB/s, like a CPU-starved apiserver) watches the object's
    prefix and /registry/configmaps/ on one Watch stream; a Helm install creates BURST large
    ConfigMaps, then kubectl-patch updates the object, whose event waits in etcd's send
    queue behind them (TCP and HTTP/2 flow control): the delay is on the captured etcd side
    of the proxy.  With `fast` (a watch of the writing API server), checks that it got the
    event at once.  wait=False: the capture ends QUIET after the write, while the event is
    still queued (it would take ~2 s).  Returns (write revision, slow watch id, prompt delay
    or None, late delay or None)."""
    px = harness.SlowProxy(env, chunk=SLOW_CHUNK, pause=SLOW_PAUSE, buf=SLOW_BUF)
    try:
        slow = Api(env, env.client(port=px.port))
        ws, wid = informer_start(slow, CMA_PREFIX)
        _, crev = slow.list_paged("kube-apiserver", "/registry/configmaps/", 500)
        ws.watch("/registry/configmaps/", start_revision=crev + 1)
        for i in range(BURST):
            api.create("helm", "/registry/configmaps/demo/dashboard-%d" % i,
                       dashboard(i, BURST_SIZE))
        new = cma_patch_replicas(copy.deepcopy(obj), 20, 5)
        t_write = time.time()
        ok, rev1, _ = api.update("kubectl-patch", CMA_KEY, new, rev0)
        assert ok
        prompt = None
        if fast is not None:
            if not fast.wait_event(CMA_KEY, rev1, timeout=5):
                raise RuntimeError("%s: the direct watch never got revision %d" % (story, rev1))
            prompt = time.time() - t_write
        late = None
        if wait:
            if not ws.wait_event(CMA_KEY, rev1, timeout=30):
                raise RuntimeError("%s: event for revision %d never came" % (story, rev1))
            late = time.time() - t_write
            # the wire delay is this less the proxy's own buffers (~0.3 s)
            if late < 1.8 or (prompt is not None and prompt > 0.5):
                raise RuntimeError("%s: direct after %s s, slow after %.2f s" % (story, prompt, late))
        time.sleep(QUIET)
        if not wait and ws.wait_event(CMA_KEY, rev1, timeout=0):
            raise RuntimeError("%s: the event came within %.1f s" % (story, QUIET))
        ws.close()
    finally:
        px.close()
    return rev1, wid, prompt, late


def story_delivered_late(env, api):
    """Two API servers: the one that writes (direct connection) and a slow consumer that
    watches (slow_consumer_write): the object's event reaches the slow one seconds after the
    write applied."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    rev1, wid, _, late = slow_consumer_write(env, api, obj, rev0, "delivered-late")
    return {"verdict": "delivered-late", "write_revision": rev1, "watch_id": wid,
            "client_delay_s": round(late, 1)}


def story_not_delivered(env, api):
    """The slow-consumer API server of delivered-late, but the capture ends QUIET after the
    write, while the event still waits in etcd's send queue: the watch covers the key and
    nothing for the write is on the wire yet."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    rev1, wid, _, _ = slow_consumer_write(env, api, obj, rev0, "not-delivered", wait=False)
    return {"verdict": "not-delivered", "write_revision": rev1, "watch_id": wid}


def story_canceled(env, api):
    """The informer stops (its watch is canceled) before kubectl-patch writes; no other
    watch covers the key, so the event is sent to nobody."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    ws, wid = informer_start(api, CMA_PREFIX)
    ws.cancel(wid)
    assert ws.wait_canceled(wid)
    ok, rev1, _ = api.update("kubectl-patch", CMA_KEY, cma_patch_replicas(obj, 20, 5), rev0)
    assert ok
    time.sleep(QUIET)
    ws.close()
    return {"verdict": "watch-canceled", "write_revision": rev1, "watch_id": wid}


def story_two_watches(env, api):
    """HA control plane: two API servers, each with its own etcd watch on the configmapapps
    prefix.  The direct one (the API server that also writes) watches first and gets the
    object's event at once; the second is the slow consumer of delivered-late and gets it
    seconds late.  The operator may be connected to either: the verdict must name the late
    watch, not the prompt one that comes first in capture order."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    fast, fast_wid = informer_start(api, CMA_PREFIX)
    try:
        rev1, wid, _, late = slow_consumer_write(env, api, obj, rev0, "two-watches", fast)
    finally:
        fast.close()
    return {"verdict": "delivered-late", "write_revision": rev1, "watch_id": wid,
            "prompt_watch_id": fast_wid, "client_delay_s": round(late, 1)}


OTHER_KEY = CMA_PREFIX + "demo/other-app"


def story_two_watches_compacted(env, api):
    """HA control plane, two API servers on their own etcd connections.  The first watches
    the configmapapps prefix and stays healthy.  The second LISTs at revision R, falls
    behind while other writes and a compaction happen, and resumes its watch from R+1: etcd
    cancels it (compacted).  kubectl-patch then updates the object: the first API server
    gets the event at once, the second has no watch.  Then the second re-lists and
    re-watches on the same connection, and a second object (other-app) is created: both
    watches deliver it, and the compacted watch was replaced before that write.
    Verdicts: the object -> watch-compacted (1 of 3 covering watches delivered it at once;
    the replacement started after the write); other-app -> delivered (golden only)."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    fast, fast_wid = informer_start(api, CMA_PREFIX)
    # its own TCP connection: grpc shares one connection between channels to the same
    # target unless told to keep a local subchannel pool
    second = Api(env, env.client(grpc_options=[("grpc.use_local_subchannel_pool", 1)]))
    _, list_rev = second.list_paged("kube-apiserver", CMA_PREFIX, 500)
    claim_rev = churn_and_compact(api)
    ws = WatchStream(second)
    wid = ws.watch(CMA_PREFIX, start_revision=list_rev + 1)
    if not ws.wait_canceled(wid):
        raise RuntimeError("two-watches-compacted: the resumed watch was not canceled")
    ok, rev1, _ = api.update("kubectl-patch", CMA_KEY, cma_patch_replicas(copy.deepcopy(obj), 20, 5), rev0)
    assert ok
    if not fast.wait_event(CMA_KEY, rev1):
        raise RuntimeError("two-watches-compacted: the healthy watch never got revision %d" % rev1)
    # the second API server re-lists and watches again, on the same connection
    ws.close()
    ws2, wid2 = informer_start(second, CMA_PREFIX)
    o2 = cma_created(30)
    o2["metadata"]["name"] = "other-app"
    o2["metadata"]["uid"] = "00000000-0000-4000-8000-0000000000aa"
    rev2 = api.create("kubectl-client-side-apply", OTHER_KEY, o2)
    if not (fast.wait_event(OTHER_KEY, rev2) and ws2.wait_event(OTHER_KEY, rev2)):
        raise RuntimeError("two-watches-compacted: other-app's event missing on a watch")
    time.sleep(QUIET)
    ws2.close()
    fast.close()
    return {"verdict": "watch-compacted", "write_revision": rev1, "watch_id": wid,
            "compact_revision": claim_rev, "prompt_watch_id": fast_wid, "rewatch_id": wid2,
            "other_key": OTHER_KEY, "other_revision": rev2, "other_verdict": "delivered"}


THIRD_KEY = CMA_PREFIX + "demo/third-app"


def cma_named(name, gen, uid):
    """Another ConfigMapApp in demo (cma_created renamed)."""
    o = cma_created(gen)
    o["metadata"]["name"] = name
    o["metadata"]["uid"] = uid
    return o


def resume_watch(watcher, writer, list_rev, story):
    """The informer's WATCH from list_rev + 1 (on watcher's connection); a later create of
    third-app (through writer) must be delivered on it.  Returns (watch id, start)."""
    ws = WatchStream(watcher)
    start = list_rev + 1
    wid = ws.watch(CMA_PREFIX, start_revision=start)
    rev3 = writer.create("kubectl-client-side-apply", THIRD_KEY,
                         cma_named("third-app", 40, "00000000-0000-4000-8000-0000000000bb"))
    if not ws.wait_event(THIRD_KEY, rev3):
        raise RuntimeError("%s: the watch never got revision %d" % (story, rev3))
    time.sleep(QUIET)
    ws.close()
    return wid, start


def story_relist(env, api):
    """The write happens first; then the operator's informer starts, as informers do: a
    paginated LIST of the prefix (limit 1: two pages joined into one LIST, read at revision
    R >= W), then a watch from R+1.  The object reaches the API server through the LIST,
    not as an event: nothing is broken on the etcd wire.  A later create of a third object
    is delivered on the watch (it works).  Unlike `late` (a watch from W+1 and no LIST),
    the verdict is `delivered`: the watch starting after the write is no broken link."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    ok, rev1, _ = api.update("kubectl-patch", CMA_KEY, cma_patch_replicas(obj, 20, 5), rev0)
    assert ok
    api.create("kubectl-client-side-apply", OTHER_KEY,
               cma_named("other-app", 30, "00000000-0000-4000-8000-0000000000aa"))
    time.sleep(0.1)
    kvs, list_rev = api.list_paged("kube-apiserver", CMA_PREFIX, 1)
    if list_rev < rev1 or not any(bytes(kv.key) == CMA_KEY.encode() and kv.mod_revision == rev1
                                  for kv in kvs):
        raise RuntimeError("relist: the LIST at %d does not hold revision %d" % (list_rev, rev1))
    wid, start = resume_watch(api, api, list_rev, "relist")
    return {"verdict": "delivered", "write_revision": rev1, "watch_id": wid,
            "list_revision": list_rev, "list_objects": len(kvs), "start_revision": start}


# relist-same-host / relist-other-host: API servers told apart by their address, as in a
# real control plane (each API server host has its own), through harness.SlowProxy with a
# source address and no pacing.
HOST_A, HOST_B = "127.0.0.5", "127.0.0.6"


def relist_across_connections(env, api, list_host, story):
    """The write happens first; then an informer LISTs the prefix (at R >= W) on one
    connection, from list_host, and watches from R+1 on another connection, from HOST_A: an
    API server opens more than one connection to etcd, so a LIST and the WATCH that resumes
    from it need not share one.  A later create of third-app is delivered on the watch."""
    setup(api)
    obj = cma_created(5)
    rev0 = api.create("kubectl-client-side-apply", CMA_KEY, obj)
    ok, rev1, _ = api.update("kubectl-patch", CMA_KEY, cma_patch_replicas(obj, 20, 5), rev0)
    assert ok
    time.sleep(0.1)
    pxs = [harness.SlowProxy(env, chunk=1 << 20, pause=0, src=h) for h in (list_host, HOST_A)]
    try:
        lister = Api(env, env.client(port=pxs[0].port))
        watcher = Api(env, env.client(port=pxs[1].port))
        kvs, list_rev = lister.list_paged("kube-apiserver", CMA_PREFIX, 500)
        if list_rev < rev1 or not any(bytes(kv.key) == CMA_KEY.encode() for kv in kvs):
            raise RuntimeError("%s: the LIST at %d does not hold the object" % (story, list_rev))
        wid, start = resume_watch(watcher, api, list_rev, story)
    finally:
        for px in pxs:
            px.close()
    return rev1, wid, list_rev, start


def story_relist_same_host(env, api):
    """The informer's LIST and WATCH on two connections of one API server (one address):
    the object reached it with the LIST: delivered (by list)."""
    rev1, wid, list_rev, start = relist_across_connections(env, api, HOST_A, "relist-same-host")
    return {"verdict": "delivered", "write_revision": rev1, "watch_id": wid,
            "list_revision": list_rev, "start_revision": start}


def story_relist_other_host(env, api):
    """The same, but the LIST comes from another API server (another address): it did not
    give the watching one the object, so the watch started late."""
    rev1, wid, list_rev, start = relist_across_connections(env, api, HOST_B, "relist-other-host")
    return {"verdict": "watch-started-late", "write_revision": rev1, "watch_id": wid,
            "list_revision": list_rev, "start_revision": start}


def api_mod(api, key):
    """Current mod_revision of key (a plain Get, as the apiserver does when its cache misses)."""
    r = api.range("kube-apiserver", key)
    return int(r.kvs[0].mod_revision)


STORIES = {
    "no-write": story_no_write, "conflict": story_conflict, "no-watch": story_no_watch,
    "compacted": story_compacted, "late": story_late, "delivered": story_delivered,
    "delivered-late": story_delivered_late, "two-watches": story_two_watches,
    "two-watches-compacted": story_two_watches_compacted, "relist": story_relist,
    "late-now": story_late_now, "not-delivered": story_not_delivered, "canceled": story_canceled,
    "relist-same-host": story_relist_same_host, "relist-other-host": story_relist_other_host,
}


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "pcaps")
    names = sys.argv[2:] or list(STORIES)
    for name in names:
        path = os.path.abspath(os.path.join(outdir, "why-%s.pcap" % name))
        t0 = time.time()
        with harness.Env(path) as env:
            api = Api(env, env.client())
            exp = STORIES[name](env, api)
            exp = dict(story=name, key=CMA_KEY, **exp)
        derive = exp.pop("_derive", None)
        with open(path[:-5] + ".expect.json", "w") as f:
            f.write(json.dumps(exp, sort_keys=True, indent=1) + "\n")
        print("%s: %d bytes, %d truth lines, %.1f s" % (path, os.path.getsize(path),
                                                         env.truth.n, time.time() - t0))
        if derive and name == "compacted":
            derive_nocreate(path, dict(exp, _derive=derive))


if __name__ == "__main__":
    main()
