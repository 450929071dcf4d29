#!/usr/bin/python3
"""Compare etcd-explorer's reports on a capture with what etcdctl said at the end of it.

Usage: tests/check_reports.py PCAP TRUTH [--bin BIN] [-p PORT]
  PCAP   a capture made by tests/gen/gen_reports.py (ends with a full LIST, member list and
         endpoint status, all captured)
  TRUTH  its reports.etcdctl.json: {"get": etcdctl get "" --prefix -w json,
         "members": etcdctl member list -w json, "status": etcdctl endpoint status -w json}
Runs the tool's --json list, count, get KEY (several keys), search, custom, members and
status, and checks each against etcdctl (docs/commands.md, "How the reports are tested").
Prints one line per failed check, then "check_reports: N passed, N failed"; exit 1 on any
failure (a report that exits non-zero, writes to stderr or is not JSON lines is a failure),
2 when the truth file cannot be read.  --selftest checks the
checker on tampered data (it must find the differences).  stdlib only.
"""

import argparse
import base64
import copy
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

PREFIX = b"/registry/"

# Built-in resources whose key segment under /registry is not "<resource>" in the core
# group: storage path -> (group, resource).  Written from kube-apiserver's storage factory
# (k8s.io/kubernetes pkg/kubeapiserver/default_storage_factory_builder.go and the
# registries' default prefixes), independently of src/k8s_key.c.
BUILTIN = {
    "services/specs": ("", "services"), "services/endpoints": ("", "endpoints"),
    "minions": ("", "nodes"), "controllers": ("", "replicationcontrollers"),
    "deployments": ("apps", "deployments"), "replicasets": ("apps", "replicasets"),
    "statefulsets": ("apps", "statefulsets"), "daemonsets": ("apps", "daemonsets"),
    "controllerrevisions": ("apps", "controllerrevisions"),
    "jobs": ("batch", "jobs"), "cronjobs": ("batch", "cronjobs"),
    "horizontalpodautoscalers": ("autoscaling", "horizontalpodautoscalers"),
    "poddisruptionbudgets": ("policy", "poddisruptionbudgets"),
    "leases": ("coordination.k8s.io", "leases"),
    "endpointslices": ("discovery.k8s.io", "endpointslices"),
    "ingress": ("networking.k8s.io", "ingresses"),
    "networkpolicies": ("networking.k8s.io", "networkpolicies"),
    "roles": ("rbac.authorization.k8s.io", "roles"),
    "rolebindings": ("rbac.authorization.k8s.io", "rolebindings"),
    "clusterroles": ("rbac.authorization.k8s.io", "clusterroles"),
    "clusterrolebindings": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "priorityclasses": ("scheduling.k8s.io", "priorityclasses"),
    "storageclasses": ("storage.k8s.io", "storageclasses"),
}
# API groups served by kube-apiserver itself: a key under any other dotted group is a
# custom resource.
BUILTIN_GROUPS = {"", "apps", "batch", "autoscaling", "policy", "extensions",
                  "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
                  "networking.k8s.io", "rbac.authorization.k8s.io", "scheduling.k8s.io",
                  "storage.k8s.io", "admissionregistration.k8s.io", "certificates.k8s.io",
                  "node.k8s.io", "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io",
                  "resource.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
                  "authentication.k8s.io", "authorization.k8s.io", "storagemigration.k8s.io"}
SPECIAL = ("health", "masterleases", "ranges")


def classify(key):
    """(group, resource, namespace, name) of a key the way the original etcd-explorer.sh
    counts: by resource type under /registry (the path segment after the prefix, with the
    group in front for grouped resources).  compact_rev_key and the API server's own keys
    are ("", "(special)"); keys outside /registry are ("", "(other keys)")."""
    if key == b"compact_rev_key":
        return ("", "(special)", "", "")
    if not key.startswith(PREFIX):
        return ("", "(other keys)", "", "")
    rest = key[len(PREFIX):].decode("utf-8", "replace").split("/")
    if rest[0] in SPECIAL:
        return ("", "(special)", "", "")
    if "." in rest[0]:
        group, resource, tail = rest[0], rest[1] if len(rest) > 1 else "", rest[2:]
    else:
        two = "/".join(rest[:2])
        if two in BUILTIN:
            (group, resource), tail = BUILTIN[two], rest[2:]
        else:
            (group, resource), tail = BUILTIN.get(rest[0], ("", rest[0])), rest[1:]
    if not resource or not tail or not tail[-1]:
        return ("", "(other keys)", "", "")
    ns = tail[0] if len(tail) == 2 else ""
    return (group, resource, ns, tail[-1])


