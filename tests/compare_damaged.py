#!/usr/bin/python3
"""Compare the tool's `--json trace` of a damaged capture (tests/gen/damage.py) with the trace
of the undamaged one: every record outside the damaged region must be identical.

Usage: compare_damaged.py CLEAN.jsonl DAMAGED.jsonl [--ts-slack S] [--reorder] [-v]
       compare_damaged.py --selftest
Exit 0 when they agree, 1 when a record differs (each difference is printed), 2 on bad input.

The damaged region (the rule)
  damage.py does not say which packets it changed, and a loss legitimately changes later
  records of the same TCP connection until the decoder resynchronises; so the region is read
  from the damaged run's own loss reports:
  1. A connection is *affected* when the damaged run has a notice on it (gap, resync, loss,
     undecodable, limit, ...) that the clean run does not have (same conn, what, detail).
  2. Its region runs from its first record up to and including the first non-notice record
     after its last such notice (time t_end): the decoder has resynchronised by then.
  3. RPC records of streams opened before t_end (HTTP/2 stream ids only grow, so: stream id
     <= the largest id the connection showed by t_end) are in the region too: a unary call
     whose request or response crossed the loss completes after it.
  Records of unaffected connections, and of affected ones outside the region, must be
  identical in both runs, in both directions: nothing missing, nothing added (a duplicated
  segment must not duplicate a record).  A loss the tool did not report therefore shows up
  as a difference: silent damage is exactly what this check exists to catch.

Identical means: the same JSON object once `ts` and `latency_us` are set aside, with `ts`
within --ts-slack seconds (default 0.5) and `latency_us` within twice that, both null or
both numbers.

On an affected connection, records after the region may still differ in what HPACK state
the loss took: a :path or user-agent entry inserted in a lost header block is unknown to
every later stream that uses it, so `inferred`, `confidence` (the method itself must still
be the same), `user_agent` and `status_inferred` (the status itself must be the same) are
set aside there.

--reorder (for captures reordered across directions, damage.py --reorder): a response may
come before its request, so `latency_us` may be null in the damaged run; which of the
streams sharing an unknown HPACK :path entry is `inferred` (and its `confidence`) depends
on the order they complete, so both are set aside.  Reordering keeps timestamps with the packet slots (damage.py), so a record
completed by a moved packet legitimately carries a neighbour's timestamp.  Order is not
compared: records of different streams interleave by arrival, and reordering may put a
response's packet before its request's.  The summary line is not compared (its packet and
byte counts change with the damage); both runs must have one.
"""

import json
import sys
from collections import defaultdict

VOLATILE = ("ts", "latency_us")


def load(path):
    recs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError:
                raise ValueError("%s:%d: not JSON" % (path, n))
            if not isinstance(r, dict):
                raise ValueError("%s:%d: not a JSON object" % (path, n))
            r["_line"] = n
            recs.append(r)
    return recs


REORDER_VOLATILE = ("inferred", "confidence")
REORDER = False


HPACK_LOST = ("inferred", "confidence", "user_agent", "status_inferred")


def body(r, affected=False):
    """The record without volatile fields, as a canonical string (the identity)."""
    skip = set(VOLATILE) | {"_line"}
    if affected:
        skip |= set(HPACK_LOST)
    if REORDER:
        skip |= set(REORDER_VOLATILE)
    return json.dumps({k: v for k, v in r.items() if k not in skip}, sort_keys=True)


def notice_sig(r):
    return (r.get("conn"), r.get("what"), r.get("detail"))


def regions(clean, dmg):
    """conn -> (t_end, max_stream) for every affected connection (the rule above)."""
    clean_notices = defaultdict(int)
    for r in clean:
        if r.get("kind") == "notice":
            clean_notices[notice_sig(r)] += 1
    last_notice = {}
    for r in dmg:
        if r.get("kind") != "notice":
            continue
        sig = notice_sig(r)
        if clean_notices[sig] > 0:
            clean_notices[sig] -= 1   # the clean run has it too: not caused by the damage
            continue
        c = r.get("conn")
        last_notice[c] = max(last_notice.get(c, r["ts"]), r["ts"])
    out = {}
    for c, t_last in last_notice.items():
        after = [r["ts"] for r in dmg if r.get("conn") == c and r.get("kind") != "notice"
                 and r.get("ts", 0) >= t_last]
        t_end = min(after) if after else float("inf")
        streams = [r.get("stream", 0) for r in dmg if r.get("conn") == c and
                   r.get("ts", 0) <= t_end]
        out[c] = (t_end, max(streams) if streams else 0)
    return out


def in_region(r, reg):
    c = r.get("conn")
    if r.get("kind") == "summary" or c not in reg:
        return r.get("kind") == "summary"
    t_end, max_stream = reg[c]
    if r.get("ts", 0) <= t_end:
        return True
    return r.get("kind") in ("rpc", "write") and 0 < r.get("stream", 0) <= max_stream


