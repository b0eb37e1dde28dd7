"""Read pass-through, streaming inside memory-limit = 16M: a scripted TSD
(fakehttp.py) serves the answers, tests/tools/tssink takes the data.

  - an answer of SIZE bytes (64 MiB in make check; 1 GiB in make
    check-long, TSRELAY_LONG=1), with Content-Length and chunked, passes
    through whole and exact while the relay's RSS stays at most twice
    memory-limit (sampled every 50 ms); so does a POST body of 64 MiB the
    other way (md5 at the TSD);
  - a client reading an answer at 100 KB/s holds one connection and one
    block: its answer arrives exact at that pace, the relay's memory does
    not grow with what the TSD could send, and meanwhile another client's
    queries through the relay answer as fast as before it started, and the
    data path moves 300,000 points at 100,000/s as fast as before, every
    one delivered.
"""

import hashlib
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import fakehttp as fh  # noqa: E402

LONG = bool(os.environ.get("TSRELAY_LONG"))
SIZE = (1 << 30) if LONG else (64 << 20)
LIMIT_MIB = 16
h.hard_timeout(600 if LONG else 150)
tap = h.Tap()
t_start = time.time()
base = h.tmpdir()
tsd = fh.FakeHttp("tsd")
sink = h.TsSink(base)
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % sink.port,
                        {"http-address": "127.0.0.1:%d" % tsd.port})],
                relay={"proxy": "tsd", "memory-limit": "%dM" % LIMIT_MIB,
                       "proxy-timeout": "30s"}).start()
bound = h.rss_bound(2 * LIMIT_MIB)


class Dechunk:
    """Chunked transfer coding decoded as bytes come (no copying per chunk)."""

    def __init__(self):
        self.raw = bytearray()
        self.pos = 0
        self.left = 0          # data bytes of the current chunk still to come
        self.crlf = 0          # bytes of a chunk's trailing CRLF still to skip
        self.done = False

    def feed(self, data):
        self.raw += data
        out = []
        while not self.done and self.pos < len(self.raw):
            if self.crlf:
                k = min(self.crlf, len(self.raw) - self.pos)
                self.pos += k
                self.crlf -= k
                continue
            if self.left:
                k = min(self.left, len(self.raw) - self.pos)
                out.append(bytes(self.raw[self.pos:self.pos + k]))
                self.pos += k
                self.left -= k
                if not self.left:
                    self.crlf = 2
                continue
            e = self.raw.find(b"\r\n", self.pos)
            if e < 0:
                break
            size = int(bytes(self.raw[self.pos:e]).split(b";")[0], 16)
            self.pos = e + 2
            self.left = size
            self.done = size == 0
        del self.raw[:self.pos]
        self.pos = 0
        return b"".join(out)


def stream(path, rate=0, limit=None, chunk=1 << 20):
    """Reads path's answer through the relay (at rate bytes/s when set, for
    at most limit bytes); (status, bytes read, pattern intact, seconds)."""
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=60)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, first = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ")[1])
    dec = Dechunk() if b"chunked" in head.lower() else None
    n, ok, t0 = 0, True, time.time()
    d = first
    while True:
        data = dec.feed(d) if dec else d
        if data:
            ok = ok and data == fh.pattern(n, len(data))
            n += len(data)
        if (dec and dec.done) or (not dec and n >= SIZE) or (limit and n >= limit):
            break
        if rate:
            time.sleep(max(0.0, t0 + n / rate - time.time()))
        d = s.recv(chunk if not rate else min(chunk, 10000))
        if not d:
            break
    took = time.time() - t0
    s.close()
    return status, n, ok, took


