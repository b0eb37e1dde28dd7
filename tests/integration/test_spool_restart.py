"""Restart: tsrelay gets SIGTERM while its TSD is down; it moves what it
holds to the Redis spool and exits 0.  Restarted after the TSD is back, it
drains the spool left from before: every point arrives, exactly once."""

import os
import random
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base)
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis).start()
N = 200000
NSERIES = 1000
T0 = int(time.time()) - 3 * 86400
metric = "it.restart.m%d" % random.randrange(1 << 30)

sender = h.Sender(relay.port, metric, N, 100000, NSERIES, T0, conns=2)
sender.run()
tap.ok(sender.error is None and sender.sent == N, "sent %d points with the TSD down" % N,
       sender.error)
time.sleep(0.5)
t = time.time()
code = relay.stop(timeout=60)
tap.eq(code, 0, "SIGTERM during the outage: tsrelay exits 0")
tap.note("shutdown took (s)", round(time.time() - t, 2))
log = relay.logtext()
tap.ok("shutdown complete: everything delivered or spooled" in log,
       "it says everything was delivered or spooled", log[-1500:])
entries = int(redis.cmd("LLEN", relay.spool_key("vm")) or 0)
tap.ok(entries > 0, "the spool holds %d entries" % entries)
tap.eq(redis.cmd("KEYS", "it%d:*inflight*" % os.getpid()), "",
       "no in-flight list: entries stay in the spool until delivered")

vm.start()
relay2 = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis, name="relay2")
relay2.start()
tap.eq(vm.wait_count(metric, N, timeout=90), N, "after the restart every point arrived exactly once")
deadline = time.time() + 10
while time.time() < deadline and int(redis.cmd("LLEN", relay.spool_key("vm")) or 0) > 0:
    time.sleep(0.2)
tap.eq(int(redis.cmd("LLEN", relay.spool_key("vm")) or 0), 0, "the spool is empty again")
tap.ok(relay2.stop() == 0, "the second tsrelay exits 0")
tap.done()
