#!/usr/bin/python3
"""pcaps/demo.pcap: an API-server-like workload against a real etcd, with its truth file.

Talks to etcd the way kube-apiserver's storage layer does (k8s.io/apiserver pkg/storage/etcd3):
one gRPC connection carrying unary KV calls, one long-lived Watch stream multiplexing several
watches, optimistic-concurrency Txns on mod_revision, paged LISTs pinned to a revision, the
"/registry/health" probe, Status polling and the compact_rev_key compaction dance.  Values are
Kubernetes objects in storage format (k8s_encode.py).  The Api and WatchStream classes are also
used by gen_why.py.  Run: /usr/bin/python3 tests/gen/gen_apiserver.py [out.pcap]
"""

import copy
import json
import os
import queue
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import k8s_encode as ke  # noqa: E402
from harness import prefix_end, revision_of, to_bytes  # noqa: E402

from etcd3.etcdrpc import rpc_pb2 as rpc  # noqa: E402

RPC_TIMEOUT = 5.0          # seconds; kube-apiserver also sends a grpc-timeout on unary calls
EVENT_WAIT = 5.0           # seconds to wait for a watch event before giving up
BASE = 1714557600          # 2024-05-01T10:00:00Z: synthetic object timestamps start here
CMA_KEY = "/registry/demo.mycompany.com/configmapapps/demo/my-nginx-app"
CMA_API = "demo.mycompany.com/v1"


def ts(sec, micro=False):
    """Synthetic RFC 3339 time BASE+sec (MicroTime form when micro)."""
    whole = int(sec)
    s = ke.format_time(BASE + whole, int(round((sec - whole) * 1e6)) * 1000, micro)
    return s


def uid(name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "ee-demo/" + name))


def kstr(b):
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else b