# ---- big answers --------------------------------------------------------------
for chunked in (False, True):
    rss = h.RssSampler(relay, interval=0.05)
    rss.start()
    st, n, ok, took = stream("/api/big?bytes=%d%s" % (SIZE, "&chunked=1" if chunked else ""))
    peak = rss.stop()
    kind = "chunked" if chunked else "Content-Length"
    tap.ok(st == 200 and n == SIZE and ok, "a %d MiB answer (%s) passes whole and exact"
           % (SIZE >> 20, kind), (st, n, ok))
    tap.note("%s: MB/s through the relay" % kind, round(SIZE / took / 1e6, 1))
    tap.ok(peak <= bound, "RSS at most twice memory-limit while it passed: peak %.1f MiB, "
           "bound %d MiB%s" % (peak / 1048576, bound >> 20, h.ASAN_NOTE))

# a big POST body, the other way
UP = 64 << 20
up = fh.pattern(3, UP)
rss = h.RssSampler(relay, interval=0.05)
rss.start()
c = fh.Conn(relay.port, timeout=60)
c.send(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % UP)
c.send(up)
st, _, b = c.response()
c.close()
peak = rss.stop()
doc = __import__("json").loads(b)
tap.ok(st == 200 and doc["body_len"] == UP and doc["body_md5"] == hashlib.md5(up).hexdigest(),
       "a 64 MiB POST body passes whole and exact (md5 at the TSD)")
tap.ok(peak <= bound, "RSS at most twice memory-limit meanwhile: peak %.1f MiB"
       % (peak / 1048576))
del up


# ---- a slow reader ----------------------------------------------------------------
def queries(n=60):
    lat = []
    for _ in range(n):
        t = time.time()
        code, _, _ = h.http_req("http://127.0.0.1:%d/api/version" % relay.port)
        lat.append(time.time() - t)
        if code != 200:
            return None
    lat.sort()
    return lat[len(lat) // 2], lat[-1]


def write_points(metric):
    t = time.time()
    res = h.run_tsload(relay.port, 300000, rate=100000, metric=metric, series=1000)
    return res["exit"], time.time() - t


q0 = queries()
e0, took0 = write_points("it.stream.base")
slow = {}


def slow_reader():
    slow["res"] = stream("/api/big?bytes=%d" % SIZE, rate=100000, limit=600000)


live0 = relay.metrics()["tsrelay_memory_live"]
rss0 = relay.rss()
t = threading.Thread(target=slow_reader)
t.start()
time.sleep(1.0)
q1 = queries()
e1, took1 = write_points("it.stream.slow")
live1 = relay.metrics()["tsrelay_memory_live"]
rss1 = relay.rss()
t.join()
st, n, ok, took = slow["res"]
tap.ok(st == 200 and n >= 600000 and ok, "the slow reader's bytes are exact (%d)" % n)
tap.ok(90000 <= n / took <= 125000, "read at its own pace: %.0f bytes/s" % (n / took))
tap.note("queries (median, max s) before / beside the slow reader",
         (tuple(round(x, 4) for x in q0), tuple(round(x, 4) for x in q1)))
tap.ok(q1 is not None and q1[0] <= 3 * q0[0] + 0.02 and q1[1] < 1.0,
       "another client's queries answer as fast beside it")
tap.note("300,000 points at 100,000/s took (s) before / beside it", (round(took0, 2),
                                                                     round(took1, 2)))
tap.ok(e0 == 0 and e1 == 0 and took1 <= took0 * 1.25 + 0.5,
       "the data path is as fast beside it")
got = sink.wait_stable("lines", quiet=1.0, timeout=60)
tap.eq(got, 600000, "every point of both runs was delivered")
tap.ok(live1 - live0 <= 2 * 65536 + 262144,
       "the relay's memory did not grow with what the TSD could send (live %+d bytes, "
       "RSS %+d KiB)" % (live1 - live0, (rss1 - rss0) // 1024))
m = relay.metrics()
tap.ok(m.get('tsrelay_proxy_answered_total{backend="tsd"}', 0) >= 120,
       "the pass-through counted the answers")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.note("duration (s)", round(time.time() - t_start, 1))
tap.done()
