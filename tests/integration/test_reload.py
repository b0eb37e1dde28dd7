"""Reload (SIGHUP) under load, without Redis, two victoria-metrics A and B.

1. 300,000 points at 30,000/s (10 s) into a relay with backend A only,
   while SIGHUP changes the backends twice: at 3 s B is added (and a
   framed listener, and block-size changed: that needs a restart and is
   kept, with a warning), at 6 s A is removed (and the framed listener).
   Every point reaches some backend (the union of A and B holds every
   value; duplicates reported, at most 1%); a client connecting every
   50 ms is never refused and always answered; a client connected to the
   removed listener keeps working; the removed listener refuses new ones;
   A retires; config.reloads counts 2.
2. A file with a syntax error on SIGHUP: tsrelay keeps running the last
   good configuration, says why, counts the refusal; 20,000 points sent
   afterwards all go to B, none to A.
3. A removed while it is frozen (SIGSTOP): its queue cannot drain, so
   after shutdown-timeout (3 s here) what it holds is handed to B by
   routing; once A is thawed the union of A and B again holds every
   point (nothing lost), and backend.handed_over{A} counts the lines
   passed on.
4. Redis settings: a second relay spooling to Redis R1 is reloaded with
   R2's address: it reconnects to R2 (its liveness key appears there);
   with B stopped, 10,000 points go into R2's list, none to R1's; B back,
   all 10,000 arrive.
"""

import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(420)
tap = h.Tap()
N = 300000
RATE = 30000
base = h.tmpdir()
vma = h.Victoria(base, "vm-a").start()
vmb = h.Victoria(base, "vm-b").start()
A = ("A", "127.0.0.1:%d" % vma.telnet)
B = ("B", "127.0.0.1:%d" % vmb.telnet)
framed_port = h.free_port()
relay = h.Relay(base, [A], relay={"shutdown-timeout": "3s"}).start()
T0 = int(time.time()) - 3 * 86400


