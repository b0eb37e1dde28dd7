"""The new-series guard in bounded memory: 10,000,000 distinct series (one
point each, every one new) through a relay with series-memory = 8M and
memory-limit = 32M, into a sink that counts lines.

The guard's filters hold 1,665,691 series each, so they rotate about six
times; its memory stays what it took at start (limits.memory_bytes, in
memory.live), the relay's RSS stays under memory-limit the whole run (the
process itself included), and every point reaches the sink (no limit
is set: counting only).  Each point is a series never seen, so every one
the guard did not count as new is a false positive: their share is
compared with what the stated rate predicts for this run, point by point
from the filters' loads (8 x load / 65535 per filter), within 4 standard
deviations, and with the bound stated for full filters (0.023 %).
TSRELAY_SERIES_POINTS sets the number of points; make check-long
(TSRELAY_LONG=1) runs 100 million (about 45 s).  About 10 s.
"""

import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

LONG = bool(os.environ.get("TSRELAY_LONG"))
h.hard_timeout(900 if LONG else 300)
tap = h.Tap()
base = h.tmpdir()
N = int(os.environ.get("TSRELAY_SERIES_POINTS", "100000000" if LONG else "10000000"))
sink = h.TsSink(base)
relay = h.Relay(base, [("sink", "127.0.0.1:%d" % sink.port)],
                relay={"memory-limit": "32M"})
relay.write_conf([("sink", "127.0.0.1:%d" % sink.port)], {"memory-limit": "32M"},
                 extra="\n[limits]\nseries-memory = 8M\n")
relay.start()
t0 = time.time()
st = relay.stats()
cap = st.get(("limits.series_capacity", None), 0)
mem = st.get(("limits.memory_bytes", None), 0)
tap.ok(8 * 1048576 - 4096 <= mem <= 8 * 1048576, "the guard took series-memory (%d bytes)" % mem)
rss = h.RssSampler(relay, 0.1)
rss.start()
res = h.run_tsload(relay.port, N, proto="telnet", conns=2, series=N, metric="it.sgm.m",
                   timeout=800 if LONG else 240, extra=["--duration-limit", "800"])
tap.eq(res.get("exit"), 0, "tsload sent %d points" % N)
h.wait_until(lambda: sink.stats().get("lines", 0) >= N, 120, what="all points at the sink")
peak = rss.stop()
elapsed = time.time() - t0
st = relay.stats()
tap.eq(sink.stats().get("lines"), N, "every point reached the sink")
tap.eq(st.get(("limits.memory_bytes", None)), mem, "the guard's memory did not grow")
tap.note("peak RSS (MiB)", round(peak / 1048576.0, 1))
tap.ok(peak < h.rss_bound(32), "RSS stayed under memory-limit, 32 MiB%s" % h.ASAN_NOTE)
tap.ok(st.get(("memory.live", None), 0) <= 32 * 1048576, "memory.live within memory-limit")
rot = st.get(("limits.rotations", None), 0)
tap.ok(rot == N // cap or rot == N // cap - 1 or rot == N // cap + 1,
       "the filters rotated about N / capacity times (%d)" % rot)

# ---- the false-positive rate ---------------------------------------------------
new = st.get(("limits.new_series", None), 0)
fp = N - new


def fpr(count):
    slots = cap * 100 // 94 + 1
    return 1 - (1 - 1 / 65535.0) ** (8.0 * count / slots)


# expected false positives over this run: per point, the two filters'
# rates at their loads (the current one grows by the points it takes)
expect, cur, prev, step = 0.0, 0, 0, 1000
for _ in range(0, N, step):
    rate = fpr(cur) + fpr(prev)
    expect += rate * step
    cur += step * (1 - rate)
    if cur >= cap:
        prev, cur = cap, cur - cap
measured = fp / float(N)
bound = 2 * 8 * 0.94 / 65535.0
tap.note("false positives: measured / expected / stated bound",
         "%d (%.4f %%) / %.0f (%.4f %%) / %.4f %%" % (fp, 100 * measured, expect,
                                                     100 * expect / N, 100 * bound))
tap.ok(abs(fp - expect) <= 4 * math.sqrt(expect) + 2,
       "the measured false-positive rate matches the stated one (within 4 sigma)")
tap.ok(measured <= bound, "and stays under the bound stated for full filters")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.note("duration (s)", round(elapsed, 1))
tap.done()
