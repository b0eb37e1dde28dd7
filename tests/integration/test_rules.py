"""Rules and backend groups, end to end, against two real victoria-metrics.

Groups: main = [vm1] (hash), billing = [vm2] (hash).  Default group main.
100,000 points over 50 metrics (10 families of 5), a third each by telnet,
by framed text and by HTTP /api/put (JSON), through a rule set that
  - drops debug.*                                       (drop)
  - renames sys.cpu.X to os.cpu.X                       (rewrite, \\1)
  - trims pid and request_id                            (drop-tags)
  - keeps only host and dc on net.*                     (keep-tags)
  - adds dc=eu1 to everything                           (set-tags)
  - sends billing.* with env=prod to billing            (send, tag = condition)
  - mirrors audit.* to main and billing                 (send to two groups)
  - refuses wide.*: 8 more tags make 10 > max-tags 8    (a refused change)
The test computes, from the same points and its own reading of these
rules, the exact lines each backend must hold; victoria-metrics' export
of each is compared with them series by series and point by point (a lost,
extra, duplicated or wrongly changed point fails).  The relay's counters
must match the reference exactly: rule.matched/dropped/refused per rule,
group.points per group, points.refused (clients were told: telnet error
lines, framed error frames, HTTP details), points.rule_dropped,
points.copies, and the accounting identity.  About 20 s.
"""

import json
import os
import socket
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()
vm1 = h.Victoria(base, "vm1").start()
vm2 = h.Victoria(base, "vm2").start()

RULES = r"""
[relay]
default-group = main

[group main]
backends = vm1

[group billing]
backends = vm2

[rule drop-debug]
match = ^debug\.
action = drop

[rule rename-cpu]
match = ^sys\.cpu\.(.+)$
action = rewrite
metric = os.cpu.\1

[rule trim-ids]
action = drop-tags
keys = pid, request_id

[rule net-keep]
match = ^net\.
action = keep-tags
keys = host, dc

[rule dc]
action = set-tags
tags = dc=eu1

[rule wide]
match = ^wide\.
action = set-tags
tags = w1=1, w2=2, w3=3, w4=4, w5=5, w6=6, w7=7, w8=8

[rule billing]
match = ^billing\.
tag = env=^prod$
action = send
to = billing

[rule audit]
match = ^audit\.
action = send
to = main, billing
"""

relay = h.Relay(base, [("vm1", "127.0.0.1:%d" % vm1.telnet),
                       ("vm2", "127.0.0.1:%d" % vm2.telnet)])
relay.write_conf([("vm1", "127.0.0.1:%d" % vm1.telnet), ("vm2", "127.0.0.1:%d" % vm2.telnet)],
                 extra=RULES)
relay.start()

N = 100000
T0 = int(time.time()) - 2 * 86400
FAMILIES = ["debug", "sys.cpu", "billing", "audit", "net", "wide", "app", "jvm", "disk", "mem"]
METRICS = ["%s.m%d" % (f, k) for f in FAMILIES for k in range(5)]


def point(i):
    """(metric, ts, value, tags dict) of point i."""
    m = METRICS[i % 50]
    tags = {"host": "h%d" % (i % 7)}
    if i % 3 == 0:
        tags["pid"] = str(i % 100)
    if i % 5 == 0:
        tags["request_id"] = "r%d" % (i % 11)
    if m.startswith(("billing.", "net.")):
        tags["env"] = "prod" if i % 2 else "dev"
    return m, T0 + i // 50, i, tags


# ---- the reference: this test's own reading of the rules ---------------
expect = {"vm1": {}, "vm2": {}}
matched = {r: 0 for r in ("drop-debug", "rename-cpu", "trim-ids", "net-keep", "dc", "wide",
                          "billing", "audit")}
