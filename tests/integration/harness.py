"""harness.py -- shared scaffolding for tsrelay's integration tests.

Starts real redis-server and victoria-metrics (its OpenTSDB telnet listener)
and tsrelay on free loopback ports in a temporary directory, drives them,
queries points back, samples RSS, and prints TAP.  Every process started
here is stopped by PID at exit, whatever happens; every wait is bounded.
It must never touch a non-loopback address or leave a process behind.
"""

import atexit
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

TOP_SRCDIR = os.environ.get("TOP_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_BUILDDIR = os.environ.get("TOP_BUILDDIR") or TOP_SRCDIR
TSRELAY = os.path.join(TOP_BUILDDIR, "src", "tsrelay")
TSLOAD = os.path.join(TOP_BUILDDIR, "tests", "tools", "tsload")
TSSINK = os.path.join(TOP_BUILDDIR, "tests", "tools", "tssink")

_procs = []          # every child we started, stopped at exit
_cleanups = []       # what else a test set up outside the tmpdir, undone at exit


def _built_with_asan():
    try:
        out = subprocess.run(["ldd", TSRELAY], capture_output=True, timeout=10).stdout
        return b"libasan" in out
    except (OSError, subprocess.SubprocessError):
        return False


SANITIZED = _built_with_asan()


def rss_bound(mib):
    """An RSS bound in bytes.  Under AddressSanitizer the process carries
    shadow memory and a quarantine of freed chunks that are not the
    relay's: the bound then only says "bounded" (2x + 64 MiB)."""
    return (mib * 2 + 64 if SANITIZED else mib) * 1048576


ASAN_NOTE = " (ASan build: bound 2x + 64 MiB)" if SANITIZED else ""
_tmpdirs = []


def at_cleanup(fn):
    """Runs fn at the end of the test, whatever happens (network
    namespaces, links: what a test created outside its tmpdir)."""
    _cleanups.append(fn)


def _cleanup():
    for p in reversed(_procs):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.wait(timeout=5)
            except Exception:
                pass
    for fn in reversed(_cleanups):
        try:
            fn()
        except Exception:
            pass
    del _cleanups[:]
    for d in _tmpdirs:
        if os.environ.get("TSRELAY_KEEP_TMP"):
            sys.stderr.write("# kept %s\n" % d)
            continue
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def _on_signal(signum, frame):
    _cleanup()
    os._exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def hard_timeout(seconds):
    """Bounds the whole test: past it, everything is killed, test fails."""
    def fire():
        sys.stdout.write("not ok - test exceeded its %d s time limit\n" % seconds)
        sys.stdout.flush()
        _cleanup()
        os._exit(1)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def tmpdir(prefix="tsrelay-it-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_EPHEMERAL_LOW = _ephemeral_low()
_ports_given = set()
_ports_rng = random.Random()
_ports_lock = threading.Lock()


def free_port():
    """A loopback port free now, for a process started next to listen on.
    Drawn below the ephemeral range: a port the kernel picks (bind to 0) is
    one that any connect() on the machine may take as its source port before
    the process binds it, and under the suite's load one did (tsrelay exited
    with EADDRINUSE).  No port is given twice in one test."""
    with _ports_lock:
        return _free_port()


def _free_port():
    lo, hi = 20000, _EPHEMERAL_LOW - 1
    for _ in range(200 if hi - lo >= 1000 else 0):
        port = _ports_rng.randint(lo, hi)
        if port in _ports_given:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _ports_given.add(port)
        return port
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _thread_states(pid):
    """The state letter of each thread of a process (a thread that ends
    meanwhile is left out)."""
    states = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return states
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            pass
    return states


def stop_process(pid, timeout=10):
    """SIGSTOP, returning once every thread of the process has stopped.
    kill() returns before that: the stop begins when the thread that takes
    the signal next runs, and the others run on meanwhile -- measured here,
    victoria-metrics' threads ran up to 18 ms after it under load, long
    enough to answer a request sent to the "frozen" TSD."""
    os.kill(pid, signal.SIGSTOP)
    wait_until(lambda: all(st in "tTZX" for st in _thread_states(pid)), timeout,
               interval=0.001, what="every thread of process %d stopped" % pid)


def spawn(args, log_path=None, **kw):
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT if log_path else
                         subprocess.DEVNULL, **kw)
    _procs.append(p)
    return p


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # not ready yet
            last = e
        time.sleep(interval)
    raise TimeoutError("timed out after %.1f s waiting for %s (last: %r)" % (timeout, what, last))



def parse_metrics(text):
    """Prometheus text -> {'name{labels}': float} (labels as printed)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out

def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_no_redirect = urllib.request.build_opener(_NoRedirect)


def http_req(url, body=None, method="GET", headers=None, timeout=10, follow=True):
    """(status, body, headers); follow=False: a redirect is the answer."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        if follow:
            r = urllib.request.urlopen(req, timeout=timeout)
        else:
            r = _no_redirect.open(req, timeout=timeout)
        with r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


# ---- TAP -----------------------------------------------------------------

class Tap:
    """TAP lines; safe to call from several threads (a line and its
    diagnostics stay together)."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        self.notes = {}
        self._lock = threading.Lock()

    def ok(self, cond, name, diag=None):
        with self._lock:
            self.n += 1
            if not cond:
                self.failed += 1
            sys.stdout.write("%s %d - %s\n" % ("ok" if cond else "not ok", self.n, name))
            if diag is not None and not cond:
                for line in str(diag).splitlines()[:40]:
                    sys.stdout.write("# %s\n" % line)
            sys.stdout.flush()
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, "%s (got %r, want %r)" % (name, got, want)
                       if got != want else name)

    def note(self, key, value):
        self.notes[key] = value
        sys.stdout.write("# %s: %s\n" % (key, value))
        sys.stdout.flush()

    def done(self):
        sys.stdout.write("1..%d\n" % self.n)
        sys.stdout.flush()
        _cleanup()
        os._exit(1 if self.failed else 0)


# ---- servers ---------------------------------------------------------------

class Redis:
    def __init__(self, base, appendonly=False, port=None, extra=None, password=None):
        """extra: more redis-server arguments (e.g. ["--replicaof", ...]);
        password: requirepass (cmd() then logs in with it)."""
        self.dir = os.path.join(base, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra = list(extra or [])
        self.password = password
        if password:
            self.extra += ["--requirepass", password]
        self.proc = None

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no",
                "--appendonly", "yes" if self.appendonly else "no"]
        if self.appendonly:
            args += ["--appendfsync", "everysec"]
        args += self.extra
        self.proc = spawn(args, os.path.join(self.dir, "redis.log"))
        wait_until(lambda: self.cmd("PING") == "PONG", 15, what="redis PING")
        return self

    def cmd(self, *args):
        auth = ["-a", self.password, "--no-auth-warning"] if getattr(self, "password", None) else []
        out = subprocess.run(["redis-cli", "-p", str(self.port)] + auth + [str(a) for a in args],
                             capture_output=True, timeout=20)
        return out.stdout.decode("utf-8", "replace").strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Victoria:
    def __init__(self, base, name="vm", telnet_host="127.0.0.1", telnet=None, http_put=False):
        """telnet_host: another loopback address (127.0.0.2, ...) for tests
        that move a TSD; telnet: its port (default: a free one); http_put:
        also its OpenTSDB HTTP listener (POST /api/put) on self.put_port."""
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir, exist_ok=True)
        self.http = free_port()
        self.telnet_host = telnet_host
        self.telnet = telnet or free_port()
        self.put_port = free_port() if http_put else None
        self.proc = None

    def start(self):
        args = ["victoria-metrics", "-storageDataPath=" + self.dir,
                "-httpListenAddr=127.0.0.1:%d" % self.http,
                "-opentsdbListenAddr=%s:%d" % (self.telnet_host, self.telnet),
                "-retentionPeriod=100y", "-search.latencyOffset=0s",
                "-search.disableCache", "-loggerLevel=ERROR"]
        if self.put_port:
            args.append("-opentsdbHTTPListenAddr=127.0.0.1:%d" % self.put_port)
        self.proc = spawn(args, os.path.join(self.dir, "vm.log"))
        wait_until(lambda: http_get(self.url("/health"))[0] == 200, 30, what="victoria health")
        return self

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http, path)

    def flush(self):
        http_get(self.url("/internal/force_flush"))

    def count(self, metric):
        """Exact number of stored points of a metric, duplicates included."""
        self.flush()
        q = urllib.request.quote('sum(count_over_time({__name__="%s"}[10y]))' % metric)
        t = int(time.time()) + 2 * 86400
        _, body = http_get(self.url("/api/v1/query?query=%s&time=%d" % (q, t)), timeout=60)
        res = json.loads(body)["data"]["result"]
        return int(float(res[0]["value"][1])) if res else 0

    def value_sum(self, metric):
        """Sum of the values of every stored point of a metric, duplicates
        included (with count(): a loss and a duplicate cannot cancel out
        unless their values are equal)."""
        self.flush()
        q = urllib.request.quote('sum(sum_over_time({__name__="%s"}[10y]))' % metric)
        t = int(time.time()) + 2 * 86400
        _, body = http_get(self.url("/api/v1/query?query=%s&time=%d" % (q, t)), timeout=60)
        res = json.loads(body)["data"]["result"]
        return float(res[0]["value"][1]) if res else 0.0

    def export(self, match):
        """{(tags tuple) -> {ts_seconds: value}} for a series selector."""
        self.flush()
        t = int(time.time()) + 2 * 86400
        q = urllib.request.quote(match)
        _, body = http_get(self.url("/api/v1/export?match[]=%s&start=0&end=%d" % (q, t)),
                           timeout=120)
        out = {}
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            o = json.loads(line)
            m = o["metric"]
            key = tuple(sorted((k, v) for k, v in m.items() if k != "__name__"))
            d = out.setdefault(key, {})
            for ts, v in zip(o["timestamps"], o["values"]):
                d.setdefault(ts // 1000, []).append(v)
        return out

    def wait_count(self, metric, n, timeout=90, settle=1.0):
        """Polls until the metric holds n points (or the timeout), waits
        `settle` seconds more for stragglers (duplicates would show), and
        returns the final count."""
        deadline = time.time() + timeout
        while time.time() < deadline and self.count(metric) < n:
            time.sleep(0.3)
        if settle:
            time.sleep(settle)
        return self.count(metric)

    def accepts(self, listener="opentsdb"):
        """Connections accepted so far by a listener: "opentsdb" (telnet),
        "opentsdbhttp" (POST /api/put)."""
        _, body = http_get(self.url("/metrics"))
        n = 0
        for line in body.decode().splitlines():
            if line.startswith("vm_tcplistener_accepts_total") and \
                    'name="%s"' % listener in line:
                n += int(float(line.split()[-1]))
        return n

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def freeze(self):
        stop_process(self.proc.pid)

    def thaw(self):
        os.kill(self.proc.pid, signal.SIGCONT)


class FakeHttpTsd:
    """tests/integration/fakehttptsd.py: a scripted TSD answering /api/put
    as OpenTSDB does (see its docstring); config() changes its behaviour,
    stats() and count() read what it stored."""

    def __init__(self, base, name="fakehttptsd"):
        self.port = free_port()
        self.log = os.path.join(base, "%s-%d.log" % (name, self.port))
        self.proc = None

    def start(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakehttptsd.py")
        self.proc = spawn([sys.executable, script, str(self.port)], self.log)
        wait_until(lambda: self._up(), 15, what="fake HTTP TSD up")
        return self

    def _up(self):
        try:
            return http_get(self.url("/fake/stats"), timeout=1)[0] == 200
        except OSError:
            return False

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def config(self, **kw):
        http_req(self.url("/fake/config"), body=json.dumps(kw).encode(), method="POST")

    def stats(self):
        return json.loads(http_get(self.url("/fake/stats"), timeout=10)[1])

    def count(self, prefix=""):
        return json.loads(http_get(self.url("/fake/count?prefix=" + prefix), timeout=30)[1])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class TsSink:
    """tests/tools/tssink, the scripted fake TSD: `mode` and its options
    (see tssink --help); stats() reads its stats file (fresh: SIGUSR1)."""

    def __init__(self, base, mode="count", extra=None, name="sink", port=None):
        self.port = port or free_port()
        self.stats_file = os.path.join(base, "%s-%d.json" % (name, self.port))
        args = [TSSINK, "--port", str(self.port), "--mode", mode,
                "--stats-file", self.stats_file] + list(extra or [])
        self.proc = spawn(args, os.path.join(base, "%s-%d.log" % (name, self.port)))
        wait_until(lambda: os.path.exists(self.stats_file), 10, what="tssink up")

    def stats(self):
        if self.proc.poll() is None:
            try:
                mtime = os.stat(self.stats_file).st_mtime
                os.kill(self.proc.pid, signal.SIGUSR1)
                deadline = time.time() + 0.5
                while time.time() < deadline and os.stat(self.stats_file).st_mtime == mtime:
                    time.sleep(0.005)
            except OSError:
                pass
        for _ in range(50):
            try:
                with open(self.stats_file) as f:
                    return json.load(f)
            except (OSError, ValueError):
                time.sleep(0.01)
        return {}

    def wait_stable(self, key, quiet=1.0, timeout=60):
        """Waits until stats()[key] has not changed for `quiet` seconds."""
        deadline = time.time() + timeout
        last, since = None, time.time()
        while time.time() < deadline:
            v = self.stats().get(key)
            if v != last:
                last, since = v, time.time()
            elif time.time() - since >= quiet:
                return v
            time.sleep(0.1)
        return last

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)



class LineTsd(threading.Thread):
    """A scripted TSD that records, for what VictoriaMetrics' listener
    cannot show (rollup and histogram lines, the auth line): accepts on a
    free loopback port, keeps every line of every connection in order,
    answers `version` as OpenTSDB does.  With auth, the first line of a
    connection is the auth line, answered auth_reply (settable while it
    runs) when it matches and "AUTH_FAIL\\r\\n" when it does not; the
    connection stays open, as a TSD keeps it."""

    VERSION = ("net.opentsdb.tools 2.4.1 built at revision 0000000 (MINT)\n"
               "Built on 2024/01/01 00:00:00 +0000 by it@localhost:/tmp\n")

    def __init__(self, auth=None, auth_reply="AUTH_SUCCESS\r\n"):
        super().__init__(daemon=True)
        self.auth = auth
        self.auth_reply = auth_reply
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.conns = []          # [{"lines": [...], "authed": bool}]
        self.lock = threading.Lock()
        self.stopping = False
        self.start()

    def run(self):
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.lsock, selectors.EVENT_READ, None)
        while not self.stopping:
            for key, _ in sel.select(timeout=0.1):
                if key.data is None:
                    c, _ = self.lsock.accept()
                    c.setblocking(False)
                    st = {"lines": [], "authed": False, "buf": b"", "first": None}
                    with self.lock:
                        self.conns.append(st)
                    sel.register(c, selectors.EVENT_READ, (c, st))
                    continue
                c, st = key.data
                try:
                    d = c.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    d = b""
                if not d:
                    sel.unregister(c)
                    c.close()
                    continue
                st["buf"] += d
                while b"\n" in st["buf"]:
                    line, st["buf"] = st["buf"].split(b"\n", 1)
                    self._line(c, st, line.decode("latin-1"))
        for key in list(sel.get_map().values()):
            key.fileobj.close()

    def _line(self, c, st, line):
        if self.auth is not None and st["first"] is None:
            st["first"] = line
            ok = line == self.auth
            reply = self.auth_reply if ok else "AUTH_FAIL\r\n"
            st["authed"] = ok and reply is not None and reply.startswith("AUTH_SUCCESS")
            if reply:
                c.sendall(reply.encode())
            return
        with self.lock:
            st["lines"].append((line, self.auth is None or st["authed"]))
        if line == "version":
            c.sendall(self.VERSION.encode())

    def lines(self):
        """Every line received after authentication (or all without auth),
        `version` left out."""
        with self.lock:
            return [l for st in self.conns for (l, ok) in st["lines"] if l != "version"]

    def unauthenticated_lines(self):
        with self.lock:
            return [l for st in self.conns for (l, ok) in st["lines"] if not ok]

    def first_lines(self):
        with self.lock:
            return [st["first"] for st in self.conns]

    def stop(self):
        self.stopping = True
        self.join(timeout=5)
        self.lsock.close()


class Relay:
    """tsrelay with a generated configuration."""

    def __init__(self, base, backends, redis=None, listen=None, relay=None, redis_opts=None,
                 backend_opts=None, name="relay", instance="main", extra=""):
        self.base = base
        self.name = name
        self.port = free_port()
        self.listen = listen if listen is not None else [(self.port, "auto")]
        self.conf = os.path.join(base, name + ".conf")
        self.log = os.path.join(base, name + ".log")
        self.instance = instance
        self.redis = redis
        self.write_conf(backends, relay, redis_opts, backend_opts, extra)
        self.proc = None

    def write_conf(self, backends, relay=None, redis_opts=None, backend_opts=None, extra=""):
        """(Re)writes the configuration file (a reload test then sends
        SIGHUP); extra: text appended as is."""
        lines = ["[relay]"]
        for entry in self.listen:  # (port, proto), or (host, port, proto)
            host, port, proto = entry if len(entry) == 3 else ("127.0.0.1",) + tuple(entry)
            lines.append("listen = %s:%d %s" % (host, port, proto))
        opts = {"log-level": "info", "reconnect-max": "1s", "shutdown-timeout": "5s",
                "instance": self.instance}
        opts.update(relay or {})
        for k, v in opts.items():
            lines.append("%s = %s" % (k, v))
        for b in backends:
            # (name, address) or (name, address, {its own options})
            bname, addr = b[0], b[1]
            lines += ["", "[backend %s]" % bname, "address = %s" % addr]
            own = dict(backend_opts or {})
            own.update(b[2] if len(b) > 2 else {})
            for k, v in own.items():
                lines.append("%s = %s" % (k, v))
        if self.redis is not None:
            lines += ["", "[redis]", "address = 127.0.0.1:%d" % self.redis.port,
                      "prefix = it%d" % os.getpid()]
            for k, v in (redis_opts or {}).items():
                lines.append("%s = %s" % (k, v))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)

    def reload(self):
        """SIGHUP (the configuration file is read again)."""
        self.proc.send_signal(signal.SIGHUP)

    def spool_key(self, backend):
        """This relay's spool list for a backend in Redis."""
        return "it%d:%s:spool:%s" % (os.getpid(), self.instance, backend)

    def start(self, wait=True):
        self.proc = spawn([TSRELAY, "-c", self.conf], self.log)
        if wait:
            port = self.listen[0][0]
            wait_until(lambda: self._can_connect(port) or not self.alive(), 15,
                       what="tsrelay listening")
            if not self.alive():
                raise RuntimeError("tsrelay exited at its start (%r): %s" % (
                    self.proc.returncode, self.logtext()[-1500:]))
        return self

    @staticmethod
    def _can_connect(port):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            s.close()
            return True
        except OSError:
            return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def cpu_seconds(self):
        """User + system CPU time the relay used so far."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))
        except (OSError, IndexError, ValueError):
            return 0.0

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stats(self, port=None):
        """Telnet `stats` -> {(name, tag) : value}."""
        s = socket.create_connection(("127.0.0.1", port or self.listen[0][0]), timeout=5)
        s.sendall(b"stats\n")
        s.settimeout(0.5)
        data = b""
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                if data.endswith(b"\n"):
                    break
                continue
            if not d:
                break
            data += d
        s.close()
        out = {}
        for line in data.decode("utf-8", "replace").splitlines():
            w = line.split()
            if len(w) < 3 or not w[0].startswith("tsrelay."):
                continue
            tags = [t for t in w[3:] if not t.startswith("host=")]
            tag = " ".join(tags) if tags else None  # two tags: "backend=b reason=r"
            out[(w[0][8:], tag)] = float(w[2]) if "." in w[2] else int(w[2])
        return out

    def logtext(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def metrics(self, port=None, timeout=5):
        """GET /metrics -> {'name{labels}': float} (labels as printed)."""
        _, body = http_get("http://127.0.0.1:%d/metrics" % (port or self.listen[0][0]),
                           timeout=timeout)
        return parse_metrics(body.decode("utf-8", "replace"))


class ConnectProber(threading.Thread):
    """Connects every `interval` seconds, asks `version`, expects an answer;
    counts tries and failures (refused, timed out, closed unanswered)."""

    def __init__(self, port, interval=0.05):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.tries = self.failures = 0
        self.why = []
        self.stop = False

    def run(self):
        while not self.stop:
            t = time.time()
            self.tries += 1
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                s.sendall(b"version\n")
                s.settimeout(2)
                if not s.recv(4096):
                    raise OSError("closed without an answer")
                s.close()
            except OSError as e:
                self.failures += 1
                self.why.append(str(e))
            time.sleep(max(0.0, self.interval - (time.time() - t)))


class RssSampler(threading.Thread):
    """Samples a process's RSS every `interval` seconds; keeps the peak."""

    def __init__(self, relay, interval=0.1):
        super().__init__(daemon=True)
        self.relay = relay
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            r = self.relay.rss()
            if r:
                self.samples += 1
                self.peak = max(self.peak, r)
            time.sleep(self.interval)

    def stop(self):
        self._halt.set()
        self.join(timeout=2)
        return self.peak


# ---- data ------------------------------------------------------------------

def point_value(i):
    return i


def series_of(i, nseries):
    return i % nseries


def ts_of(i, nseries, t0):
    return t0 + i // nseries


def telnet_line(metric, i, nseries, t0, put=True):
    s = series_of(i, nseries)
    body = "%s %d %d host=h%d series=s%d" % (metric, ts_of(i, nseries, t0), point_value(i),
                                            s % 1000, s)
    return ("put " + body if put else body) + "\n"


def json_point(metric, i, nseries, t0):
    s = series_of(i, nseries)
    return {"metric": metric, "timestamp": ts_of(i, nseries, t0), "value": point_value(i),
            "tags": {"host": "h%d" % (s % 1000), "series": "s%d" % s}}


def frame(payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack(">I", len(payload)) + payload


def recv_all(sock, timeout=1.0, limit=1 << 20):
    sock.settimeout(timeout)
    data = b""
    try:
        while len(data) < limit:
            d = sock.recv(65536)
            if not d:
                break
            data += d
    except socket.timeout:
        pass
    except ConnectionResetError:
        pass
    return data


def start_tsload(port, points, proto="telnet", conns=1, rate=0, metric="tsload.m", series=1000,
                 start_ts=None, extra=None):
    """tests/tools/tsload in the background; finish_tsload() collects it."""
    args = [TSLOAD, "--port", str(port), "--proto", proto, "--conns", str(conns),
            "--points", str(points), "--rate", str(rate), "--metric", metric,
            "--series", str(series)]
    if start_ts is not None:
        args += ["--start-ts", str(start_ts)]
    args += extra or []
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _procs.append(p)
    return p


def run_tsload(port, points, timeout=600, **kw):
    """Runs tsload to completion; its JSON result, plus "exit" and "stderr"."""
    return finish_tsload(start_tsload(port, points, **kw), timeout=timeout)


def finish_tsload(p, timeout=600):
    out, err = p.communicate(timeout=timeout)
    lines = out.decode().strip().splitlines()
    res = json.loads(lines[-1]) if lines else {}
    res["exit"] = p.returncode
    res["stderr"] = err.decode(errors="replace")[-2000:]
    return res


class Sender(threading.Thread):
    """Rate-limited telnet sender (python fallback when tsload is not the
    point): points i = k, k+conns, ... of `total`, `rate` points/s overall,
    batched every 20 ms.  Records how long a send blocked at most."""

    def __init__(self, port, metric, total, rate, nseries, t0, conns=1, proto="telnet"):
        super().__init__(daemon=True)
        self.port, self.metric, self.total, self.rate = port, metric, total, rate
        self.nseries, self.t0, self.conns, self.proto = nseries, t0, conns, proto
        self.sent = 0
        self.max_block = 0.0
        self.error = None
        self.elapsed = 0.0

    def run(self):
        try:
            socks = [socket.create_connection(("127.0.0.1", self.port), timeout=120)
                     for _ in range(self.conns)]
            start = time.time()
            i = 0
            while i < self.total:
                due = int((time.time() - start) * self.rate) if self.rate else i + 5000
                due = min(due, self.total)
                if due <= i:
                    time.sleep(0.005)
                    continue
                for k, s in enumerate(socks):
                    idx = range(i + k, due, self.conns)
                    if self.proto == "telnet":
                        data = "".join(telnet_line(self.metric, j, self.nseries, self.t0)
                                       for j in idx).encode()
                    else:
                        data = frame("".join(telnet_line(self.metric, j, self.nseries, self.t0)
                                             for j in idx))
                    t = time.time()
                    s.sendall(data)
                    self.max_block = max(self.max_block, time.time() - t)
                self.sent = due
                i = due
            self.elapsed = time.time() - start
            for s in socks:
                s.close()
        except Exception as e:
            self.error = repr(e)
