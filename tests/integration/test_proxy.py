"""Read pass-through against VictoriaMetrics' HTTP API as the proxied TSD
(any HTTP server is served the same way): proxy = vm, http-conns = 4.

  - 1,000 requests on 20 keep-alive clients (queries, ranges with answers
    of hundreds of KB that VictoriaMetrics sends chunked, labels, series,
    a POST query, HEAD): every answer through tsrelay has the status and
    the bytes of the answer VictoriaMetrics gives directly;
  - VictoriaMetrics sees at most http-conns connections from the relay,
    kept open across the requests (its accept counter grows by at most
    http-conns over the run; its open connections and the relay's gauge
    never exceed it), and the relay counts the requests reused;
  - meanwhile the data path writes 200,000 points through the same relay
    and every one arrives;
  - with the pass-through on, / and /api/version and unknown paths are
    VictoriaMetrics' (its answers, not the relay's), /tsrelay/, /metrics
    and /health the relay's;
  - pipelined requests on one connection (passed and the relay's own,
    mixed) are answered in order;
  - a malformed request gets a 400 from the relay, headers over
    max-http-header-bytes a 431, neither reaches the backend;
  - a passed request counts toward max-clients: on a stats-only slot over
    it, a passed path gets 503, /metrics still answers.
"""

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import fakehttp as fh  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
t_start = time.time()
base = h.tmpdir()
vm = h.Victoria(base).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet,
                        {"http-address": "127.0.0.1:%d" % vm.http})],
                relay={"proxy": "vm", "max-clients": "60", "control-slots": "4"}).start()
T0 = int(time.time()) - 3600
METRIC = "it.proxy.m%d" % os.getpid()
NSERIES = 200

# data through the relay's data path, to query back through its pass-through
res = h.run_tsload(relay.port, NSERIES * 300, rate=0, metric=METRIC, series=NSERIES,
                   start_ts=T0)
tap.eq(vm.wait_count(METRIC, NSERIES * 300, timeout=60), NSERIES * 300,
       "the data to query arrived (%d points)" % (NSERIES * 300))

now = int(time.time())
q = urllib.parse.quote
urls = [
    "/api/v1/query?query=%s&time=%d" % (q("count(%s)" % METRIC.replace(".", "_")), now),
    "/api/v1/query?query=%s&time=%d" % (q('sum by (host) ({__name__="%s"})' % METRIC), now),
    "/api/v1/query_range?query=%s&start=%d&end=%d&step=10" % (
        q('{__name__="%s"}' % METRIC), T0, T0 + 400),
    "/api/v1/query_range?query=%s&start=%d&end=%d&step=60" % (
        q('rate({__name__="%s"}[5m])' % METRIC), T0, T0 + 600),
    "/api/v1/labels?match[]=%s" % q('{__name__="%s"}' % METRIC),
    "/api/v1/label/host/values?match[]=%s" % q('{__name__="%s"}' % METRIC),
    "/api/v1/series?match[]=%s&start=%d&end=%d" % (q('{__name__="%s",series="s7"}' % METRIC),
                                                 T0, now + 86400),
]
POST_BODY = ("query=%s&time=%d" % (q('{__name__="%s",host="h3"}' % METRIC), now)).encode()


