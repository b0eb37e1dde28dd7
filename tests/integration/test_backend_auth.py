"""[backend NAME] auth = LINE against a scripted TSD that authenticates as
OpenTSDB's AuthenticationChannelHandler does (AUTH_SUCCESS / AUTH_FAIL):
  - every connection's first line is the auth line, and no point goes
    before the TSD's AUTH_SUCCESS; 2,000 points on 2 connections arrive;
  - a TSD that answers AUTH_FAIL gets no data: the failures are counted
    (tsrelay_backend_auth_failures_total) and the connection is tried again
    with the backoff; once the TSD takes the line, everything held arrives;
  - the line appears nowhere: not in the log (at debug), /metrics,
    /api/stats, the status page, `tsrelay -t`'s output, nor the reload
    log when a SIGHUP changes it (which reconnects with the new line).
About 10 s."""

import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(120)
tap = h.Tap()
base = h.tmpdir()
SECRET = "auth tsrelay s3cr3t-%d" % os.getpid()
T0 = int(time.time()) - 3600


def send(port, first, n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall("".join("put it.auth.m %d %d host=h%d\n" % (T0 + i, i, i % 50)
                      for i in range(first, first + n)).encode())
    s.close()


def metric(relay, name):
    return relay.metrics().get('%s{backend="tsd"}' % name, 0)


# ---- the line first, data after AUTH_SUCCESS ------------------------------
tsd = h.LineTsd(auth=SECRET)
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port, {"auth": SECRET, "conns": 2})],
                relay={"log-level": "debug"}).start()
send(relay.port, 0, 2000)
try:
    h.wait_until(lambda: len(tsd.lines()) >= 2000, 15, what="2000 points at the TSD")
except TimeoutError:
    pass
tap.eq(len(tsd.lines()), 2000, "2,000 points arrived after authenticating")
tap.eq(tsd.unauthenticated_lines(), [], "no point before AUTH_SUCCESS")
firsts = tsd.first_lines()
tap.ok(len(firsts) == 2 and all(f == SECRET for f in firsts),
       "each connection began with the auth line", diag=len(firsts))
tap.eq(metric(relay, "tsrelay_backend_auth_failures_total"), 0, "no auth failure counted")

# ---- nowhere to be seen -----------------------------------------------------
port = relay.port
texts = {
    "/metrics": h.http_get("http://127.0.0.1:%d/metrics" % port)[1],
    "/api/stats": h.http_get("http://127.0.0.1:%d/api/stats" % port)[1],
    "status page": h.http_get("http://127.0.0.1:%d/" % port)[1],
}
check = subprocess.run([h.TSRELAY, "-t", "-c", relay.conf], capture_output=True, timeout=10)
texts["tsrelay -t"] = check.stdout + check.stderr
tap.eq(check.returncode, 0, "tsrelay -t accepts the file")
NEW = SECRET + "-rotated"
relay.write_conf([("tsd", "127.0.0.1:%d" % tsd.port, {"auth": NEW, "conns": 2})],
                 relay={"log-level": "debug"})
tsd.auth = NEW
relay.reload()
h.wait_until(lambda: "reload: [backend tsd] auth changed" in relay.logtext(), 10,
             what="the reload logged")
send(relay.port, 2000, 100)
try:
    h.wait_until(lambda: len(tsd.lines()) >= 2100, 15, what="points after the reload")
except TimeoutError:
    pass
tap.eq(len(tsd.lines()), 2100, "after a reload changing the line, points go with the new one")
tap.ok(NEW in tsd.first_lines(), "the new line was sent on a new connection")
texts["log"] = relay.logtext().encode()
for where, text in texts.items():
    tap.ok(b"s3cr3t" not in text, "the auth line is not in %s" % where)
relay.stop()

# ---- AUTH_FAIL: no data, counted, retried; then delivered -------------------
tsd2 = h.LineTsd(auth=SECRET, auth_reply="AUTH_FAIL\r\n")
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd2.port, {"auth": SECRET})], name="refused",
                relay={"reconnect-min": "100ms", "reconnect-max": "500ms"}).start()
send(relay.port, 0, 500)
try:
    h.wait_until(lambda: metric(relay, "tsrelay_backend_auth_failures_total") >= 3, 15,
                 what="three auth failures")
except TimeoutError:
    pass
fails = metric(relay, "tsrelay_backend_auth_failures_total")
tap.ok(fails >= 3, "AUTH_FAIL is counted and tried again with the backoff", diag=fails)
tap.eq(tsd2.lines(), [], "a refused connection carries no point")
tap.ok("refused the auth line" in relay.logtext(), "the failure is logged")
tsd2.auth_reply = "AUTH_SUCCESS\r\n"
try:
    h.wait_until(lambda: len(tsd2.lines()) >= 500, 15, what="the held points")
except TimeoutError:
    pass
tap.eq(len(tsd2.lines()), 500, "once the TSD takes the line, every held point arrives")
tap.ok(b"s3cr3t" not in relay.logtext().encode(), "the auth line is not in that log either")
relay.stop()
tsd.stop()
tsd2.stop()
tap.done()
