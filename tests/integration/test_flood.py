"""Connection flood to max-clients + 1,000: the connections beyond the
limit are refused with an error line and counted, RSS stays bounded, and a
client that was already connected is unaffected."""

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
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)],
                relay={"max-clients": str(MAXC), "memory-limit": "32M"}).start()
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
tap.eq(accepted, MAXC - 1,
       "exactly max-clients were kept (the good client + %d)" % (MAXC - 1))
tap.eq(errline, len(conns) - (MAXC - 1), "every connection over the limit got the error line")
for s in list(conns):
    if s in ready:
        s.close()
        conns.remove(s)
conns.pop().close()   # room for the stats request
time.sleep(0.3)
st = relay.stats()
tap.eq(st.get(("clients.rejected", None)), refused, "stats: clients.rejected counts them")
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
