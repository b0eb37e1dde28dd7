"""Outage: the load starts while the TSD is not running (connections
refused) and the TSD starts 20 s later, mid-load.  memory-limit = 32M:
RSS stays under 48 MiB, the spool holds the overflow, every point arrives
exactly once."""

import random
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(300)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base)  # ports chosen, not started: connections are refused
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis,
                relay={"memory-limit": "32M"},
                redis_opts={"spool-high": "8M", "spool-low": "2M"}).start()
RATE, SECONDS, VM_AT = 50000, 30, 20
N = RATE * SECONDS
NSERIES = 2000
T0 = int(time.time()) - 3 * 86400
metric = "it.outage.m%d" % random.randrange(1 << 30)

rss = h.RssSampler(relay, 0.1)
rss.start()
t0 = time.time()
sender = h.Sender(relay.port, metric, N, RATE, NSERIES, T0, conns=4)
sender.start()
time.sleep(VM_AT)
st = relay.stats()
tap.ok(st.get(("backend.up", "backend=vm")) == 0, "the backend is down while it is not running")
tap.ok(st.get(("points.spooled", None), 0) > 0.8 * RATE * VM_AT * 0.9,
       "what arrived meanwhile went to the spool (%d lines)" % st.get(("points.spooled", None), 0))
vm.start()
tap.note("victoria-metrics started after (s)", round(time.time() - t0, 1))
sender.join(timeout=SECONDS + 60)
tap.ok(sender.error is None and sender.sent == N, "sent %d points at %d/s" % (N, RATE),
       sender.error)
got = vm.wait_count(metric, N, timeout=120)
tap.eq(got, N, "every point arrived exactly once")
peak = rss.stop()
tap.note("peak RSS (MiB)", round(peak / 1048576.0, 1))
tap.ok(peak < h.rss_bound(48), "RSS stayed under 48 MiB%s (peak %.1f MiB)" % (h.ASAN_NOTE, peak / 1048576.0))
st = relay.stats()
tap.note("lines spooled / unspooled", "%d / %d" % (st.get(("points.spooled", None), 0),
                                                    st.get(("points.unspooled", None), 0)))
tap.ok(relay.stop() == 0, "tsrelay exits 0 on SIGTERM")
tap.done()