class Api:
    """kube-apiserver's etcd3 store, reduced to what shows on the wire; records truth."""

    def __init__(self, env, client):
        self.env = env
        self.c = client
        self.t = env.truth
        self.lease_id = 0

    def rec(self, op, actor, **f):
        return self.t.add(op, client="python", actor=actor, **f)

    # -- reads -----------------------------------------------------------------------
    def range(self, actor, key, range_end=None, limit=0, revision=0, count_only=False,
              keys_only=False, purpose=None):
        req = rpc.RangeRequest(key=to_bytes(key), limit=limit, revision=revision,
                               count_only=count_only, keys_only=keys_only)
        if range_end is not None:
            req.range_end = to_bytes(range_end)
        r = self.c.kvstub.Range(req, RPC_TIMEOUT)
        self.rec("get", actor, key=to_bytes(key),
                 range_end=to_bytes(range_end) if range_end is not None else None,
                 limit=limit or None, rev=revision or None, count_only=count_only or None,
                 keys_only=keys_only or None, revision=revision_of(r), count=int(r.count),
                 kvs=len(r.kvs), more=bool(r.more) or None, purpose=purpose)
        return r

    def health(self):
        """The API server's etcd probe: Get path.Join("/", prefix, "health")."""
        return self.range("kube-apiserver", "/registry/health", purpose="healthz")

    def get(self, actor, key):
        """(object dict, mod_revision) or (None, 0)."""
        r = self.range(actor, key)
        if not r.kvs:
            return None, 0
        return ke.decode(r.kvs[0].value), int(r.kvs[0].mod_revision)

    def list_paged(self, actor, prefix, limit):
        """LIST in pages: the first page sets the revision, later pages pin it and start
        at lastKey+"\\0" (what the apiserver's continue token encodes)."""
        end = prefix_end(prefix)
        r = self.range(actor, prefix, range_end=end, limit=limit, purpose="list")
        rev = revision_of(r)
        kvs = list(r.kvs)
        while r.more:
            nxt = bytes(kvs[-1].key) + b"\0"
            r = self.range(actor, nxt, range_end=end, limit=limit, revision=rev,
                           purpose="list-continue")
            kvs.extend(r.kvs)
        return kvs, rev

    def count(self, actor, prefix):
        r = self.range(actor, prefix, range_end=prefix_end(prefix), count_only=True,
                       purpose="count")
        return int(r.count)

    # -- writes ----------------------------------------------------------------------
    def _txn(self, actor, verb, key, cmp_target, cmp_value, success, value=None, lease=0):
        """One optimistic Txn: If(target(key) == value) Then(success) Else(Get key)."""
        k = to_bytes(key)
        if cmp_target == "mod":
            cmp = rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, key=k,
                              mod_revision=cmp_value)
        else:
            cmp = rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.VERSION, key=k,
                              version=cmp_value)
        if success == "put":
            ok_op = rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value, lease=lease))
        else:
            ok_op = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k))
        fail_op = rpc.RequestOp(request_range=rpc.RangeRequest(key=k))
        r = self.c.kvstub.Txn(rpc.TxnRequest(compare=[cmp], success=[ok_op], failure=[fail_op]),
                              RPC_TIMEOUT)
        ok = bool(r.succeeded)
        cur = None
        if not ok and r.responses and r.responses[0].response_range.kvs:
            cur = r.responses[0].response_range.kvs[0]
        self.rec("txn", actor, verb=verb, key=k, revision=revision_of(r), succeeded=ok,
                 compare_keys=[kstr(k)],
                 compare=[{"key": kstr(k), "target": cmp_target, "result": "=",
                           "value": cmp_value}],
                 writes=[{"op": success, "key": kstr(k)}] if ok else [],
                 n_success=1, n_failure=1, value_size=len(value) if ok and value else None,
                 lease=lease or None,
                 current_mod_revision=int(cur.mod_revision) if cur is not None else None)
        return ok, revision_of(r), cur

    def create(self, actor, key, obj, lease=0):
        """Create: If(mod_revision(key) == 0) Then(Put) Else(Get). Returns new mod_revision."""
        ok, rev, _ = self._txn(actor, "create", key, "mod", 0, "put", ke.encode_any(obj), lease)
        if not ok:
            raise RuntimeError("create of existing " + key)
        return rev

    def update(self, actor, key, obj, mod_rev, lease=0):
        """One update attempt: (ok, revision, current kv on failure)."""
        return self._txn(actor, "update", key, "mod", mod_rev, "put", ke.encode_any(obj), lease)

    def guaranteed_update(self, actor, key, obj, mod_rev, mutate):
        """GuaranteedUpdate: try with the (possibly stale) cached copy; on a conflict take
        the object from the failure branch's Get, re-apply `mutate` and retry."""
        for _ in range(5):
            new = mutate(copy.deepcopy(obj))
            ok, rev, cur = self.update(actor, key, new, mod_rev)
            if ok:
                return new, rev
            obj, mod_rev = ke.decode(cur.value), int(cur.mod_revision)
        raise RuntimeError("too many conflicts on " + key)

    def delete(self, actor, key, mod_rev):
        ok, rev, _ = self._txn(actor, "delete", key, "mod", mod_rev, "delete")
        return ok, rev

    def lease_grant(self, actor, ttl):
        r = self.c.leasestub.LeaseGrant(rpc.LeaseGrantRequest(TTL=ttl), RPC_TIMEOUT)
        self.rec("lease_grant", actor, id=int(r.ID), ttl=int(r.TTL), revision=revision_of(r))
        return int(r.ID)

    def compactor(self, expect_version, rev):
        """k8s.io/apiserver etcd3/compact.go: claim the round with a Txn on compact_rev_key
        (If version == expect Then Put rev Else Get), then Compact(rev) unless rev == 0.
        Returns (next expected version, header revision to compact next time)."""
        ok, cur_rev, cur = self._txn("kube-apiserver", "compact-claim", "compact_rev_key",
                                     "version", expect_version, "put", str(rev).encode())
        if not ok:
            return int(cur.version), cur_rev
        if rev:
            r = self.c.kvstub.Compact(rpc.CompactionRequest(revision=rev), RPC_TIMEOUT)
            self.rec("compact", "kube-apiserver", compact_revision=rev, revision=revision_of(r))
        return expect_version + 1, cur_rev

    def status(self, actor="kube-apiserver"):
        r = self.c.maintenancestub.Status(rpc.StatusRequest(), RPC_TIMEOUT)
        self.rec("status", actor, revision=revision_of(r), member_id=int(r.header.member_id),
                 version=r.version, db_size=int(r.dbSize))
        return r

    def member_list(self, actor="kube-apiserver"):
        r = self.c.clusterstub.MemberList(rpc.MemberListRequest(), RPC_TIMEOUT)
        self.rec("member_list", actor, member_id=int(r.header.member_id),
                 members=len(r.members))


