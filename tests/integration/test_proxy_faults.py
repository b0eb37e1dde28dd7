"""Read pass-through against scripted TSDs (tests/integration/fakehttp.py)
for what a real one cannot be told to do: two backends A and B, proxy =
A, B, http-conns = 2, proxy-timeout = 1s, proxy-queue-timeout = 500ms.

  - headers: hop-by-hop ones dropped both ways (Connection and what it
    names, Keep-Alive, TE, Upgrade, Proxy-Authorization), Host kept,
    X-Forwarded-For extended with the client's address;
  - bodies: a 3 MiB POST by Content-Length and a chunked one arrive whole
    (md5); Expect: 100-continue is answered by the relay and not passed;
  - the backend answers 500: passed as it is (its body, not the relay's);
  - it closes mid-answer: the client's connection is closed, the answer
    cut (never completed with something else); counted;
  - it stalls: 504 in the TSD's JSON shape after proxy-timeout; a client
    whose body pauses longer than that is not the backend stalling, and
    clients whose bodies stop for good are cut by their read-timeout,
    their backend connections freed;
  - it closes before answering: a GET is tried again on B and answered
    (once only); a POST is not (502);
  - no free connection within proxy-queue-timeout: 503;
  - A down: everything goes to B (a request refused by A was never
    written: any method may go on); both down: 502 at once, saying so;
  - a malformed chunked body after the head went to the backend: 400 from
    the relay, and the backend never gets a whole request;
  - Chromium loads the TSD's UI through the relay at / (its script's own
    request passes too) and tsrelay's page at /tsrelay/;
  - SIGHUP changes the proxy list, turns the pass-through off (/ redirects
    again) and on.
"""

import hashlib
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import fakehttp as fh  # noqa: E402

h.hard_timeout(150)
tap = h.Tap()
t_start = time.time()
base = h.tmpdir()
A = fh.FakeHttp("A")
B = fh.FakeHttp("B")
sink = h.TsSink(base)
BACKENDS = [("A", "127.0.0.1:%d" % sink.port, {"http-address": "127.0.0.1:%d" % A.port,
                                               "http-conns": "2"}),
            ("B", "127.0.0.1:%d" % sink.port, {"http-address": "127.0.0.1:%d" % B.port,
                                               "http-conns": "2"})]
OPTS = {"proxy": "A, B", "proxy-timeout": "1s", "proxy-queue-timeout": "500ms",
        "proxy-connect-timeout": "500ms"}
relay = h.Relay(base, BACKENDS, relay=OPTS).start()
url = "http://127.0.0.1:%d" % relay.port


def metric(name):
    return relay.metrics().get(name, 0)


def echo(extra=b"", method=b"GET", body=b""):
    c = fh.Conn(relay.port)
    c.send(method + b" /api/echo?x=1 HTTP/1.1\r\nHost: client.example:4242\r\n" + extra +
           (b"Content-Length: %d\r\n" % len(body) if body else b"") + b"\r\n" + body)
    st, hd, b = c.response()
    c.close()
    return st, hd, json.loads(b)


# ---- headers ------------------------------------------------------------------
st, hd, got = echo(b"Connection: keep-alive, X-Drop-Me\r\nX-Drop-Me: 1\r\nKeep-Alive: 300\r\n"
                   b"TE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: Basic eA==\r\n"
                   b"X-Forwarded-For: 1.2.3.4\r\nX-Keep: yes\r\n")
names = [k.lower() for k, v in got["headers"]]
tap.eq(st, 200, "GET /api/echo passes (200)")
tap.ok(not {"connection", "x-drop-me", "keep-alive", "te", "upgrade", "proxy-authorization"}
       & set(names), "hop-by-hop request headers are dropped (and what Connection names)",
       names)
hv = {k.lower(): v for k, v in got["headers"]}
tap.eq(hv.get("x-forwarded-for"), "1.2.3.4, 127.0.0.1",
       "X-Forwarded-For: the client's value, then the client's address")
tap.ok(hv.get("host") == "client.example:4242" and hv.get("x-keep") == "yes",
       "Host and other end-to-end headers arrive as sent")
tap.eq(got["target"], "/api/echo?x=1", "the target arrives as sent")
tap.ok("x-internal" not in hd and "keep-alive" not in hd and hd.get("x-backend") == "A" and
       hd.get("connection") == "keep-alive",
       "the answer's hop-by-hop headers are dropped, its own kept", hd)

# ---- bodies ---------------------------------------------------------------------
big = fh.pattern(7, 3 << 20)
st, _, got = echo(method=b"POST", body=big)
tap.ok(st == 200 and got["body_len"] == len(big) and
       got["body_md5"] == hashlib.md5(big).hexdigest(),
       "a 3 MiB POST body (Content-Length) arrives whole (md5)")
