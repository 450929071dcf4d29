#!/usr/bin/python3
"""Compare etcd-explorer's `--json trace` output with the truth a generator recorded.

Usage: check_truth.py TRUTH.jsonl TOOL.jsonl [--midconn] [-v]
       check_truth.py --selftest

Every truth operation (tests/gen/harness.py writes them; docs/testing.md lists the fields)
must be matched by its own tool record(s):
  put/get/delete/txn/compact/lease_*/member_list/status -> kind "rpc" with that method and
    key, the same header revision (and count for get, succeeded for txn, status for errors);
    writes (put, delete that deleted something, the txn branch that ran) -> kind "write"
    with the same op, key and revision;
  watch_create/watch_cancel/watch_progress -> kind "watch" (create|created, cancel|canceled,
    progress); watch_event -> kind "watch_event" with key, mod_revision and type.
--midconn: check only operations marked "after_capture": true, and require that more than
90% of the rpc records have a known method.
Prints each mismatch and "check_truth: N passed, N failed"; exits 1 on any failure.
"""

import argparse
import base64
import json
import sys

# truth op -> (service, method) of the rpc record
RPC_OPS = {
    "put": ("KV", "Put"),
    "get": ("KV", "Range"),
    "delete": ("KV", "DeleteRange"),
    "txn": ("KV", "Txn"),
    "compact": ("KV", "Compact"),
    "lease_grant": ("Lease", "LeaseGrant"),
    "lease_revoke": ("Lease", "LeaseRevoke"),
    "lease_keepalive": ("Lease", "LeaseKeepAlive"),
    "lease_timetolive": ("Lease", "LeaseTimeToLive"),
    "member_list": ("Cluster", "MemberList"),
    "status": ("Maintenance", "Status"),
}
WATCH_OPS = {
    "watch_create": ("create", "created"),
    "watch_cancel": ("cancel", "canceled"),
    "watch_canceled": ("canceled",),              # server-side cancel (e.g. compacted)
    "watch_progress": ("progress",),              # a progress notification (response)
    "watch_progress_request": ("progress_request",),  # the client's WatchProgressRequest
}
# not checks: generator metadata, explorer expectations (checked by their own tests)
IGNORED_OPS = {"watch_error", "meta", "expect"}
UNKNOWN_METHODS = {None, "", "?", "unknown", "Unknown"}
KNOWN_MIN = 0.90       # --midconn: share of rpc records whose method must be known


def field_bytes(rec, name):
    """A key-like field as bytes: rec[name] (utf-8 text) or rec[name+'_b64']; None if absent."""
    if rec.get(name) is not None:
        return rec[name].encode("utf-8", "surrogateescape")
    if rec.get(name + "_b64") is not None:
        return base64.b64decode(rec[name + "_b64"])
    return None


def show(b):
    """Printable form of key bytes."""
    if b is None:
        return "-"
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return "b64:" + base64.b64encode(b).decode()


