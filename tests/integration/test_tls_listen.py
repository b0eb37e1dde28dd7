"""TLS on the listeners, with real clients: Python's ssl module and openssl
s_client send telnet, framed and HTTP over TLS (to an auto listener, which
sniffs after the handshake, and to telnet / framed / http ones): every
point arrives in victoria-metrics.  TLS 1.1 is refused with the default
settings, clear text on a TLS port is refused, a silent handshake is closed
at read-timeout -- each counted by reason.  Then 1,000 handshakes that stop
half-way, all at once: at most max-handshakes (64) hold OpenSSL's state,
the rest wait in line holding their socket; they time out; then 5,000 good
points arrive and the relay's RSS has grown by less than 8 MiB.  No key
line shows in the log, /metrics, /api/stats or the status page.
(About 35 s.)"""

import json
import os
import random
import resource
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import tlsutil as tu  # noqa: E402

h.hard_timeout(150)
if h.SANITIZED:  # freed chunks wait in ASan's quarantine (256 MiB by default):
    # a small one, so that the RSS still says something of the relay's memory
    os.environ["ASAN_OPTIONS"] = ":".join(
        filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=16"]))
tap = h.Tap()
base = h.tmpdir()
certs = tu.Certs(base)
vm = h.Victoria(base).start()

ports = {name: h.free_port() for name in ("auto", "telnet", "framed", "http")}
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)])
relay.listen = [(relay.port, "auto")] + [(ports[p], p + " tls") for p in ports]
relay.write_conf([("vm", "127.0.0.1:%d" % vm.telnet)], relay={"read-timeout": "3s"},
                 extra="\n[tls]\ncert = %s\nkey = %s\n" % (certs.path("server.pem"),
                                                         certs.path("server.key")))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))  # 1,000 sockets each side
relay.start()

T0 = int(time.time()) - 3600
RUN = random.randrange(1 << 30)
ctx = tu.client_context(certs)
expect = {}


def metric(name):
    m = "it.tls.%s.r%d" % (name, RUN)
    expect.setdefault(m, 0)
    return m


def lines(m, lo, hi, put=True):
    return "".join(h.telnet_line(m, i, 50, T0, put=put) for i in range(lo, hi)).encode()


def send_telnet(port, m, n):
    s = tu.connect(ctx, port)
    s.sendall(lines(m, 0, n))
    s.sendall(b"exit\n")
    tu.read_until_closed(s, 5)
    s.close()
    expect[m] += n


def send_framed(port, m, n, per=100):
    s = tu.connect(ctx, port)
    for lo in range(0, n, per):
        s.sendall(tu.frame(lines(m, lo, min(n, lo + per), put=False)))
    time.sleep(0.3)
    s.close()
    expect[m] += n