class WatchStream:
    """One bidirectional Watch call carrying several watches (like clientv3's watchGrpcStream).

    Requests are serialized by hand so a WatchProgressRequest (field 3 of WatchRequest, absent
    from python-etcd3 0.12's stubs) can be sent.  Every response is recorded to the truth file
    as it arrives (watch_create / watch_event / watch_progress / watch_canceled)."""

    def __init__(self, api, actor="kube-apiserver"):
        self.api = api
        self.actor = actor
        self.q = queue.Queue()
        self.cv = threading.Condition()
        self.pending = []          # create requests waiting for their created response
        self.ids = {}              # watch_id -> description
        self.events = []           # (watch_id, key, type, mod_revision)
        self.progress = []         # header revisions of progress responses
        self.canceled = {}         # watch_id -> compact_revision
        self.cancel_sent = set()   # watch_ids we asked etcd to cancel
        call = api.c.channel.stream_stream(
            "/etcdserverpb.Watch/Watch", request_serializer=lambda b: b,
            response_deserializer=rpc.WatchResponse.FromString)
        self.call = call(self._requests())
        self.thread = threading.Thread(target=self._read, daemon=True, name="ee-watch-reader")
        self.thread.start()

    def _requests(self):
        while True:
            m = self.q.get()
            if m is None:
                return
            yield m

    def _read(self):
        try:
            for resp in self.call:
                self._handle(resp)
        except Exception:   # the call is cancelled at close(): that ends the loop
            pass

    def _handle(self, resp):
        t = self.api.t
        rev = revision_of(resp)
        wid = int(resp.watch_id)
        with self.cv:
            if resp.created:
                desc = self.pending.pop(0) if self.pending else {}
                self.ids[wid] = desc
                t.add("watch_create", client="python", actor=self.actor, watch_id=wid,
                      revision=rev, **desc)
            for ev in resp.events:
                typ = "delete" if ev.type == ev.DELETE else "put"
                self.events.append((wid, bytes(ev.kv.key), typ, int(ev.kv.mod_revision)))
                t.add("watch_event", client="python", actor=self.actor, watch_id=wid,
                      key=bytes(ev.kv.key), type=typ, mod_revision=int(ev.kv.mod_revision),
                      revision=rev, prev_kv=True if ev.HasField("prev_kv") else None)
            if resp.canceled:
                # one truth op for both ends: asked by us, or by etcd (compacted start)
                self.canceled[wid] = int(resp.compact_revision)
                t.add("watch_cancel", client="python", actor=self.actor, watch_id=wid,
                      revision=rev, initiator="client" if wid in self.cancel_sent else "server",
                      compact_revision=int(resp.compact_revision) or None,
                      cancel_reason=resp.cancel_reason or None)
            elif not resp.created and not resp.events:
                self.progress.append(rev)
                t.add("watch_progress", client="python", actor=self.actor, watch_id=wid,
                      revision=rev)
            self.cv.notify_all()

    def watch(self, prefix, start_revision=0, prev_kv=True, progress_notify=True):
        """Create a prefix watch; returns its watch_id once etcd confirmed it."""
        end = prefix_end(prefix)
        cr = rpc.WatchCreateRequest(key=to_bytes(prefix), range_end=end,
                                    start_revision=start_revision, prev_kv=prev_kv,
                                    progress_notify=progress_notify)
        desc = {"key": prefix, "range_end": kstr(end), "start_revision": start_revision or None,
                "prev_kv": prev_kv or None, "progress_notify": progress_notify or None}
        with self.cv:
            before = set(self.ids)
            self.pending.append(desc)
        self.q.put(rpc.WatchRequest(create_request=cr).SerializeToString())
        with self.cv:
            if not self.cv.wait_for(lambda: set(self.ids) - before, EVENT_WAIT):
                raise RuntimeError("watch on %s not created" % prefix)
            return max(set(self.ids) - before)

    def request_progress(self):
        """WatchRequest{progress_request: {}} = field 3, empty."""
        n = len(self.progress)
        self.q.put(b"\x1a\x00")
        with self.cv:
            self.cv.wait_for(lambda: len(self.progress) > n, EVENT_WAIT)

    def cancel(self, wid):
        with self.cv:
            self.cancel_sent.add(wid)
        req = rpc.WatchRequest(cancel_request=rpc.WatchCancelRequest(watch_id=wid))
        self.q.put(req.SerializeToString())
        with self.cv:
            self.cv.wait_for(lambda: wid in self.canceled, EVENT_WAIT)

    def wait_event(self, key, mod_revision, timeout=EVENT_WAIT):
        """Block until an event for key at mod_revision arrived; True if it did."""
        k = to_bytes(key)
        with self.cv:
            return self.cv.wait_for(
                lambda: any(e[1] == k and e[3] == mod_revision for e in self.events), timeout)

    def wait_canceled(self, wid, timeout=EVENT_WAIT):
        with self.cv:
            return self.cv.wait_for(lambda: wid in self.canceled, timeout)

    def close(self):
        """End the stream the way a cancelled context does (RST_STREAM CANCEL)."""
        self.q.put(None)
        self.call.cancel()
        self.thread.join(2)


