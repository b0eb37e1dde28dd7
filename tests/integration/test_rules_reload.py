"""Rules and groups reloaded under load: two rule sets swapped by SIGHUP
every second while 300,000 points stream in, into two victoria-metrics.

Set A renames load.X to a.X, tags rs=a and gen=N, and sends to group g1
(vm1).  Set B renames to b.X, drops the host tag, tags rs=b and gen=N, and
sends to g2 (vm2).  Each file written carries its generation N (A even, B
odd; written whole, then renamed into place).  Afterwards:
  - every point is stored exactly once (its value is its number: none
    lost, none twice);
  - every point is wholly one set's work: metric, tags and backend all of
    A or all of B, and its generation's parity says which;
  - each point follows the set in force when it was decoded: along each
    connection's stream (tsload: connection c sends the points i % 2 == c
    in order) the generation never goes back;
  - every generation the relay logged as reloaded that saw points is in
    the data, and no other;
  - the counters: rule.matched of each rule carried across the swaps sum
    to what each set did, the accounting identity holds.
About 25 s.  TSRELAY_LONG=1 (make check-long): 3,000,000 points.
"""

import json
import os
import re
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

LONG = os.environ.get("TSRELAY_LONG") == "1"
N = 3000000 if LONG else 300000
RATE = 60000 if LONG else 15000
h.hard_timeout(900 if LONG else 240)
tap = h.Tap()
base = h.tmpdir()
vm1 = h.Victoria(base, "vm1").start()
vm2 = h.Victoria(base, "vm2").start()
BACKENDS = [("vm1", "127.0.0.1:%d" % vm1.telnet), ("vm2", "127.0.0.1:%d" % vm2.telnet)]

GROUPS = """
[relay]
default-group = g1

[group g1]
backends = vm1

[group g2]
backends = vm2
"""
SET_A = GROUPS + r"""
[rule rename]
match = ^load\.(.+)$
action = rewrite
metric = a.\1

[rule tag]
action = set-tags
tags = rs=a, gen=%d

[rule send]
action = send
to = g1
"""
SET_B = GROUPS + r"""
[rule rename]
match = ^load\.(.+)$
action = rewrite
metric = b.\1

[rule trim]
action = drop-tags
keys = host

[rule tag]
action = set-tags
tags = rs=b, gen=%d

[rule send]
action = send
to = g2
"""

relay = h.Relay(base, BACKENDS, backend_opts={"conns": "2"})


def write_set(gen):
    """The file of generation gen, written aside and renamed into place
    (it appears whole)."""
    text = (SET_A if gen % 2 == 0 else SET_B) % gen
    real = relay.conf
    relay.conf = real + ".tmp"
    relay.write_conf(BACKENDS, backend_opts={"conns": "2"}, extra=text)
    relay.conf = real
    os.replace(real + ".tmp", real)


write_set(0)
relay.start()
T0 = int(time.time()) - 86400
NSERIES = 1000

gens = [0]
stop = threading.Event()


def swapper():
    while not stop.wait(1.0):
        g = gens[-1] + 1
        write_set(g)
        relay.reload()
        gens.append(g)


sw = threading.Thread(target=swapper, daemon=True)
p = h.start_tsload(relay.port, N, conns=2, rate=RATE, metric="load.m", series=NSERIES,
                   start_ts=T0, extra=["--metrics", "load.x,load.y"])
sw.start()
res = h.finish_tsload(p, timeout=600)
stop.set()
sw.join(timeout=10)
tap.ok(res.get("exit") == 0 and res.get("sent") == N, "%d points sent at %d/s while %d "
       "SIGHUPs swapped the rule sets" % (N, RATE, len(gens) - 1), res.get("stderr"))

log = relay.logtext()
reloaded = len(re.findall(r"SIGHUP: \S+ reloaded", log))
refused = len(re.findall(r"SIGHUP: \S+ refused", log))
tap.ok(reloaded == len(gens) - 1 and refused == 0, "every SIGHUP reloaded (%d), none refused"
       % reloaded)

# ---- the data -----------------------------------------------------------


