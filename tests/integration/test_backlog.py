"""Backlog age and max-rate.

1. tsrelay_backlog_age_seconds{backend} (/metrics): 5,000 points/s flow;
   the TSD (victoria-metrics) is stopped for 6 s: the age then reads >= 5 s
   (and no more than the outage, plus slack); once the TSD is back and the
   backlog drained it reads 0.  Once with Redis (the backlog in the spool:
   entries carry their staging time) and once memory-only (the queues'
   blocks carry theirs).
2. max-rate = 100000: a 600,000-point backlog (spooled while the TSD, a
   counting tssink, was down) arrives as a ramp, not a burst: no stretch
   of the arrival curve (sampled every ~0.1 s) is steeper than 100,000
   points/s plus the pacer's burst (a tenth of a second's worth: its
   bucket holds rate/10 tokens, so tsrelay's 20-ms tick can keep the
   rate).  From the TSD accepting again to the last point: at most 9 s,
   and at least 5.9 s -- the issue says 6 s, but with the burst the
   first 10,000 go at once and the rest take 5.9 s, and the reconnect
   probe may come at any moment after the TSD is back.
"""

import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(400)
tap = h.Tap()
T0 = int(time.time()) - 86400
AGE = 'tsrelay_backlog_age_seconds{backend="vm"}'


def age_run(with_redis):
    tag = "redis" if with_redis else "memory"
    base = h.tmpdir()
    redis = h.Redis(base).start() if with_redis else None
    vm = h.Victoria(base).start()
    relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis, name=tag,
                    relay={"memory-limit": "64M"}).start()
    metric = "it.age.%s.m%d" % (tag, random.randrange(1 << 30))
    sender = h.Sender(relay.port, metric, 5000 * 12, 5000, 100, T0)
    sender.start()
    time.sleep(2)
    age_up = relay.metrics().get(AGE)
    vm.stop()
    t_down = time.time()
    time.sleep(6.0)
    age_down = relay.metrics().get(AGE)
    down_for = time.time() - t_down
    tap.note("%s: age with the TSD up / after %.1f s down (s)" % (tag, down_for),
             "%s / %s" % (age_up, age_down))
    tap.ok(age_up is not None and age_up < 2.0, "%s: the age reads %s s while the TSD keeps "
           "up" % (tag, age_up))
    tap.ok(age_down is not None and 5.0 <= age_down <= down_for + 2.0,
           "%s: with the TSD down %.1f s the age reads %s s (>= 5)" % (tag, down_for, age_down))
    vm.start()
    t_up = time.time()
    sender.join(timeout=60)
    tap.ok(sender.error is None, "%s: the sender finished" % tag, sender.error)

    def drained():
        m = relay.metrics()
        return (m.get("tsrelay_points_queued") == 0 and
                m.get("tsrelay_points_spool_pending") == 0 and
                m.get('tsrelay_backend_staged_bytes{backend="vm"}') == 0)
    h.wait_until(drained, 60, 0.2, what="the backlog drained")
    try:
        h.wait_until(lambda: relay.metrics().get(AGE) == 0, 5, 0.1, what="age 0")
    except TimeoutError:
        pass
    age_after = relay.metrics().get(AGE)
    tap.eq(age_after, 0.0, "%s: after the drain (%.1f s after the TSD came back) the age reads 0"
           % (tag, time.time() - t_up))
    tap.ok(relay.stop() == 0, "%s: tsrelay exits 0" % tag)
    vm.stop()
    if redis:
        redis.stop()


def rate_run():
    base = h.tmpdir()
    redis = h.Redis(base).start()
    port = h.free_port()
    RATE, N = 100000, 600000
    relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % port)], redis=redis, name="paced",
                    backend_opts={"max-rate": str(RATE)}).start()
    res = h.run_tsload(relay.port, N, conns=2, metric="it.paced", series=1000, start_ts=T0)
    h.wait_until(lambda: relay.stats().get(("points.spooled", None), 0) >= N and
                 relay.stats().get(("backend.staged_bytes", "backend=tsd"), 1) == 0, 60, 0.1,
                 what="the backlog in Redis")
    tap.ok(res.get("exit") == 0, "max-rate: a backlog of %d points waits in Redis" % N,
           res.get("stderr"))
    sink = h.TsSink(base, "count", name="paced-sink", port=port)
    t_up = time.time()  # listening from here on (its stats file exists)
    curve = []
    deadline = t_up + 30
    while time.time() < deadline:
        n = sink.stats().get("lines", 0)
        curve.append((time.time(), n))
        if n >= N:
            break
        time.sleep(0.08)
    t_first = next((t for t, n in curve if n > 0), None)
    t_last = next((t for t, n in curve if n >= N), None)
    tap.ok(t_last is not None, "max-rate: all %d points arrived (%d)" % (N, curve[-1][1]))
    took = (t_last or time.time()) - t_up
    tap.note("max-rate: TSD accepting -> first point / last point (s)", "%.2f / %.2f" % (
        (t_first or t_up) - t_up, took))
    tap.ok(5.9 <= took <= 9.0, "max-rate: the backlog took %.2f s to arrive after the TSD "
           "accepted again (5.9-9 s)" % took)
    # steepest stretch of the curve: at most RATE/s plus the burst and a
    # sampling slack
    steep, where = 0.0, None
    for i in range(len(curve)):
        for j in range(i + 1, len(curve)):
            dt = curve[j][0] - curve[i][0]
            if dt < 0.5:
                continue
            excess = (curve[j][1] - curve[i][1]) - RATE * dt
            if excess > steep:
                steep, where = excess, (round(curve[i][0] - t_up, 2), round(dt, 2))
            break
    per_s = []
    for i in range(len(curve)):
        j = next((k for k in range(i, len(curve)) if curve[k][0] - curve[i][0] >= 1.0), None)
        if j is not None:
            per_s.append((curve[j][1] - curve[i][1]) / (curve[j][0] - curve[i][0]))
    tap.note("max-rate: fastest 1-s stretch of the arrivals (points/s)",
             int(max(per_s)) if per_s else "?")
    tap.ok(steep <= RATE / 10 + RATE * 0.05,
           "max-rate: a ramp, not a burst: no stretch >= 0.5 s ran ahead of %d/s by more than "
           "the burst (%d) plus 5%% (most: %d points, at %s)" % (RATE, RATE // 10, steep, where))
    st = relay.stats()
    tap.ok(st.get(("backend.pacing_waits", "backend=tsd"), 0) > 0,
           "max-rate: writes were held back (%d pacing waits)"
           % st.get(("backend.pacing_waits", "backend=tsd"), 0))
    tap.ok(relay.stop() == 0, "max-rate: tsrelay exits 0")
    sink.stop()
    redis.stop()


age_run(True)
age_run(False)
rate_run()
tap.done()
