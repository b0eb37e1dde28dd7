"""Connection flood to max-clients + 1,000: max-clients connections and
control-slots stats-only ones are kept, the rest are refused with an error
line and counted, the silent ones show as pending in the stats, the
stats-only slots are freed after 2 s of silence so /metrics answers on the
same port while max-clients connections stay open, RSS stays bounded, and
a client that was already connected is unaffected."""

import os
import random
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(180)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base).start()
MAXC = 200
SLOTS = 8
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)],
                relay={"max-clients": str(MAXC), "memory-limit": "32M",
                       "control-slots": str(SLOTS)}).start()
T0 = int(time.time()) - 86400
metric = "it.flood.m%d" % random.randrange(1 << 30)
N = 100000
good = h.Sender(relay.port, metric, N, 20000, 100, T0)  # 5 s of steady load
good.start()
time.sleep(0.5)
rss0 = relay.rss()

conns, refused, errline = [], 0, 0
for i in range(MAXC + 1000):
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    conns.append(s)
time.sleep(1.0)
import select  # noqa: E402
poller = select.poll()
byfd = {s.fileno(): s for s in conns}
for s in conns:
    poller.register(s, select.POLLIN)
ready = {byfd[fd] for fd, ev in poller.poll(500)}
for s in ready:
    data = h.recv_all(s, timeout=0.05)
    if b"error: connection refused by tsrelay: too many connections (max-clients)" in data:
        errline += 1
        refused += 1
accepted = len(conns) - refused
tap.note("flood: connections accepted / refused", "%d / %d" % (accepted, refused))
tap.ok(good.is_alive(), "the good client is still sending during the flood")
tap.eq(accepted, MAXC - 1 + SLOTS,
       "max-clients were kept (the good client + %d) and %d stats-only slots" % (MAXC - 1, SLOTS))
tap.eq(errline, len(conns) - (MAXC - 1 + SLOTS),
       "every connection over the limit and its slots got the error line")
for s in list(conns):
    if s in ready:
        s.close()
        conns.remove(s)
# the silent stats-only slots are given back after 2 s; then, with
# max-clients connections still open, /metrics answers on the same port
time.sleep(2.5)
t = time.time()
status, body = h.http_get("http://127.0.0.1:%d/metrics" % relay.port, timeout=5)
tap.ok(status == 200 and b"tsrelay_clients_current" in body,
       "at max-clients, /metrics answers on the same port (in %.2f s)" % (time.time() - t))
metrics = {}
for line in body.decode().splitlines():
    if line.startswith("tsrelay_clients_current{"):
        metrics[line.split('"')[1]] = float(line.split()[-1])
tap.eq(int(metrics.get("pending", -1)), MAXC - 1,
       "the silent connections show as clients.current{proto=pending}")
st = relay.stats()
tap.eq(st.get(("clients.rejected", None)), refused, "stats: clients.rejected counts them")
tap.ok(st.get(("clients.control_slot_accepts", None), 0) >= SLOTS + 2,
       "the stats-only slots were used (%d)" % st.get(("clients.control_slot_accepts", None), 0))
rss1 = relay.rss()
tap.note("RSS before / during the flood (MiB)", "%.1f / %.1f" % (rss0 / 1048576.0, rss1 / 1048576.0))
tap.ok(rss1 - rss0 < 8 * 1048576, "RSS grew by less than 8 MiB with %d connections open" % accepted)
for s in conns:
    s.close()
good.join(timeout=60)
tap.ok(good.error is None and good.sent == N, "the client connected before the flood kept sending",
       good.error)
tap.eq(vm.wait_count(metric, N, timeout=30), N, "all its points arrived")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
