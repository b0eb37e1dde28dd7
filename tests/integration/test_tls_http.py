"""TLS on a backend's HTTP connections: HAProxy terminates TLS (and asks
for a client certificate) in front of each of victoria-metrics'
listeners -- telnet, its HTTP API, its OpenTSDB /api/put -- and the relays
speak TLS to them with tls = on, ca, server-name, cert and key: one
context per backend for its telnet connections and its HTTP ones.

  - the read pass-through (proxy = vm, http-address behind HAProxy):
    every query answered through TLS has the status and the bytes of
    VictoriaMetrics' own answer, over at most http-conns (2) connections,
    one handshake each, for 200 requests on 4 keep-alive clients; a
    SIGHUP reads the certificates again and keeps the pool (its
    connections stay); a client certificate of another CA, by SIGHUP:
    the open connections keep theirs and answer, new ones show it and
    HAProxy refuses them; one with a key that does not load is refused and
    changes nothing;
  - protocol = http (sync = off, VictoriaMetrics' -opentsdbHTTPListenAddr
    behind HAProxy): 100,000 points, a SIGHUP half-way, every point
    arrives exactly once, proven by the answers, over at most conns (2)
    connections;
  - a wrong server-name: the relay's own check refuses both pools -- the
    pass-through answers 502, the points wait -- logged with the reason
    and counted (backend.tls_failures, proxy.tls_failures); fixed by
    SIGHUP, every point it held arrives and the pass-through answers;
  - no key line shows in anything captured.
Duration: about 25 s.
"""

import http.client
import os
import random
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import tlsutil as tu  # noqa: E402

h.hard_timeout(150)
tap = h.Tap()
t_start = time.time()
base = h.tmpdir()
certs = tu.Certs(base)
vm = h.Victoria(base, http_put=True).start()
hap_tel = tu.HAProxy(base, vm.telnet, certs, client_ca="ca.pem", name="hap-telnet").start()
hap_api = tu.HAProxy(base, vm.http, certs, client_ca="ca.pem", name="hap-api").start()
hap_put = tu.HAProxy(base, vm.put_port, certs, client_ca="ca.pem", name="hap-put").start()
T0 = int(time.time()) - 3600
RUN = random.randrange(1 << 30)


def tls_opts(name="tsd.test", key="client.key"):
    return {"tls": "on", "ca": certs.path("ca.pem"), "server-name": name,
            "cert": certs.path("client.pem"), "key": certs.path(key)}


def stat(r, key, backend):
    return r.stats().get((key, "backend=%s" % backend), 0)


def fetch(port, conn=None, method="GET", path="/"):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, data


# ---- the read pass-through ------------------------------------------------------------
PASS_BACKENDS = [("vm", "127.0.0.1:%d" % hap_tel.port,
                  dict(tls_opts(), **{"http-address": "127.0.0.1:%d" % hap_api.port,
                                      "http-conns": "2"}))]
px = h.Relay(base, PASS_BACKENDS, name="pass", relay={"proxy": "vm"}).start()
M = "it.tlshttp.q.r%d" % RUN
N = 6000
res = h.run_tsload(px.port, N, proto="telnet", conns=2, metric=M, series=100, start_ts=T0)
tap.eq(res.get("exit"), 0, "6,000 points sent to the relay")
tap.eq(vm.wait_count(M, N, timeout=60, settle=0.3), N,
       "over TLS on its telnet connections: all 6,000 arrived")

now = int(time.time())
q = urllib.parse.quote
urls = [
    "/api/v1/query?query=%s&time=%d" % (q("count(%s)" % M.replace(".", "_")), now),
    "/api/v1/query?query=%s&time=%d" % (q('sum by (host) ({__name__="%s"})' % M), now),
    "/api/v1/query_range?query=%s&start=%d&end=%d&step=2" % (q('{__name__="%s"}' % M), T0,
                                                             T0 + 600),
    "/api/v1/labels?match[]=%s" % q('{__name__="%s"}' % M),
    "/api/v1/series?match[]=%s&start=%d&end=%d" % (q('{__name__="%s",series="s7"}' % M), T0,
                                                 now + 86400),
]
direct = {}
for u in urls:
    a, b = fetch(vm.http, path=u), fetch(vm.http, path=u)
    tap.ok(a == b and a[0] == 200, "VictoriaMetrics answers %s the same twice" % u[:50])
    direct[u] = a
sizes = sorted(len(v[1]) for v in direct.values())
tap.ok(sizes[-1] > 50000, "the answers reach %d bytes (several TLS records)" % sizes[-1])

CLIENTS, EACH = 4, 50
mismatch, errors, done = [], [], [0]


