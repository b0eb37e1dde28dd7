"""The new-series guard names and limits the offender, and only it.

Per client (new-series-per-client-per-hour = 10000): two clients, from
127.0.0.2 and 127.0.0.3, telnet; the first creates 100,000 series, the
second 500.  Exactly the first 10,000 of the first pass, the other 90,000
points are refused naming the client; every one of the second's passes.
The first is named at the top of the status page's table of clients (over
a limit), first in /metrics' limits.top_client_new_series, and once in the
log when it crossed the limit.

Per metric (a second relay, new-series-per-metric-per-hour = 2000): a
metric whose tag is a request id (req=<uuid>) sends 10,000 series: exactly
2,000 pass, the rest are refused naming the metric; two other metrics
with 1,500 and 1,999 series from the same client lose nothing.  Then a
reload replaces the hourly limit with max-series-per-metric = 3000: the
request-id metric gets about 1,000 more (within 3 standard errors of its
HyperLogLog), the others still pass, and its known series still pass.
victoria-metrics holds exactly what was let through.  About 8 s.

The series are the same in every run (fixed names, seeded request ids)
and so is the guard's geometry (series-memory = 8M): its cuckoo filter
takes a new series for a seen one at a small, stated rate (a false
positive lets it pass uncounted), so random names made "exactly 10,000"
fail in about one run of twenty (measured: 9 of 200 random names let
10,001 or 10,002 through).  With these names no new series meets a
false positive: the counts are exact, and a real off-by-one still shows.
"""

import os
import random
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import guardclient as gc  # noqa: E402
import harness as h  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base).start()
rng = random.Random(20261206)  # the same series every run (see above)
T0 = int(time.time()) - 86400
t_start = time.time()


def guarded_relay(name, limits):
    r = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], name=name)
    limits = dict({"series-memory": "8M"}, **limits)  # the filters' geometry, pinned
    r.write_conf([("vm", "127.0.0.1:%d" % vm.telnet)],
                 extra="\n[limits]\n" + "".join("%s = %s\n" % kv for kv in limits.items()))
    return r.start()


def lines_of(metric, tagk, values, ts=T0):
    return ["put %s %d 1 %s=%s\n" % (metric, ts, tagk, v) for v in values]


# ---- per client ------------------------------------------------------------------
relay = guarded_relay("per-client", {"new-series-per-client-per-hour": 10000})
A, B = "it.sg.a", "it.sg.b"
ca = gc.Telnet(relay.port, source="127.0.0.2")
cb = gc.Telnet(relay.port, source="127.0.0.3")
rep_a = ca.send(lines_of(A, "req", range(100000)), batch=300)
rep_b = cb.send(lines_of(B, "host", range(500)))
want = "put: refused: new series over new-series-per-client-per-hour (10000) of client 127.0.0.2"
tap.eq(len(rep_a), 90000, "client 127.0.0.2: 90,000 of its 100,000 new series refused")
tap.ok(all(r == want for r in rep_a), "each refusal names the limit and the client", rep_a[:3])
tap.eq(rep_b, [], "client 127.0.0.3: none of its 500 refused")
st = relay.stats()
tap.eq(st.get(("limits.refused", "limit=new-series-per-client-per-hour")), 90000,
       "limits.refused{limit=new-series-per-client-per-hour} == 90,000")
tap.eq(st.get(("limits.new_series", None)), 10500, "limits.new_series == 10,500")
m = relay.metrics()
top = sorted(((v, k) for k, v in m.items() if k.startswith("tsrelay_limits_top_client_new_series")),
             reverse=True)
tap.ok(top and top[0][1] == 'tsrelay_limits_top_client_new_series{client="127.0.0.2"}' and
       top[0][0] == 100000, "/metrics names 127.0.0.2 first, with its 100,000 new series", top)
tap.eq(m.get('tsrelay_limits_top_client_let_through{client="127.0.0.2"}'), 10000,
       "/metrics: 10,000 of them let through")
tap.eq(m.get('tsrelay_limits_top_client_new_series{client="127.0.0.3"}'), 500,
       "/metrics: 127.0.0.3 with its 500")
_, page = h.http_get("http://127.0.0.1:%d/" % relay.port)
page = page.decode()
rows = re.findall(r'<table id="top-clients">.*?</table>', page, re.S)
first = re.findall(r"<tr><td class=\"name\">([^<]*)</td>(.*?)</tr>", rows[0] if rows else "", re.S)
tap.ok(first and first[0][0] == "127.0.0.2" and "over a limit" in first[0][1],
       "status page: 127.0.0.2 at the top of the clients table, over a limit", first[:2])
