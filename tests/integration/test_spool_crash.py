"""Crashes (SIGKILL) and the spool.
1. Crash while the TSD is down: 200,000 points sent with the TSD down,
   tsrelay SIGKILLed 1 s after the sender finished, restarted after the TSD
   is back: at least 99% of the points arrive (staged data reaches Redis
   within spool-flush-interval).
2. Crash while draining: SIGKILL in the middle of a drain; after a restart
   nothing spooled is missing; duplicates of in-flight entries are allowed
   and reported."""

import random
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(300)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base)
backends = [("vm", "127.0.0.1:%d" % vm.telnet)]
NSERIES = 1000
T0 = int(time.time()) - 3 * 86400


# --- 1. crash while the TSD is down ---------------------------------------
N = 200000
metric = "it.crashdown.m%d" % random.randrange(1 << 30)
relay = h.Relay(base, backends, redis=redis, redis_opts={"spool-flush-interval": "100ms"},
                name="r1").start()
sender = h.Sender(relay.port, metric, N, 100000, NSERIES, T0, conns=2)
sender.run()
tap.ok(sender.error is None and sender.sent == N, "sent %d points with the TSD down" % N,
       sender.error)
time.sleep(1.0)
relay.kill()
tap.ok(not relay.alive(), "tsrelay SIGKILLed 1 s after the sender finished")
vm.start()
relay = h.Relay(base, backends, redis=redis, name="r2").start()
got = vm.wait_count(metric, N)
tap.note("crash while down: arrived", "%d of %d (%.3f%%)" % (got, N, 100.0 * got / N))
tap.ok(got >= 0.99 * N, "at least 99%% of the points arrived (%d of %d)" % (got, N))
tap.ok(got <= N, "no point arrived twice")
relay.stop()

# --- 2. crash while draining -----------------------------------------------
N2 = 600000
metric2 = "it.crashdrain.m%d" % random.randrange(1 << 30)
vm.stop()
relay = h.Relay(base, backends, redis=redis, name="r3").start()
sender = h.Sender(relay.port, metric2, N2, 200000, NSERIES, T0, conns=2)
sender.run()
tap.ok(sender.error is None, "sent %d more points with the TSD down" % N2, sender.error)
time.sleep(0.5)
code = relay.stop(timeout=60)
tap.eq(code, 0, "stopped cleanly: all of it is in the spool")
spooled_entries = int(redis.cmd("LLEN", relay.spool_key("vm")) or 0)
vm.start()
relay = h.Relay(base, backends, redis=redis, name="r4",
                redis_opts={"spool-low": "64K"}).start()
# kill it once a part of the spool went out
deadline = time.time() + 60
while time.time() < deadline:
    left = int(redis.cmd("LLEN", relay.spool_key("vm")) or 0)
    if left < spooled_entries * 0.6:
        break
    time.sleep(0.02)
relay.kill()
tap.ok(0 < left < spooled_entries, "SIGKILLed mid-drain (%d of %d entries left)"
       % (left, spooled_entries))
relay = h.Relay(base, backends, redis=redis, name="r5").start()
got = vm.wait_count(metric2, N2)
series = vm.export('{__name__="%s"}' % metric2)
missing = 0
for i in range(N2):
    s = i % NSERIES
    key = (("host", "h%d" % (s % 1000)), ("series", "s%d" % s))
    if h.ts_of(i, NSERIES, T0) not in series.get(key, {}):
        missing += 1
tap.eq(missing, 0, "after the restart no spooled point is missing")
dups = got - N2
tap.note("duplicates from the entries in flight at the crash", dups)
tap.ok(dups >= 0, "duplicates are counted, never negative")
st = relay.stats()
tap.note("in-flight entries put back at start-up", st.get(("spool.requeued", None), 0))
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