def b64d(s):
    return base64.b64decode(s or "")


def key_of(rec):
    """Key bytes of a tool record (key or key_b64)."""
    if "key_b64" in rec:
        return b64d(rec["key_b64"])
    return rec["key"].encode()


def as_int(x):
    """Ids may be printed as numbers or hex strings."""
    if isinstance(x, str):
        return int(x, 16)
    return int(x)


class Checker:
    def __init__(self, verbose=False):
        self.passed = self.failed = 0
        self.verbose = verbose

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            if self.verbose:
                print("ok   " + what)
        else:
            self.failed += 1
            print("FAIL " + what + (": " + detail if detail else ""))
        return cond


class Tool:
    """Runs the binary on the capture; every report must be JSON lines and exit 0."""

    def __init__(self, ck, binary, pcap, port=None):
        self.ck = ck
        self.base = [binary, "-q", "-r", pcap, "--json"] + (["-p", str(port)] if port else [])

    def run(self, *args):
        """The report's JSON lines; a failed run or a line that is not JSON is a failed
        check (and gives no lines)."""
        cmd = self.base + list(args)
        name = " ".join(a if isinstance(a, str) else repr(a) for a in args)
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        if not self.ck.check(r.returncode == 0 and not r.stderr, "%s: exit 0, quiet" % name,
                             "exit %d, stderr %r" % (r.returncode, r.stderr[:300])):
            return []
        try:
            return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]
        except ValueError as e:
            self.ck.check(False, "%s: JSON lines" % name, "%s in %r" % (e, r.stdout[:300]))
            return []


def value_matches(obj, value):
    """Does the tool's decoded `object` say the same as the stored value bytes?
    JSON values: equal as JSON; protobuf (k8s\\0): TypeMeta, ObjectMeta identity and the
    fields k8s_encode can decode; plain bytes: {"value"} or {"value_b64"} equal."""
    if value.startswith(b"k8s\x00"):
        import k8s_encode as ke
        want = ke.decode(value)
        return sub_equal(want, obj, top=True)
    try:
        want = json.loads(value)
        if isinstance(want, dict) and "kind" in want:
            return (obj == want, "object %r != value %r" % (obj, want))
    except ValueError:
        pass
    if not isinstance(obj, dict):
        return (False, "plain value not an object {value|value_b64}: %r" % (obj,))
    got = obj["value"].encode() if "value" in obj else b64d(obj.get("value_b64"))
    return (got == value, "value %r != %r" % (got, value))


def redacted(x):
    return isinstance(x, str) and x.startswith("<redacted ")


