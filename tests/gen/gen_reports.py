#!/usr/bin/python3
"""pcaps/reports.pcap: a workload for the explorer reports (list, count, get, members, status),
with what etcdctl itself says at the end, to compare the tool's reports against.

A real etcd 3.4 on a random loopback port, captured from the first SYN.  etcdctl (grpc-go) puts,
updates and deletes plain keys (one delete by prefix without --prev-kv, so the response does
not list the deleted keys), puts a key attached to a lease and one whose lease it revokes (etcd
deletes the key without naming it on the wire), a non-UTF-8 key and a binary value;
an API-server-like python client (grpc C-core, gen_apiserver.Api) creates, updates and deletes
Kubernetes objects under /registry/ (protobuf from k8s_encode.py, JSON custom resources), one
Event on a lease, and the compactor's compact_rev_key.  The capture ENDS with, each captured:
  etcdctl get "" --prefix -w json      a Range over every key, with values
  etcdctl member list -w json
  etcdctl endpoint status -w json
whose outputs are saved as reports.etcdctl.json = {"get": ..., "members": ..., "status": ...}.
No write happens after the full LIST, so etcdctl's answers are the final state.  The usual
truth file (reports.truth.jsonl, docs/testing.md) is written too.  tests/check_reports.py
compares; tests/run-reports.sh runs it.
Usage: /usr/bin/python3 tests/gen/gen_reports.py [--out DIR]   (default: pcaps/)
"""

import argparse
import copy
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen_apiserver as ga  # noqa: E402
import k8s_encode as ke  # noqa: E402
from harness import CtlOps, Env, revision_of  # noqa: E402

# A second custom resource group with a namespaced and a cluster-scoped kind (JSON values).
CRONTAB_KEY = "/registry/stable.example.com/crontabs/default/nightly"
WIDGET_KEY = "/registry/widgets.example.io/clusterwidgets/big-one"
LEASE_TTL = 3600   # long enough that no key expires while the generator runs


def crontab(name, schedule, gen=1):
    """A namespaced custom resource as the API server stores it (compact JSON)."""
    return {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"creationTimestamp": ga.ts(40), "generation": gen, "name": name,
                         "namespace": "default", "uid": ga.uid("crontab/" + name),
                         "managedFields": [ke.mf("kubectl-create", "Update",
                                                 "stable.example.com/v1", ga.ts(40),
                                                 {"f:spec": {".": {}, "f:cronSpec": {},
                                                             "f:image": {}}})]},
            "spec": {"cronSpec": schedule, "image": "busybox:1.36"}}


def widget(name):
    """A cluster-scoped custom resource (key without a namespace)."""
    return {"apiVersion": "widgets.example.io/v1alpha1", "kind": "ClusterWidget",
            "metadata": {"creationTimestamp": ga.ts(41), "generation": 1, "name": name,
                         "uid": ga.uid("widget/" + name)},
            "spec": {"size": "XL", "colors": ["red", "blue"]}}


def plain_keys(o):
    """etcdctl: puts, an update, deletes (single, and by prefix without prev_kv), a leased
    key, a non-UTF-8 key, a binary value."""
    o.put("/app/config/a", "alpha")
    o.put("/app/config/b", "beta")
    o.put("/app/config/c", "gamma")
    o.put("/app/config/a", "alpha-2")
    o.put("/app/config/a", "alpha-3", "--prev-kv")
    o.delete("/app/config/b")
    o.put("/app/tmp/1", "scratch-1")
    o.put("/app/tmp/2", "scratch-2")
    o.put("/app/tmp-keep", "not under /app/tmp/")
    o.delete("/app/tmp/", "--prefix")
    lease = o.lease_grant(LEASE_TTL)["id"]
    o.put("/app/session/worker-1", "alive", "--lease=%x" % lease)
    # a key whose lease is revoked: etcd deletes it, and no message on the wire names it
    # (the LeaseRevoke response lists no keys); only the final full LIST shows it is gone
    short = o.lease_grant(LEASE_TTL)["id"]
    o.put("/app/session/worker-2", "gone soon", "--lease=%x" % short)
    o.lease_revoke(short)
    o.put(b"/app/bin/\xff\xfe", "key-not-utf8")
    o.put("/app/blob", b"\x00\x01\x02\xff binary \x80", stdin_value=True)
    # a key deleted and created again: create_revision and version start over
    o.put("/app/reborn", "first life")
    o.delete("/app/reborn")
    o.put("/app/reborn", "second life")


