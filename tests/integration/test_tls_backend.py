"""TLS to a backend: HAProxy terminates TLS (and asks for a client
certificate) in front of victoria-metrics' telnet listener.  A relay with
tls = on, its CA, server-name and client certificate delivers every point,
and proves delivery through TLS (points.forwarded counts what the peer's
TCP acknowledged, mapped through the records).  A relay whose server-name
is wrong is refused by its own verification: nothing delivered, the
failure counted (backend.tls_failures) and logged with the reason; fixed
by SIGHUP, everything it held arrives.  A relay without the client
certificate is refused by HAProxy.  No key line shows in anything
captured.  (About 20 s.)"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import tlsutil as tu  # noqa: E402

h.hard_timeout(150)
tap = h.Tap()
base = h.tmpdir()
certs = tu.Certs(base)
vm = h.Victoria(base).start()
hap = tu.HAProxy(base, vm.telnet, certs, client_ca="ca.pem").start()
T0 = int(time.time()) - 3600
RUN = random.randrange(1 << 30)


def tls_opts(name, cert=True):
    o = {"tls": "on", "ca": certs.path("ca.pem"), "server-name": name}
    if cert:
        o.update({"cert": certs.path("client.pem"), "key": certs.path("client.key")})
    return o


def relay_with(name, opts):
    r = h.Relay(base, [("tsd", "127.0.0.1:%d" % hap.port, opts)], name=name,
                relay={"reconnect-max": "500ms"})
    return r.start()


def backend_stat(r, key):
    return r.stats().get((key, "backend=tsd"), 0)


# ---- the good relay --------------------------------------------------------------
good = relay_with("good", tls_opts("tsd.test"))
M = "it.tlsbe.good.r%d" % RUN
N = 20000
res = h.run_tsload(good.port, N, proto="telnet", conns=2, metric=M, series=500, start_ts=T0,
                   timeout=120)
tap.eq(res.get("exit"), 0, "20,000 points sent to the relay", )
tap.eq(vm.wait_count(M, N, timeout=60, settle=0.5), N,
       "through HAProxy's TLS: all 20,000 arrived, none twice")
h.wait_until(lambda: good.stats().get(("points.forwarded", None), 0) >= N, 15,
             what="deliveries acknowledged")
st = good.stats()
tap.eq(st.get(("points.forwarded", None)), N,
       "points.forwarded: every line acknowledged by the peer's TCP, through the records")
tap.eq(backend_stat(good, "backend.tls_failures"), 0, "backend.tls_failures = 0")
tap.eq(backend_stat(good, "backend.queue_lines"), 0, "nothing left in the queue")

# ---- a wrong server-name: refused by the relay's own check ----------------------------
wrong = relay_with("wrong", tls_opts("wrong.test"))
MW = "it.tlsbe.wrong.r%d" % RUN
res = h.run_tsload(wrong.port, 500, proto="telnet", conns=1, metric=MW, series=50, start_ts=T0)
tap.eq(res.get("exit"), 0, "500 points sent to the relay with server-name = wrong.test")
h.wait_until(lambda: backend_stat(wrong, "backend.tls_failures") >= 2, 15,
             what="TLS failures counted")
time.sleep(1)
tap.eq(vm.count(MW), 0, "nothing reached the TSD through a server it could not verify")
log = wrong.logtext()
tap.ok("TLS handshake with wrong.test failed" in log and "hostname mismatch" in log,
       "the refusal is logged with its reason (hostname mismatch)",
       [ln for ln in log.splitlines() if "TLS" in ln][-3:])
tap.ok(backend_stat(wrong, "backend.queue_lines") == 500,
       "the relay holds the 500 points meanwhile")
wrong.write_conf([("tsd", "127.0.0.1:%d" % hap.port, tls_opts("tsd.test"))],
                 relay={"reconnect-max": "500ms"})
wrong.reload()
tap.eq(vm.wait_count(MW, 500, timeout=30, settle=0.5), 500,
       "server-name fixed by SIGHUP: all 500 arrived")

# ---- no client certificate: HAProxy refuses ------------------------------------------
anon = relay_with("anon", tls_opts("tsd.test", cert=False))
MA = "it.tlsbe.anon.r%d" % RUN
h.run_tsload(anon.port, 100, proto="telnet", conns=1, metric=MA, series=10, start_ts=T0)
h.wait_until(lambda: backend_stat(anon, "backend.failures") >= 2, 15, what="failures")
time.sleep(0.5)
tap.eq(vm.count(MA), 0, "without the client certificate HAProxy lets nothing through")
tap.eq(anon.stats().get(("points.forwarded", None)), 0,
       "the relay counts none of it delivered, though HAProxy's TCP acknowledged it "
       "(TLS 1.3: the refusal comes after the client's handshake)")
tap.eq(backend_stat(anon, "backend.queue_lines"), 100, "it holds all 100 points, to resend")
tap.ok("TLS: " in anon.logtext(), "the server's alert is logged",
       [ln for ln in anon.logtext().splitlines() if "backend" in ln][-2:])

_, metrics_txt = h.http_get("http://127.0.0.1:%d/metrics" % good.port)
tap.ok(b'tsrelay_backend_tls_failures_total{backend="tsd"}' in metrics_txt,
       "/metrics shows backend.tls_failures")
blobs = {"/metrics": metrics_txt}
for r in (good, wrong, anon):
    tap.eq(r.stop(), 0, "relay %s stops cleanly" % r.name)
    blobs[r.name + " log"] = r.logtext()
tu.secrets_absent(tap, certs.key_secrets(), blobs, "what the TLS backend test captured")
tap.done()
