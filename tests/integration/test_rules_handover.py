"""A backend removed from its group by a reload hands its lines to that
group, not to the default group.

Group g = [down, b] with routing = all (every point to both); main = [c],
the default group; a rule sends everything to g.  down is a port nothing
listens on, so its copy of each point waits in its queue.  The reload
removes down (from g and from the file).  After shutdown-timeout its
waiting lines are handed over: to g's remaining backend b (which then has
every point twice: once as g's, once handed over), never to c.  The
counters say so: backend.handed_over{down}, group.points{g}, and the
identity (the hand-over adds lines to g: group.points grows by them).
Then a reload with a rule that does not compile is refused with
FILE:LINE: [rule NAME] match: <PCRE2's message at offset N>, and the
running rules stay.  About 10 s.  (b and c are tssink, counting lines; a scripted sink is
enough here: the point is where lines go, not what a TSD does.)
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(120)
tap = h.Tap()
base = h.tmpdir()
b = h.TsSink(base, name="b")
c = h.TsSink(base, name="c")
down = "127.0.0.1:%d" % h.free_port()
N = 3000

RULES = """
[relay]
default-group = main
shutdown-timeout = 2s

[group main]
backends = c

[group g]
backends = %s
routing = all

[rule to-g]
action = send
to = g
"""

both = [("down", down), ("b", "127.0.0.1:%d" % b.port), ("c", "127.0.0.1:%d" % c.port)]
relay = h.Relay(base, both, relay={"reconnect-max": "200ms"})
relay.write_conf(both, relay={"reconnect-max": "200ms"}, extra=RULES % "down, b")
relay.start()

s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
T0 = int(time.time()) - 3600
s.sendall("".join("put ho.m %d %d host=h%d\n" % (T0 + i, i, i % 5) for i in range(N)).encode())
s.close()
h.wait_until(lambda: b.stats().get("lines", 0) >= N, 20, what="b has g's copy")
st = relay.stats()
tap.eq(st.get(("backend.queue_lines", "backend=down")), N, "down's copies wait in its queue")

relay.write_conf(both[1:], relay={"reconnect-max": "200ms"}, extra=RULES % "b")
relay.reload()
h.wait_until(lambda: relay.stats().get(("backend.removed", "backend=down")) == 2, 20,
             what="down retired")
time.sleep(0.5)
st = relay.stats()
tap.eq(st.get(("backend.handed_over", "backend=down")), N,
       "after shutdown-timeout down handed over its %d lines" % N)
try:
    h.wait_until(lambda: b.stats().get("lines", 0) + c.stats().get("lines", 0) >= 2 * N, 20,
                 what="the handed-over lines arrived")
except TimeoutError:
    pass  # the checks below say where they went
time.sleep(0.5)
tap.eq(b.stats().get("lines", 0), 2 * N, "they went to g's remaining backend b")
tap.eq(c.stats().get("lines", 0), 0, "none went to the default group's c")
tap.eq(st.get(("group.points", "group=g")), 2 * N, "group.points{g}: the points and the "
       "handed-over lines")
g = lambda k: st.get((k, None), 0)
received = sum(v for (k, t), v in st.items() if k == "points.received")
rhs = (g("points.forwarded") + g("points.queued") + g("points.spool_pending") +
       sum(v for (k, t), v in st.items() if k in ("points.invalid", "points.refused")) +
       g("points.rule_dropped") + g("points.dropped"))
tap.eq(received + g("points.taken_over") + g("points.copies"), rhs, "the accounting identity")
tap.ok("reload: groups" not in relay.logtext() and "reload: rules" not in relay.logtext(),
       "the reload kept the groups and the rule (no group or rule added or removed)")

# a rule that does not compile refuses the whole file; the running rules stay
bad = (RULES % "b") + "\n[rule broken]\nmatch = ^a(b\naction = drop\n"
relay.write_conf(both[1:], relay={"reconnect-max": "200ms"}, extra=bad)
with open(relay.conf) as f:
    line = next(i + 1 for i, t in enumerate(f.read().splitlines()) if t == "match = ^a(b")
mark = len(relay.logtext())
relay.reload()
h.wait_until(lambda: "refused" in relay.logtext()[mark:], 10, what="the refusal")
want = "SIGHUP: %s refused: %s:%d: [rule broken] match: missing closing parenthesis at " \
       "offset 4; running the last good configuration" % (relay.conf, relay.conf, line)
tap.ok(want in relay.logtext()[mark:], "a reload with a rule that does not compile is refused: "
       "FILE:LINE: [rule broken] match: <PCRE2's message> at offset N", relay.logtext()[mark:])
s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
s.sendall(b"put ho.after 1700000000 1 host=a\n")
s.close()
h.wait_until(lambda: b.stats().get("lines", 0) >= 2 * N + 1, 10, what="a point after it")
st = relay.stats()
tap.ok(st.get(("config.reload_refusals", None)) == 1 and b.stats().get("lines") == 2 * N + 1 and
       c.stats().get("lines", 0) == 0, "the running rules stayed: the next point went to g's b")
tap.eq(relay.stop(), 0, "tsrelay exits 0")
tap.done()
