"""Pooling: with conns = 2 and two victoria-metrics backends, 50 clients
sending 10,000 points each cause exactly 4 backend connections over the
whole run (counted on the backends' side), and every point arrives."""

import random
import socket
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(300)
tap = h.Tap()
base = h.tmpdir()
vm1 = h.Victoria(base, "vm1").start()
vm2 = h.Victoria(base, "vm2").start()
before = vm1.accepts() + vm2.accepts()
relay = h.Relay(base, [("vm1", "127.0.0.1:%d" % vm1.telnet), ("vm2", "127.0.0.1:%d" % vm2.telnet)],
                backend_opts={"conns": "2"}).start()

CLIENTS, PER = 50, 10000
N = CLIENTS * PER
NSERIES = 2000
T0 = int(time.time()) - 3 * 86400
metric = "it.pool.m%d" % random.randrange(1 << 30)
errors = []


def client(k):
    try:
        s = socket.create_connection(("127.0.0.1", relay.port), timeout=30)
        lines = "".join(h.telnet_line(metric, i, NSERIES, T0) for i in range(k, N, CLIENTS))
        s.sendall(lines.encode())
        s.close()
    except Exception as e:
        errors.append(repr(e))


threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=120)
tap.ok(not errors, "50 clients sent 10,000 points each", errors[:3])

total = 0
deadline = time.time() + 90
while time.time() < deadline:
    total = vm1.count(metric) + vm2.count(metric)
    if total >= N:
        break
    time.sleep(0.3)
tap.eq(total, N, "both backends together hold exactly %d points" % N)
c1, c2 = vm1.count(metric), vm2.count(metric)
tap.ok(c1 > N // 4 and c2 > N // 4, "series hashing spreads the load (%d / %d)" % (c1, c2))

accepts = 0
deadline = time.time() + 10
while time.time() < deadline:
    accepts = vm1.accepts() + vm2.accepts() - before
    if accepts >= 4:
        break
    time.sleep(0.5)
time.sleep(1)
accepts = vm1.accepts() + vm2.accepts() - before
raw = [l for v in (vm1, vm2) for l in h.http_get(v.url("/metrics"))[1].decode().splitlines()
       if l.startswith("vm_tcplistener_accepts_total")]
tap.ok(accepts == 4, "exactly 4 backend connections over the whole run (2 backends x conns 2): "
       "%d" % accepts, "\n".join(raw))
st = relay.stats()
tap.eq(sum(v for (k, t), v in st.items() if k == "backend.connects"), 4,
       "tsrelay counted 4 connects")
tap.eq(sum(v for (k, t), v in st.items() if k == "clients.accepted"), CLIENTS + 1,
       "tsrelay accepted 50 clients (+1 for stats)")
tap.ok(relay.stop() == 0, "tsrelay exits 0 on SIGTERM")
tap.done()