# ---- objects ------------------------------------------------------------------------------


def namespace(name, t):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": ke.meta(name, uid=uid("ns/" + name), created=ts(t),
                                labels={"kubernetes.io/metadata.name": name},
                                managed=[ke.mf("kubectl-create", "Update", "v1", ts(t),
                                               {"f:metadata": {"f:labels": {
                                                   ".": {}, "f:kubernetes.io/metadata.name": {}}}})]),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def configmap(name, data, t, owner=None, manager="kubectl-create"):
    fields = {"f:data": {".": {}}}
    for k in sorted(data):
        fields["f:data"]["f:" + k] = {}
    if owner:
        fields["f:metadata"] = {"f:ownerReferences": {".": {}, 'k:{"uid":"%s"}' % owner["uid"]: {}}}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ke.meta(name, "demo", uid("cm/" + name), created=ts(t),
                                owners=[owner] if owner else None,
                                managed=[ke.mf(manager, "Update", "v1", ts(t), fields)]),
            "data": data}


def secret(name, t):
    import base64
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": ke.meta(name, "demo", uid("secret/" + name), created=ts(t)),
            "data": {"username": base64.b64encode(b"admin").decode(),
                     "password": base64.b64encode(b"s3cr3t-" + name.encode()).decode()},
            "type": "Opaque"}


POD_SPEC = {
    "containers": [{"name": "nginx", "image": "nginx:1.25",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "terminationMessagePath": "/dev/termination-log",
                    "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File"}],
    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
    "serviceAccountName": "default", "serviceAccount": "default",
    "schedulerName": "default-scheduler", "priority": 0, "enableServiceLinks": True,
    "preemptionPolicy": "PreemptLowerPriority",
}


def pod(name, t, owner=None, labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": ke.meta(name, "demo", uid("pod/" + name), created=ts(t),
                                labels=labels or {"app": "web"}, owners=[owner] if owner else None),
            "spec": copy.deepcopy(POD_SPEC),
            "status": {"phase": "Pending", "qosClass": "BestEffort"}}


def owner_ref(api_version, kind, name, u):
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": u,
            "controller": True, "blockOwnerDeletion": True}


def deployment(name, replicas, t, owner=None):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": ke.meta(name, "demo", uid("deploy/" + name), created=ts(t), generation=1,
                                owners=[owner] if owner else None,
                                managed=[ke.mf("configmapapp-operator", "Update", "apps/v1", ts(t),
                                               {"f:spec": {"f:replicas": {}, "f:template": {}}})]),
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": ke.meta("", labels=labels, created=None),
                                  "spec": copy.deepcopy(POD_SPEC)},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
            "status": {}}


def replicaset(name, replicas, t, owner):
    labels = {"app": owner["name"], "pod-template-hash": "5d8f7c6b9"}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": ke.meta(name, "demo", uid("rs/" + name), created=ts(t), generation=1,
                                labels=labels, owners=[owner]),
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": ke.meta("", labels=labels, created=None),
                                  "spec": copy.deepcopy(POD_SPEC)}},
            "status": {"replicas": 0}}


def lease(name, holder, t, transitions=0):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": ke.meta(name, "kube-system", uid("lease/" + name), created=ts(0)),
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                     "acquireTime": ts(0, True), "renewTime": ts(t, True),
                     "leaseTransitions": transitions}}


