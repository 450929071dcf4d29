#!/usr/bin/python3
"""Capture harness for the test-pcap generators (tests/gen/gen_*.py).

Starts a throw-away single-member etcd on free loopback ports, records its client port with
tcpdump, and gives the generator two client stacks (etcdctl = grpc-go, python3-etcd3 = grpc
C-core) plus a TruthWriter that logs what each operation did and what etcd answered.
Run with /usr/bin/python3 (Debian's python3-etcd3 and python3-grpcio live there); stdlib +
etcd3 only.  Only 127.0.0.1 is ever used.
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ETCD = os.environ.get("ETCD_BIN", "/usr/bin/etcd")
ETCDCTL = os.environ.get("ETCDCTL_BIN", "/usr/bin/etcdctl")
TCPDUMP = os.environ.get("TCPDUMP_BIN", "tcpdump")
HOST = "127.0.0.1"


def free_port(avoid=(2379, 2380)):
    """Return a currently unused TCP port on 127.0.0.1 (never 2379/2380)."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((HOST, 0))
        p = s.getsockname()[1]
        s.close()
        if p not in avoid:
            return p


def b64(data):
    """base64 text of bytes/str (str is utf-8 encoded first)."""
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    """Bytes of a base64 field in etcdctl -w json output ('' or None -> b'')."""
    return base64.b64decode(text or "")


def key_fields(key, name="key"):
    """Truth fields for a key: {name: str} if valid UTF-8, else {name_b64: base64}."""
    if key is None:
        return {}
    if isinstance(key, str):
        return {name: key}
    try:
        return {name: key.decode("utf-8")}
    except UnicodeDecodeError:
        return {name + "_b64": b64(key)}