def k8s_objects(env):
    """API-server-like writes (Txn create/update/delete on mod_revision) of Kubernetes objects."""
    api = ga.Api(env, env.client())
    mods = {}

    def create(actor, key, obj, lease=0):
        mods[key] = api.create(actor, key, obj, lease)
        return obj

    create("kube-apiserver", "/registry/namespaces/demo", ga.namespace("demo", 0))
    create("kube-apiserver", "/registry/namespaces/default", ga.namespace("default", 0))
    create("kube-apiserver", "/registry/apiextensions.k8s.io/customresourcedefinitions/"
           "configmapapps.demo.mycompany.com", ga.crd(1))
    cm = create("kube-apiserver", "/registry/configmaps/demo/app-settings",
                ga.configmap("app-settings", {"LOG_LEVEL": "info"}, 2))
    create("kube-apiserver", "/registry/secrets/demo/db-credentials",
           ga.secret("db-credentials", 3))
    for i in range(3):
        create("kube-apiserver", "/registry/pods/demo/web-%d" % i, ga.pod("web-%d" % i, 4 + i))
    create("kube-apiserver", "/registry/deployments/demo/web", ga.deployment("web", 3, 8))
    create("kube-controller-manager", "/registry/leases/kube-system/kube-controller-manager",
           ga.lease("kube-controller-manager", "cp-1_6c1d0f3e", 0))
    # an Event on a lease, as the API server stores events (TTL)
    ev_lease = api.lease_grant("kube-apiserver", LEASE_TTL)
    create("kube-apiserver", "/registry/events/demo/web-0.17c9a0e1d2000001",
           ga.event("web-0.17c9a0e1d2000001",
                    {"kind": "Pod", "namespace": "demo", "name": "web-0", "uid": ga.uid("pod/web-0"),
                     "apiVersion": "v1"}, "Scheduled", "assigned demo/web-0 to node-1", 9),
           lease=ev_lease)
    # JSON custom resources: two groups, namespaced and cluster-scoped
    cma = create("kubectl-client-side-apply", ga.CMA_KEY, ga.cma_created(10))
    create("kubectl-create", CRONTAB_KEY, crontab("nightly", "0 3 * * *"))
    create("kubectl-create", "/registry/stable.example.com/crontabs/default/hourly",
           crontab("hourly", "0 * * * *"))
    create("kubectl-create", WIDGET_KEY, widget("big-one"))
    # updates: a ConfigMap edit, the operator's status and a spec patch on the custom resource
    cm2 = copy.deepcopy(cm)
    cm2["data"]["LOG_LEVEL"] = "debug"
    ok, mods["/registry/configmaps/demo/app-settings"], _ = api.update(
        "kubectl-edit", "/registry/configmaps/demo/app-settings", cm2,
        mods["/registry/configmaps/demo/app-settings"])
    assert ok
    cma = ga.cma_set_status(copy.deepcopy(cma), 11, "Ready", 3)
    ok, mods[ga.CMA_KEY], _ = api.update("configmapapp-operator", ga.CMA_KEY, cma, mods[ga.CMA_KEY])
    assert ok
    cma = ga.cma_patch_replicas(copy.deepcopy(cma), 12, 5)
    ok, mods[ga.CMA_KEY], _ = api.update("kubectl-patch", ga.CMA_KEY, cma, mods[ga.CMA_KEY])
    assert ok
    # a stale update that does not apply (the failure branch reads the object back)
    ok, _, _ = api.update("configmapapp-operator", ga.CMA_KEY, cma, mods[ga.CMA_KEY] - 1)
    assert not ok
    # deletes: a pod and a custom resource
    ok, _ = api.delete("kube-apiserver", "/registry/pods/demo/web-2",
                       mods["/registry/pods/demo/web-2"])
    assert ok
    ok, _ = api.delete("kube-apiserver", "/registry/stable.example.com/crontabs/default/hourly",
                       mods["/registry/stable.example.com/crontabs/default/hourly"])
    assert ok
    # the compactor's first round: creates compact_rev_key (outside /registry), compacts nothing
    api.compactor(0, 0)


def final_truth(env):
    """The full LIST, member list and endpoint status, captured, as etcdctl prints them."""
    get = env.etcdctl("get", "", "--prefix")
    # clientv3 sends an empty key with --prefix as key "\0", range_end "\0" (every key)
    env.truth.add("get", client="etcdctl", key=b"\0", range_end=b"\0",
                  revision=revision_of(get), count=int(get.get("count", 0)))
    members = env.etcdctl("member", "list")
    env.truth.add("member_list", client="etcdctl", member_id=int(members["header"]["member_id"]),
                  members=len(members.get("members", [])))
    status = env.etcdctl("endpoint", "status")
    st = (status[0] if isinstance(status, list) else status)["Status"]
    env.truth.add("status", client="etcdctl", revision=revision_of(st),
                  member_id=int(st["header"]["member_id"]), version=st["version"])
    return {"get": get, "members": members, "status": status}


def generate(outdir):
    pcap = os.path.join(outdir, "reports.pcap")
    with Env(pcap) as env:
        env.meta("gen_reports.py", "reports: plain and Kubernetes keys, then full LIST, "
                 "member list, endpoint status")
        plain_keys(CtlOps(env))
        k8s_objects(env)
        truth = final_truth(env)
    with open(os.path.join(outdir, "reports.etcdctl.json"), "w") as f:
        json.dump(truth, f, indent=1, sort_keys=True)
        f.write("\n")
    return pcap


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.normpath(os.path.join(HERE, "..", "..", "pcaps")),
                    help="output directory (default: pcaps/)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    pcap = generate(a.out)
    print("%s: %d bytes, %.1f s" % (pcap, os.path.getsize(pcap), time.time() - t0))


if __name__ == "__main__":
    main()