def sub_equal(want, got, top=False, path=""):
    """Every field k8s_encode decoded is in the tool's object with the same value (the tool
    may show more fields: defaults, selfLink); Secret data must be redacted.  Where the
    tool's schema stops (docs/json.md: field-number names "#N" past the modelled kinds),
    a field it does not name is not compared.
    Returns (ok, detail)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return (False, "%s: %r is not an object" % (path or ".", got))
        for k, v in want.items():
            if v in (None, "", 0, False, [], {}) and k not in got:
                continue    # zero values: written or not, both are the same object
            if k not in got:
                if any(x.startswith("#") for x in got):
                    continue    # a field the tool's schema does not name: shown as "#N"
                return (False, "%s.%s missing" % (path, k))
            if top and k in ("data", "stringData") and want.get("kind") == "Secret":
                if not all(redacted(x) for x in got[k].values()):
                    return (False, "%s.%s: Secret data not redacted" % (path, k))
                continue
            ok, d = sub_equal(v, got[k], path=path + "." + k)
            if not ok:
                return (ok, d)
        return (True, "")
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return (False, "%s: %r != %r" % (path, got, want))
        for i, (a, b) in enumerate(zip(want, got)):
            ok, d = sub_equal(a, b, path="%s[%d]" % (path, i))
            if not ok:
                return (ok, d)
        return (True, "")
    return (want == got, "%s: %r != %r" % (path, got, want))


def check_all(ck, tool, truth):
    kvs = {b64d(kv["key"]): kv for kv in truth["get"].get("kvs", [])}
    st = truth["status"]
    st = (st[0] if isinstance(st, list) else st)["Status"]

    # list: the same live keys, each with the same metadata
    got = {key_of(r): r for r in tool.run("list")}
    ck.check(set(got) == set(kvs), "list: the live keys equal etcdctl's",
             "only in tool %s, only in etcdctl %s" % (sorted(set(got) - set(kvs)),
                                                      sorted(set(kvs) - set(got))))
    for k, kv in sorted(kvs.items()):
        r = got.get(k)
        if r is None:
            continue
        want = {"create_revision": int(kv["create_revision"]),
                "mod_revision": int(kv["mod_revision"]), "version": int(kv["version"]),
                "value_size": len(b64d(kv.get("value"))), "lease": int(kv.get("lease", 0))}
        have = {f: r.get(f) for f in want}
        ck.check(have == want, "list %r" % k, "tool %s, etcdctl %s" % (have, want))

    # count: per resource type, from etcdctl's keys
    want = {}
    for k in kvs:
        g, res, _, _ = classify(k)
        want[(g, res)] = want.get((g, res), 0) + 1
    have = {(r["group"], r["resource"]): r["count"] for r in tool.run("count")}
    ck.check(have == want, "count per resource",
             "tool %s, etcdctl %s" % (sorted(have.items()), sorted(want.items())))

    # custom: every custom resource object, with its mod_revision
    want = set()
    for k, kv in kvs.items():
        g, res, ns, name = classify(k)
        if g not in BUILTIN_GROUPS and not res.startswith("("):
            want.add((g, res, ns, name, k, int(kv["mod_revision"])))
    have = {(r["group"], r["resource"], r["namespace"], r["name"], key_of(r), r["mod_revision"])
            for r in tool.run("custom")}
    ck.check(have == want and want, "custom resources",
             "tool %s, etcdctl %s" % (sorted(have), sorted(want)))

    # search: a substring over the live keys
    for pat in ("/demo/", "config"):
        have = {key_of(r) for r in tool.run("search", pat)}
        want = {k for k in kvs if pat.encode() in k}
        ck.check(have == want and want, "search %r" % pat, "tool %s, etcdctl %s" % (
            sorted(have), sorted(want)))

    # get: one key of each kind of value
    picks = pick_get_keys(kvs)
    ck.check(len(picks) >= 4, "get: enough kinds of keys in the capture", repr(picks))
    for k in picks:
        kv = kvs[k]
        out = tool.run("get", k)
        if not ck.check(len(out) == 1, "get %r: one object" % k, repr(out)):
            continue
        o = out[0]
        want = {"key": k, "create_revision": int(kv["create_revision"]),
                "mod_revision": int(kv["mod_revision"]), "version": int(kv["version"]),
                "value_size": len(b64d(kv.get("value")))}
        have = {"key": key_of(o), **{f: o.get(f) for f in list(want)[1:]}}
        ck.check(have == want, "get %r: revisions" % k, "tool %s, etcdctl %s" % (have, want))
        ok, detail = value_matches(o.get("object"), b64d(kv.get("value")))
        ck.check(ok, "get %r: value" % k, detail)
        hist = [h.get("revision") for h in o.get("history", [])]
        ck.check(int(kv["mod_revision"]) in hist, "get %r: history holds mod_revision" % k,
                 repr(hist))

    # members
    want = {}
    for m in truth["members"].get("members", []):
        want[int(m["ID"])] = (m.get("name", ""), sorted(m.get("peerURLs") or []),
                              sorted(m.get("clientURLs") or []), bool(m.get("isLearner")))
    have = {}
    for r in tool.run("members"):
        have[as_int(r["id"])] = (r.get("name"), sorted(r.get("peer_urls") or []),
                                 sorted(r.get("client_urls") or []), bool(r.get("is_learner")))
    ck.check(have == want and want, "members", "tool %s, etcdctl %s" % (have, want))

    # status: the captured Status response and its header (no write after it)
    out = tool.run("status")
    if ck.check(len(out) == 1, "status: one object", repr(out)):
        o = out[0]
        h = st["header"]
        want = {"cluster_id": int(h["cluster_id"]), "member_ids": [int(h["member_id"])],
                "revision": int(h["revision"]), "raft_term": int(h["raft_term"]),
                "leader": int(st["leader"]), "version": st["version"],
                "db_size": int(st["dbSize"]), "db_size_in_use": int(st.get("dbSizeInUse", 0))}
        have = {f: o.get(f) for f in want}
        for f in ("cluster_id", "leader"):
            if have[f] is not None:
                have[f] = as_int(have[f])
        have["member_ids"] = [as_int(x) for x in have["member_ids"] or []]
        ck.check(have == want, "status", "tool %s, etcdctl %s" % (have, want))
        ck.check(o.get("verdict") == "healthy", "status verdict", repr(o.get("verdict")))


def pick_get_keys(kvs):
    """Several keys to `get`: a protobuf object, a Secret, a JSON custom resource, a plain
    text value, a binary value, a non-UTF-8 key, a leased key, a re-created key."""
    picks = []

    def first(pred):
        for k in sorted(kvs):
            if k not in picks and pred(k, b64d(kvs[k].get("value"))):
                picks.append(k)
                return

    first(lambda k, v: v.startswith(b"k8s\x00") and b"/secrets/" not in k)
    first(lambda k, v: b"/secrets/" in k)
    first(lambda k, v: k.startswith(PREFIX) and v.startswith(b"{"))
    first(lambda k, v: not k.startswith(PREFIX) and k.isascii() and v.isascii()
          and v.decode().isprintable())
    first(lambda k, v: not v.isascii() and not v.startswith(b"k8s"))
    first(lambda k, v: not k.isascii())
    first(lambda k, v: int(kvs[k].get("lease", 0)) != 0)
    first(lambda k, v: int(kvs[k]["create_revision"]) > 2 and int(kvs[k]["version"]) > 1)
    return picks


def selftest(binary, pcap, port, truth):
    """The checker must notice a wrong answer: tamper with etcdctl's side and expect failures."""
    bad = copy.deepcopy(truth)
    kv = bad["get"]["kvs"][0]
    kv["mod_revision"] = int(kv["mod_revision"]) + 1
    bad["get"]["kvs"].append({"key": base64.b64encode(b"/registry/pods/x/ghost").decode(),
                              "create_revision": 1, "mod_revision": 1, "version": 1,
                              "value": ""})
    bad["members"]["members"][0]["name"] = "someone-else"
    st = bad["status"][0] if isinstance(bad["status"], list) else bad["status"]
    st["Status"]["dbSize"] = int(st["Status"]["dbSize"]) + 4096
    ck = Checker()
    print("selftest: the failures below are expected")
    check_all(ck, Tool(ck, binary, pcap, port), bad)
    # list key set, list metadata, count, get revisions, members, status
    return ck.failed >= 5


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pcap")
    ap.add_argument("truth")
    ap.add_argument("--bin", default=os.environ.get("EE_BIN", "./etcd-explorer"))
    ap.add_argument("-p", "--port", help="etcd port (default: the tool's -p auto)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print passed checks too")
    ap.add_argument("--selftest", action="store_true",
                    help="also check that tampered etcdctl answers make the checks fail")
    a = ap.parse_args()
    try:
        with open(a.truth) as f:
            truth = json.load(f)
    except (OSError, ValueError) as e:
        print("check_reports: cannot read %s: %s" % (a.truth, e))
        return 2
    if not os.access(a.bin, os.X_OK):
        print("check_reports: %s is not an executable" % a.bin)
        return 2
    ck = Checker(a.verbose)
    check_all(ck, Tool(ck, a.bin, a.pcap, a.port), truth)
    if a.selftest:
        ck.check(selftest(a.bin, a.pcap, a.port, truth), "selftest: tampered answers are caught")
    print("check_reports: %d passed, %d failed" % (ck.passed, ck.failed))
    return 1 if ck.failed else 0


if __name__ == "__main__":
    sys.exit(main())