def event(name, involved, reason, message, t, typ="Normal", component="deployment-controller"):
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": ke.meta(name, "demo", uid("event/" + name), created=ts(t)),
            "involvedObject": involved, "reason": reason, "message": message,
            "source": {"component": component}, "firstTimestamp": ts(t), "lastTimestamp": ts(t),
            "count": 1, "type": typ, "reportingComponent": component,
            "reportingInstance": "cp-1"}


def crd(t):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ke.meta("configmapapps.demo.mycompany.com", uid=uid("crd"), created=ts(t),
                                generation=1,
                                managed=[ke.mf("kubectl-client-side-apply", "Update",
                                               "apiextensions.k8s.io/v1", ts(t),
                                               {"f:spec": {"f:group": {}, "f:names": {},
                                                           "f:scope": {}, "f:versions": {}}})]),
            "spec": {"group": "demo.mycompany.com", "scope": "Namespaced",
                     "names": {"plural": "configmapapps", "singular": "configmapapp",
                               "kind": "ConfigMapApp", "listKind": "ConfigMapAppList",
                               "shortNames": ["cma"]},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                       "spec": {"type": "object", "properties": {
                                           "replicas": {"type": "integer"},
                                           "image": {"type": "string"},
                                           "html": {"type": "string"}}},
                                       "status": {"type": "object"}}}}}]},
            "status": {"acceptedNames": {"plural": "configmapapps", "singular": "configmapapp",
                                         "kind": "ConfigMapApp", "listKind": "ConfigMapAppList",
                                         "shortNames": ["cma"]},
                       "storedVersions": ["v1"]}}


def cma_created(t, replicas=3):
    """ConfigMapApp as `kubectl apply` (client-side) creates it; stored as JSON."""
    spec = {"replicas": replicas, "image": "nginx:1.25", "html": "<h1>Hello from my-nginx-app</h1>"}
    applied = {"apiVersion": CMA_API, "kind": "ConfigMapApp",
               "metadata": {"annotations": {}, "name": "my-nginx-app", "namespace": "demo"},
               "spec": spec}
    return {"apiVersion": CMA_API, "kind": "ConfigMapApp",
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                         ke.go_json(applied) + "\n"},
                         "creationTimestamp": ts(t), "generation": 1,
                         "managedFields": [ke.mf("kubectl-client-side-apply", "Update", CMA_API, ts(t),
                                                 {"f:metadata": {"f:annotations": {
                                                     ".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                                                  "f:spec": {".": {}, "f:html": {}, "f:image": {},
                                                             "f:replicas": {}}})],
                         "name": "my-nginx-app", "namespace": "demo", "uid": uid("cma")},
            "spec": copy.deepcopy(spec)}


def cma_set_status(obj, t, phase, ready):
    """The operator's status update (subresource status: generation unchanged)."""
    obj["status"] = {"observedGeneration": obj["metadata"]["generation"], "phase": phase,
                     "readyReplicas": ready}
    mfs = [m for m in obj["metadata"]["managedFields"] if m["manager"] != "configmapapp-operator"]
    mfs.append(ke.mf("configmapapp-operator", "Update", CMA_API, ts(t),
                     {"f:status": {".": {}, "f:observedGeneration": {}, "f:phase": {},
                                   "f:readyReplicas": {}}}, subresource="status"))
    obj["metadata"]["managedFields"] = mfs
    return obj


def cma_patch_replicas(obj, t, replicas):
    """`kubectl patch --type merge -p '{"spec":{"replicas":N}}'`: generation bumps and
    kubectl-patch takes over f:spec.f:replicas."""
    obj["spec"]["replicas"] = replicas
    obj["metadata"]["generation"] += 1
    for m in obj["metadata"]["managedFields"]:
        if m["manager"] == "kubectl-client-side-apply":
            m["fieldsV1"]["f:spec"].pop("f:replicas", None)
    mfs = [m for m in obj["metadata"]["managedFields"] if m["manager"] != "kubectl-patch"]
    mfs.append(ke.mf("kubectl-patch", "Update", CMA_API, ts(t), {"f:spec": {"f:replicas": {}}}))
    obj["metadata"]["managedFields"] = mfs
    return obj


# ---- the workload ---------------------------------------------------------------------------