def client(k):
    c = http.client.HTTPConnection("127.0.0.1", px.port, timeout=60)
    try:
        for i in range(EACH):
            u = urls[(k * 5 + i) % len(urls)]
            got = fetch(px.port, c, path=u)
            if got != direct[u]:
                mismatch.append((u[:40], got[0], len(got[1]), len(direct[u][1])))
            done[0] += 1
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))
    finally:
        c.close()


def run_clients():
    ts = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


t0 = time.time()
run_clients()
took = time.time() - t0
tap.eq(errors, [], "no client failed")
tap.eq(done[0], CLIENTS * EACH, "200 requests on 4 keep-alive clients answered")
tap.ok(not mismatch, "through TLS every answer is VictoriaMetrics' own, status and bytes",
       mismatch[:5])
tap.note("200 requests through TLS took (s)", round(took, 2))
st = px.stats()
conns = st.get(("proxy.connects", "backend=vm"), 0)
tap.ok(1 <= conns <= 2, "%d connections (and TLS handshakes) for 200 requests: http-conns = 2, "
       "kept alive" % conns)
tap.eq(st.get(("proxy.tls_failures", "backend=vm"), 0), 0, "proxy.tls_failures = 0")
tap.eq(st.get(("backend.tls_failures", "backend=vm"), 0), 0, "backend.tls_failures = 0")

# certificates read again: the pool stays (new connections would take them)
px.reload()
h.wait_until(lambda: px.logtext().count("reloaded") >= 1, 10, what="reload")
done[0] = 0
run_clients()
tap.ok(done[0] == CLIENTS * EACH and not mismatch and not errors,
       "after a SIGHUP (certificates read again) every answer is still VictoriaMetrics' own")
pool_lines = [ln for ln in px.logtext().splitlines() if "proxy: backend vm: " in ln]
tap.ok(len(pool_lines) == 1 and "TLS verifying tsd.test" in pool_lines[0],
       "the pool was kept (made once, verifying tsd.test)", pool_lines)
tap.eq(px.stats().get(("proxy.connects", "backend=vm"), 0), conns,
       "its connections stayed: no new connection, no new handshake")

# a client certificate HAProxy does not trust: the open connections keep
# theirs and answer; new ones (HAProxy restarted) use it and are refused
px.write_conf([("vm", PASS_BACKENDS[0][1], dict(PASS_BACKENDS[0][2],
                                                 cert=certs.path("stranger.pem"),
                                                 key=certs.path("stranger.key")))],
              relay={"proxy": "vm"})
px.reload()
h.wait_until(lambda: px.logtext().count("reloaded") >= 2, 10, what="reload")
u = urls[0]
tap.eq(fetch(px.port, path=u), direct[u],
       "certificate changed by SIGHUP: an open connection keeps its own and answers")
hap_api.stop()
hap_api.start()
time.sleep(0.3)
status, body = fetch(px.port, path=u)
tap.ok(status == 502 and "alert unknown ca" in px.logtext(),
       "a new connection shows the new certificate: HAProxy refuses it (unknown ca; 502)",
       "%d %r" % (status, body[:200]))
st = px.stats()
tap.ok(st.get(("proxy.tls_failures", "backend=vm"), 0) >= 1 and
       st.get(("backend.tls_failures", "backend=vm"), 0) >= 1,
       "... counted as a failed TLS handshake (with TLS 1.3 the refusal comes at the first "
       "read): proxy.tls_failures %d, backend.tls_failures %d"
       % (st.get(("proxy.tls_failures", "backend=vm"), 0),
          st.get(("backend.tls_failures", "backend=vm"), 0)))
px.write_conf(PASS_BACKENDS, relay={"proxy": "vm"})
px.reload()
h.wait_until(lambda: px.logtext().count("reloaded") >= 3, 10, what="reload")
tap.eq(fetch(px.port, path=u), direct[u], "the trusted certificate back by SIGHUP: answered")
# a key that does not load: the reload is refused, nothing changes
px.write_conf([("vm", PASS_BACKENDS[0][1], dict(PASS_BACKENDS[0][2],
                                                 key=certs.path("nope.key")))],
              relay={"proxy": "vm"})
px.reload()
h.wait_until(lambda: "refused" in px.logtext(), 10, what="reload refused")
tap.ok("nope.key" in px.logtext(), "a key that does not load refuses the reload (logged)")
u = urls[0]
tap.eq(fetch(px.port, path=u), direct[u], "the pass-through answers as before")

# ---- protocol = http ---------------------------------------------------------------------
put = h.Relay(base, [("vmput", "127.0.0.1:%d" % hap_put.port, tls_opts())], name="put",
              backend_opts={"protocol": "http", "sync": "off", "conns": "2",
                            "http-batch": "5000"}).start()