class Checker:
    def __init__(self, tool_recs):
        self.recs = tool_recs
        self.used = set()
        self.passed = 0
        self.failed = 0
        self.msgs = []

    # -- record selection --------------------------------------------------------------
    def find(self, pred):
        """Index of the first unused tool record satisfying pred, or None."""
        for i, r in enumerate(self.recs):
            if i not in self.used and pred(r):
                return i
        return None

    def nearest(self, pred):
        """First record (used or not) satisfying a looser pred, to explain a mismatch."""
        for r in self.recs:
            if pred(r):
                return r
        return None

    # -- one truth op ------------------------------------------------------------------
    def check(self, n, t):
        """Check truth op number n; record pass/fail with a message."""
        op = t["op"]
        errs = []
        if op in RPC_OPS:
            errs = self.check_rpc(t)
        elif op in WATCH_OPS:
            errs = self.check_watch(t)
        elif op == "watch_event":
            errs = self.check_watch_event(t)
        elif op in IGNORED_OPS:
            return
        else:
            errs = ["unknown truth op %r" % op]
        if errs:
            self.failed += 1
            for e in errs:
                self.msgs.append("FAIL truth line %d (%s %s %s): %s" % (
                    n, t.get("client", "?"), op, show(field_bytes(t, "key")), e))
        else:
            self.passed += 1

    def check_rpc(self, t):
        service, method = RPC_OPS[t["op"]]
        key = field_bytes(t, "key")
        rend = field_bytes(t, "range_end")
        is_err = t.get("grpc_status") not in (None, 0)
        want = {}
        if is_err:
            want["status"] = t["grpc_status"]
        else:
            if t.get("revision") is not None:
                want["revision"] = t["revision"]
            if t["op"] == "get":
                want["count"] = t.get("count")
            if t["op"] == "delete" and t.get("deleted") is not None:
                want["deleted"] = t["deleted"]
            if t["op"] == "txn":
                want["succeeded"] = bool(t.get("succeeded"))

        def base(r):
            if r.get("kind") != "rpc" or r.get("method") != method:
                return False
            if key is not None and field_bytes(r, "key") != key:
                return False
            return True

        def full(r):
            if not base(r):
                return False
            if r.get("service") not in (None, service):
                return False
            if rend is not None and field_bytes(r, "range_end") != rend:
                return False
            if not is_err and r.get("status") not in (0, None):
                return False
            for k, v in want.items():
                if r.get(k) != v:
                    return False
            if t["op"] == "txn" and t.get("compare_keys"):
                ck = [field_bytes(c, "key") for c in (r.get("compare") or [])]
                for k in t["compare_keys"]:
                    if k is not None and k.encode() not in ck:
                        return False
            return True

        errs = []
        i = self.find(full)
        if i is None:
            near = self.nearest(base)
            if near is None:
                errs.append("no rpc record %s/%s key=%s" % (service, method, show(key)))
            else:
                diff = ["%s=%r (want %r)" % (k, near.get(k), v) for k, v in want.items()
                        if near.get(k) != v]
                if rend is not None and field_bytes(near, "range_end") != rend:
                    diff.append("range_end=%s (want %s)" % (
                        show(field_bytes(near, "range_end")), show(rend)))
                errs.append("rpc %s key=%s differs: %s" % (
                    method, show(key), ", ".join(diff) or "already matched to an earlier op"))
        else:
            self.used.add(i)
        if not is_err:
            errs += self.check_writes(t, method, key, rend)
        return errs

    def check_writes(self, t, method, key, rend):
        """The write records a successful put / delete / txn must have produced."""
        rev = t.get("revision")
        writes = []
        if t["op"] == "put":
            writes = [("put", key, None)]
        elif t["op"] == "delete" and t.get("deleted", 0) > 0:
            writes = [("delete", key, rend)]
        elif t["op"] == "txn":
            writes = [(w["op"], field_bytes(w, "key"), None) for w in t.get("writes", [])]
        errs = []
        for wop, wkey, wend in writes:
            def ok(r, wop=wop, wkey=wkey, wend=wend):
                if r.get("kind") != "write" or r.get("op") != wop:
                    return False
                if rev is not None and r.get("revision") != rev:
                    return False
                if r.get("method") not in (None, method):
                    return False
                rk = field_bytes(r, "key")
                if rk == wkey:
                    return True
                # a ranged delete may be reported per deleted key
                return wend is not None and rk is not None and wkey <= rk and \
                    (wend == b"\0" or rk < wend)
            i = self.find(ok)
            if i is None:
                errs.append("no write record op=%s key=%s revision=%s" % (wop, show(wkey), rev))
            else:
                self.used.add(i)
                # a ranged delete reported per key: take the other keys of that revision too
                if wend is not None:
                    while True:
                        j = self.find(ok)
                        if j is None:
                            break
                        self.used.add(j)
        return errs

    def check_watch(self, t):
        events = WATCH_OPS[t["op"]]
        key = field_bytes(t, "key")
        rend = field_bytes(t, "range_end")

        def ok(r):
            if r.get("kind") != "watch" or r.get("event") not in events:
                return False
            if t["op"] == "watch_create":
                if field_bytes(r, "key") != key:
                    return False
                if rend is not None and field_bytes(r, "range_end") != rend:
                    return False
            if t["op"] in ("watch_cancel", "watch_canceled") and \
                    t.get("watch_id") is not None and \
                    r.get("watch_id") is not None and r["watch_id"] != t["watch_id"]:
                return False
            if t["op"] == "watch_canceled" and t.get("compact_revision") and \
                    r.get("compact_revision") != t["compact_revision"]:
                return False
            if t["op"] == "watch_progress" and r.get("revision") != t.get("revision"):
                return False
            return True
        i = self.find(ok)
        if i is None:
            return ["no watch record event=%s key=%s range_end=%s revision=%s" % (
                "|".join(events), show(key), show(rend), t.get("revision"))]
        self.used.add(i)
        # "create" and "created" are two records of one watch: consume the pair
        if t["op"] in ("watch_create", "watch_cancel"):
            other = events[1] if self.recs[i].get("event") == events[0] else events[0]
            wid = self.recs[i].get("watch_id")
            j = self.find(lambda r: r.get("kind") == "watch" and r.get("event") == other and
                          (t["op"] == "watch_cancel" or field_bytes(r, "key") in (None, key)) and
                          (wid is None or r.get("watch_id") in (None, wid)))
            if j is not None:
                self.used.add(j)
        return []

    def check_watch_event(self, t):
        key = field_bytes(t, "key")

        def base(r):
            return r.get("kind") == "watch_event" and field_bytes(r, "key") == key

        def ok(r):
            return base(r) and r.get("mod_revision") == t.get("mod_revision") and \
                r.get("type") == t.get("type")
        i = self.find(ok)
        if i is None:
            return ["no watch_event type=%s key=%s mod_revision=%s" % (
                t.get("type"), show(key), t.get("mod_revision"))]
        self.used.add(i)
        return []


