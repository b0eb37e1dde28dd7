"""Backends by host name, resolved without blocking the loop (issue 12).

A scripted DNS server (dnsserver.py, UDP on a loopback port) is tsrelay's
only resolver ([relay] dns-servers).  Backend "moving" is the name N, a
victoria-metrics that moves between loopback addresses (127.0.0.2, .3,
.4, same port) while tsrelay runs; backend "fixed" is a numeric address, a
line sink that timestamps what it receives.  routing = all: every point
goes to both.

  1. start with N's answer delayed 3 s: tsrelay listens at once, the
     numeric backend gets points at once (and costs no DNS query), the
     named one once N resolves;
  2. the TSD moves to .3: while N is NXDOMAIN its lookups fail (counted,
     retried with backoff); once N names .3 the points arrive there, with
     no restart;
  3. the TSD moves to .4 with N's answer taking 5 s: meanwhile the numeric
     backend keeps getting points within milliseconds and /metrics
     answers at once; then the points queued for N arrive at .4.
The spool's Redis is named too ([redis] address = a name the DNS server
answers), so it is resolved through the same path before connecting.
"""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from dnsserver import DnsServer  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()


class LineSink(threading.Thread):
    """A TSD stand-in that keeps (arrival time, line) of what it reads."""

    def __init__(self):
        super().__init__(daemon=True)
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.lock = threading.Lock()
        self.arrivals = {}   # line -> first arrival time

    def run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        buf = b""
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                return
            if not d:
                return
            now = time.time()
            buf += d
            *lines, buf = buf.split(b"\n")
            with self.lock:
                for ln in lines:
                    self.arrivals.setdefault(ln.decode(), now)

    def count(self, metric):
        with self.lock:
            return sum(1 for ln in self.arrivals if ln.split(" ")[1:2] == [metric])

    def arrival(self, line):
        with self.lock:
            return self.arrivals.get(line.rstrip("\n"))


dns = DnsServer()
NAME = "tsd.it%d.test" % os.getpid()
RNAME = "redis.it%d.test" % os.getpid()
redis = h.Redis(base).start()
dns.set(RNAME, ["127.0.0.1"])
PORT = h.free_port()
sink = LineSink()
sink.start()
T0 = int(time.time()) - 3600

vm_a = h.Victoria(base, "vm-a", telnet_host="127.0.0.2", telnet=PORT).start()
dns.set(NAME, ["127.0.0.2"], delay=3.0)
relay = h.Relay(base, [("moving", "%s:%d" % (NAME, PORT)), ("fixed", "127.0.0.1:%d" % sink.port)],
                relay={"routing": "all", "dns-servers": "127.0.0.1:%d" % dns.port,
                       "resolve-timeout": "8s", "reconnect-min": "100ms",
                       "reconnect-max": "1s"},
                redis=redis, redis_opts={"address": "%s:%d" % (RNAME, redis.port)})
t = time.time()
relay.start()
started = time.time() - t
tap.ok(started < 2.0, "tsrelay listens at once while the backend's name takes 3 s to resolve "
       "(%.2f s)" % started)

client = socket.create_connection(("127.0.0.1", relay.port), timeout=10)


def send(metric, first, n):
    """n points of metric (values first..first+n-1); returns their lines."""
    lines = ["put %s %d %d host=h%d" % (metric, T0 + i, i, i % 7) for i in range(first, first + n)]
    client.sendall(("\n".join(lines) + "\n").encode())
    return lines


def metrics_time():
    t = time.time()
    status, body = h.http_get("http://127.0.0.1:%d/metrics" % relay.port, timeout=5)
    return time.time() - t if status == 200 and b"tsrelay_backend_resolve_failures" in body \
        else 99.0


def stat(name, backend=None):
    return relay.stats().get((name, "backend=%s" % backend if backend else None), 0)


# ---- 1. start: the name resolves slowly, the numeric backend at once ------
N1 = 2000
m1 = "it.dns.start.m%d" % os.getpid()
t_send = time.time()
lines = send(m1, 0, N1)
h.wait_until(lambda: sink.count(m1) == N1, 10, what="the fixed backend's points")
lat = sink.arrival(lines[-1]) - t_send
tap.ok(lat < 1.0, "the numeric backend got its points at once while the name resolved "
       "(last after %.3f s)" % lat)
