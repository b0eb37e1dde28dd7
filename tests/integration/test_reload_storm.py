"""Reload storm: the worst case of test_reload within the limits.

Three victoria-metrics A, B, C; a relay without Redis, memory-limit 16M,
shutdown-timeout 1s.  400,000 points at 40,000/s (two telnet connections
and one framed) while SIGHUP comes every 100-300 ms, each time with a
random non-empty subset of A, B, C (in a random order), a random
memory-limit (16M or 24M) and, half the time, an extra listener: backends
are added, removed, removed while retiring and added back, over and over;
now and then one TSD is frozen (SIGSTOP) for 1-3 s, so a backend is
removed with a queue it cannot deliver and hands it over.
The seed is printed; TSRELAY_RANDOM_SEED replays it.  The last reload names
all three again.

Every reload applies (config.reloads counts each one), a client connecting
every 50 ms is never refused, every point reaches A, B or C (duplicates
reported), nothing is dropped, RSS stays within the bound of the budget,
and tsrelay exits 0.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(300)
tap = h.Tap()
seed = int(os.environ.get("TSRELAY_RANDOM_SEED", random.randrange(1 << 32)))
rng = random.Random(seed)
tap.note("seed (TSRELAY_RANDOM_SEED)", seed)
N = 400000
RATE = 40000
base = h.tmpdir()
vms = {n: h.Victoria(base, "vm-" + n).start() for n in "ABC"}
addr = {n: "127.0.0.1:%d" % vms[n].telnet for n in "ABC"}
extra_port = h.free_port()
relay = h.Relay(base, [(n, addr[n]) for n in "ABC"],
                relay={"shutdown-timeout": "1s", "memory-limit": "16M"}).start()
T0 = int(time.time()) - 3 * 86400
metric = "it.storm.m%d" % rng.randrange(1 << 30)


def reloads():
    return relay.logtext().count(" reloaded: ")


prober = h.ConnectProber(relay.port)
prober.start()
rss = h.RssSampler(relay, 0.1)
rss.start()
load = h.start_tsload(relay.port, N - N // 4, conns=2, rate=RATE * 3 // 4, metric=metric,
                      series=1000, start_ts=T0)
framed = h.start_tsload(relay.port, N // 4, proto="framed", conns=1, rate=RATE // 4,
                        metric=metric + ".f", series=1000, start_ts=T0)
sent = 0
applied_ok = True
frozen = {}  # name -> thaw time
deadline = time.time() + N / RATE
while time.time() < deadline or sent == 0:
    for n, until in list(frozen.items()):
        if time.time() >= until:
            vms[n].thaw()
            del frozen[n]
    if not frozen and rng.random() < 0.25:
        n = rng.choice("ABC")
        vms[n].freeze()
        frozen[n] = time.time() + rng.uniform(1.0, 3.0)
    names = rng.sample("ABC", rng.randint(1, 3))
    listen = [(relay.port, "auto")] + ([(extra_port, "telnet")] if rng.random() < 0.5 else [])
    relay.listen = listen
    relay.write_conf([(n, addr[n]) for n in names],
                     relay={"shutdown-timeout": "1s",
                            "memory-limit": rng.choice(["16M", "24M"])})
    before = reloads()
    relay.reload()
    sent += 1
    try:
        h.wait_until(lambda: reloads() > before, 10, what="reload %d applied" % sent)
    except TimeoutError:
        applied_ok = False
        break
    time.sleep(rng.uniform(0.1, 0.3))
for n in list(frozen):
    vms[n].thaw()
relay.listen = [(relay.port, "auto")]
relay.write_conf([(n, addr[n]) for n in "ABC"], relay={"shutdown-timeout": "1s",
                                                      "memory-limit": "16M"})
relay.reload()
sent += 1
res = h.finish_tsload(load, timeout=120)
resf = h.finish_tsload(framed, timeout=120)
tap.ok(res.get("exit") == 0 and resf.get("exit") == 0,
       "%d points sent (telnet and framed) through %d reloads" % (N, sent),
       res.get("stderr", "") + resf.get("stderr", ""))
tap.ok(applied_ok and h.wait_until(lambda: reloads() == sent, 10, what="all reloads"),
       "every reload applied (%d logged)" % reloads())
tap.eq(relay.stats().get(("config.reloads", None)), sent, "config.reloads counts each one")
prober.stop = True
prober.join(timeout=5)
tap.ok(prober.tries >= 100 and prober.failures == 0,
       "a client connecting every 50 ms: %d tries, %d refused or unanswered"
       % (prober.tries, prober.failures), "; ".join(prober.why[:5]))


def values(m):
    out = []
    for n in "ABC":
        for series in vms[n].export('{__name__="%s"}' % m).values():
            for vs in series.values():
                out += [int(v) for v in vs]
    return out


for m, n in ((metric, N - N // 4), (metric + ".f", N // 4)):
    deadline = time.time() + 60
    while time.time() < deadline and sum(vms[k].count(m) for k in "ABC") < n:
        time.sleep(0.5)
    time.sleep(1.0)
    got = values(m)
    seen = set(got)
    missing = n - len(seen & set(range(n)))
    tap.note("%s: stored / duplicates" % m, "%d / %d" % (len(got), len(got) - len(seen)))
    tap.ok(missing == 0, "every point of %s reached A, B or C (%d missing of %d)"
           % (m, missing, n))
rss.stop()
bound = h.rss_bound(16 + 8)
tap.ok(rss.peak <= bound, "peak RSS %.1f MiB within %.0f MiB (the larger budget + 8)"
       % (rss.peak / 1048576.0, bound / 1048576.0))
st = relay.stats()
tap.eq(st.get(("points.dropped", None)), 0, "nothing dropped")
tap.note("lines handed over", sum(st.get(("backend.handed_over", "backend=" + n), 0)
                                  for n in "ABC"))
tap.eq(relay.stop(), 0, "tsrelay exits 0")
tap.done()