def fetch(port, conn=None, method="GET", path="/", body=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hdrs = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    c.request(method, path, body=body, headers=hdrs)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, data, r.getheader("Content-Length"), r.getheader("Transfer-Encoding")


# what VictoriaMetrics answers directly (asked twice: it must be stable;
# every URL names METRIC, so the writes that run meanwhile cannot change it)
direct = {}
framing = {}
for u in urls:
    a, b = fetch(vm.http, path=u), fetch(vm.http, path=u)
    tap.ok(a[:2] == b[:2], "VictoriaMetrics answers %s the same twice" % u[:60])
    direct[("GET", u)] = a[:2]
    framing[u] = "chunked" if a[3] else "length"
    direct[("HEAD", u)] = (a[0], b"")
direct[("POST", "/api/v1/query")] = fetch(vm.http, method="POST", path="/api/v1/query",
                                          body=POST_BODY)[:2]
sizes = sorted(len(v[1]) for v in direct.values())
tap.note("direct answers: bytes (smallest, largest)", (sizes[0], sizes[-1]))
tap.ok("chunked" in framing.values() and "length" in framing.values() and sizes[-1] > 100000,
       "the answers include chunked ones of over 100 KB and Content-Length ones", framing)
jobs = [("GET", u) for u in urls] + [("HEAD", urls[0]), ("HEAD", urls[2]),
                                      ("POST", "/api/v1/query")]

def vm_http_conns():
    _, body = h.http_get(vm.url("/metrics"))
    acc = opn = 0
    for line in body.decode().splitlines():
        if 'name="http"' in line and line.startswith("vm_tcplistener_accepts_total"):
            acc = int(float(line.split()[-1]))
        if 'name="http"' in line and line.startswith("vm_tcplistener_conns"):
            opn = int(float(line.split()[-1]))
    return acc, opn


acc0, open0 = vm_http_conns()
m0 = relay.metrics()

CLIENTS, EACH = 20, 50
mismatch, done, errors = [], [0], []
relay_conns_seen = []
stop = threading.Event()


def client(k):
    c = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=60)
    try:
        for i in range(EACH):
            method, u = jobs[(k * 7 + i) % len(jobs)]
            body = POST_BODY if method == "POST" else None
            got = fetch(relay.port, c, method, u, body)[:2]
            if got != direct[(method, u)]:
                mismatch.append((method, u, got[0], len(got[1]), len(direct[(method, u)][1])))
            done[0] += 1
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))
    finally:
        c.close()


def watch():
    while not stop.is_set():
        m = relay.metrics()
        relay_conns_seen.append(m.get('tsrelay_proxy_connections{backend="vm"}', 0))
        time.sleep(0.05)


load = h.start_tsload(relay.port, 200000, rate=50000, metric=METRIC + ".live", series=500,
                      start_ts=T0)
w = threading.Thread(target=watch)
w.start()
t0 = time.time()
ts = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
took = time.time() - t0
stop.set()
w.join()
acc1, open1 = vm_http_conns()
m1 = relay.metrics()
tap.eq(errors, [], "no client failed")
tap.eq(done[0], CLIENTS * EACH, "%d requests on %d clients answered" % (CLIENTS * EACH, CLIENTS))
tap.ok(not mismatch, "every answer through tsrelay is VictoriaMetrics' own, status and bytes",
       mismatch[:10])
tap.note("1,000 requests took (s)", round(took, 2))
# the scrape that reads the counter is an accept of its own
tap.ok(acc1 - acc0 - 1 <= 4, "VictoriaMetrics accepted %d connections from the relay for the "
       "1,000 requests (http-conns = 4): kept open across requests" % (acc1 - acc0 - 1))
tap.ok(open1 - 1 <= 4, "VictoriaMetrics had %d connections open from the relay at the end "
       "(http-conns = 4)" % (open1 - 1))
tap.ok(relay_conns_seen and max(relay_conns_seen) <= 4,
       "the relay never had more than http-conns connections (most: %s, %d looks)"
       % (max(relay_conns_seen or [0]), len(relay_conns_seen)))
REUSED = 'tsrelay_proxy_reused_total{backend="vm"}'
reused = m1[REUSED] - m0[REUSED]
tap.ok(reused >= CLIENTS * EACH - 4, "the relay counted %d of them on reused connections"
       % reused)
res = h.finish_tsload(load, timeout=120)
tap.eq(res["exit"], 0, "the data path ran meanwhile (200,000 points at 50,000/s)")
tap.eq(vm.wait_count(METRIC + ".live", 200000, timeout=60), 200000,
       "and every point of it arrived")

# ---- whose path is whose ------------------------------------------------------------
code, body, hdr = h.http_req("http://127.0.0.1:%d/" % relay.port, follow=False)
dcode, dbody, _ = h.http_req(vm.url("/"), follow=False)
tap.ok((code, body) == (dcode, dbody) and "tsrelay" not in hdr.get("Server", ""),
       "/ is VictoriaMetrics' (%d, %d bytes)" % (code, len(body)))
