"""protocol = http with the Redis spool, as for telnet backends: a lagging
HTTP backend spools, drains back in order and paced; a shutdown moves what
it holds to Redis and the next start delivers it.

A scripted TSD (fakehttptsd.py, sync = on) is frozen under a steady load:
it answers every request after sync_timeout with the TSD's timeout shape
("Write timedout": nothing stored, sent again); after write-timeout
without a point proven the backend is lagging and new points go to the
spool (points.spooled); thawed, every point arrives; each series' points
arrive in timestamp order; the drain stays under max-rate (3,000/s) in
every second; the duplicates are at most what the relay counted.  Then frozen again, SIGTERM: the relay exits 0 with
everything spooled (its queues and the requests in flight given up);
started again with the TSD thawed, the rest arrives.
Duration: about 30 s.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(150)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
tsd = h.FakeHttpTsd(base).start()
OPTS = {"protocol": "http", "sync": "on", "sync-timeout": "500ms", "conns": "1",
        "write-timeout": "1s", "max-rate": "3000", "http-batch": "200",
        "http-batch-bytes": "32K"}
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port, OPTS)], redis=redis,
                relay={"shutdown-timeout": "2s"}).start()
metric = "it.hspool.m%d" % random.randrange(1 << 20)
RATE, SECONDS, SERIES = 1500, 12, 50
N = RATE * SECONDS
t_start = int(time.time()) - 7200
load = h.start_tsload(relay.port, N, proto="telnet", conns=1, rate=RATE, metric=metric,
                      series=SERIES, start_ts=t_start)
time.sleep(2)
tsd.config(frozen=True)
time.sleep(4)
spooled = relay.stats().get(("points.spooled", None), 0)
tap.ok(spooled > 0, "the frozen backend lags: new points spool (%d)" % spooled)
t_thaw = int(time.time())
tsd.config(frozen=False)
res = h.finish_tsload(load, timeout=60)
tap.eq(res.get("exit"), 0, "the load was sent")
h.wait_until(lambda: tsd.count(metric)["distinct"] >= N, 60, what="every point stored")
got = tsd.count(metric)
tap.eq(got["distinct"], N, "every point arrives after the thaw (%d)" % got["distinct"])
maybe = relay.stats().get(("backend.http.maybe_duplicated", "backend=tsd"), 0)
tap.ok(got["stored"] - got["distinct"] <= maybe,
       "duplicates (%d) at most what was counted (%d)" % (got["stored"] - got["distinct"], maybe))
per = {int(k): v for k, v in tsd.stats()["per_second"].items()}
drain = [per.get(s, 0) for s in range(t_thaw + 1, int(time.time()))]
tap.ok(drain and max(drain) <= 3000 * 1.15, "the drain is paced by max-rate (max %d/s)"
       % max(drain or [0]))
order = tsd.stats().get("order_violations_" + metric, 0)
tap.eq(order, 0, "each series' points arrive in timestamp order")
if order:
    tap.note("order_examples", tsd.stats().get("order_examples"))
    tap.note("thaw", t_thaw)

# ---- shutdown: queues and requests in flight to Redis, delivered after a restart --
metric2 = metric + ".term"
tsd.config(frozen=True)
load = h.start_tsload(relay.port, 3000, proto="telnet", conns=1, rate=0, metric=metric2,
                      series=SERIES, start_ts=t_start)
tap.eq(h.finish_tsload(load, timeout=30).get("exit"), 0, "3,000 more sent to the frozen TSD")
time.sleep(0.5)
tap.eq(relay.stop(timeout=30), 0, "SIGTERM: exits 0")
tap.ok("neither delivered nor spooled" not in relay.logtext(), "nothing left unspooled")
tsd.config(frozen=False)
relay2 = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port, OPTS)], redis=redis,
                 name="relay2").start()
h.wait_until(lambda: tsd.count(metric2)["distinct"] >= 3000, 40, what="after the restart")
tap.eq(tsd.count(metric2)["distinct"], 3000, "after a restart, everything arrives")
relay2.stop()
tsd.stop()
redis.stop()
tap.done()
