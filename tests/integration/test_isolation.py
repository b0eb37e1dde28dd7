"""Isolation: without Redis, `routing = all` to two victoria-metrics, A and
B; B has `overflow = drop` in its own section; memory-limit = 32M (an equal
share, 16M, each).  1,500,000 points are sent at 50,000/s (30 s) and B is
frozen (SIGSTOP) for 20 s of it.

A gets every point, exactly once; the sender is not slowed by B (all sent
within 1.5x the nominal 30 s); B's share fills and its newest points are
dropped, counted exactly: backend.dropped{backend=B} + B's arrived = sent,
and points.dropped counts the same.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(400)
tap = h.Tap()
N = 1500000
RATE = 50000
NOMINAL = N / RATE
base = h.tmpdir()
vma = h.Victoria(base, "vm-a").start()
vmb = h.Victoria(base, "vm-b").start()
relay = h.Relay(base, [("A", "127.0.0.1:%d" % vma.telnet),
                       ("B", "127.0.0.1:%d" % vmb.telnet, {"overflow": "drop"})],
                relay={"routing": "all", "memory-limit": "32M"}).start()
metric = "it.iso.m%d" % random.randrange(1 << 30)
T0 = int(time.time()) - 3 * 86400
rss = h.RssSampler(relay, 0.2)
rss.start()
steps = []


def scenario():
    time.sleep(5)
    vmb.freeze()
    steps.append(("B frozen", time.time()))
    time.sleep(20)
    vmb.thaw()
    steps.append(("B thawed", time.time()))


sc = threading.Thread(target=scenario, daemon=True)
t0 = time.time()
sc.start()
res = h.run_tsload(relay.port, N, conns=2, rate=RATE, metric=metric, series=2000, start_ts=T0,
                   timeout=300)
sc.join(timeout=60)
tap.ok(res.get("exit") == 0 and res.get("sent") == N, "%d points sent at %d/s" % (N, RATE),
       res.get("stderr"))
tap.note("B frozen / thawed at (s)", ", ".join("%.1f" % (t - t0) for _, t in steps))
tap.ok(res.get("seconds", 1e9) <= 1.5 * NOMINAL,
       "the sender was not slowed by B: %.1f s for a nominal %.0f s (bound %.0f s); longest "
       "write block %.0f ms" % (res.get("seconds", 0), NOMINAL, 1.5 * NOMINAL,
                                res.get("max_blocked_ms", 0)))
st = relay.stats()
tap.ok(st.get(("backend.dropped", "backend=B"), 0) > 0,
       "B's share filled while it was frozen: %d points dropped for B"
       % st.get(("backend.dropped", "backend=B"), 0))
tap.eq(st.get(("backend.dropped", "backend=A"), 0), 0, "nothing dropped for A")
# everything kept for B is delivered once it is thawed
h.wait_until(lambda: relay.stats().get(("points.queued", None)) == 0, 120, 0.3,
             what="tsrelay's queues empty")
got_a = vma.wait_count(metric, N, timeout=60, settle=1.0)
st = relay.stats()
dropped_b = st.get(("backend.dropped", "backend=B"), 0)
got_b = vmb.wait_count(metric, N - dropped_b, timeout=60, settle=1.0)
tap.note("A arrived / B arrived / B dropped", "%d / %d / %d" % (got_a, got_b, dropped_b))
tap.eq(got_a, N, "A got every point, exactly once")
tap.eq(dropped_b + got_b, N, "backend.dropped{B} + B's arrived == sent")
tap.eq(st.get(("points.dropped", None), 0), dropped_b, "points.dropped == backend.dropped{B}")
peak = rss.stop()
tap.note("peak RSS (MiB)", round(peak / 1048576.0, 1))
tap.ok(peak <= h.rss_bound(64), "RSS within 2x memory-limit%s" % h.ASAN_NOTE)
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