dropped = refused = copies = 0
group_points = {"main": 0, "billing": 0}
refused_ids = set()
for i in range(N):
    m, ts, v, tags = point(i)
    if m.startswith("debug."):
        matched["drop-debug"] += 1
        dropped += 1
        continue
    if m.startswith("sys.cpu."):
        matched["rename-cpu"] += 1
        m = "os.cpu." + m[len("sys.cpu."):]
    matched["trim-ids"] += 1
    tags.pop("pid", None)
    tags.pop("request_id", None)
    if m.startswith("net."):
        matched["net-keep"] += 1
        tags = {k: tags[k] for k in ("host", "dc") if k in tags}
    matched["dc"] += 1
    tags["dc"] = "eu1"
    if m.startswith("wide."):
        matched["wide"] += 1
        refused += 1
        refused_ids.add(i)
        continue
    groups = ["main"]
    if m.startswith("billing.") and tags.get("env") == "prod":
        matched["billing"] += 1
        groups = ["billing"]
    elif m.startswith("audit."):
        matched["audit"] += 1
        groups = ["main", "billing"]
    copies += len(groups) - 1
    key = (m, tuple(sorted(tags.items())))
    for g in groups:
        group_points[g] += 1
        vm = "vm1" if g == "main" else "vm2"
        expect[vm].setdefault(key, []).append((ts, float(v)))

# ---- send: a third each by telnet, framed text and HTTP ----------------


def telnet_line(i, put=True):
    m, ts, v, tags = point(i)
    body = "%s %d %d %s" % (m, ts, v, " ".join("%s=%s" % kv for kv in tags.items()))
    return ("put " + body if put else body) + "\n"


def converse(chunks, pace=0):
    """Sends the chunks on one connection while a thread reads every reply,
    until the relay closes.  A client's replies are bounded (max-reply-bytes,
    the rest dropped and counted): framed frames go one at a time (pace),
    so that the error frames of one read always fit."""
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=30)
    got = []

    def reader():
        while True:
            d = s.recv(65536)
            if not d:
                return
            got.append(d)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    for c in chunks:
        s.sendall(c)
        if pace:
            time.sleep(pace)
    s.shutdown(socket.SHUT_WR)
    t.join(timeout=60)
    s.close()
    return b"".join(got)


def send_telnet(ids):
    return converse([("".join(telnet_line(i) for i in ids)).encode()]).decode("utf-8", "replace")


def send_framed(ids):
    ids = list(ids)
    return converse([h.frame("".join(telnet_line(i, put=False) for i in ids[k:k + 100]))
                     for k in range(0, len(ids), 100)], pace=0.002)


def send_http(ids):
    failed = 0
    ids = list(ids)
    for k in range(0, len(ids), 1000):
        body = json.dumps([{"metric": point(i)[0], "timestamp": point(i)[1],
                            "value": point(i)[2], "tags": point(i)[3]} for i in ids[k:k + 1000]])
        code, resp, _ = h.http_req("http://127.0.0.1:%d/api/put?summary" % relay.port,
                                   body.encode(), "POST",
                                   {"Content-Type": "application/json"}, timeout=30)
        failed += json.loads(resp or b"{}").get("failed", 0)
    return failed


t0 = time.time()
tel = [i for i in range(N) if i % 3 == 0]
frm = [i for i in range(N) if i % 3 == 1]
htp = [i for i in range(N) if i % 3 == 2]
tel_replies = send_telnet(tel)
frm_replies = send_framed(frm)
http_failed = send_http(htp)
tap.note("sent in", "%.1f s" % (time.time() - t0))

want_tel = sum(1 for i in tel if i in refused_ids)
got_tel = sum(1 for ln in tel_replies.splitlines() if ln.startswith("put: refused: rule wide "))
tap.eq(got_tel, want_tel, "telnet: each refused point was answered 'put: refused: rule wide ...'")
want_frm = sum(1 for i in frm if i in refused_ids)
tap.eq(frm_replies.count(b"error: refused: rule wide made a point the TSD refuses"), want_frm,
       "framed: each refused point was answered in an error frame")
tap.eq(http_failed, sum(1 for i in htp if i in refused_ids),
       "HTTP: each refused point counted as failed in ?summary")
st = relay.stats()
tap.eq(sum(v for (k, t), v in st.items() if k == "replies.dropped_bytes"), 0,
       "no reply was dropped (the counts above are every refusal)")

# ---- what each backend holds --------------------------------------------