def wait_log(text, since, timeout=10):
    """Waits until text appears in the log after offset since."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in relay.logtext()[since:]:
            return True
        time.sleep(0.05)
    return False


def reload(backends, listen=None, relay_opts=None, extra=""):
    relay.listen = listen or [(relay.port, "auto")]
    opts = {"shutdown-timeout": "3s"}
    opts.update(relay_opts or {})
    relay.write_conf(backends, relay=opts, extra=extra)
    mark = len(relay.logtext())
    relay.reload()
    return mark


def values_of(vm, metric):
    vals = []
    for series in vm.export('{__name__="%s"}' % metric).values():
        for vs in series.values():
            vals += [int(v) for v in vs]
    return vals


def union_check(metric, n, label, wait=60):
    """Every value 0..n-1 in A or B; returns (missing, duplicates)."""
    deadline = time.time() + wait
    while time.time() < deadline and vma.count(metric) + vmb.count(metric) < n:
        time.sleep(0.5)
    time.sleep(1.0)
    va, vb = values_of(vma, metric), values_of(vmb, metric)
    seen = set(va) | set(vb)
    missing = n - len(seen & set(range(n)))
    dups = len(va) + len(vb) - len(seen)
    tap.note("%s: in A / in B / duplicates" % label, "%d / %d / %d" % (len(va), len(vb), dups))
    return missing, dups


# ---- 1: add B, then remove A, under load -----------------------------------
metric = "it.reload.m%d" % random.randrange(1 << 30)
prober = h.ConnectProber(relay.port)
prober.start()
load = h.start_tsload(relay.port, N, conns=2, rate=RATE, metric=metric, series=1000,
                      start_ts=T0)
time.sleep(3)
mark = reload([A, B], listen=[(relay.port, "auto"), (framed_port, "framed")],
              relay_opts={"block-size": "128K"})
tap.ok(wait_log("reloaded", mark), "the first reload (B and a framed listener added) applied")
tap.ok("block-size needs a restart" in relay.logtext()[mark:],
       "block-size: needs a restart, kept, said so")
held = None
try:
    held = socket.create_connection(("127.0.0.1", framed_port), timeout=2)
except OSError as e:
    tap.ok(False, "the added framed listener accepts", str(e))
time.sleep(3)
mark = reload([B])
tap.ok(wait_log("reloaded", mark), "the second reload (A and the framed listener removed) "
       "applied")
refused = False
try:
    socket.create_connection(("127.0.0.1", framed_port), timeout=2).close()
except OSError:
    refused = True
tap.ok(refused, "the removed listener takes no new connections")
# the client of the removed listener keeps working
held_metric = metric + ".held"
if held is not None:
    try:
        held.sendall(h.frame("".join(h.telnet_line(held_metric, i, 10, T0, put=False)
                                     for i in range(100))))
    except OSError as e:
        tap.ok(False, "a client of the removed listener can still send", str(e))
res = h.finish_tsload(load, timeout=120)
tap.ok(res.get("exit") == 0 and res.get("sent") == N, "%d points sent at %d/s" % (N, RATE),
       res.get("stderr"))
missing, dups = union_check(metric, N, "add/remove")
tap.ok(missing == 0, "every point reached A or B (%d missing)" % missing)
tap.ok(dups <= N // 100, "duplicates at most 1%% (%d)" % dups)
tap.ok(vmb.wait_count(held_metric, 100, timeout=30) == 100,
       "the client of the removed listener: its 100 points arrived")
if held is not None:
    held.close()
prober.stop = True
prober.join(timeout=5)
tap.ok(prober.tries >= 100 and prober.failures == 0,
       "a client connecting every 50 ms: %d tries, %d refused or unanswered"
       % (prober.tries, prober.failures), "; ".join(prober.why[:5]))
h.wait_until(lambda: relay.stats().get(("backend.removed", "backend=A")) == 2, 20,
             what="A retired")
st = relay.stats()
tap.eq(st.get(("backend.removed", "backend=A")), 2, "A is retired (backend.removed{A} = 2)")
tap.eq(st.get(("config.reloads", None)), 2, "config.reloads counts the two reloads")
tap.eq(st.get(("points.dropped", None)), 0, "nothing dropped")

# ---- 2: a broken file ------------------------------------------------------
mark = reload([B], extra="[relay\nthis is not a key\n")
tap.ok(wait_log("refused", mark), "a file with a syntax error is refused")
time.sleep(0.5)
tap.ok(relay.alive(), "tsrelay still runs")
log = relay.logtext()[mark:]
tap.ok("running the last good configuration" in log and "syntax error" in log,
       "the log says why and that the last good configuration runs",
       log[-500:])
tap.eq(relay.stats().get(("config.reload_refusals", None)), 1,
       "config.reload_refusals counts it")
metric2 = metric + ".after"
res = h.run_tsload(relay.port, 20000, conns=1, rate=0, metric=metric2, series=100,
                   start_ts=T0, timeout=120)
tap.ok(res.get("exit") == 0, "20,000 points sent after the refusal", res.get("stderr"))
tap.eq(vmb.wait_count(metric2, 20000, timeout=60), 20000, "all 20,000 reached B")
tap.eq(vma.count(metric2), 0, "none went to A")

# ---- 3: A removed while frozen ---------------------------------------------
metric3 = metric + ".frozen"
mark = reload([A, B])
tap.ok(wait_log("reloaded", mark), "A added back")
h.wait_until(lambda: relay.stats().get(("backend.up", "backend=A")) == 1, 20, what="A up again")
N3 = 200000
load = h.start_tsload(relay.port, N3, conns=2, rate=40000, metric=metric3, series=1000,
                      start_ts=T0)
time.sleep(1.5)
vma.freeze()
time.sleep(1.0)  # A's share of the points piles up in its queue
mark = reload([B])
tap.ok(wait_log("reloaded", mark), "A removed while frozen")
res = h.finish_tsload(load, timeout=120)
tap.ok(res.get("exit") == 0 and res.get("sent") == N3, "%d points sent" % N3,
       res.get("stderr"))
h.wait_until(lambda: relay.stats().get(("backend.removed", "backend=A")) == 2, 30,
             what="A retired after shutdown-timeout")
st = relay.stats()
handed = st.get(("backend.handed_over", "backend=A"), 0)
tap.ok(handed > 0, "after shutdown-timeout A's queue went to B (%d lines handed over)" % handed)
vma.thaw()
missing, dups = union_check(metric3, N3, "frozen A removed")
tap.ok(missing == 0, "every point reached A or B (%d missing)" % missing)
tap.eq(relay.stats().get(("points.dropped", None)), 0, "nothing dropped")
tap.eq(relay.stop(), 0, "tsrelay exits 0")

# ---- 4: the Redis address ----------------------------------------------------
r1 = h.Redis(os.path.join(base, "r1")).start()
r2 = h.Redis(os.path.join(base, "r2")).start()
relay = h.Relay(base, [B], redis=r1, name="relay2", instance="main2").start()
alive = "it%d:main2:alive" % os.getpid()
h.wait_until(lambda: r1.cmd("EXISTS", alive) == "1", 15, what="alive in R1")
relay.redis = r2
relay.write_conf([B], relay={"shutdown-timeout": "3s"})
mark = len(relay.logtext())
relay.reload()
tap.ok(wait_log("reloaded", mark), "the Redis address changed by a reload")
tap.ok(h.wait_until(lambda: r2.cmd("EXISTS", alive) == "1", 15, what="alive in R2") is not
       False, "tsrelay reconnected to R2 (its liveness key is there)")
vmb.stop()
metric4 = metric + ".redis"
res = h.run_tsload(relay.port, 10000, conns=1, rate=0, metric=metric4, series=100,
                   start_ts=T0, timeout=120)
tap.ok(res.get("exit") == 0, "10,000 points sent with B down", res.get("stderr"))
key = relay.spool_key("B")
h.wait_until(lambda: int(r2.cmd("LLEN", key) or 0) > 0, 15, what="entries in R2")
tap.ok(int(r2.cmd("LLEN", key) or 0) > 0 and int(r1.cmd("LLEN", key) or 0) == 0,
       "they were spooled in R2 (%s entries), not R1" % r2.cmd("LLEN", key))
vmb.start()
tap.eq(vmb.wait_count(metric4, 10000, timeout=60), 10000, "B back: all 10,000 arrived")
tap.eq(relay.stop(), 0, "the second tsrelay exits 0")
tap.done()
