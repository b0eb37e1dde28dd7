"""mTLS and certificate rotation on a TLS listener ([tls] ca set): a client
without a certificate, or with one from another CA, is refused (counted
as no_certificate / bad_certificate), a client with a good one passes and
its points arrive.  Certificates rotate: a new certificate and key on disk
and SIGHUP -- new connections get the new certificate, a connection opened
before keeps its own and its points still arrive; a bad certificate file
then refuses the reload (counted, logged) and the last good certificate
stays.  No key line shows in anything captured.  (About 15 s.)"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import tlsutil as tu  # noqa: E402

h.hard_timeout(120)
tap = h.Tap()
base = h.tmpdir()
certs = tu.Certs(base)
vm = h.Victoria(base).start()
tport = h.free_port()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)])
relay.listen = [(relay.port, "auto"), (tport, "auto tls")]
TLS_CONF = "\n[tls]\ncert = %s\nkey = %s\nca = %s\n" % (
    certs.path("server.pem"), certs.path("server.key"), certs.path("ca.pem"))
relay.write_conf([("vm", "127.0.0.1:%d" % vm.telnet)], extra=TLS_CONF)
relay.start()
T0 = int(time.time()) - 3600
M = "it.mtls.r%d" % random.randrange(1 << 30)
sent = 0


def failures():
    return {k[1].split("=", 1)[1]: v for k, v in relay.stats().items() if k[0] == "tls.failures"}


def serial_seen(ctx):
    s = tu.connect(ctx, tport)
    serial = int(s.getpeercert()["serialNumber"], 16)
    s.close()
    return serial


def lines(lo, hi):
    return "".join(h.telnet_line(M, i, 20, T0) for i in range(lo, hi)).encode()


before = failures()
tap.ok(tu.refused(tu.client_context(certs), tport), "a client without a certificate: refused")
tap.ok(tu.refused(tu.client_context(certs, cert="stranger"), tport),
       "a client with a certificate of another CA: refused")
rc, out, err = tu.s_client(tport, b"version\n", certs)
tap.ok(b"tsrelay" not in out, "openssl s_client without a certificate: refused", err[-300:])
h.wait_until(lambda: failures()["no_certificate"] - before["no_certificate"] >= 2 and
             failures()["bad_certificate"] - before["bad_certificate"] >= 1, 5,
             what="refusals counted")
after = failures()
tap.ok(after["no_certificate"] - before["no_certificate"] >= 2,
       "tls.failures{reason=no_certificate} counted (%d)" % (
           after["no_certificate"] - before["no_certificate"]))
tap.ok(after["bad_certificate"] - before["bad_certificate"] >= 1,
       "tls.failures{reason=bad_certificate} counted (%d)" % (
           after["bad_certificate"] - before["bad_certificate"]))
log = relay.logtext()
tap.ok("TLS handshake failed (no_certificate)" in log or
       "TLS handshake failed (bad_certificate)" in log, "the log says why they were refused")

good = tu.client_context(certs, cert="client")
s = tu.connect(good, tport)
s.sendall(lines(0, 1000))
sent += 1000
rc, out, err = tu.s_client(tport, lines(1000, 1500) + b"version\nexit\n", certs,
                           ["-cert", certs.path("client.pem"), "-key", certs.path("client.key")])
sent += 500
tap.ok(rc == 0 and b"tsrelay" in out, "openssl s_client with the client certificate: passes",
       err[-300:])
tap.eq(serial_seen(good), 1001, "the listener shows its certificate (serial 1001)")

# ---- rotation: SIGHUP reads the files again ---------------------------------------
certs.rotate(serial=2002)
reloads = relay.stats()[("config.reloads", None)]
relay.reload()
h.wait_until(lambda: relay.stats()[("config.reloads", None)] > reloads, 10, what="reload")
tap.eq(serial_seen(good), 2002, "after SIGHUP new connections get the new certificate (2002)")
s.sendall(lines(1500, 2500))  # the connection opened before keeps its TLS
sent += 1000
s.sendall(b"exit\n")
tap.eq(tu.read_until_closed(s, 5), b"", "the connection opened before the reload still works")
s.close()
tap.ok("reload: TLS listeners: certificate" in relay.logtext(),
       "the reload logs the certificate it loaded")

with open(certs.path("server.pem"), "w") as f:
    f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
refusals = relay.stats()[("config.reload_refusals", None)]
relay.reload()
h.wait_until(lambda: relay.stats()[("config.reload_refusals", None)] > refusals, 10,
             what="reload refused")
log = relay.logtext()
tap.ok("refused: [tls] cert %s" % certs.path("server.pem") in log,
       "a bad certificate refuses the reload, naming the file",
       [ln for ln in log.splitlines() if "refused" in ln][-3:])
tap.eq(serial_seen(good), 2002, "the last good certificate stays (2002)")
rc, out, err = tu.s_client(tport, lines(2500, 3000) + b"exit\n", certs,
                           ["-cert", certs.path("client.pem"), "-key", certs.path("client.key")])
sent += 500
tap.eq(vm.wait_count(M, sent, timeout=60, settle=0.5), sent,
       "every point of the good clients arrived (%d)" % sent)

_, metrics_txt = h.http_get("http://127.0.0.1:%d/metrics" % relay.port)
_, stats_json = h.http_get("http://127.0.0.1:%d/api/stats" % relay.port)
_, page = h.http_get("http://127.0.0.1:%d/" % relay.port)
tap.eq(relay.stop(), 0, "the relay stops cleanly")
tu.secrets_absent(tap, certs.key_secrets(),
                  {"relay log": relay.logtext(), "/metrics": metrics_txt,
                   "/api/stats": stats_json, "status page": page},
                  "what the mTLS test captured")
tap.done()