def close_enough(a, b, slack):
    if abs(a.get("ts", 0) - b.get("ts", 0)) > slack:
        return False
    la, lb = a.get("latency_us"), b.get("latency_us")
    if REORDER and lb is None:
        return True
    if (la is None) != (lb is None):
        return False
    return la is None or abs(la - lb) <= 2 * slack * 1e6


def compare(clean, dmg, slack=0.5, verbose=False):
    """Returns a list of difference descriptions (empty when the runs agree)."""
    problems = []
    for name, recs in (("clean", clean), ("damaged", dmg)):
        if not any(r.get("kind") == "summary" for r in recs):
            problems.append("the %s run has no summary line" % name)
    reg = regions(clean, dmg)
    if verbose:
        for c, (t_end, ms) in sorted(reg.items()):
            print("compare_damaged: affected %s: region to ts %.6f, streams <= %d" % (c, t_end, ms))
    want = defaultdict(list)
    for r in clean:
        if not in_region(r, reg):
            want[body(r, r.get("conn") in reg)].append(r)
    got = defaultdict(list)
    for r in dmg:
        if not in_region(r, reg):
            got[body(r, r.get("conn") in reg)].append(r)
    for key in set(want) | set(got):
        a = sorted(want.get(key, []), key=lambda r: r.get("ts", 0))
        b = sorted(got.get(key, []), key=lambda r: r.get("ts", 0))
        unmatched_b = list(b)
        for r in a:
            m = next((x for x in unmatched_b if close_enough(r, x, slack)), None)
            if m is None:
                problems.append("missing from the damaged run (clean line %d): %.200s" %
                                (r["_line"], key))
            else:
                unmatched_b.remove(m)
        for x in unmatched_b:
            problems.append("only in the damaged run (line %d): %.200s" % (x["_line"], key))
    return problems


def selftest():
    def rec(ts, **kw):
        d = {"ts": ts, "kind": "rpc", "conn": "a", "stream": 1, "method": "Put", "key": "/k"}
        d.update(kw)
        return d
    summ = {"kind": "summary", "packets": 1}
    clean = [rec(1.0, stream=1), rec(2.0, stream=3, key="/x"), rec(3.0, conn="b"), summ]
    fails = 0

    def expect(name, dmg, ok, slack=0.5):
        nonlocal fails
        for i, r in enumerate(clean + dmg):
            r["_line"] = i + 1
        got = compare([dict(r) for r in clean], [dict(r) for r in dmg], slack)
        if bool(got) == ok:
            fails += 1
            print("selftest %s: expected %s, got %s" % (name, "agreement" if ok else
                                                       "a difference", got or "agreement"))
    expect("identical", [dict(r) for r in clean], True)
    expect("ts moved within slack", [rec(1.1), clean[1], clean[2], summ], True)
    expect("ts moved beyond slack", [rec(1.9), clean[1], clean[2], summ], False, slack=0.5)
    expect("silent change", [rec(1.0, key="/other"), clean[1], clean[2], summ], False)
    expect("silent loss", [clean[0], clean[2], summ], False)
    expect("duplicated record", [dict(r) for r in clean] + [rec(3.0, conn="b")], False)
    gap = {"ts": 1.5, "kind": "notice", "conn": "a", "stream": 0, "what": "gap", "detail": "x"}
    expect("reported loss: region", [rec(1.0, key="/garbled"), gap, rec(2.0, stream=3, key="/y"),
                                     clean[2], summ], True)
    expect("after the region", [rec(1.0, key="/garbled"), gap, rec(2.0, stream=3, key="/x"),
                                rec(4.0, stream=5, key="/new"), clean[2], summ], False)
    expect("other connection", [gap, clean[1], rec(3.0, conn="b", key="/z"), summ], False)
    expect("no summary", [dict(r) for r in clean[:3]], False)
    print("compare_damaged selftest: %s" % ("ok" if not fails else "%d failed" % fails))
    return 1 if fails else 0


def main(argv):
    args = [a for a in argv if not a.startswith("-")]
    if "--selftest" in argv:
        return selftest()
    slack = 0.5
    if "--ts-slack" in argv:
        i = argv.index("--ts-slack")
        slack = float(argv[i + 1])
        args.remove(argv[i + 1])
    if len(args) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        clean, dmg = load(args[0]), load(args[1])
    except (OSError, ValueError) as e:
        print("compare_damaged: %s" % e, file=sys.stderr)
        return 2
    global REORDER
    REORDER = "--reorder" in argv
    problems = compare(clean, dmg, slack, "-v" in argv)
    for p in problems:
        print("compare_damaged: " + p)
    n_out = sum(1 for r in clean if r.get("kind") != "summary")
    print("compare_damaged: %d records in the clean run, %d differences outside the damaged "
          "region" % (n_out, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