MP = "it.tlshttp.put.r%d" % RUN
NP = 100000
accepts0 = vm.accepts("opentsdbhttp")
t0 = time.time()
res = h.run_tsload(put.port, NP // 2, proto="telnet", conns=2, metric=MP, series=2000,
                   start_ts=T0)
put.reload()  # the certificates read again half-way
res2 = h.run_tsload(put.port, NP // 2, proto="telnet", conns=2, metric=MP + ".b", series=2000,
                    start_ts=T0)
tap.ok(res.get("exit") == 0 and res2.get("exit") == 0, "100,000 points sent, a SIGHUP half-way")
h.wait_until(lambda: stat(put, "backend.http.delivered", "vmput") >= NP, 60, interval=0.3,
             what="every point answered")
took = time.time() - t0
got = vm.wait_count(MP, NP // 2, timeout=30, settle=0.5) + vm.wait_count(MP + ".b", NP // 2,
                                                                         timeout=30, settle=0)
tap.eq(got, NP, "through HAProxy's TLS: exactly 100,000 points in victoria-metrics")
tap.eq(stat(put, "backend.http.delivered", "vmput"), NP, "every point proven by an answer")
tap.eq(stat(put, "backend.retried", "vmput"), 0, "none sent again")
tap.eq(stat(put, "backend.tls_failures", "vmput"), 0, "backend.tls_failures = 0")
conns = vm.accepts("opentsdbhttp") - accepts0
tap.ok(1 <= conns <= 2, "%d connections over the run, the SIGHUP included (conns = 2)" % conns)
tap.note("protocol = http over TLS, points/s", int(NP / took))

# ---- a wrong server-name --------------------------------------------------------------------
WRONG = [("bad", "127.0.0.1:%d" % hap_put.port, tls_opts("wrong.test"))]
wrong = h.Relay(base, WRONG, name="wrong", relay={"proxy": "bad", "reconnect-max": "500ms"},
                backend_opts={"protocol": "http", "sync": "off"}).start()
MW = "it.tlshttp.wrong.r%d" % RUN
res = h.run_tsload(wrong.port, 500, proto="telnet", conns=1, metric=MW, series=50, start_ts=T0)
tap.eq(res.get("exit"), 0, "500 points sent to the relay with server-name = wrong.test")
h.wait_until(lambda: stat(wrong, "backend.tls_failures", "bad") >= 2, 15,
             what="TLS failures counted")
status, body = fetch(wrong.port, path="/api/v1/labels")
tap.ok(status == 502, "the pass-through answers 502: its pool refused the server too",
       "%d %r" % (status, body[:200]))
time.sleep(0.5)
tap.eq(vm.count(MW), 0, "nothing reached the TSD through a server the relay could not verify")
st = wrong.stats()
tap.ok(st.get(("proxy.tls_failures", "backend=bad"), 0) >= 1,
       "proxy.tls_failures counts the pass-through's refusals")
log = wrong.logtext()
lines = [ln for ln in log.splitlines() if "TLS handshake with wrong.test failed" in ln]
tap.ok(any("hostname mismatch" in ln and "proxy bad" in ln for ln in lines) and
       any("hostname mismatch" in ln and "backend bad" in ln for ln in lines),
       "both refusals are logged with the reason (hostname mismatch)", lines[-2:])
tap.eq(stat(wrong, "backend.queue_lines", "bad"), 500, "the relay holds the 500 points")
WRONG[0][2]["server-name"] = "tsd.test"
wrong.write_conf(WRONG, relay={"proxy": "bad", "reconnect-max": "500ms"},
                 backend_opts={"protocol": "http", "sync": "off"})
wrong.reload()
tap.eq(vm.wait_count(MW, 500, timeout=30, settle=0.3), 500,
       "server-name fixed by SIGHUP: all 500 arrived")
status, _ = fetch(wrong.port, path="/api/v1/labels")
tap.ok(status != 502, "and the pass-through reaches the server (status %d)" % status)

_, metrics_txt = h.http_get("http://127.0.0.1:%d/metrics" % wrong.port)
tap.ok(b'tsrelay_proxy_tls_failures_total{backend="bad"}' in metrics_txt and
       b'tsrelay_backend_tls_failures_total{backend="bad"}' in metrics_txt,
       "/metrics shows proxy.tls_failures and backend.tls_failures")
blobs = {"/metrics": metrics_txt}
for r in (px, put, wrong):
    tap.eq(r.stop(), 0, "relay %s stops cleanly" % r.name)
    blobs[r.name + " log"] = r.logtext()
tu.secrets_absent(tap, certs.key_secrets(), blobs, "what the test captured")
for hp in (hap_tel, hap_api, hap_put):
    hp.stop()
vm.stop()
tap.note("duration (s)", round(time.time() - t_start, 1))
tap.done()