mt = metrics_time()
tap.ok(mt < 0.5, "/metrics answers at once meanwhile (%.3f s)" % mt)
got = vm_a.wait_count(m1, N1, timeout=30)
took = time.time() - t_send
tap.eq(got, N1, "the named backend got every point once its name resolved")
tap.ok(took >= 2.0, "... and not before its slow answer (%.1f s after sending)" % took)
tap.ok(dns.count(NAME) >= 1 and dns.count() == dns.count(NAME) + dns.count(RNAME),
       "the name was asked of the scripted DNS server; the numeric address never was "
       "(%d queries, %d for the name)" % (dns.count(), dns.count(NAME)))
tap.ok(stat("spool.connected") == 1 and dns.count(RNAME) >= 1,
       "the spool's Redis, named too, was resolved and connected (%d queries)"
       % dns.count(RNAME))

# ---- 2. the TSD moves to 127.0.0.3; the name fails for a while -------------
vm_b = h.Victoria(base, "vm-b", telnet_host="127.0.0.3", telnet=PORT).start()
dns.set(NAME, mode="nxdomain")
fails0 = stat("backend.resolve_failures", "moving")
vm_a.stop()
N2 = 2000
m2 = "it.dns.move.m%d" % os.getpid()
send(m2, 0, N2)
h.wait_until(lambda: stat("backend.resolve_failures", "moving") >= fails0 + 2, 20,
             what="failed lookups counted")
fails = stat("backend.resolve_failures", "moving") - fails0
tap.ok(fails >= 2, "NXDOMAIN: the failed lookups are counted and retried (%d so far)" % fails)
tap.ok("cannot resolve %s" % NAME in relay.logtext(), "the failure is logged with the name")
tap.eq(sink.count(m2), N2, "the numeric backend was not held up by the failing name")
dns.set(NAME, ["127.0.0.3"])
got = vm_b.wait_count(m2, N2, timeout=30)
tap.eq(got, N2, "the name now says 127.0.0.3: every point reached the moved TSD")
tap.ok(relay.alive(), "... without a restart")

# ---- 3. the TSD moves to 127.0.0.4; the answer takes 5 s -------------------
vm_c = h.Victoria(base, "vm-c", telnet_host="127.0.0.4", telnet=PORT).start()
dns.set(NAME, ["127.0.0.4"], delay=5.0)
fails0 = stat("backend.resolve_failures", "moving")
q0 = dns.count(NAME)
m3 = "it.dns.slow.m%d" % os.getpid()
vm_b.stop()
t_stop = time.time()
worst_lat, worst_metrics, sent3, k = 0.0, 0.0, 0, 0
while time.time() - t_stop < 6.5:
    t_send = time.time()
    batch = send(m3, sent3, 50)
    sent3 += 50
    h.wait_until(lambda: sink.arrival(batch[-1]) is not None, 5, interval=0.002,
                 what="a batch at the numeric backend")
    worst_lat = max(worst_lat, sink.arrival(batch[-1]) - t_send)
    if k % 4 == 0:
        worst_metrics = max(worst_metrics, metrics_time())
    k += 1
    time.sleep(0.2)
asked = [t for (t, n, _) in dns.log if n == NAME and t >= t_stop]
tap.ok(dns.count(NAME) > q0 and asked and asked[0] - t_stop < 3.0,
       "the connection's failure made tsrelay ask for the name again (%.2f s after)"
       % ((asked[0] - t_stop) if asked else -1))
tap.ok(worst_lat < 0.5, "while the name took 5 s, %d points reached the numeric backend, "
       "each batch within %.3f s" % (sent3, worst_lat))
tap.ok(worst_metrics < 0.5, "... and /metrics answered within %.3f s" % worst_metrics)
got = vm_c.wait_count(m3, sent3, timeout=30)
took = time.time() - t_stop
tap.eq(got, sent3, "the points queued meanwhile reached the TSD at 127.0.0.4")
tap.eq(stat("backend.resolve_failures", "moving") - fails0, 0,
       "a 5 s answer within resolve-timeout (8 s) is not a failure")
tap.eq(vm_c.count(m1) + vm_c.count(m2), 0, "nothing was sent twice to the new address")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.note("phase 3: points at the new address after", "%.1f s" % took)
dns.stop()
tap.done()
