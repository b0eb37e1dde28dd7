"""test_herd.py -- bounded memory never costs progress (issue 10).

memory-limit = 16M, max-frame-bytes = 1M, overflow = block, a real
victoria-metrics, no Redis.  At once:
  - 40 framed clients each send two ~0.9 MB frames of valid points;
  - 300 telnet clients each send 500 lines, then a 20 KB partial line (a
    valid point padded with spaces) which they hold 2 s and then complete;
  - one small telnet client sends 5,000 points;
  - /metrics is asked every 0.3 s on the same port.
Every point arrives exactly once (counted in victoria-metrics), nothing is
dropped, no connection is refused, /metrics answers every time within 2 s
as the issue asks (10 s in a sanitizer build, whose every allocation is
slow; the slowest answer is a TAP note: 0.06-0.53 s measured, ASan
included),
RSS stays within 2x the limit, and the waiting clients are visible in the
stats while it lasts (so stats answered while they waited).  Then the
same with 50 HTTP clients posting ~2.5 MB (raw) gzip /api/put bodies at
once: every request answered 204 and every point of them arrives.
"""

import gzip
import os
import socket
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

tap = h.Tap()
h.hard_timeout(900)
base = h.tmpdir()
LIMIT_MIB = 16
T0 = 1600000000

vm = h.Victoria(base).start()


# s: a /metrics that waited for the herd would not answer in it
METRICS_BOUND = 10.0 if h.SANITIZED else 2.0


class Poller(threading.Thread):
    """Asks /metrics every 0.3 s; keeps the slowest answer and failures."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.asked, self.failed, self.slowest = port, 0, [], 0.0
        self.samples = []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            t = time.time()
            try:
                status, body = h.http_get("http://127.0.0.1:%d/metrics" % self.port,
                                          timeout=METRICS_BOUND)
                took = time.time() - t
                if status != 200:
                    self.failed.append("status %d" % status)
                else:
                    self.samples.append(h.parse_metrics(body.decode()))
                self.slowest = max(self.slowest, took)
            except Exception as e:  # a timeout is a failure of the guarantee
                self.failed.append(repr(e)[:120])
                self.slowest = max(self.slowest, time.time() - t)
            self.asked += 1
            self._halt.wait(0.3)

    def stop(self):
        self._halt.set()
        self.join(timeout=5)


def telnet_client(port, k, errors, partial_hold):
    """500 lines, then a 20 KB partial line completed after partial_hold s."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=120)
        lines = "".join("put herd.t %d %d host=c%d\n" % (T0 + i, i, k) for i in range(500))
        s.sendall(lines.encode())
        partial = ("put herd.t %d 500 host=c%d" % (T0 + 500, k)) + " " * 20000
        s.sendall(partial.encode())
        time.sleep(partial_hold)
        s.sendall(b"\n")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(60)
        data = s.recv(4096)  # the relay closes after our FIN; errors would come first
        if data:
            errors.append("client %d got: %r" % (k, data[:200]))
        s.close()
    except Exception as e:
        errors.append("client %d: %r" % (k, e))


def good_client(port, result):
    t = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=120)
        for b in range(50):
            s.sendall("".join("put herd.g %d %d host=good\n" % (T0 + i, i)
                              for i in range(b * 100, b * 100 + 100)).encode())
            time.sleep(0.01)
        s.close()
        result["sent_in"] = time.time() - t
    except Exception as e:
        result["error"] = repr(e)


# ---- A: framed and telnet herd ------------------------------------------------

relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % vm.telnet)],
                relay={"memory-limit": "%dM" % LIMIT_MIB, "max-frame-bytes": "1M",
                       "overflow": "block"}).start()
port = relay.port
rss = h.RssSampler(relay, interval=0.05)
rss.start()
poller = Poller(port)
poller.start()

FRAME_POINTS = 19000          # ~0.9 MB of text lines per frame
NFRAMED, NTELNET = 40, 300
framed_total = NFRAMED * 2 * FRAME_POINTS
t_start = time.time()
loader = h.start_tsload(port, framed_total, proto="framed", conns=NFRAMED, metric="herd.f",
                        series=5000, start_ts=T0, extra=["--batch", str(FRAME_POINTS)])
errors = []
tclients = [threading.Thread(target=telnet_client, args=(port, k, errors, 2.0), daemon=True)
            for k in range(NTELNET)]
for t in tclients:
    t.start()
good = {}
gthread = threading.Thread(target=good_client, args=(port, good), daemon=True)
gthread.start()

# while the herd is on, the waiting shows in the stats
waiting_seen = 0
deadline = time.time() + 20
while time.time() < deadline and any(t.is_alive() for t in tclients):
    if poller.samples:
        m = poller.samples[-1]
        waiting_seen = max(waiting_seen, m.get("tsrelay_clients_waiting_memory", 0) +
                           m.get("tsrelay_clients_waiting_room", 0))
    time.sleep(0.2)
for t in tclients:
    t.join(timeout=300)
gthread.join(timeout=300)
res = h.finish_tsload(loader, timeout=600)
tap.ok(res["exit"] == 0 and res["sent"] == framed_total,
       "40 framed clients sent two ~0.9 MB frames each (%d points)" % res.get("sent", 0),
       res.get("stderr"))
tap.ok(not errors, "300 telnet clients sent 500 lines and a 20 KB partial line each, "
       "nobody refused or answered with an error", "\n".join(errors[:10]))
