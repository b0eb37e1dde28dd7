"""overflow = drop: with the TSD down and no spool, the relay keeps what
fits its memory budget and drops the newest points beyond it, counting
every one: at the end dropped == sent - arrived, exactly, and the senders
never stall."""

import random
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base)  # down for now
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)],
                relay={"memory-limit": "16M", "overflow": "drop"}).start()
N = 600000
NSERIES = 1000
T0 = int(time.time()) - 3 * 86400
metric = "it.drop.m%d" % random.randrange(1 << 30)
rss = h.RssSampler(relay, 0.1)
rss.start()
t = time.time()
sender = h.Sender(relay.port, metric, N, 0, NSERIES, T0, conns=2)
sender.start()
sender.join(timeout=60)
tap.ok(sender.error is None and sender.sent == N,
       "the sender never stalled: %d points in %.1f s" % (sender.sent, time.time() - t),
       sender.error)
time.sleep(1)
st = relay.stats()
dropped = st.get(("points.dropped", None), 0)
tap.ok(dropped > 0, "points beyond the budget were dropped (%d)" % dropped)
vm.start()
# everything kept is written once the TSD is up; then wait for the TSD to
# hold as many as tsrelay says it forwarded (it ingests behind its socket)
h.wait_until(lambda: relay.stats().get(("points.queued", None), 1) == 0, 60,
             what="tsrelay's queues empty")
forwarded = relay.stats().get(("points.forwarded", None), 0)
got = vm.wait_count(metric, forwarded, timeout=60, settle=2.0)
st = relay.stats()
dropped = st.get(("points.dropped", None), 0)
tap.note("sent / arrived / dropped", "%d / %d / %d" % (N, got, dropped))
tap.eq(dropped, N - got, "dropped == sent - arrived")
tap.eq(st.get(("points.forwarded", None)), got, "forwarded == arrived")
peak = rss.stop()
tap.note("peak RSS (MiB)", round(peak / 1048576.0, 1))
tap.ok(peak < h.rss_bound(32), "RSS stayed under 32 MiB")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
