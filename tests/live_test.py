#!/usr/bin/python3
"""Live test: etcd-explorer captures on lo while etcdctl writes; each write must be printed
within one second (line-buffered output in live mode). Usage: live_test.py BIN"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "gen"))
from harness import Env  # noqa: E402


def main():
    binary = sys.argv[1]
    failures = 0
    with Env("/tmp/ee-live-unused.pcap", capture_at_start=False) as env:
        # the watch run also sets the kernel buffer (-B, in KiB as tcpdump's)
        for opts, cmd in (([], ["trace"]), (["-B", "65536"], ["watch", "/live/"])):
            tool = subprocess.Popen([binary, "-i", "lo", "-p", str(env.port)] + opts + cmd,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    bufsize=0)
            lines = []

            def reader():
                for raw in iter(tool.stdout.readline, b""):
                    lines.append((time.time(), raw.decode(errors="replace")))

            t = threading.Thread(target=reader, daemon=True)
            t.start()
            # wait until the tool says it is capturing
            while True:
                err = tool.stderr.readline().decode()
                if "capturing on" in err or not err:
                    break
            time.sleep(0.5)
            for i in range(3):
                key = "/live/%s-%d" % (cmd[0], i)
                t0 = time.time()
                env.etcdctl("put", key, "v%d" % i, json_out=False)
                seen = None
                while time.time() - t0 < 3:
                    for ts, line in list(lines):
                        if key in line and ts >= t0 and ("write put" in line or "put" in line.lower()):
                            seen = ts
                            break
                    if seen:
                        break
                    time.sleep(0.02)
                if seen is None:
                    print("FAIL %s: write of %s never printed" % (cmd[0], key))
                    failures += 1
                elif seen - t0 > 1.0:
                    print("FAIL %s: write of %s printed after %.2fs" % (cmd[0], key, seen - t0))
                    failures += 1
                else:
                    print("ok %s: %s printed after %.3fs" % (cmd[0], key, seen - t0))
            tool.send_signal(2)
            try:
                tool.wait(timeout=5)
            except subprocess.TimeoutExpired:
                tool.kill()
                print("FAIL %s: tool did not stop on SIGINT" % cmd[0])
                failures += 1
            if tool.returncode not in (0, None):
                print("FAIL %s: exit code %s" % (cmd[0], tool.returncode))
                failures += 1
    print("live: %d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