tap.ok(len(first) > 1 and first[1][0] == "127.0.0.3" and "ok" in first[1][1],
       "status page: 127.0.0.3 below it, not limited", first[:2])
log = relay.logtext()
named = re.findall(r"limits: client 127\.0\.0\.2 crossed new-series-per-client-per-hour = 10000",
                   log)
tap.eq(len(named), 1, "the log names the client once, when it crossed the limit")
tap.ok("client 127.0.0.3" not in log, "the other client is not named")
got_a = vm.wait_count(A, 10000, timeout=60)
got_b = vm.wait_count(B, 500, timeout=30)
tap.eq((got_a, got_b), (10000, 500), "the TSD got 10,000 and 500 points")
ca.close()
cb.close()
tap.ok(relay.stop() == 0, "tsrelay exits 0")

# ---- per metric --------------------------------------------------------------------
relay = guarded_relay("per-metric", {"new-series-per-metric-per-hour": 2000})
REQ, CPU, MEM = "it.sg.req", "it.sg.cpu", "it.sg.mem"
c = gc.Telnet(relay.port)
uuids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(13000)]
mixed = lines_of(REQ, "req", uuids[:10000]) + lines_of(CPU, "host", range(1500)) + \
    lines_of(MEM, "host", range(1999))
random.Random(5).shuffle(mixed)
rep = c.send(mixed, batch=300)
want = "put: refused: new series over new-series-per-metric-per-hour (2000) of metric " + REQ
tap.eq(len(rep), 8000, "the request-id metric: 8,000 of its 10,000 new series refused "
       "(interleaved with the others')")
tap.ok(all(r == want for r in rep), "each refusal names the limit and the metric", rep[:3])
st = relay.stats()
tap.eq(st.get(("limits.refused", "limit=new-series-per-metric-per-hour")), 8000,
       "limits.refused{limit=new-series-per-metric-per-hour} == 8,000")
m = relay.metrics()
tap.eq(m.get('tsrelay_limits_top_metric_new_series{metric="%s"}' % REQ), 10000,
       "/metrics names the metric with its 10,000 new series")
tap.ok(re.search(r"limits: metric %s crossed new-series-per-metric-per-hour = 2000" % REQ,
                 relay.logtext()) is not None, "the log names the metric")
tap.ok(not re.search(r"limits: metric (%s|%s) crossed" % (CPU, MEM), relay.logtext()),
       "the other metrics are not named")
# the hourly limit off, max-series-per-metric = 3000 instead (a reload)
relay.write_conf([("vm", "127.0.0.1:%d" % vm.telnet)],
                 extra="\n[limits]\nmax-series-per-metric = 3000\n")
relay.reload()
h.wait_until(lambda: relay.stats().get(("config.reloads", None), 0) >= 1, 10, what="reload")
rep = c.send(lines_of(REQ, "req", uuids[10000:13000]) + lines_of(CPU, "host", range(1500, 2500)),
             batch=300)
more = 3000 - len(rep)
tap.note("request-id series let through under max-series-per-metric = 3000", 2000 + more)
tap.ok(all(r.endswith("max-series-per-metric (3000) of metric " + REQ) for r in rep),
       "refusals name max-series-per-metric and the metric", rep[:3])
tap.ok(abs(2000 + more - 3000) <= 3 * 0.0325 * 3000,
       "the request-id metric stops at 3,000 series, within 3 standard errors (%d)"
       % (2000 + more))
passed_req = [x.split("req=")[1].strip() for x in mixed if x.startswith("put " + REQ + " ")][:2000]
rep_known = c.send(lines_of(REQ, "req", passed_req, T0 + 1) +
                   lines_of(CPU, "host", range(2500), T0 + 1))
tap.ok(rep_known == [], "its 2,000 known series and the other metric's 2,500 still pass",
       rep_known[:3])
got = (vm.wait_count(REQ, 4000 + more, timeout=60), vm.wait_count(CPU, 1500 + 1000 + 2500),
       vm.wait_count(MEM, 1999))
tap.eq(got, (4000 + more, 5000, 1999), "the TSD got exactly what was let through")
c.close()
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.note("duration (s)", round(time.time() - t_start, 1))
tap.done()
