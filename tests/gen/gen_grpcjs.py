#!/usr/bin/python3
"""Generate pcaps/basic-grpcjs.pcap (+ .truth.jsonl): a third gRPC client stack.

grpc-js (@grpc/grpc-js over Node's http2, i.e. nghttp2) drives a throw-away etcd through
the same kinds of calls as gen_basic.py's python story, on one channel
(tests/gen/grpcjs_client.js prints a truth record per operation; this files them).
Generation time only: the tests read the committed capture and never need node.
@grpc/grpc-js and @grpc/proto-loader are installed with npm into a cache directory
(default build/grpcjs, or $EE_GRPCJS_DIR) when missing.
Usage: /usr/bin/python3 tests/gen/gen_grpcjs.py [--out DIR | DIR]   (default: pcaps/)
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from harness import Env  # noqa: E402

NODE = os.environ.get("NODE_BIN", "node")
NPM = os.environ.get("NPM_BIN", "npm")
PKGS = ["@grpc/grpc-js", "@grpc/proto-loader"]


def node_modules():
    """The node_modules directory holding PKGS, installed with npm on first use."""
    d = os.environ.get("EE_GRPCJS_DIR") or os.path.join(ROOT, "build", "grpcjs")
    nm = os.path.join(d, "node_modules")
    if all(os.path.isfile(os.path.join(nm, p, "package.json")) for p in PKGS):
        return nm
    os.makedirs(d, exist_ok=True)
    if not os.path.exists(os.path.join(d, "package.json")):
        with open(os.path.join(d, "package.json"), "w") as f:
            f.write('{"name": "ee-grpcjs-cache", "private": true}\n')
    subprocess.run([NPM, "install", "--no-audit", "--no-fund", "--loglevel=error"] + PKGS,
                   cwd=d, check=True)
    return nm


def versions(nm):
    """'grpc-js X, proto-loader Y' from the installed package.json files."""
    out = []
    for p in PKGS:
        with open(os.path.join(nm, p, "package.json")) as f:
            out.append("%s %s" % (p.split("/")[1], json.load(f)["version"]))
    return ", ".join(out)


def gen_grpcjs(pcap, nm):
    env_vars = dict(os.environ, NODE_PATH=nm)
    with Env(pcap) as env:
        env.meta("gen_grpcjs.py", "grpc-js (%s, node %s): every call kind on one channel" % (
            versions(nm), subprocess.run([NODE, "--version"], capture_output=True,
                                         text=True).stdout.strip()))
        p = subprocess.run([NODE, os.path.join(HERE, "grpcjs_client.js"), env.endpoint],
                           env=env_vars, capture_output=True, text=True, timeout=120)
        n = 0
        for line in p.stdout.splitlines():
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            op = rec.pop("op")
            env.truth.add(op, **rec)
            n += 1
        if p.returncode != 0:
            raise RuntimeError("grpcjs_client.js failed (%d) after %d records: %s" % (
                p.returncode, n, p.stderr[-2000:]))
        if p.stderr.strip():
            sys.stderr.write(p.stderr)
        return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", nargs="?", help="output directory (default: pcaps/)")
    ap.add_argument("--out", help="output directory (same as OUTDIR)")
    a = ap.parse_args()
    out = a.out or a.outdir or os.path.join(ROOT, "pcaps")
    os.makedirs(out, exist_ok=True)
    nm = node_modules()
    p = os.path.join(out, "basic-grpcjs.pcap")
    t0 = time.time()
    n = gen_grpcjs(p, nm)
    print("%s: %d bytes, %d truth records, %.1f s" % (p, os.path.getsize(p), n,
                                                      time.time() - t0))


if __name__ == "__main__":
    main()
