"""Allow-lists: `listen = ADDR PROTO allow=CIDR,...` closes other addresses
at accept (counted as clients.denied{listener}), for IPv4 and IPv6, and the
allowed clients' points arrive; a reload changes a kept listener's list in
place.  `[relay] admin-allow` keeps /metrics, /health, /api/stats, the
status page and telnet `stats` to its addresses (403 / an error line,
counted as admin.denied), while data and /api/version stay open to all.
Clients are bound to 127.0.0.1, 127.0.0.2 and ::1.  (About 10 s.)"""

import http.client
import json
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(120)
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base).start()
p_v4, p_v6, p_v6deny, p_admin = (h.free_port() for _ in range(4))
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)])
relay.listen = [(p_v4, "auto")]


def write(allow_v4="127.0.0.1/32"):
    with open(relay.conf, "w") as f:
        f.write("""[relay]
listen = 127.0.0.1:%d auto allow=%s
listen = 127.0.0.1:%d auto
listen = [::1]:%d auto allow=::1/128
listen = [::1]:%d telnet allow=::2/128, 10.0.0.0/8
admin-allow = 127.0.0.2/32, ::2/128
instance = main
shutdown-timeout = 5s

[backend vm]
address = 127.0.0.1:%d
""" % (p_v4, allow_v4, p_admin, p_v6, p_v6deny, vm.telnet))


write()
relay.start()
T0 = int(time.time()) - 3600
RUN = random.randrange(1 << 30)


def conn(port, src, family=socket.AF_INET, dst="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect((dst, port))
    return s


def denied(port, src, family=socket.AF_INET, dst="127.0.0.1"):
    """True when the relay closes the connection unanswered."""
    s = conn(port, src, family, dst)
    try:
        s.sendall(b"version\n")
        return h.recv_all(s, 2) == b""
    except OSError:
        return True
    finally:
        s.close()


def telnet(port, src, data, family=socket.AF_INET, dst="127.0.0.1"):
    s = conn(port, src, family, dst)
    s.sendall(data + b"exit\n")
    out = h.recv_all(s, 3)
    s.close()
    return out


def stats():
    """Telnet stats from an admin address."""
    out = telnet(p_admin, "127.0.0.2", b"stats\n")
    res = {}
    for line in out.decode().splitlines():
        w = line.split()
        if len(w) >= 3 and w[0].startswith("tsrelay."):
            tags = [t for t in w[3:] if not t.startswith("host=")]
            res[(w[0][8:], tags[0] if tags else None)] = float(w[2])
    return res


def lines(m, n):
    return "".join(h.telnet_line(m, i, 10, T0) for i in range(n)).encode()


def http_get(path, src, port=p_admin):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(src, 0))
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


tag4 = "listener=127.0.0.1_%d" % p_v4
tag6 = "listener=__1_%d" % p_v6deny

# ---- listen allow= ----------------------------------------------------------------
tap.ok(all(denied(p_v4, "127.0.0.2") for _ in range(3)),
       "a client bound to 127.0.0.2 is closed at accept, unanswered (3 tries)")
m4 = "it.allow.v4.r%d" % RUN
out = telnet(p_v4, "127.0.0.1", lines(m4, 200) + b"version\n")
tap.ok(b"tsrelay" in out, "the client on 127.0.0.1 is served")
st = stats()
tap.eq(st.get(("clients.denied", tag4)), 3, "clients.denied{%s} = 3" % tag4)
m6 = "it.allow.v6.r%d" % RUN
out = telnet(p_v6, "::1", lines(m6, 100) + b"version\n", socket.AF_INET6, "::1")
tap.ok(b"tsrelay" in out, "IPv6: ::1 is served by a listener with allow=::1/128")
tap.ok(denied(p_v6deny, "::1", socket.AF_INET6, "::1"),
       "IPv6: ::1 is closed by a listener with allow=::2/128, 10.0.0.0/8")
tap.eq(stats().get(("clients.denied", tag6)), 1, "clients.denied{%s} = 1" % tag6)
tap.eq(vm.wait_count(m4, 200, timeout=30, settle=0.3), 200, "the allowed IPv4 client's "
       "200 points arrived")
tap.eq(vm.wait_count(m6, 100, timeout=30, settle=0.3), 100, "the allowed IPv6 client's "
       "100 points arrived")
log = relay.logtext()
tap.ok("denied a connection from 127.0.0.2 on 127.0.0.1:%d" % p_v4 in log,
       "the denial is logged with the address")

# ---- admin-allow ----------------------------------------------------------------------
admin_before = stats().get(("admin.denied", None), 0)
for path in ("/metrics", "/health", "/api/stats", "/tsrelay/", "/tsrelay/tables",
             "/tsrelay/api/stats/history"):
    code, body = http_get(path, "127.0.0.1")
    tap.eq(code, 403, "admin-allow: GET %s from 127.0.0.1 -> 403" % path)
code, body = http_get("/metrics", "127.0.0.2")
tap.ok(code == 200 and b"tsrelay_clients_denied_total" in body,
       "admin-allow: GET /metrics from 127.0.0.2 -> 200, with clients.denied")
tap.eq(http_get("/health", "127.0.0.2")[0], 200, "admin-allow: /health from 127.0.0.2 -> 200")
tap.eq(http_get("/api/version", "127.0.0.1")[0], 200,
       "/api/version (the TSD's, clients ask it) stays open")
out = telnet(p_admin, "127.0.0.1", b"stats\n")
tap.ok(out.startswith(b"error: stats: not allowed"), "telnet stats from 127.0.0.1: an error "
       "line", out[:200])
mp = "it.allow.put.r%d" % RUN
c = http.client.HTTPConnection("127.0.0.1", p_admin, timeout=5, source_address=("127.0.0.1", 0))
c.request("POST", "/api/put", json.dumps([h.json_point(mp, i, 10, T0) for i in range(50)]))
tap.eq(c.getresponse().status, 204, "data from outside admin-allow is still taken (/api/put)")
c.close()
tap.eq(stats().get(("admin.denied", None), 0) - admin_before, 7,
       "admin.denied counted the 6 requests and the stats command")
tap.eq(vm.wait_count(mp, 50, timeout=30, settle=0.3), 50, "its 50 points arrived")

# ---- reload: a kept listener takes its new list ------------------------------------------
write(allow_v4="127.0.0.2/32")
reloads = stats()[("config.reloads", None)]
relay.reload()
h.wait_until(lambda: stats()[("config.reloads", None)] > reloads, 10, what="reload")
tap.ok(denied(p_v4, "127.0.0.1"), "after SIGHUP with allow=127.0.0.2/32: 127.0.0.1 is closed")
tap.ok(b"tsrelay" in telnet(p_v4, "127.0.0.2", b"version\n"), "... and 127.0.0.2 is served")
tap.eq(stats().get(("clients.denied", tag4)), 4, "the listener kept its count (4)")
tap.eq(relay.stop(), 0, "the relay stops cleanly")
tap.done()