def export_all(vm):
    vm.flush()
    t = int(time.time()) + 2 * 86400
    q = urllib.request.quote('{__name__=~".+"}')
    _, body = h.http_get(vm.url("/api/v1/export?match[]=%s&start=0&end=%d" % (q, t)),
                         timeout=120)
    got = {}
    for line in body.decode().splitlines():
        if not line.strip():
            continue
        o = json.loads(line)
        mt = dict(o["metric"])
        name = mt.pop("__name__")
        key = (name, tuple(sorted(mt.items())))
        got.setdefault(key, []).extend((ts // 1000, float(v))
                                       for ts, v in zip(o["timestamps"], o["values"]))
    return got


def total(d):
    return sum(len(v) for v in d.values())


for name, vm in (("vm1", vm1), ("vm2", vm2)):
    want = expect[name]
    deadline = time.time() + 60
    got = export_all(vm)
    while total(got) < total(want) and time.time() < deadline:
        time.sleep(0.5)
        got = export_all(vm)
    time.sleep(1.0)  # stragglers would show as duplicates
    got = export_all(vm)
    diffs = []
    for key in sorted(set(want) | set(got)):
        w = sorted(want.get(key, []))
        g = sorted(got.get(key, []))
        if w != g:
            diffs.append("%s: %d expected, %d stored; first differences %s" % (
                key, len(w), len(g), sorted(set(w) ^ set(g))[:3]))
    tap.ok(not diffs, "%s holds exactly the expected lines: %d series, %d points" % (
        name, len(want), total(want)), "\n".join(diffs[:10]))

# ---- counters ------------------------------------------------------------
time.sleep(0.5)
st = relay.stats()
bad = []
for r, n in matched.items():
    if st.get(("rule.matched", "rule=" + r)) != n:
        bad.append("rule.matched{%s} = %s, expected %d" % (r, st.get(("rule.matched", "rule=" + r)), n))
if st.get(("rule.dropped", "rule=drop-debug")) != dropped:
    bad.append("rule.dropped{drop-debug} = %s, expected %d" % (st.get(("rule.dropped", "rule=drop-debug")), dropped))
if st.get(("rule.refused", "rule=wide")) != refused:
    bad.append("rule.refused{wide} = %s, expected %d" % (st.get(("rule.refused", "rule=wide")), refused))
for r in matched:
    if r not in ("drop-debug",) and st.get(("rule.dropped", "rule=" + r)) != 0:
        bad.append("rule.dropped{%s} is not 0" % r)
    if r != "wide" and st.get(("rule.refused", "rule=" + r)) != 0:
        bad.append("rule.refused{%s} is not 0" % r)
for g, n in group_points.items():
    if st.get(("group.points", "group=" + g)) != n:
        bad.append("group.points{%s} = %s, expected %d" % (g, st.get(("group.points", "group=" + g)), n))
tap.ok(not bad, "every rule's and group's counters match the reference (%s)" % ", ".join(
    "%s %d" % kv for kv in matched.items()), "\n".join(bad))

g = lambda k: st.get((k, None), 0)
received = sum(v for (k, t), v in st.items() if k == "points.received")
invalid = sum(v for (k, t), v in st.items() if k == "points.invalid")
refused_all = sum(v for (k, t), v in st.items() if k == "points.refused")
tap.eq(received, N, "points.received = %d" % N)
tap.eq(refused_all, refused, "points.refused = the rule's refusals")
tap.eq(g("points.rule_dropped"), dropped, "points.rule_dropped = the rule's drops")
tap.eq(g("points.copies"), copies, "points.copies = the mirrored points")
lhs = received + g("points.taken_over") + g("points.copies")
rhs = (g("points.forwarded") + g("points.queued") + g("points.spool_pending") + invalid +
       refused_all + g("points.rule_dropped") + g("points.dropped"))
tap.eq(lhs, rhs, "received + taken_over + copies = forwarded + queued + spool_pending + invalid "
       "+ refused + rule_dropped + dropped")
tap.ok(g("rules.cache_misses") <= 200 and g("rules.cache_hits") > N // 2,
       "the metric cache answered (%d hits, %d misses)" % (g("rules.cache_hits"),
                                                          g("rules.cache_misses")))
tap.eq(relay.stop(), 0, "tsrelay exits 0")
tap.done()
