"""Counters tell the truth: drive tsrelay through backend up -> down ->
spooling -> drained and check, at each quiet moment,
  received + taken_over + copies = forwarded + queued + spool_pending
      + invalid + refused + rule_dropped + dropped
exactly, with the gauges and states that go with each step.  Then
stats-interval: tsrelay's own counters arrive in the TSD, tagged host."""

import random
import socket
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(200)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis,
                backend_opts={"conns": "2"}).start()
T0 = int(time.time()) - 86400
metric = "it.counters.m%d" % random.randrange(1 << 30)
NSERIES = 100
sent_valid = 0
sent_invalid = 0


def send(lo, hi, invalid):
    global sent_valid, sent_invalid
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    body = "".join(h.telnet_line(metric, i, NSERIES, T0) for i in range(lo, hi))
    body += "put %s 1 1\n" % metric * invalid  # no tags: invalid
    s.sendall(body.encode())
    s.shutdown(socket.SHUT_WR)
    h.recv_all(s, timeout=1)
    s.close()
    sent_valid += hi - lo
    sent_invalid += invalid


def quiet_stats():
    """Stats once two reads in a row agree (nothing in motion)."""
    prev = None
    for _ in range(100):
        st = relay.stats()
        cur = {k: v for k, v in st.items() if k[0].startswith("points.")}
        if cur == prev:
            return st
        prev = cur
        time.sleep(0.3)
    return st


def check(step, st):
    g = lambda k: st.get((k, None), 0)
    received = sum(v for (k, t), v in st.items() if k == "points.received")
    invalid = sum(v for (k, t), v in st.items() if k == "points.invalid")
    refused = sum(v for (k, t), v in st.items() if k == "points.refused")
    rhs = g("points.forwarded") + g("points.queued") + g("points.spool_pending") + invalid + \
        refused + g("points.rule_dropped") + g("points.dropped")
    tap.eq(received + g("points.taken_over") + g("points.copies"), rhs,
           "%s: received + taken_over + copies = forwarded + queued + spool_pending + invalid "
           "+ refused + rule_dropped + dropped" % step)
    tap.eq((received, invalid), (sent_valid + sent_invalid, sent_invalid),
           "%s: received and invalid match what was sent" % step)


# 1. up
send(0, 20000, 7)
st = quiet_stats()
check("up", st)
tap.eq(st.get(("points.forwarded", None)), sent_valid, "up: everything forwarded")
tap.eq(st.get(("backend.up", "backend=vm")), 1, "up: backend.up = 1")

# 2. down: the relay notices on its next write
vm.stop()
send(20000, 20100, 3)
time.sleep(1.5)
send(20100, 40000, 5)
st = quiet_stats()
check("down", st)
tap.eq(st.get(("backend.up", "backend=vm")), 0, "down: backend.up = 0")
tap.eq(st.get(("backend.spooling", "backend=vm")), 1, "down: backend.spooling = 1")
tap.ok(st.get(("points.spool_pending", None), 0) > 0, "down: lines wait in the spool")
tap.ok(st.get(("backend.spool_entries", "backend=vm"), 0) > 0, "down: the spool has entries")

# 3. spooling continues while down, then the backend returns and drains
send(40000, 50000, 0)
vm.start()
deadline = time.time() + 60
while time.time() < deadline:
    st = relay.stats()
    if st.get(("points.spool_pending", None), 1) == 0 and st.get(("points.queued", None), 1) == 0:
        break
    time.sleep(0.3)
st = quiet_stats()
check("drained", st)
tap.eq(st.get(("points.forwarded", None)), sent_valid, "drained: forwarded = every valid point")
tap.eq(st.get(("backend.spooling", "backend=vm")), 0, "drained: spooling = 0")
tap.eq(st.get(("backend.up", "backend=vm")), 1, "drained: backend.up = 1")
tap.eq(vm.count(metric), sent_valid, "drained: the TSD holds every valid point")
tap.ok(relay.stop() == 0, "tsrelay exits 0")

# 4. stats-interval writes the relay's own counters to its backends
relay2 = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], relay={"stats-interval": "1s"},
                 name="relay2").start()
deadline = time.time() + 20
got = 0
while time.time() < deadline and got < 2:
    got = vm.count("tsrelay.uptime")
    time.sleep(0.5)
tap.ok(got >= 2, "stats-interval: tsrelay.uptime arrives every second (%d points)" % got)
series = vm.export('{__name__="tsrelay.memory.rss"}')
tap.ok(any(dict(k).get("host") for k in series), "stats-interval lines are tagged host=<hostname>")
st = relay2.stats()
tap.ok(st.get(("points.received", "proto=internal"), 0) > 0,
       "they are counted as points.received{proto=internal}")
tap.ok(relay2.stop() == 0, "tsrelay exits 0")
tap.done()