def export_all(vm):
    vm.flush()
    t = int(time.time()) + 2 * 86400
    q = urllib.request.quote('{__name__=~".+"}')
    _, body = h.http_get(vm.url("/api/v1/export?match[]=%s&start=0&end=%d" % (q, t)),
                         timeout=300)
    for line in body.decode().splitlines():
        if line.strip():
            yield json.loads(line)


def stored():
    return sum(len(o["values"]) for vm in (vm1, vm2) for o in export_all(vm))


deadline = time.time() + 120
while stored() < N and time.time() < deadline:
    time.sleep(1)
time.sleep(1.5)  # stragglers would show as duplicates

seen = {}          # value -> gen
bad = []
count = 0
for name, vm in (("vm1", vm1), ("vm2", vm2)):
    for o in export_all(vm):
        m = dict(o["metric"])
        metric = m.pop("__name__")
        gen = int(m.get("gen", -1))
        rs = m.get("rs")
        want_rs = "a" if gen % 2 == 0 else "b"
        want_keys = {"series", "host", "rs", "gen"} if rs == "a" else {"series", "rs", "gen"}
        ok = (rs == want_rs and set(m) == want_keys and
              re.fullmatch(r"%s\.[xy]" % rs, metric) is not None and
              name == ("vm1" if rs == "a" else "vm2"))
        for ts, v in zip(o["timestamps"], o["values"]):
            i = int(v)
            count += 1
            if i in seen:
                bad.append("point %d stored twice (gens %d, %d)" % (i, seen[i], gen))
            seen[i] = gen
            s = i % NSERIES
            if not ok or ts // 1000 != T0 + i // NSERIES or m["series"] != "s%d" % s or \
                    metric[2:] != ("x" if s % 2 == 0 else "y"):
                bad.append("point %d on %s as %s %s: not one set's work" % (i, name, metric, m))
missing = N - len(seen)
tap.ok(missing == 0 and count == N and not any("twice" in b for b in bad),
       "every point stored exactly once (%d stored, %d missing)" % (count, missing),
       "\n".join(b for b in bad if "twice" in b)[:2000])
tap.ok(not any("not one set" in b for b in bad),
       "every point is wholly one rule set's work: metric, tags and backend", "\n".join(
           b for b in bad if "not one set" in b)[:2000])

backwards = []
for c in (0, 1):
    last = -1
    for i in range(c, N, 2):
        g = seen.get(i)
        if g is None:
            continue
        if g < last:
            backwards.append("connection %d: point %d under gen %d after gen %d" % (c, i, g, last))
        last = max(last, g)
tap.ok(not backwards, "along each connection the generation never goes back: each point "
       "followed the rules in force when it was decoded", "\n".join(backwards[:10]))
used = sorted(set(seen.values()))
tap.ok(set(used) <= set(gens) and len(used) >= len(gens) - 2,
       "the points went through %d of the %d generations loaded" % (len(used), len(gens)))

# ---- counters -------------------------------------------------------------
st = relay.stats()
g = lambda k: st.get((k, None), 0)
n_a = sum(1 for x in seen.values() if x % 2 == 0)
n_b = N - n_a
tap.eq((st.get(("rule.matched", "rule=rename")), st.get(("rule.matched", "rule=tag")),
        st.get(("rule.matched", "rule=send"))), (N, N, N),
       "rule.matched of the rules in both sets carried across every swap: %d each" % N)
tap.eq((st.get(("group.points", "group=g1")), st.get(("group.points", "group=g2"))), (n_a, n_b),
       "group.points: g1 %d (set A), g2 %d (set B)" % (n_a, n_b))
received = sum(v for (k, t), v in st.items() if k == "points.received")
rhs = (g("points.forwarded") + g("points.queued") + g("points.spool_pending") +
       sum(v for (k, t), v in st.items() if k in ("points.invalid", "points.refused")) +
       g("points.rule_dropped") + g("points.dropped"))
tap.eq(received + g("points.taken_over") + g("points.copies"), rhs, "the accounting identity")
tap.eq(relay.stop(), 0, "tsrelay exits 0")
tap.done()