def send_http(port, m, n, per=250):
    s = tu.connect(ctx, port)
    answers = []
    for lo in range(0, n, per):
        body = json.dumps([h.json_point(m, i, 50, T0) for i in range(lo, min(n, lo + per))])
        s.sendall(b"POST /api/put?summary HTTP/1.1\r\nHost: relay.test\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body.encode()))
        s.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        answers.append(head.split(b"\r\n", 1)[0])
    s.close()
    expect[m] += n
    return answers


# ---- Python's ssl: every protocol, sniffed and dedicated ----------------------
send_telnet(ports["auto"], metric("py.auto.telnet"), 2000)
send_framed(ports["auto"], metric("py.auto.framed"), 2000)
ans = send_http(ports["auto"], metric("py.auto.http"), 2000)
tap.ok(all(a.startswith(b"HTTP/1.1 200") for a in ans),
       "HTTP over TLS on the auto listener: every /api/put?summary answered 200", ans[:3])
send_telnet(ports["telnet"], metric("py.telnet"), 1000)
send_framed(ports["framed"], metric("py.framed"), 1000)
ans = send_http(ports["http"], metric("py.http"), 1000)
tap.ok(all(a.startswith(b"HTTP/1.1 200") for a in ans),
       "HTTP over TLS on the http listener: answered 200", ans[:3])

s = tu.connect(ctx, ports["auto"])
s.sendall(b"version\n")
tap.ok(b"tsrelay" in tu.read_until_closed(s, 1), "telnet commands answered over TLS (version)")
tap.eq(s.version(), "TLSv1.3", "the handshake chose TLS 1.3")
s.close()

# ---- openssl s_client ------------------------------------------------------------
for name in ("auto", "telnet"):
    m = metric("sclient." + name)
    rc, out, err = tu.s_client(ports[name], lines(m, 0, 500) + b"version\nexit\n", certs)
    expect[m] += 500
    tap.ok(rc == 0 and b"tsrelay" in out,
           "openssl s_client: 500 telnet lines and version to the %s listener" % name,
           "exit %d: %s" % (rc, err[-600:]))
m = metric("sclient.framed")
payload = tu.frame(lines(m, 0, 400, put=False)) + tu.frame(lines(m, 400, 700, put=False))
rc, out, err = tu.s_client(ports["framed"], payload, certs, wait_close=False)
expect[m] += 700
tap.ok(rc == 0, "openssl s_client: two framed packets (700 points) to the framed listener",
       "exit %d: %s" % (rc, err[-300:]))
m = metric("sclient.http")
body = json.dumps([h.json_point(m, i, 50, T0) for i in range(300)]).encode()
req = (b"POST /api/put HTTP/1.1\r\nHost: relay.test\r\nConnection: close\r\n"
       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
rc, out, err = tu.s_client(ports["http"], req, certs)
expect[m] += 300
tap.ok(rc == 0 and out.startswith(b"HTTP/1.1 204"), "openssl s_client: POST /api/put -> 204",
       "exit %d: %r %s" % (rc, out[:200], err[-400:]))

for m, n in sorted(expect.items()):
    tap.eq(vm.wait_count(m, n, timeout=60, settle=0.5), n, "%s: all %d points arrived" % (m, n))

# ---- refusals, counted by reason --------------------------------------------------
def failures():
    st = relay.stats()
    return {k[1].split("=", 1)[1]: v for k, v in st.items() if k[0] == "tls.failures"}


before = failures()
old = tu.client_context(certs, minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1,
                        seclevel0=True)
tap.ok(tu.refused(old, ports["auto"]), "Python ssl limited to TLS 1.1: refused")
rc, out, err = tu.s_client(ports["auto"], b"version\n", certs,
                           ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
tap.ok(rc != 0 and b"tsrelay" not in out, "openssl s_client -tls1_1: refused", err[-300:])
raw = socket.create_connection(("127.0.0.1", ports["auto"]))
raw.sendall(lines(metric("cleartext"), 0, 10))
tap.eq(tu.read_until_closed(raw, 3), b"", "clear-text telnet on a TLS port: closed, unanswered")
raw.close()
expect.pop("it.tls.cleartext.r%d" % RUN)
silent = socket.create_connection(("127.0.0.1", ports["telnet"]))
took = tu.wait_closed(silent, 8)
silent.close()
tap.ok(took is not None and 2.5 <= took <= 5.5,
       "a silent TLS client is closed at read-timeout (3 s): %s s" % (
           "%.1f" % took if took else "never"))
h.wait_until(lambda: failures()["timeout"] > before["timeout"], 5, what="timeout counted")
after = failures()
tap.ok(after["version"] - before["version"] >= 2, "tls.failures{reason=version} counted both "
       "TLS 1.1 clients (%d)" % (after["version"] - before["version"]))
tap.ok(after["not_tls"] - before["not_tls"] >= 1, "tls.failures{reason=not_tls} counted")
tap.ok(after["timeout"] - before["timeout"] >= 1, "tls.failures{reason=timeout} counted")
log = relay.logtext()
tap.ok("TLS handshake failed (version)" in log, "the log says why TLS 1.1 was refused")

# ---- 1,000 handshakes that stop half-way, then 5,000 good points -----------------
time.sleep(0.5)
st = relay.stats()
rss0, tlsmem0 = relay.rss(), st[("tls.memory", None)]
half = []
for i in range(1000):
    # the ClientHello goes; nothing after it ever will (a memory BIO: the
    # client never sees the server's answer, so it cannot finish)
    raw = socket.create_connection(("127.0.0.1", ports["auto"]))
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outg, server_hostname="relay.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    raw.sendall(outg.read())
    half.append(raw)
h.wait_until(lambda: relay.stats()[("tls.waiting", None)] >= 900, 10, what="clients in line")
st = relay.stats()
peak = relay.rss()


def accounted():
    """Half-open clients the relay holds, or has closed at read-timeout."""
    s = relay.stats()
    return (s[("tls.waiting", None)] + s[("tls.handshaking", None)] +
            failures()["timeout"] - after["timeout"])


# (a connection the kernel could not queue at once is accepted a little later)
h.wait_until(lambda: accounted() >= 1000, 20, what="every half-open client accepted")
tap.ok(st[("tls.handshaking", None)] <= 64,
       "at most max-handshakes (64) hold OpenSSL's state: %d handshaking, %d in line" % (
           st[("tls.handshaking", None)], st[("tls.waiting", None)]))
tap.note("1,000 half-open handshakes", "RSS +%.1f MiB, tls.memory +%.1f MiB (%.0f KB per "
         "handshake in progress), client structures %.1f MiB" % (
             (peak - rss0) / 1048576.0, (st[("tls.memory", None)] - tlsmem0) / 1048576.0,
             (st[("tls.memory", None)] - tlsmem0) / 1024.0 / max(st[("tls.handshaking", None)], 1),
             st[("memory.connections", None)] / 1048576.0))
h.wait_until(lambda: relay.stats()[("tls.waiting", None)] == 0 and
             relay.stats()[("tls.handshaking", None)] == 0, 12, what="half-open handshakes closed")
for c in half:
    c.close()
fail = failures()
tap.ok(fail["timeout"] - after["timeout"] == 1000,
       "every half-open handshake ended at read-timeout, counted (%d)" % (
           fail["timeout"] - after["timeout"]), "failures before %r after %r" % (after, fail))
good = metric("after.storm")
for k in range(5):
    s = tu.connect(ctx, ports["auto"])
    s.sendall(lines(good, k * 1000, (k + 1) * 1000))
    s.close()
expect[good] += 5000
tap.eq(vm.wait_count(good, 5000, timeout=60, settle=0.5), 5000,
       "then 5,000 good points over TLS: all arrived")
rss1 = relay.rss()
tap.ok(rss1 - rss0 < h.rss_bound(8), "the relay's RSS grew by %.1f MiB (< 8 MiB)%s; peak "
       "while they were open +%.1f MiB" % ((rss1 - rss0) / 1048576.0, h.ASAN_NOTE,
                                           (peak - rss0) / 1048576.0))

# ---- nothing secret shown ------------------------------------------------------------
_, metrics_txt = h.http_get("http://127.0.0.1:%d/metrics" % relay.port)
_, stats_json = h.http_get("http://127.0.0.1:%d/api/stats" % relay.port)
_, page = h.http_get("http://127.0.0.1:%d/" % relay.port)
_, tables = h.http_get("http://127.0.0.1:%d/tsrelay/tables" % relay.port)
tap.ok(b"tsrelay_tls_handshakes_total" in metrics_txt and
       b'tsrelay_tls_failures_total{reason="version"}' in metrics_txt,
       "/metrics shows the TLS counters")
tap.eq(relay.stop(), 0, "the relay stops cleanly")
tu.secrets_absent(tap, certs.key_secrets(),
                  {"relay log": relay.logtext(), "/metrics": metrics_txt,
                   "/api/stats": stats_json, "status page": page, "status tables": tables},
                  "what the TLS listener test captured")
tap.done()
