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

    def __init__(self, pcap_path, port=None, capture_at_start=True, truth_path=None,
                 etcd_args=()):
        self.pcap_path = os.path.abspath(pcap_path)
        self.port = port or free_port()
        self.peer_port = free_port(avoid=(2379, 2380, self.port))
        self.endpoint = "%s:%d" % (HOST, self.port)
        self.capture_at_start = capture_at_start
        self.etcd_args = list(etcd_args)   # extra etcd flags, e.g. progress-notify interval
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
               "--logger", "zap", "--log-level", "error"] + self.etcd_args
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

    def meta(self, generator, story):
        """First truth line: which generator, and the etcd client port the tool must use
        (`etcd-explorer -p PORT`, or `-p auto`).  check_truth.py ignores it."""
        self.truth.add("meta", generator=generator, story=story, port=self.port)

    # ---- capture ---------------------------------------------------------------------
    def start_capture(self, settle=0.1):
        """Start tcpdump on lo for this etcd's client port; return once it is listening
        (plus `settle` seconds)."""
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
        if settle:
            time.sleep(settle)

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
        return [ETCDCTL, "--endpoints=" + self.endpoint] + [a if isinstance(a, bytes) else str(a)
                                                             for a in args]

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
                raise RuntimeError("etcdctl %s failed (%d): %s" % (" ".join(map(repr, args)),
                                                                   r.returncode, err))
            return {"error": err, "rc": r.returncode} if json_out else err
        out = r.stdout.decode(errors="replace")
        if not json_out:
            return out
        if not out.strip():
            return {}   # some commands (compaction) print nothing in json mode
        try:
            objs = parse_json_stream(out)
        except ValueError:
            return {"text": out}   # e.g. compaction prints "compacted revision N" anyway
        return objs[0] if len(objs) == 1 else objs

    def popen_etcdctl(self, *args, json_out=True, stdin_pipe=False):
        """Start a long-running etcdctl (e.g. watch) in the background; stdout is a pipe
        (and stdin too with stdin_pipe, for `watch -i`).  Ended with SIGINT at exit (or call
        env.end_bg(p))."""
        a = list(args)
        if json_out:
            a = ["-w", "json"] + a
        p = subprocess.Popen(self._ctl_cmd(*a), env=self._ctl_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE,
                             stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL)
        self.bg.append(p)
        return p

    def end_bg(self, p):
        """SIGINT a background etcdctl started by popen_etcdctl; return its (stdout, stderr)."""
        if p.stdin:
            try:
                p.stdin.close()   # `watch -i` ends on EOF
                p.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
            p.stdin = None
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

    def client(self, port=None, **kw):
        """A python3-etcd3 client (grpc C-core) connected to this etcd (or to `port`, e.g.
        a SlowProxy in front of it)."""
        import etcd3
        _quiet_watch_threads()
        c = etcd3.client(host=HOST, port=port or self.port, **kw)
        self.clients.append(c)
        return c


