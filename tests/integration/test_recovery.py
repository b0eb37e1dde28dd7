"""Recovery: the TSD (victoria-metrics) is down for 20 s while 30,000
points/s flow into tsrelay (with Redis: the backlog goes to the spool).
From the moment it accepts again (its telnet port takes a connection:
probed every 10 ms with a connection that writes one put line at once,
as VM's listener needs) to every point queryable must take at most 2 s plus what VM's own ingest rate needs for
the backlog; that rate is measured in the same run (tsload straight into
VM, until queryable).  Every point arrives exactly once (VM is stopped
with nothing in flight, so a TSD losing unread bytes is not part of this
test).
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
RATE = 30000
DOWN = 20.0
N = int(RATE * DOWN)
NSERIES = 2000
T0 = int(time.time()) - 4 * 86400
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base).start()
tag = random.randrange(1 << 30)


def ingest_rate(n, metric):
    """Points/s VM takes from one telnet writer until they are queryable."""
    t = time.time()
    res = h.run_tsload(vm.telnet, n, conns=2, metric=metric, series=NSERIES, start_ts=T0)
    while vm.count(metric) < n and time.time() - t < 120:
        time.sleep(0.05)
    return n / (time.time() - t), res


rate_before, res = ingest_rate(N, "it.recov.ingest%d" % tag)
tap.ok(res.get("exit") == 0, "VM's ingest rate, measured: %d points/s (%d points straight "
       "into it)" % (rate_before, N), res.get("stderr"))

relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis,
                relay={"memory-limit": "32M"}).start()
metric = "it.recov.m%d" % tag
warm = h.run_tsload(relay.port, 1000, metric=metric + ".warm", series=10, start_ts=T0)
tap.eq(vm.wait_count(metric + ".warm", 1000, timeout=30, settle=0), 1000,
       "warm-up points arrived through tsrelay")



def accepting(seq):
    """One connection to VM's telnet port that writes a put line at once
    (never a silent one: it would stall VM's listener)."""
    try:
        s = socket.create_connection(("127.0.0.1", vm.telnet), timeout=0.5)
    except OSError:
        return False
    s.sendall(("put %s.probe %d %d host=p\n" % (metric, T0, seq)).encode())
    s.close()
    return True


vm.stop()
t_down = time.time()
load = h.start_tsload(relay.port, N, conns=2, rate=RATE, metric=metric, series=NSERIES,
                      start_ts=T0)
time.sleep(max(0.0, t_down + DOWN - time.time()))
starter = threading.Thread(target=vm.start, daemon=True)
starter.start()
seq = 0
while not accepting(seq) and time.time() - t_down < DOWN + 60:
    seq += 1
    time.sleep(0.01)
t_up = time.time()
starter.join(timeout=60)
tap.note("VM: accepting after / healthy after its start (s)", "%.2f / %.2f" % (
    t_up - t_down - DOWN, time.time() - t_down - DOWN))
res = h.finish_tsload(load, timeout=120)
tap.ok(res.get("exit") == 0 and res.get("sent") == N,
       "%d points sent at %d/s while VM was down for %.1f s" % (N, RATE, t_up - t_down),
       res.get("stderr"))
st = relay.stats()
tap.ok(st.get(("points.spooled", None), 0) > 0,
       "the backlog went to the spool (%d lines)" % st.get(("points.spooled", None), 0))
while vm.count(metric) < N and time.time() - t_up < 120:
    time.sleep(0.05)
recovery = time.time() - t_up
got = vm.wait_count(metric, N, timeout=1, settle=1.0)
tap.eq(got, N, "every point arrived, exactly once")
allowance = N / rate_before
bound = 2.0 + allowance
tap.note("time from VM accepting again to all points queryable (s)", round(recovery, 2))
tap.note("allowance for VM's ingest (s)", round(allowance, 2))
tap.ok(recovery <= bound, "all %d points queryable %.2f s after VM accepted again (bound: 2 s "
       "+ %.2f s for %d points at VM's %d points/s)" % (N, recovery, allowance, N, rate_before))
st = relay.stats()
tap.note("reconnect attempts while down", st.get(("backend.connect_attempts", "backend=vm"), 0))
rate_after, _ = ingest_rate(N, "it.recov.ingest_after%d" % tag)
tap.note("VM's ingest rate after its restart (points/s)", int(rate_after))
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