class TruthWriter:
    """Appends one JSON object per line to a .truth.jsonl file (truncated on open)."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "w")
        self.lock = threading.Lock()
        self.after_capture = True   # set by Env; every record gets "after_capture"
        self.n = 0

    def add(self, op, **fields):
        """Append one record.  bytes values for key/range_end become key or key_b64."""
        rec = {"op": op}
        for k, v in fields.items():
            if v is None:
                continue
            if k in ("key", "range_end", "prev_key", "value") and isinstance(v, (bytes, bytearray)):
                if k == "value":
                    rec["value_size"] = len(v)
                    continue
                rec.update(key_fields(bytes(v), k))
            else:
                rec[k] = v
        rec.setdefault("after_capture", self.after_capture)
        with self.lock:
            self.f.write(json.dumps(rec, sort_keys=True) + "\n")
            self.f.flush()
            self.n += 1
        return rec

    def close(self):
        if self.f:
            self.f.close()
            self.f = None


class Env:
    """`with Env(pcap_path) as env:` -> running etcd on env.endpoint, capture on (by default).

    env.port / env.peer_port: free loopback ports; env.endpoint = "127.0.0.1:PORT".
    env.start_capture() / env.stop_capture(): tcpdump on lo for 'tcp port PORT'.
    env.etcdctl(*args, json_out=True, stdin=None, check=True) -> parsed JSON (or text).
    env.client() -> etcd3.Etcd3Client.   env.truth.add(op=..., **fields).
    """

    def __init__(self, pcap_path, port=None, capture_at_start=True, truth_path=None):
        self.pcap_path = os.path.abspath(pcap_path)
        self.port = port or free_port()
        self.peer_port = free_port(avoid=(2379, 2380, self.port))
        self.endpoint = "%s:%d" % (HOST, self.port)
        self.capture_at_start = capture_at_start
        if truth_path is None:
            base = self.pcap_path[:-5] if self.pcap_path.endswith(".pcap") else self.pcap_path
            truth_path = base + ".truth.jsonl"
        self.truth_path = truth_path
        self.truth = None
        self.etcd_proc = None
        self.tcpdump_proc = None
        self.data_dir = None
        self.clients = []
        self.bg = []   # background processes started with env.popen_etcdctl

    # ---- lifecycle -------------------------------------------------------------------
    def __enter__(self):
        try:
            self._start_etcd()
            self.truth = TruthWriter(self.truth_path)
            self.truth.after_capture = False
            if self.capture_at_start:
                self.start_capture()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        for p in self.bg:
            self._end_proc(p, signal.SIGINT)
        self.bg = []
        self.stop_capture()
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        self.clients = []
        if self.etcd_proc is not None:
            self._end_proc(self.etcd_proc, signal.SIGTERM)
            self.etcd_proc = None
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
        if self.truth is not None:
            self.truth.close()
        return False

    @staticmethod
    def _end_proc(p, sig):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def _start_etcd(self):
        self.data_dir = tempfile.mkdtemp(prefix="ee-etcd-")
        client_url = "http://%s:%d" % (HOST, self.port)
        peer_url = "http://%s:%d" % (HOST, self.peer_port)
        cmd = [ETCD, "--data-dir", os.path.join(self.data_dir, "data"),
               "--name", "default",
               "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
               "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
               "--initial-cluster", "default=" + peer_url,
               "--logger", "zap", "--log-level", "error"]
        self.etcd_log = open(os.path.join(self.data_dir, "etcd.log"), "w")
        self.etcd_proc = subprocess.Popen(cmd, stdout=self.etcd_log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.etcd_proc.poll() is not None:
                raise RuntimeError("etcd exited early: " + self._etcd_log_tail())
            r = subprocess.run(self._ctl_cmd("endpoint", "health", "--command-timeout=1s"),
                               env=self._ctl_env(), capture_output=True, text=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("etcd not healthy in 20 s: " + self._etcd_log_tail())

    def _etcd_log_tail(self):
        try:
            with open(os.path.join(self.data_dir, "etcd.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return "?"

    # ---- capture ---------------------------------------------------------------------
    def start_capture(self):
        """Start tcpdump on lo for this etcd's client port; return once it is listening."""
        if self.tcpdump_proc is not None:
            return
        cmd = [TCPDUMP, "-i", "lo", "-U", "--immediate-mode", "-B", "65536", "-s", "0",
               "-n", "-w", self.pcap_path, "tcp port %d" % self.port]
        self.tcpdump_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, text=True)
        got = []
        deadline = time.time() + 10
        while time.time() < deadline:
            line = self.tcpdump_proc.stderr.readline()
            if not line:
                break
            got.append(line)
            if "listening on" in line:
                break
        else:
            pass
        if not got or "listening on" not in got[-1]:
            self._end_proc(self.tcpdump_proc, signal.SIGINT)
            self.tcpdump_proc = None
            raise RuntimeError("tcpdump did not start: " + "".join(got))
        # drain the rest of stderr (the final statistics) so tcpdump never blocks on it
        t = threading.Thread(target=self.tcpdump_proc.stderr.read, daemon=True)
        t.start()
        if self.truth is not None:
            self.truth.after_capture = True
        time.sleep(0.1)

    def stop_capture(self):
        """Stop tcpdump (after 0.5 s so the last packets are written).  Idempotent."""
        if self.tcpdump_proc is None:
            return
        time.sleep(0.5)
        self._end_proc(self.tcpdump_proc, signal.SIGINT)
        self.tcpdump_proc = None
        if self.truth is not None:
            self.truth.after_capture = False

    # ---- clients ---------------------------------------------------------------------
    def _ctl_env(self):
        e = dict(os.environ)
        e["ETCDCTL_API"] = "3"
        for k in list(e):
            if k.startswith("ETCDCTL_") and k != "ETCDCTL_API":
                del e[k]
        return e

    def _ctl_cmd(self, *args):
        return [ETCDCTL, "--endpoints=" + self.endpoint] + [str(a) for a in args]

    def etcdctl(self, *args, json_out=True, stdin=None, check=True):
        """Run etcdctl against this etcd.  Returns parsed JSON (json_out) or stdout text.

        With check=False a failing command returns {"error": stderr, "rc": rc}
        (or the stderr text when json_out is False) instead of raising.
        """
        a = list(args)
        if json_out:
            a = ["-w", "json"] + a
        r = subprocess.run(self._ctl_cmd(*a), env=self._ctl_env(), input=stdin,
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            err = r.stderr.decode(errors="replace").strip()
            if check:
                raise RuntimeError("etcdctl %s failed (%d): %s" % (" ".join(map(str, args)),
                                                                   r.returncode, err))
            return {"error": err, "rc": r.returncode} if json_out else err
        out = r.stdout.decode(errors="replace")
        if not json_out:
            return out
        return json.loads(out)

    def popen_etcdctl(self, *args, json_out=True):
        """Start a long-running etcdctl (e.g. watch) in the background; stdout is a pipe.
        Ended with SIGINT at exit (or call env.end_bg(p))."""
        a = list(args)
        if json_out:
            a = ["-w", "json"] + a
        p = subprocess.Popen(self._ctl_cmd(*a), env=self._ctl_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.bg.append(p)
        return p

    def end_bg(self, p):
        """SIGINT a background etcdctl started by popen_etcdctl; return its (stdout, stderr)."""
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p in self.bg:
            self.bg.remove(p)
        return out, err

    def client(self, **kw):
        """A python3-etcd3 client (grpc C-core) connected to this etcd."""
        import etcd3
        c = etcd3.client(host=HOST, port=self.port, **kw)
        self.clients.append(c)
        return c


def revision_of(resp):
    """header.revision from etcdctl -w json output (dict) or a protobuf response."""
    if isinstance(resp, dict):
        return int(resp.get("header", {}).get("revision", 0))
    return int(resp.header.revision)


def parse_json_stream(text):
    """Split concatenated JSON objects (etcdctl watch -w json prints one per response)."""
    dec = json.JSONDecoder()
    out, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        obj, j = dec.raw_decode(text, i)
        out.append(obj)
        i = j
    return out


if __name__ == "__main__":
    # Smoke test: start etcd, put/get through both stacks, print the truth lines.
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/harness-smoke.pcap"
    with Env(out) as env:
        r = env.etcdctl("put", "/smoke/a", "1")
        env.truth.add("put", client="etcdctl", key="/smoke/a", revision=revision_of(r))
        c = env.client()
        resp = c.put("/smoke/b", "2")
        env.truth.add("put", client="python", key="/smoke/b", revision=revision_of(resp))
    print(open(env.truth_path).read(), end="")
    print("pcap bytes:", os.path.getsize(out))
