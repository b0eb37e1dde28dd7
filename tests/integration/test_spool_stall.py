"""Stall: the TSD (victoria-metrics) is frozen with SIGSTOP while a steady
50,000 points/s flows for 20 s; memory-limit = 32M.  tsrelay's RSS (sampled
every 100 ms) stays under 48 MiB, the overflow goes to the Redis spool, and
after SIGCONT every point arrives exactly once."""

import random
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(300)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis,
                relay={"memory-limit": "32M"},
                redis_opts={"spool-high": "8M", "spool-low": "2M"}).start()
RATE, SECONDS = 50000, 20
N = RATE * SECONDS
NSERIES = 2000
T0 = int(time.time()) - 3 * 86400
metric = "it.stall.m%d" % random.randrange(1 << 30)

# warm up the connection, then freeze the TSD
warm = h.Sender(relay.port, metric + ".warm", 1000, 0, 10, T0)
warm.run()
time.sleep(0.5)
vm.freeze()
rss = h.RssSampler(relay, 0.1)
rss.start()
sender = h.Sender(relay.port, metric, N, RATE, NSERIES, T0, conns=4)
sender.start()
sender.join(timeout=SECONDS + 60)
tap.ok(sender.error is None and sender.sent == N,
       "sent %d points at %d/s while the TSD was frozen" % (N, RATE), sender.error)
tap.note("send duration (s)", round(sender.elapsed, 1))
st = relay.stats()
spooled = st.get(("points.spooled", None), 0)
tap.ok(spooled > 0, "the overflow went to the spool (%d lines)" % spooled)
tap.ok(int(redis.cmd("LLEN", relay.spool_key("vm")) or 0) > 0,
       "the Redis spool list holds entries")
peak_frozen = rss.peak
tap.note("peak RSS while frozen (MiB)", round(peak_frozen / 1048576.0, 1))
tap.ok(peak_frozen < h.rss_bound(48), "RSS stayed under 48 MiB%s (peak %.1f MiB)" % (h.ASAN_NOTE, peak_frozen / 1048576.0))

t_thaw = time.time()
vm.thaw()
vm.wait_count(metric, N, timeout=120, settle=0)
t_drain = time.time() - t_thaw
got = vm.wait_count(metric, N, timeout=1, settle=1.0)
tap.eq(got, N, "after SIGCONT every point arrived exactly once")
peak = rss.stop()
tap.note("drain: all points queryable after SIGCONT in (s)", round(t_drain, 1))
tap.note("drain throughput (points/s, spooled part)", int(spooled / max(t_drain, 0.001)))
tap.note("peak RSS overall (MiB)", round(peak / 1048576.0, 1))
tap.ok(peak < h.rss_bound(48), "RSS stayed under 48 MiB through the drain")
st = relay.stats()
raw, stored = st.get(("spool.raw_bytes", None), 0), st.get(("spool.stored_bytes", None), 1)
tap.note("spool compression ratio (raw/stored)", round(raw / max(stored, 1), 1))
deadline = time.time() + 10
while time.time() < deadline and relay.stats().get(("backend.spooling", "backend=vm")) != 0:
    time.sleep(0.2)
tap.eq(relay.stats().get(("backend.spooling", "backend=vm")), 0,
       "the backend left spool mode once drained")
tap.ok(relay.stop() == 0, "tsrelay exits 0 on SIGTERM")
tap.done()