# VictoriaMetrics answers these 400 naming the peer and X-Forwarded-For
for p in ("/api/version", "/api/stats", "/nope/at/all"):
    code, body, _ = h.http_req("http://127.0.0.1:%d%s" % (relay.port, p))
    dcode, dbody, _ = h.http_req(vm.url(p))
    said = b'unsupported path requested: "%s"' % p.encode()
    tap.ok(code == dcode and said in body and said in dbody and
           b'X-Forwarded-For: "127.0.0.1"' in body,
           "%s is VictoriaMetrics' answer (%d), which saw X-Forwarded-For" % (p, code), body)
for p, ctype in (("/tsrelay/", "text/html"), ("/metrics", "text/plain"),
                 ("/health", "text/plain"), ("/tsrelay/api/stats", "application/json")):
    code, body, hdr = h.http_req("http://127.0.0.1:%d%s" % (relay.port, p))
    tap.ok(code == 200 and hdr.get("Server", "").startswith("tsrelay") and
           hdr.get("Content-Type", "").startswith(ctype), "%s is the relay's" % p)

# ---- pipelining, malformed, header bound --------------------------------------------
for u in (urls[0], urls[4], urls[5]):  # the data changed meanwhile
    direct[("GET", u)] = fetch(vm.http, path=u)[:2]
c = fh.Conn(relay.port)
order = [urls[4], "/health", urls[0], "/tsrelay/api/version", urls[5]]
c.send(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in order))
got = [c.response() for _ in order]
want = [direct[("GET", urls[4])], None, direct[("GET", urls[0])], None, direct[("GET", urls[5])]]
ok = all((st, b) == w if w else st == 200 for (st, _, b), w in zip(got, want)) and \
    b"ok: 1 of 1" in got[1][2] and json.loads(got[3][2]).get("version")
tap.ok(ok, "5 pipelined requests, passed and the relay's own mixed, answered in order",
       [(st, b[:40]) for st, _, b in got])
c.close()
p0 = relay.metrics()['tsrelay_proxy_requests_total{backend="vm"}']
c = fh.Conn(relay.port)
c.send(b"GET /api/v1/labels HTTP/1.1\r\nHost x\r\n\r\n")
st, hd, b = c.response()
tap.ok(st == 400 and hd.get("server", "").startswith("tsrelay") and b"error" in b,
       "a malformed request: 400 from the relay", (st, b))
c.close()
c = fh.Conn(relay.port)
c.send(b"GET /api/v1/labels HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n")
st, hd, b = c.response()
tap.ok(st == 431 and b"max-http-header-bytes" in b,
       "headers over max-http-header-bytes (8K): 431 from the relay", (st, b))
c.close()
tap.eq(relay.metrics()['tsrelay_proxy_requests_total{backend="vm"}'] - p0, 0,
       "neither reached the backend")

# ---- max-clients ---------------------------------------------------------------------
# a connection closed above counts until the relay has read its end (or
# its linger ran out): under load that is later than the next connects,
# which would then take stats-only slots and leave a place for the one
# that must find none
h.wait_until(lambda: sum(v for (k, _), v in relay.stats().items()
                         if k == "clients.current") <= 1, 30,
             what="the connections above gone (the stats one itself aside)")
idle = []
for _ in range(60):
    s = h.socket.create_connection(("127.0.0.1", relay.port), timeout=30)
    s.sendall(b"version\n")
    got = b""
    while got.count(b"\n") < 2:  # answered: accepted and counted before the next
        d = s.recv(4096)
        if not d:
            break
        got += d
    idle.append(s)
slot = fh.Conn(relay.port)
slot.send(b"GET /api/v1/labels HTTP/1.1\r\nHost: x\r\n\r\n")
st, _, b = slot.response()
tap.ok(st == 503 and b"max-clients" in b,
       "a passed request counts as a client: over max-clients, a stats-only slot gets 503",
       (st, b))
slot.close()
code, _, _ = h.http_req("http://127.0.0.1:%d/metrics" % relay.port)
tap.eq(code, 200, "while /metrics still answers on such a slot")
for s in idle:
    s.close()
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.note("duration (s)", round(time.time() - t_start, 1))
tap.done()