class SlowProxy:
    """A loopback TCP relay in front of etcd that moves at most `chunk` bytes per `pause`
    seconds each way, with small socket buffers so TCP flow control paces etcd too.
    Lets a capture start in the middle of a big message (on loopback a 2 MB message
    otherwise crosses in about a millisecond).  Captured leg: proxy <-> etcd (env.port).
    `with SlowProxy(env) as px: etcd3.client(port=px.port)`.
    A smaller `buf` makes etcd feel the pace sooner (less data in flight before the proxy's
    receive window closes): a slow consumer whose backlog waits in etcd's send queue.
    `src`: the loopback address the proxy connects to etcd from (127.0.0.0/8 is all
    loopback on Linux): the captured leg then shows another client host, as another API
    server would be."""

    BUF = 64 * 1024    # SO_RCVBUF/SO_SNDBUF: small, so the kernel cannot buffer megabytes

    def __init__(self, env, chunk=16 * 1024, pause=0.002, buf=BUF, src=None):
        self.env, self.chunk, self.pause, self.buf, self.src = env, chunk, pause, buf, src
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.endpoint = "%s:%d" % (HOST, self.port)
        self.socks = []
        self.done = False
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _small(self, s):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buf)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.buf)
        return s

    def _accept(self):
        while not self.done:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            self._small(c)
            u = self._small(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            if self.src:
                u.bind((self.src, 0))
            u.connect((HOST, self.env.port))
            self.socks += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(self.chunk)
                if not data:
                    break
                dst.sendall(data)
                if len(data) == self.chunk:
                    time.sleep(self.pause)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.done = True
        for s in [self.lsock] + self.socks:
            try:
                s.close()
            except OSError:
                pass


def _quiet_watch_threads():
    """python-etcd3's watch thread re-opens its stream forever and dies with 'Channel
    closed' once the client is closed; that traceback is noise, so hide just that one."""
    prev = threading.excepthook
    if getattr(prev, "_ee_quiet", False):
        return

    def hook(args):
        if args.exc_type is ValueError and "Channel closed" in str(args.exc_value) and \
                args.thread is not None and args.thread.name.startswith("etcd3_watch"):
            return
        prev(args)
    hook._ee_quiet = True
    threading.excepthook = hook


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


# ---- operation recorders ---------------------------------------------------------------
# Each method performs one operation and appends what etcd answered to env.truth.
# Keys/values may be str or bytes.  Truth record fields: see docs/testing.md.

def to_bytes(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def prefix_end(prefix):
    """etcd's range_end for a prefix: the prefix with its last byte incremented
    (trailing 0xff bytes dropped); b'\\0' (= all keys) when nothing is left."""
    b = bytearray(to_bytes(prefix))
    while b:
        if b[-1] < 0xff:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\0"


GRPC_CODES = {"OK": 0, "Canceled": 1, "Unknown": 2, "InvalidArgument": 3,
              "DeadlineExceeded": 4, "NotFound": 5, "AlreadyExists": 6,
              "PermissionDenied": 7, "ResourceExhausted": 8, "FailedPrecondition": 9,
              "Aborted": 10, "OutOfRange": 11, "Unimplemented": 12, "Internal": 13,
              "Unavailable": 14, "DataLoss": 15, "Unauthenticated": 16}


def ctl_error_status(err_text):
    """gRPC status code from etcdctl's stderr ('... code = NotFound desc = ...'), or None."""
    import re
    m = re.search(r"code = (\w+)", err_text or "")
    return GRPC_CODES.get(m.group(1)) if m else None


class CtlOps:
    """etcdctl (grpc-go) operations that record truth; one etcdctl process per call."""

    def __init__(self, env):
        self.env = env
        self.t = env.truth

    def _err(self, op, r, **f):
        st = ctl_error_status(r["error"])
        return self.t.add(op, client="etcdctl", error=r["error"].splitlines()[-1],
                          grpc_status=st, **f)

    def put(self, key, value, *flags, stdin_value=False):
        """etcdctl put KEY VALUE [flags]; stdin_value passes VALUE on stdin (big values)."""
        v = to_bytes(value)
        if stdin_value:
            r = self.env.etcdctl("put", key, *flags, stdin=v, check=False)
        else:
            r = self.env.etcdctl("put", key, v, *flags, check=False)
        if "error" in r:
            return self._err("put", r, key=to_bytes(key))
        lease = None
        for fl in flags:
            if str(fl).startswith("--lease="):
                lease = int(str(fl).split("=", 1)[1], 16)
        return self.t.add("put", client="etcdctl", key=to_bytes(key), revision=revision_of(r),
                          value_size=len(v), lease=lease,
                          prev_kv=True if "--prev-kv" in flags else None)

    def get(self, key, *flags):
        """etcdctl get KEY [--prefix --limit=N --keys-only --rev=N ...]."""
        r = self.env.etcdctl("get", key, *flags, check=False)
        f = {"key": to_bytes(key)}
        if "--prefix" in flags:
            f["range_end"] = prefix_end(key)
        for fl in flags:
            fl = str(fl)
            if fl.startswith("--limit="):
                f["limit"] = int(fl.split("=", 1)[1])
            if fl.startswith("--rev="):
                f["rev"] = int(fl.split("=", 1)[1])
            if fl == "--keys-only":
                f["keys_only"] = True
        if "error" in r:
            return self._err("get", r, **f)
        return self.t.add("get", client="etcdctl", revision=revision_of(r),
                          count=int(r.get("count", 0)), **f)

    def delete(self, key, *flags):
        """etcdctl del KEY [--prefix --prev-kv]."""
        r = self.env.etcdctl("del", key, *flags, check=False)
        f = {"key": to_bytes(key)}
        if "--prefix" in flags:
            f["range_end"] = prefix_end(key)
        if "error" in r:
            return self._err("delete", r, **f)
        return self.t.add("delete", client="etcdctl", revision=revision_of(r),
                          deleted=int(r.get("deleted", 0)),
                          prev_kv=True if "--prev-kv" in flags else None, **f)

    def txn(self, compares, success, failure):
        """etcdctl txn (non-interactive stdin format).  compares: lines like
        'mod("/k") > "0"'; success/failure: lines like 'put /k v', 'get /k', 'del /k'.
        Truth: succeeded, revision, compare_keys, writes of the branch that ran."""
        text = "\n".join(compares) + "\n\n" + "\n".join(success) + "\n\n" + \
            "\n".join(failure) + "\n\n"
        r = self.env.etcdctl("txn", stdin=text.encode(), check=False)
        import re
        ckeys = [re.search(r'\("([^"]*)"\)', c).group(1) for c in compares]
        if "error" in r:
            return self._err("txn", r, compare_keys=ckeys)
        ok = bool(r.get("succeeded", False))
        writes = []
        for line in (success if ok else failure):
            parts = line.split()
            if parts[0] == "put":
                writes.append({"op": "put", "key": parts[1]})
            elif parts[0] == "del":
                writes.append({"op": "delete", "key": parts[1]})
        return self.t.add("txn", client="etcdctl", revision=revision_of(r), succeeded=ok,
                          compare_keys=ckeys, writes=writes,
                          n_success=len(success), n_failure=len(failure))

    def compact(self, rev):
        """etcdctl compaction REV (prints text even with -w json; no header shown)."""
        r = self.env.etcdctl("compaction", rev, check=False)
        if "error" in r:
            return self._err("compact", r, compact_revision=rev)
        return self.t.add("compact", client="etcdctl", compact_revision=rev)

    def lease_grant(self, ttl):
        r = self.env.etcdctl("lease", "grant", ttl)
        return self.t.add("lease_grant", client="etcdctl", id=int(r["ID"]), ttl=int(r["TTL"]),
                          revision=int(r["revision"]))

    def lease_keepalive_once(self, lease_id):
        r = self.env.etcdctl("lease", "keep-alive", "--once", "%x" % lease_id, check=False)
        if "error" in r:
            return self._err("lease_keepalive", r, id=lease_id)
        return self.t.add("lease_keepalive", client="etcdctl", id=int(r["ID"]),
                          ttl=int(r["TTL"]), revision=int(r["revision"]))

    def lease_revoke(self, lease_id):
        r = self.env.etcdctl("lease", "revoke", "%x" % lease_id, check=False)
        if "error" in r:
            return self._err("lease_revoke", r, id=lease_id)
        return self.t.add("lease_revoke", client="etcdctl", id=lease_id,
                          revision=revision_of(r))

    def member_list(self):
        r = self.env.etcdctl("member", "list")
        return self.t.add("member_list", client="etcdctl",
                          member_id=int(r["header"]["member_id"]),
                          members=len(r.get("members", [])))

    def status(self):
        r = self.env.etcdctl("endpoint", "status")
        st = (r[0] if isinstance(r, list) else r)["Status"]
        return self.t.add("status", client="etcdctl", revision=revision_of(st),
                          member_id=int(st["header"]["member_id"]), version=st["version"])


class CtlWatch:
    """A long-lived `etcdctl watch -i` (grpc-go) whose deliveries become truth records."""

    def __init__(self, env):
        self.env = env
        self.p = env.popen_etcdctl("watch", "-i", stdin_pipe=True)
        self.creates = []

    def watch(self, key, *flags):
        """Send 'watch KEY [flags]' on the interactive stdin (records watch_create)."""
        line = " ".join(["watch"] + [str(x) for x in flags] + [key]) + "\n"
        self.p.stdin.write(line.encode())
        self.p.stdin.flush()
        f = {"key": to_bytes(key)}
        if "--prefix" in flags:
            f["range_end"] = prefix_end(key)
        self.env.truth.add("watch_create", client="etcdctl",
                           prev_kv=True if "--prev-kv" in flags else None, **f)
        time.sleep(0.3)

    def progress(self):
        """Send 'progress' (WatchProgressRequest); the answer is recorded at close()."""
        self.p.stdin.write(b"progress\n")
        self.p.stdin.flush()
        time.sleep(0.3)

    def close(self, after_rev=None):
        """End etcdctl and record each delivered event / progress notification.  With
        after_rev (the store revision when the capture started), events up to it are marked
        "after_capture": false and later ones true; else the writer's current state."""
        out, _ = self.env.end_bg(self.p)

        def mark(rev, strict=True):
            if after_rev is None:
                return {}
            return {"after_capture": rev > after_rev if strict else rev >= after_rev}
        seen_progress = set()
        for line in out.decode(errors="replace").splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            resp = json.loads(line)
            hdr = resp.get("Header", {})
            evs = resp.get("Events") or []
            if not evs and not resp.get("Created") and not resp.get("Canceled"):
                rev = int(hdr.get("revision", 0))
                # etcdctl prints one wire progress response once per watch it holds
                if rev in seen_progress:
                    continue
                seen_progress.add(rev)
                self.env.truth.add("watch_progress", client="etcdctl", revision=rev,
                                   **mark(rev, strict=False))
            for ev in evs:
                kv = ev["kv"]
                self.env.truth.add("watch_event", client="etcdctl", key=unb64(kv["key"]),
                                   type="delete" if ev.get("type") == 1 else "put",
                                   mod_revision=int(kv.get("mod_revision", 0)),
                                   revision=int(hdr.get("revision", 0)),
                                   prev_kv=True if ev.get("prev_kv") else None,
                                   **mark(int(kv.get("mod_revision", 0))))


class PyOps:
    """python3-etcd3 (grpc C-core) operations that record truth.  Uses the client's own
    stubs where the high-level API hides the response header."""

    def __init__(self, env, client=None):
        import etcd3
        import grpc
        self.etcd3 = etcd3
        self.grpc = grpc
        self.rpc = etcd3.etcdrpc
        self.env = env
        self.c = client or env.client()
        self.t = env.truth
        self.watches = {}

    def _err(self, op, e, **f):
        code = e.code().value[0] if hasattr(e, "code") else None
        return self.t.add(op, client="python", grpc_status=code,
                          error=e.details() if hasattr(e, "details") else str(e), **f)

    def put(self, key, value, lease=None, prev_kv=False):
        r = self.c.put(key, value, lease=lease, prev_kv=prev_kv)
        return self.t.add("put", client="python", key=to_bytes(key), revision=revision_of(r),
                          value_size=len(to_bytes(value)), lease=lease,
                          prev_kv=True if prev_kv else None)

    def get(self, key, prefix=False, **kw):
        """Range through client.kvstub; kw: limit, revision, keys_only, count_only, ..."""
        f = {"key": to_bytes(key)}
        rng = prefix_end(key) if prefix else kw.pop("range_end", None)
        if rng is not None:
            f["range_end"] = to_bytes(rng)
        # python-etcd3 0.12's request builder ignores limit/revision/count_only: set them here
        extra = {k: kw.pop(k) for k in ("limit", "revision", "count_only") if k in kw}
        req = self.c._build_get_range_request(key, range_end=rng, **kw)
        for k, v in extra.items():
            setattr(req, k, v)
        kw.update(extra)
        for k in ("limit", "keys_only", "count_only"):
            if kw.get(k):
                f[k] = kw[k]
        if kw.get("revision"):
            f["rev"] = kw["revision"]
        try:
            r = self.c.kvstub.Range(req, self.c.timeout)
        except self.grpc.RpcError as e:
            return self._err("get", e, **f)
        return self.t.add("get", client="python", revision=revision_of(r), count=int(r.count),
                          **f)

    def delete(self, key, prefix=False, prev_kv=False):
        f = {"key": to_bytes(key)}
        if prefix:
            f["range_end"] = prefix_end(key)
        req = self.c._build_delete_request(key, range_end=f.get("range_end"), prev_kv=prev_kv)
        r = self.c.kvstub.DeleteRange(req, self.c.timeout)
        return self.t.add("delete", client="python", revision=revision_of(r),
                          deleted=int(r.deleted), prev_kv=True if prev_kv else None, **f)

    def txn(self, compare, success, failure):
        """compare: etcd3.transactions compare objects; success/failure: lists of
        etcd3.transactions.Put/Get/Delete.  Calls kvstub.Txn to see the header."""
        req = self.rpc.TxnRequest(compare=[c.build_message() for c in compare],
                                  success=self.c._ops_to_requests(success),
                                  failure=self.c._ops_to_requests(failure))
        r = self.c.kvstub.Txn(req, self.c.timeout)
        ok = bool(r.succeeded)
        writes = []
        for o in (success if ok else failure):
            if isinstance(o, self.etcd3.transactions.Put):
                writes.append(dict(op="put", **key_fields(to_bytes(o.key))))
            elif isinstance(o, self.etcd3.transactions.Delete):
                writes.append(dict(op="delete", **key_fields(to_bytes(o.key))))
        ckeys = []
        for c in compare:
            ckeys.append(key_fields(to_bytes(c.key)).get("key"))
        return self.t.add("txn", client="python", revision=revision_of(r), succeeded=ok,
                          compare_keys=ckeys, writes=writes,
                          n_success=len(success), n_failure=len(failure))

    def compact(self, rev, physical=False):
        r = self.c.kvstub.Compact(self.rpc.CompactionRequest(revision=rev, physical=physical),
                                  self.c.timeout)
        return self.t.add("compact", client="python", compact_revision=rev,
                          revision=revision_of(r))

    def lease_grant(self, ttl):
        r = self.c.leasestub.LeaseGrant(self.rpc.LeaseGrantRequest(TTL=ttl), self.c.timeout)
        self.t.add("lease_grant", client="python", id=int(r.ID), ttl=int(r.TTL),
                   revision=revision_of(r))
        return int(r.ID)

    def lease_keepalive(self, lease_id):
        for r in self.c.refresh_lease(lease_id):
            return self.t.add("lease_keepalive", client="python", id=int(r.ID),
                              ttl=int(r.TTL), revision=revision_of(r))

    def lease_timetolive(self, lease_id):
        r = self.c.leasestub.LeaseTimeToLive(
            self.rpc.LeaseTimeToLiveRequest(ID=lease_id, keys=True), self.c.timeout)
        return self.t.add("lease_timetolive", client="python", id=int(r.ID), ttl=int(r.TTL),
                          revision=revision_of(r), keys=len(r.keys))

    def lease_revoke(self, lease_id):
        try:
            r = self.c.leasestub.LeaseRevoke(self.rpc.LeaseRevokeRequest(ID=lease_id),
                                             self.c.timeout)
        except self.grpc.RpcError as e:
            return self._err("lease_revoke", e, id=lease_id)
        return self.t.add("lease_revoke", client="python", id=lease_id,
                          revision=revision_of(r))

    def member_list(self):
        r = self.c.clusterstub.MemberList(self.rpc.MemberListRequest(), self.c.timeout)
        return self.t.add("member_list", client="python", member_id=int(r.header.member_id),
                          members=len(r.members))

    def status(self):
        r = self.c.maintenancestub.Status(self.rpc.StatusRequest(), self.c.timeout)
        return self.t.add("status", client="python", revision=revision_of(r),
                          member_id=int(r.header.member_id), version=r.version)

    def watch(self, key, prefix=False, **kw):
        """add_watch_callback; deliveries are buffered and recorded by watch_flush()."""
        f = {"key": to_bytes(key)}
        if prefix:
            kw["range_end"] = prefix_end(key)
        if kw.get("range_end") is not None:
            f["range_end"] = to_bytes(kw["range_end"])
        got = []
        wid = self.c.add_watch_callback(key, got.append, **kw)
        self.watches[wid] = got
        self.t.add("watch_create", client="python", watch_id=wid,
                   prev_kv=True if kw.get("prev_kv") else None,
                   progress_notify=True if kw.get("progress_notify") else None,
                   start_revision=kw.get("start_revision"), **f)
        return wid

    def watch_flush(self, wid):
        """Record what watch WID delivered so far (events, progress notifications)."""
        got = self.watches[wid]
        while got:
            resp = got.pop(0)
            if isinstance(resp, Exception):
                self.t.add("watch_error", client="python", watch_id=wid, error=str(resp))
                continue
            if not resp.events:
                self.t.add("watch_progress", client="python", watch_id=wid,
                           revision=revision_of(resp))
            for ev in resp.events:
                typ = "delete" if isinstance(ev, self.etcd3.events.DeleteEvent) else "put"
                self.t.add("watch_event", client="python", watch_id=wid, key=to_bytes(ev.key),
                           type=typ, mod_revision=int(ev.mod_revision),
                           revision=revision_of(resp))

    def watch_wait_progress(self, wid, timeout=5.0):
        """Wait until watch WID got a response without events (a progress notification)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(not isinstance(r, Exception) and not r.events for r in self.watches[wid]):
                return True
            time.sleep(0.1)
        return False

    def watch_cancel(self, wid):
        self.watch_flush(wid)
        self.c.cancel_watch(wid)
        self.t.add("watch_cancel", client="python", watch_id=wid)
        time.sleep(0.2)


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