def load_jsonl(path, what):
    """List of JSON objects, one per non-empty line; a bad line is fatal (exit 2)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                print("check_truth: %s %s line %d: not JSON: %s" % (what, path, n, e))
                sys.exit(2)
    return out


# --selftest: a hand-written truth and tool output; the good output passes every op, the bad
# one fails exactly the ops named in SELFTEST_BAD_FAILS.
SELFTEST_TRUTH = """\
{"op": "meta", "port": 1}
{"op": "put", "client": "etcdctl", "key": "/a", "revision": 2, "after_capture": false}
{"op": "put", "client": "etcdctl", "key": "/a", "revision": 3}
{"op": "get", "client": "etcdctl", "key": "/", "range_end": "0", "revision": 3, "count": 1}
{"op": "delete", "client": "python", "key": "/d/", "range_end": "/d0", "revision": 4, "deleted": 2}
{"op": "txn", "client": "python", "revision": 5, "succeeded": true, "compare_keys": ["/a"], "writes": [{"op": "put", "key": "/t"}]}
{"op": "get", "client": "python", "key_b64": "/w==", "revision": 5, "count": 0}
{"op": "get", "client": "python", "key": "/a", "rev": 1, "grpc_status": 11, "error": "compacted"}
{"op": "watch_create", "client": "python", "key": "/w/", "range_end": "/w0", "watch_id": 0}
{"op": "watch_event", "client": "python", "key": "/w/x", "type": "put", "mod_revision": 6}
{"op": "watch_progress", "client": "python", "revision": 6}
{"op": "watch_cancel", "client": "python", "watch_id": 0}
{"op": "status", "client": "python", "revision": 6, "member_id": 9}
"""
SELFTEST_GOOD = """\
{"ts": 1, "kind": "rpc", "conn": "c", "stream": 1, "service": "KV", "method": "Put", "status": 0, "revision": 3, "key": "/a"}
{"ts": 1, "kind": "write", "conn": "c", "stream": 1, "op": "put", "key": "/a", "revision": 3, "method": "Put"}
{"ts": 2, "kind": "rpc", "conn": "c", "stream": 3, "service": "KV", "method": "Range", "status": 0, "revision": 3, "key": "/", "range_end": "0", "count": 1}
{"ts": 3, "kind": "rpc", "conn": "c", "stream": 5, "service": "KV", "method": "DeleteRange", "status": null, "revision": 4, "key": "/d/", "range_end": "/d0", "deleted": 2}
{"ts": 3, "kind": "write", "conn": "c", "stream": 5, "op": "delete", "key": "/d/1", "revision": 4, "method": "DeleteRange"}
{"ts": 3, "kind": "write", "conn": "c", "stream": 5, "op": "delete", "key": "/d/2", "revision": 4, "method": "DeleteRange"}
{"ts": 4, "kind": "rpc", "conn": "c", "stream": 7, "service": "KV", "method": "Txn", "status": 0, "revision": 5, "succeeded": true, "compare": [{"key": "/a", "target": "mod", "result": "greater", "value": 0}]}
{"ts": 4, "kind": "write", "conn": "c", "stream": 7, "op": "put", "key": "/t", "revision": 5, "method": "Txn"}
{"ts": 5, "kind": "rpc", "conn": "c", "stream": 9, "service": "KV", "method": "Range", "status": 0, "revision": 5, "key_b64": "/w==", "count": 0}
{"ts": 6, "kind": "rpc", "conn": "c", "stream": 11, "service": "KV", "method": "Range", "status": 11, "key": "/a"}
{"ts": 7, "kind": "watch", "conn": "c", "stream": 13, "event": "create", "watch_id": null, "key": "/w/", "range_end": "/w0"}
{"ts": 7, "kind": "watch", "conn": "c", "stream": 13, "event": "created", "watch_id": 0}
{"ts": 8, "kind": "watch_event", "conn": "c", "stream": 13, "watch_id": 0, "type": "put", "key": "/w/x", "mod_revision": 6}
{"ts": 9, "kind": "watch", "conn": "c", "stream": 13, "event": "progress", "watch_id": -1, "revision": 6}
{"ts": 9, "kind": "watch", "conn": "c", "stream": 13, "event": "cancel", "watch_id": 0}
{"ts": 9, "kind": "rpc", "conn": "c", "stream": 15, "service": "Maintenance", "method": "Status", "status": 0, "revision": 6, "member_id": 9}
"""
# put: wrong revision; get: wrong count; delete: no write record; txn: succeeded false;
# watch_event: wrong type; status: missing
SELFTEST_BAD = SELFTEST_GOOD.replace('"revision": 3, "key": "/a"}', '"revision": 9, "key": "/a"}') \
    .replace('"range_end": "0", "count": 1', '"range_end": "0", "count": 2') \
    .replace('"op": "delete", "key": "/d/1"', '"op": "put", "key": "/d/1"') \
    .replace('"op": "delete", "key": "/d/2"', '"op": "put", "key": "/d/2"') \
    .replace('"succeeded": true', '"succeeded": false') \
    .replace('"type": "put", "key": "/w/x"', '"type": "delete", "key": "/w/x"') \
    .replace('"method": "Status"', '"method": "?"')
SELFTEST_BAD_FAILS = {"put", "get", "delete", "txn", "watch_event", "status"}


def selftest():
    """Run the checker on the embedded good and bad outputs; 0 if both behave."""
    truth = [json.loads(x) for x in SELFTEST_TRUTH.splitlines()]
    ok = True
    for name, text, want in (("good", SELFTEST_GOOD, set()), ("bad", SELFTEST_BAD,
                                                               SELFTEST_BAD_FAILS)):
        c = Checker([json.loads(x) for x in text.splitlines()])
        for n, t in enumerate(truth, 1):
            if t.get("after_capture", True):
                c.check(n, t)
        got = {m.split("(", 1)[1].split()[1] for m in c.msgs}
        npass = len(truth) - 2 - len(want)     # meta and the pre-capture put are skipped
        good = got == want and c.passed == npass and c.failed == len(want)
        print("check_truth selftest %s: %d passed, %d failed, failing ops %s -> %s" % (
            name, c.passed, c.failed, sorted(got), "ok" if good else "WRONG"))
        if not good:
            for m in c.msgs:
                print("  " + m)
        ok = ok and good
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description="check tool JSON lines against a truth file")
    ap.add_argument("truth", nargs="?")
    ap.add_argument("tool", nargs="?")
    ap.add_argument("--selftest", action="store_true",
                    help="check the checker on embedded examples and exit")
    ap.add_argument("--midconn", action="store_true",
                    help="only ops after the capture started; require >90%% known methods")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    if a.selftest:
        return selftest()
    if not a.truth or not a.tool:
        ap.error("TRUTH and TOOL are required")
    truth = load_jsonl(a.truth, "truth")
    tool = load_jsonl(a.tool, "tool output")
    c = Checker(tool)
    for n, t in enumerate(truth, 1):
        if a.midconn and not t.get("after_capture", True):
            continue
        c.check(n, t)
    bad_known = False
    if a.midconn:
        rpcs = [r for r in tool if r.get("kind") == "rpc"]
        known = sum(1 for r in rpcs if r.get("method") not in UNKNOWN_METHODS)
        frac = known / len(rpcs) if rpcs else 0.0
        bad_known = frac <= KNOWN_MIN
        print("check_truth: %d of %d rpc records have a known method (%.1f%%, need > %d%%)%s"
              % (known, len(rpcs), 100 * frac, int(100 * KNOWN_MIN),
                 " FAIL" if bad_known else ""))
    for m in c.msgs:
        print(m)
    if a.verbose:
        print("check_truth: %d tool records, %d matched" % (len(tool), len(c.used)))
    print("check_truth: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed or bad_known else 0


if __name__ == "__main__":
    sys.exit(main())