class Demo:
    def __init__(self, env):
        self.env = env
        self.api = Api(env, env.client())
        self.ctl = harness.CtlOps(env)
        self.mods = {}             # key -> mod_revision we last wrote or read
        self.objs = {}             # key -> object
        self.clock = 0.0           # synthetic seconds since BASE
        self.leases = {"/registry/leases/kube-system/kube-controller-manager": "cp-1_6c1d0f3e",
                       "/registry/leases/kube-system/kube-scheduler": "cp-1_91ab77d2"}
        self.compact_version, self.compact_rev = 0, 0
        self.event_lease = 0
        self.n_event = 0

    def tick(self, dt=1.0):
        self.clock += dt
        time.sleep(0.03)

    def create(self, actor, key, obj, lease=0):
        self.mods[key] = self.api.create(actor, key, obj, lease)
        self.objs[key] = obj
        return self.mods[key]

    def update(self, actor, key, mutate):
        obj, rev = self.api.guaranteed_update(actor, key, self.objs[key], self.mods[key], mutate)
        self.objs[key], self.mods[key] = obj, rev
        return rev

    def renew_leases(self):
        for key, holder in self.leases.items():
            self.update(key.rsplit("/", 1)[1], key,
                        lambda o: (o["spec"].__setitem__("renewTime", ts(self.clock, True)), o)[1])

    def emit_event(self, involved, reason, message, typ="Normal", component="deployment-controller"):
        """Events are created with a lease (the apiserver's TTL for events, 1 h by default),
        one lease reused for many events."""
        if not self.event_lease:
            self.event_lease = self.api.lease_grant("kube-apiserver", 3660)
        self.n_event += 1
        name = "%s.%016x" % (involved["name"], 0x17c9a0e1d2000000 + self.n_event)
        key = "/registry/events/demo/" + name
        self.create("kube-apiserver", key,
                    event(name, involved, reason, message, self.clock, typ, component),
                    lease=self.event_lease)

    def bootstrap(self):
        api = self.api
        api.health()
        api.member_list()
        api.status()
        self.create("kube-apiserver", "/registry/namespaces/demo", namespace("demo", 0))
        self.create("kube-apiserver",
                    "/registry/apiextensions.k8s.io/customresourcedefinitions/configmapapps.demo.mycompany.com",
                    crd(1))
        for key, holder in self.leases.items():
            o = lease(key.rsplit("/", 1)[1], holder, 0)
            self.create(key.rsplit("/", 1)[1], key, o)
        self.create("kube-apiserver", "/registry/configmaps/demo/kube-root-ca.crt",
                    configmap("kube-root-ca.crt", {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIC0DCCAbigAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n-----END CERTIFICATE-----\n"}, 2,
                              manager="kube-controller-manager"))
        self.create("kube-apiserver", "/registry/configmaps/demo/app-settings",
                    configmap("app-settings", {"LOG_LEVEL": "info", "FEATURE_X": "true"}, 3))
        for name in ("db-credentials", "tls-cert"):
            self.create("kube-apiserver", "/registry/secrets/demo/" + name, secret(name, 4))
        for i in range(5):
            name = "web-%d" % i
            self.create("kube-apiserver", "/registry/pods/demo/" + name, pod(name, 5 + i))
        # the compactor's first round at start-up: claims the key, compacts nothing
        self.compact_version, self.compact_rev = api.compactor(self.compact_version, 0)

    def initial_lists(self):
        """Reflector start-up: paged LIST of pods, full LISTs, a count; then watch from there."""
        api = self.api
        _, pods_rev = api.list_paged("kube-apiserver", "/registry/pods/", 2)
        _, cm_rev = api.list_paged("kube-apiserver", "/registry/configmaps/", 500)
        _, cma_rev = api.list_paged("kube-apiserver", "/registry/demo.mycompany.com/configmapapps/", 500)
        api.count("kube-apiserver", "/registry/secrets/")
        api.count("kube-apiserver", "/registry/pods/")
        self.ws = WatchStream(api)
        self.w_cm = self.ws.watch("/registry/configmaps/", start_revision=cm_rev + 1)
        self.w_cma = self.ws.watch("/registry/demo.mycompany.com/configmapapps/",
                                   start_revision=cma_rev + 1)
        self.w_pods = self.ws.watch("/registry/pods/", start_revision=pods_rev + 1)
        self.ws.request_progress()

    def story(self):
        api, ws = self.api, self.ws
        cma_owner = owner_ref(CMA_API, "ConfigMapApp", "my-nginx-app", uid("cma"))
        # 1. kubectl apply (client side) creates the ConfigMapApp
        self.tick(5)
        rev = self.create("kubectl-client-side-apply", CMA_KEY, cma_created(self.clock))
        ws.wait_event(CMA_KEY, rev)
        stale_obj, stale_mod = copy.deepcopy(self.objs[CMA_KEY]), rev
        # 2. the operator reconciles: a Deployment and a ConfigMap it owns, then status
        self.tick()
        dkey = "/registry/deployments/demo/my-nginx-app"
        self.create("configmapapp-operator", dkey, deployment("my-nginx-app", 3, self.clock, cma_owner))
        hkey = "/registry/configmaps/demo/my-nginx-app-html"
        self.create("configmapapp-operator", hkey,
                    configmap("my-nginx-app-html", {"index.html": "<h1>Hello from my-nginx-app</h1>"},
                              self.clock, owner=cma_owner, manager="configmapapp-operator"))
        ws.wait_event(hkey, self.mods[hkey])
        self.emit_event({"kind": "ConfigMapApp", "namespace": "demo", "name": "my-nginx-app",
                         "uid": uid("cma"), "apiVersion": CMA_API}, "Reconciled",
                        "created Deployment and ConfigMap", component="configmapapp-operator")
        # deployment controller: a ReplicaSet and its pods
        d_owner = owner_ref("apps/v1", "Deployment", "my-nginx-app", uid("deploy/my-nginx-app"))
        rs_name = "my-nginx-app-5d8f7c6b9"
        rskey = "/registry/replicasets/demo/" + rs_name
        self.create("kube-apiserver", rskey, replicaset(rs_name, 3, self.clock, d_owner))
        self.emit_event({"kind": "Deployment", "namespace": "demo", "name": "my-nginx-app",
                         "uid": uid("deploy/my-nginx-app"), "apiVersion": "apps/v1"},
                        "ScalingReplicaSet", "Scaled up replica set %s to 3" % rs_name)
        rs_owner = owner_ref("apps/v1", "ReplicaSet", rs_name, uid("rs/" + rs_name))
        app_pods = []
        for suffix in ("x7k2p", "q9d4m", "b3n8v"):
            name = "%s-%s" % (rs_name, suffix)
            key = "/registry/pods/demo/" + name
            self.create("kube-apiserver", key,
                        pod(name, self.clock, rs_owner, {"app": "my-nginx-app"}))
            app_pods.append(key)
        self.renew_leases()
        self.tick()
        self.bind_and_run(app_pods)
        self.update("configmapapp-operator", CMA_KEY,
                    lambda o: cma_set_status(o, self.clock, "Ready", 3))
        ws.wait_event(CMA_KEY, self.mods[CMA_KEY])
        api.status()
        # 3. kubectl patch spec.replicas 3 -> 5
        self.tick(20)
        self.renew_leases()
        self.update("kubectl-patch", CMA_KEY, lambda o: cma_patch_replicas(o, self.clock, 5))
        ws.wait_event(CMA_KEY, self.mods[CMA_KEY])
        # 4. an operator status write from a stale copy (mod_revision before the patch):
        #    the Txn takes the failure branch, the apiserver retries on the object it got back
        self.tick()
        obj, rev = api.guaranteed_update(
            "configmapapp-operator", CMA_KEY, stale_obj, stale_mod,
            lambda o: cma_set_status(o, self.clock, "Scaling", 3))
        self.objs[CMA_KEY], self.mods[CMA_KEY] = obj, rev
        ws.wait_event(CMA_KEY, rev)
        # 5. the operator reacts to generation 2: Deployment 3 -> 5, ConfigMap, status
        self.tick()

        def scale(o):
            o["spec"]["replicas"] = 5
            o["metadata"]["generation"] += 1
            return o
        self.update("configmapapp-operator", dkey, scale)
        self.update("configmapapp-operator", hkey,
                    lambda o: (o["data"].__setitem__("replicas", "5"), o)[1])
        ws.wait_event(hkey, self.mods[hkey])
        self.update("kube-apiserver", rskey,
                    lambda o: (o["spec"].__setitem__("replicas", 5), o)[1])
        self.emit_event({"kind": "Deployment", "namespace": "demo", "name": "my-nginx-app",
                         "uid": uid("deploy/my-nginx-app"), "apiVersion": "apps/v1"},
                        "ScalingReplicaSet", "Scaled up replica set %s to 5" % rs_name)
        more = []
        for suffix in ("t5w1z", "h6c2r"):
            name = "%s-%s" % (rs_name, suffix)
            key = "/registry/pods/demo/" + name
            self.create("kube-apiserver", key, pod(name, self.clock, rs_owner, {"app": "my-nginx-app"}))
            more.append(key)
        self.tick()
        self.renew_leases()
        self.bind_and_run(more)

        def observed(o):
            o = cma_set_status(o, self.clock, "Ready", 5)
            return o
        self.update("configmapapp-operator", CMA_KEY, observed)
        ws.wait_event(CMA_KEY, self.mods[CMA_KEY])
        self.env_ctl_reads()

    def bind_and_run(self, keys):
        """Scheduler binding (nodeName) then kubelet status (Running), per pod."""
        for i, key in enumerate(keys):
            node = "node-%d" % (1 + i % 2)
            self.update("kube-scheduler", key,
                        lambda o: (o["spec"].__setitem__("nodeName", node), o)[1])
        self.tick()
        for i, key in enumerate(keys):
            def running(o, i=i):
                o["status"] = {"phase": "Running", "hostIP": "10.0.0.%d" % (11 + i % 2),
                               "podIP": "10.244.%d.%d" % (1 + i % 2, 10 + i),
                               "startTime": ts(self.clock), "qosClass": "BestEffort",
                               "conditions": [{"type": "Ready", "status": "True",
                                               "lastTransitionTime": ts(self.clock)}]}
                return o
            self.update("kubelet", key, running)
        for key in keys:
            self.ws.wait_event(key, self.mods[key])

    def env_ctl_reads(self):
        """An operator at a terminal: etcdctl (grpc-go) next to the apiserver's grpc C-core."""
        self.ctl.get("/registry/namespaces/demo")
        self.ctl.get("/registry/configmaps/demo/", "--prefix", "--keys-only")
        self.ctl.get(CMA_KEY)
        self.ctl.status()

    def churn_and_compact(self):
        """Old pods deleted, leases renewed, a compaction round, more polling; pods watch
        cancelled at the end."""
        api, ws = self.api, self.ws
        self.tick(10)
        for i in (3, 4):
            key = "/registry/pods/demo/web-%d" % i
            ok, rev = api.delete("kube-apiserver", key, self.mods[key])
            ws.wait_event(key, rev)
        # a delete with a stale mod_revision: the failure branch returns the current object
        key = "/registry/pods/demo/web-2"
        self.update("kubelet", key, lambda o: (o["status"].__setitem__("phase", "Running"), o)[1])
        ok, rev = api.delete("kube-apiserver", key, self.mods[key] - 1)
        assert not ok
        ok, rev = api.delete("kube-apiserver", key, self.mods[key])
        ws.wait_event(key, rev)
        api.health()
        self.renew_leases()
        self.tick(5)
        self.compact_version, self.compact_rev = api.compactor(self.compact_version, self.compact_rev)
        api.count("kube-apiserver", "/registry/pods/")
        api.status()
        api.member_list()
        self.renew_leases()
        ws.request_progress()
        # wait for at least one periodic progress notification (etcd flag set to 1 s)
        deadline = time.time() + 3
        n = len(ws.progress)
        while time.time() < deadline and len(ws.progress) < n + 2:
            time.sleep(0.1)
        ws.cancel(self.w_pods)
        api.health()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "pcaps", "demo.pcap")
    out = os.path.abspath(out)
    t0 = time.time()
    with harness.Env(out, etcd_args=["--experimental-watch-progress-notify-interval=1s"]) as env:
        d = Demo(env)
        d.bootstrap()
        d.initial_lists()
        d.story()
        d.churn_and_compact()
        time.sleep(0.3)
        d.ws.close()
    print("%s: %d bytes, %d truth lines, %.1f s" % (out, os.path.getsize(out), env.truth.n,
                                                     time.time() - t0))


if __name__ == "__main__":
    main()