c = fh.Conn(relay.port)
c.send(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
for i in range(0, len(big), 500000):
    part = big[i:i + 500000]
    c.send(b"%x\r\n" % len(part) + part + b"\r\n")
c.send(b"0\r\n\r\n")
st, _, b = c.response()
got = json.loads(b)
tap.ok(st == 200 and got["body_len"] == len(big) and
       got["body_md5"] == hashlib.md5(big).hexdigest(),
       "a 3 MiB chunked POST body arrives whole (md5)")
c.close()
# a client slower than proxy-timeout between two parts of its body: the
# wait is the client's (bounded by its read-timeout), not a stall of the
# backend (found under load: such an upload was answered 504 and reset)
c = fh.Conn(relay.port)
c.send(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
time.sleep(1.6)
c.send(b"world")
st, _, b = c.response()
got = json.loads(b) if st == 200 else {}
tap.ok(st == 200 and got.get("body_len") == 10,
       "a body that pauses 1.6 s (past proxy-timeout) is passed whole, not answered 504", st)
c.close()
# ... and a client that never sends the rest is the client's read-timeout's:
# 3 of them at once (more than http-conns) are cut, and A's connections are
# free again (busy 0, a request passes at once)
relay_rt = h.Relay(base, BACKENDS, relay=dict(OPTS, **{"read-timeout": "2s"}),
                   name="relay-rt").start()
stalled = []
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", relay_rt.port))
    s.sendall(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
    s.settimeout(10)
    stalled.append(s)
t0 = time.time()
cut = 0
for s in stalled:
    try:
        while s.recv(4096):
            pass
        cut += 1
    except OSError:
        cut += 1
    s.close()
took = time.time() - t0
busy = relay_rt.metrics().get('tsrelay_proxy_connections_busy{backend="A"}', 0)
code, _, _ = h.http_req("http://127.0.0.1:%d/api/version" % relay_rt.port, timeout=5)
tap.ok(cut == 3 and took < 8 and busy == 0 and code == 200,
       "3 bodies stalled for good are cut by read-timeout (2 s): %.1f s, busy %d, then %r" %
       (took, busy, code))
tap.ok(relay_rt.stop() == 0, "that relay exits 0")
c = fh.Conn(relay.port)
c.send(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
st, _, _ = c.response()
c.send(b"hello")
st2, _, b = c.response()
got = json.loads(b)
tap.ok(st == 100 and st2 == 200 and got["body_len"] == 5 and
       "expect" not in [k.lower() for k, v in got["headers"]],
       "Expect: 100-continue is answered by the relay (100, then 200) and not passed")
c.close()

# ---- the backend's own errors and faults ---------------------------------------
code, body, hdr = h.http_req(url + "/api/error500")
tap.ok(code == 500 and b"fake failure" in body and hdr.get("X-Backend") == "A",
       "a 500 of the backend is passed as it is", body)
cut0 = metric('tsrelay_proxy_cut_total{backend="A"}')
c = fh.Conn(relay.port)
c.send(b"GET /api/close-mid?bytes=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    st, hd, b = c.response()
    cut = False
except EOFError:
    cut = True
tap.ok(cut and c.closed, "the backend closes mid-answer: the client's connection is closed, "
       "the answer cut (Content-Length 100000, fewer bytes)")
c.close()
tap.eq(metric('tsrelay_proxy_cut_total{backend="A"}') - cut0, 1, "counted as proxy.cut")

t0 = time.time()
code, body, _ = h.http_req(url + "/api/stall")
took = time.time() - t0
doc = json.loads(body or b"{}")
tap.ok(code == 504 and doc.get("error", {}).get("code") == 504 and
       "proxy-timeout" in doc["error"].get("details", ""),
       "a stalled backend: 504 in the TSD's JSON shape", body)
tap.ok(0.9 <= took < 3.0, "after proxy-timeout (1 s): %.2f s" % took)

n0 = len([p for p in A.paths() + B.paths() if p.startswith("/api/close-before")])
code, body, hdr = h.http_req(url + "/api/close-before?on=A")
tap.ok(code == 200 and hdr.get("X-Backend") == "B",
       "GET whose connection closed before an answer is tried once more, on B",
       (code, hdr.get("X-Backend")))
tap.eq(metric('tsrelay_proxy_retried_total{backend="A"}'), 1, "counted as proxy.retried")
code, body, _ = h.http_req(url + "/api/close-before?on=A,B")
tap.eq(code, 502, "once only: closed on both, 502")
code, body, _ = h.http_req(url + "/api/close-before?on=A", body=b"x=1", method="POST")
doc = json.loads(body or b"{}")
tap.ok(code == 502 and doc.get("error", {}).get("code") == 502 and
       "lost" in doc["error"].get("details", ""),
       "a POST is never tried again: 502 in the TSD's shape", body)
tries = len([p for p in A.paths() + B.paths() if p.startswith("/api/close-before")]) - n0
tap.eq(tries, 5, "the backends saw each GET twice and the POST once")

# no free connection: both of A's connections stalled
results = []


def stall():
    results.append(h.http_req(url + "/api/stall", timeout=10)[0])


ts = [threading.Thread(target=stall) for _ in range(2)]
for t in ts:
    t.start()
time.sleep(0.2)
t0 = time.time()
code, body, _ = h.http_req(url + "/api/version")
took = time.time() - t0
doc = json.loads(body or b"{}")
tap.ok(code == 503 and "proxy-queue-timeout" in doc.get("error", {}).get("details", ""),
       "no free connection within proxy-queue-timeout: 503", body)
tap.ok(0.4 <= took < 1.0, "after the queue bound (500 ms): %.2f s" % took)
for t in ts:
    t.join()
tap.eq(results, [504, 504], "the stalled ones end with 504")

# a malformed chunked body once the head went to the backend
n0 = len(A.requests)
c = fh.Conn(relay.port)
c.send(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
       b"5\r\nhello\r\nZZ\r\nbad\r\n")
st, hd, b = c.response()
tap.ok(st == 400 and b"Malformed" in b and hd.get("server", "").startswith("tsrelay"),
       "a malformed chunked body: 400 from the relay", (st, b))
c.close()
time.sleep(0.3)
tap.eq(len(A.requests) - n0, 0, "and the backend never got a whole request")

# ---- a browser: the TSD's UI at /, tsrelay's page at /tsrelay/ -------------------
import browser  # noqa: E402
b = browser.Browser()
page = b.page()
page.goto(url + "/")
ver = page.wait_for("window.tsdUiReady", 15, "the TSD UI's script")
tap.eq(ver, "2.4.1-A", "Chromium loads the TSD's UI through the relay at /, and its script's "
       "own request passes too")
tap.eq(page.errors(), [], "no console error, exception or failed load")
page.goto(url + "/tsrelay/")
page.wait_for("window.tsrelayStatus && window.tsrelayStatus.updates >= 1", 20,
              "tsrelay's status page")
tap.ok("tsrelay" in page.eval("document.title"), "and tsrelay's own page at /tsrelay/")
tap.eq(page.errors(), [], "no console error there either")
b.close()

# ---- SIGHUP ----------------------------------------------------------------------


def reload(proxy):
    n = relay.logtext().count(" reloaded: ")
    relay.write_conf(BACKENDS, relay=dict(OPTS, proxy=proxy))
    relay.reload()
    h.wait_until(lambda: relay.logtext().count(" reloaded: ") > n, 10, what="the reload")


reload("B")
code, body, _ = h.http_req(url + "/api/version")
tap.ok(code == 200 and json.loads(body)["version"] == "2.4.1-B",
       "SIGHUP: proxy = B passes to B at once")
reload("")
code, _, hdr = h.http_req(url + "/", follow=False)
code2, body2, _ = h.http_req(url + "/api/version")
tap.ok(code == 302 and hdr.get("Location") == "/tsrelay/" and code2 == 200 and
       json.loads(body2).get("repo") == "tsrelay",
       "SIGHUP: proxy off: / redirects, /api/version is the relay's")
code, _, _ = h.http_req(url + "/api/query")
tap.eq(code, 404, "and other paths are 404 again")
reload("A, B")
code, body, _ = h.http_req(url + "/api/version")
tap.ok(code == 200 and json.loads(body)["version"] == "2.4.1-A",
       "SIGHUP: proxy = A, B passes to A again")

# ---- failover --------------------------------------------------------------------
A.stop()
code, body, hdr = h.http_req(url + "/api/version")
tap.ok(code == 200 and json.loads(body)["version"] == "2.4.1-B",
       "A down: a GET goes to B", (code, body))
code, body, hdr = h.http_req(url + "/api/echo", body=b"abc", method="POST")
tap.ok(code == 200 and hdr.get("X-Backend") == "B",
       "and so does a POST (never written to A: refused, or A known down)")
B.stop()
time.sleep(0.2)
t0 = time.time()
code, body, _ = h.http_req(url + "/api/version")
doc = json.loads(body or b"{}")
tap.ok(code == 502 and doc.get("error", {}).get("code") == 502 and
       "message" in doc["error"], "both down: 502 in the TSD's JSON shape", body)
tap.ok(time.time() - t0 < 1.5, "at once (%.2f s)" % (time.time() - t0))
m = relay.metrics()
tap.ok(m.get('tsrelay_proxy_bad_gateway_total{backend="A"}', 0) +
       m.get('tsrelay_proxy_bad_gateway_total{backend="B"}', 0) >= 2 and
       m.get('tsrelay_proxy_gateway_timeout_total{backend="A"}', 0) >= 3 and
       m.get('tsrelay_proxy_unavailable_total{backend="A"}', 0) == 1,
       "502, 503 and 504 are counted per backend")
code, _, _ = h.http_req(url + "/health")
tap.eq(code, 200, "the relay's own /health still answers")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.note("duration (s)", round(time.time() - t_start, 1))
tap.done()
