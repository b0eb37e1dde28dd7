"""Redis goes away and comes back while the TSD is down: tsrelay keeps
running memory-only (no crash, no busy loop, one log line per state
change), reconnects with backoff, and when the TSD returns every point
arrives exactly once - what was spooled before the Redis restart included
(Redis runs with appendonly, as a production spool should)."""

import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base, appendonly=True).start()
vm = h.Victoria(base)  # down
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis,
                relay={"reconnect-max": "1s"}).start()
T0 = int(time.time()) - 86400
metric = "it.redisrestart.m%d" % random.randrange(1 << 30)
N1, N2 = 300000, 100000

s = h.Sender(relay.port, metric, N1, 0, 500, T0, conns=2)
s.run()
time.sleep(1)
entries = int(redis.cmd("LLEN", relay.spool_key("vm")) or 0)
tap.ok(s.error is None and entries > 0, "with the TSD down, %d points went to Redis (%d entries)"
       % (N1, entries))

redis.stop()
time.sleep(1)
# the second part of the load, points N1 .. N1+N2: only memory is left
lines = "".join(h.telnet_line(metric, i, 500, T0) for i in range(N1, N1 + N2))
c = socket.create_connection(("127.0.0.1", relay.port), timeout=30)
c.sendall(lines.encode())
c.close()
time.sleep(0.5)
cpu0 = relay.cpu_seconds()
time.sleep(3)
cpu = relay.cpu_seconds() - cpu0
tap.ok(relay.alive(), "Redis gone: tsrelay keeps running")
tap.ok(cpu < 0.3, "Redis gone: no busy loop while reconnecting (%.2f CPU s in 3 s)" % cpu)
st = relay.stats()
tap.eq(st.get(("spool.connected", None)), 0, "stats: spool.connected = 0")
log = relay.logtext()
tap.eq(log.count("redis: connection lost"), 1, "the loss is logged once")

redis.start()
h.wait_until(lambda: relay.stats().get(("spool.connected", None)) == 1, 20,
             what="spool reconnected")
tap.ok(True, "Redis back: the spool reconnects")
vm.start()
got = vm.wait_count(metric, N1 + N2, timeout=90)
tap.eq(got, N1 + N2, "the TSD back: every point arrived exactly once")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
