"""test_takeover.py -- many relays, one spool (issue 12).

Orphan: three relays (instances a, b, c) share one Redis; the TSD is down;
a and b accept points (spooled); b is SIGKILLed and stays dead.  When the
TSD returns, every point b accepted arrives, drained by exactly one
survivor (the test shows which, and that the other drained nothing of
it); a's own points too; nothing of b is left in Redis.  Then b restarts:
it starts clean and nothing is delivered twice.

Lease: the same with a slow drain (max-rate), and the taker SIGKILLed
mid-drain: the remaining relay takes over after takeover-after and the
total still arrives (duplicates at most the entries in flight).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

tap = h.Tap()
h.hard_timeout(600)
base = h.tmpdir()
redis = h.Redis(base).start()
PFX = "it%d" % os.getpid()
T0 = int(time.time()) - 86400


def relay(vm, name, extra=None):
    opts = {"spool-flush-interval": "50ms", "takeover-after": "3s"}
    return h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis, name="r-" + name,
                   instance=name, relay={"reconnect-max": "1s"},
                   redis_opts=opts, backend_opts=extra or {}).start()


def stat(r, key, tag=None):
    try:
        return r.stats().get((key, tag), 0)
    except OSError:
        return -1


def spooled(r, n, timeout=60):
    """Waits until relay r has n points in Redis."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if stat(r, "points.spooled") >= n and stat(r, "backend.staged_bytes", "backend=vm") == 0:
            return True
        time.sleep(0.1)
    return False


def keys_of(instance):
    out = redis.cmd("KEYS", "%s:%s:*" % (PFX, instance))
    return [k for k in out.splitlines() if k.strip()]


# ---- orphan ---------------------------------------------------------------
vm = h.Victoria(base, name="vm1")          # ports chosen, not started: the TSD is down
ra, rb, rc = relay(vm, "a"), relay(vm, "b"), relay(vm, "c")
NA, NB = 60000, 120000
sa = h.Sender(ra.port, "it.to.a", NA, 0, 500, T0)
sb = h.Sender(rb.port, "it.to.b", NB, 0, 500, T0)
sa.run()
sb.run()
tap.ok(sa.error is None and sb.error is None, "a and b accepted their points while the TSD is down",
       "%s %s" % (sa.error, sb.error))
tap.ok(spooled(ra, NA) and spooled(rb, NB), "a and b spooled everything to Redis")
members = set(redis.cmd("SMEMBERS", PFX + ":instances").split())
tap.eq(members, {"a", "b", "c"}, "the three instances are members of the fleet")
rb.kill()
time.sleep(4.5)  # b's liveness expires (takeover-after 3 s)
tap.eq(redis.cmd("EXISTS", "%s:b:alive" % PFX), "0", "b's liveness expired")
vm.start()
got_a = vm.wait_count("it.to.a", NA, timeout=120)
got_b = vm.wait_count("it.to.b", NB, timeout=120)
tap.eq(got_a, NA, "a's own points arrived exactly once")
tap.eq(got_b, NB, "every point b accepted arrived (exactly once: nothing of b was in flight)")
drained = {n: stat(r, "fleet.points_for_others") for n, r in (("a", ra), ("c", rc))}
takers = [n for n, v in drained.items() if v > 0]
tap.note("points drained for others", drained)
tap.ok(len(takers) == 1 and drained[takers[0]] == NB,
       "exactly one survivor (%s) drained b's spool, the other nothing of it"
       % (takers[0] if takers else "none"), drained)
h.wait_until(lambda: keys_of("b") == [] and
             "b" not in redis.cmd("SMEMBERS", PFX + ":instances").split(), 20,
             what="b's keys gone")
tap.eq(keys_of("b"), [], "nothing of b is left in Redis")
tap.ok("b" not in redis.cmd("SMEMBERS", PFX + ":instances").split(), "b left the fleet")
# b comes back: it starts clean, nothing is delivered twice
rb = relay(vm, "b")
time.sleep(3)
tap.eq(vm.count("it.to.b"), NB, "b restarted: nothing of it delivered twice")
tap.eq(stat(rb, "points.unspooled"), 0, "b starts with an empty spool")
for r in (ra, rb, rc):
    r.stop()

# ---- lease: the taker dies mid-drain ---------------------------------------
vm2 = h.Victoria(base, name="vm2")
slow = {"max-rate": "20000"}              # the takeover drains for seconds
ra, rb, rc = relay(vm2, "a2", slow), relay(vm2, "b2", slow), relay(vm2, "c2", slow)
NB2 = 150000
sb = h.Sender(rb.port, "it.lease.b", NB2, 0, 500, T0)
sb.run()
tap.ok(sb.error is None and spooled(rb, NB2), "b2 spooled %d points with the TSD down" % NB2)
rb.kill()
time.sleep(4.5)
vm2.start()
deadline = time.time() + 30
taker = None
while time.time() < deadline and taker is None:
    for name, r in (("a2", ra), ("c2", rc)):
        if stat(r, "fleet.takeovers") > 0 and stat(r, "fleet.points_for_others") > 0:
            taker = (name, r)
    time.sleep(0.2)
tap.ok(taker is not None, "a survivor took b2 over (%s)" % (taker[0] if taker else "none"))
time.sleep(2)
before = vm2.count("it.lease.b")
tap.ok(0 < before < NB2, "the taker was SIGKILLed mid-drain (%d of %d delivered)" % (before, NB2))
taker[1].kill()
other = rc if taker[0] == "a2" else ra
t_kill = time.time()
got = vm2.wait_count("it.lease.b", NB2, timeout=120, settle=2.0)
tap.ok(got >= NB2, "the other survivor took over after takeover-after: all %d arrived (%d "
       "duplicates)" % (NB2, got - NB2))
tap.note("lease: from the kill to all delivered (s)", "%.1f" % (time.time() - t_kill))
tap.ok(stat(other, "fleet.takeovers") >= 1, "the remaining relay won the lease")
# at most the entries in flight at the kill come twice: a read window of the drain
tap.ok(got - NB2 <= 64 * 1000, "duplicates at most the entries in flight (%d)" % (got - NB2))
tap.eq(other.stop(), 0, "tsrelay exits 0")
tap.done()