tap.ok("error" not in good, "the small client sent its 5,000 points (in %.1f s)"
       % good.get("sent_in", -1), good.get("error"))

want = {"herd.f": framed_total, "herd.t": NTELNET * 501, "herd.g": 5000}
got = {}
for metric, n in want.items():
    got[metric] = vm.wait_count(metric, n, timeout=300)
elapsed = time.time() - t_start
for metric, n in want.items():
    tap.eq(got[metric], n, "every %s point arrived exactly once" % metric)
tap.note("herd A: all %d points delivered in (s)" % sum(want.values()), "%.1f" % elapsed)

poller.stop()
peak = rss.stop()
stats = relay.stats()
tap.eq(stats.get(("points.dropped", None)), 0, "points_dropped is 0 under overflow = block")
tap.eq(stats.get(("clients.rejected", None)), 0, "no connection refused below max-clients")
tap.eq(stats.get(("memory.input_forced", None)), 0, "input never held past input-memory")
tap.ok(not poller.failed and poller.slowest <= METRICS_BOUND,
       "/metrics answered every time (%d asked)" % poller.asked, "\n".join(poller.failed[:5]))
tap.note("herd A: slowest /metrics answer (s)", "%.2f" % poller.slowest)
tap.ok(poller.asked >= 5, "/metrics was asked during the herd (%d times)" % poller.asked)
tap.ok(waiting_seen > 0, "clients waiting for memory or room showed in /metrics (max %d)"
       % waiting_seen)
tap.ok(stats.get(("admission.waits", None), 0) > 0,
       "units waited for admission (%d) and were all granted"
       % stats.get(("admission.waits", None), 0))
tap.eq(stats.get(("clients.waiting_memory", None)), 0, "nobody waits any more")
tap.ok(peak <= h.rss_bound(2 * LIMIT_MIB), "peak RSS %.1f MiB <= 2x memory-limit%s"
       % (peak / 1048576.0, h.ASAN_NOTE))
tap.note("herd A peak RSS (MiB)", "%.1f" % (peak / 1048576.0))
recv = sum(v for (k, tag), v in stats.items() if k == "points.received")
tap.eq(recv, stats.get(("points.forwarded", None)),
       "received = forwarded at the end (nothing queued, spooled, invalid or dropped)")
tap.eq(relay.stop(), 0, "tsrelay exits 0")

# ---- B: HTTP herd ------------------------------------------------------------

NHTTP, HPOINTS = 50, 30000    # ~2.5 MB of JSON per request


def body(k):
    dps = ",".join('{"metric":"herd.h","timestamp":%d,"value":%d,"tags":{"c":"c%d","x":"abc"}}'
                   % (T0 + i, i, k) for i in range(HPOINTS))
    raw = ("[" + dps + "]").encode()
    return len(raw), gzip.compress(raw, compresslevel=1)


bodies = [body(k) for k in range(NHTTP)]
tap.note("HTTP body raw / gzip (MB)", "%.2f / %.2f" % (bodies[0][0] / 1e6, len(bodies[0][1]) / 1e6))

relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % vm.telnet)], name="relay-http",
                relay={"memory-limit": "%dM" % LIMIT_MIB, "max-http-body-bytes": "8M",
                       "overflow": "block"}).start()
rss = h.RssSampler(relay, interval=0.05)
rss.start()
poller = Poller(relay.port)
poller.start()
answers = {}


def http_client(k):
    codes = []
    for attempt in range(200):
        st, b, _ = h.http_req("http://127.0.0.1:%d/api/put" % relay.port, body=bodies[k][1],
                              method="POST", headers={"Content-Encoding": "gzip",
                                                      "Content-Type": "application/json"},
                              timeout=300)
        codes.append(st)
        if st != 503:
            break
        time.sleep(0.2)  # an agent retries a 503
    answers[k] = codes


t_start = time.time()
hthreads = [threading.Thread(target=http_client, args=(k,), daemon=True) for k in range(NHTTP)]
for t in hthreads:
    t.start()
for t in hthreads:
    t.join(timeout=600)
final = [answers.get(k, [None])[-1] for k in range(NHTTP)]
n503 = sum(c.count(503) for c in answers.values())
tap.ok(all(c == 204 for c in final), "all 50 requests end with 204 (503s on the way: %d)"
       % n503, repr(final))
got = vm.wait_count("herd.h", NHTTP * HPOINTS, timeout=300)
tap.eq(got, NHTTP * HPOINTS, "every point of every request answered 204 arrived exactly once")
tap.note("herd B: %d points delivered in (s)" % (NHTTP * HPOINTS), "%.1f" % (time.time() - t_start))
poller.stop()
peak = rss.stop()
stats = relay.stats()
tap.eq(stats.get(("points.dropped", None)), 0, "points_dropped is 0")
tap.ok(not poller.failed and poller.slowest <= METRICS_BOUND,
       "/metrics answered every time during the HTTP herd (%d asked)" % poller.asked,
       "\n".join(poller.failed[:5]))
tap.note("herd B: slowest /metrics answer (s)", "%.2f" % poller.slowest)
tap.ok(peak <= h.rss_bound(2 * LIMIT_MIB), "peak RSS %.1f MiB <= 2x memory-limit%s"
       % (peak / 1048576.0, h.ASAN_NOTE))
tap.note("herd B peak RSS (MiB)", "%.1f" % (peak / 1048576.0))
tap.eq(relay.stop(), 0, "tsrelay exits 0")
tap.done()
