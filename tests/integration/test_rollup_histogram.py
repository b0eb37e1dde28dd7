"""rollup and histogram points, telnet and HTTP (/api/rollup,
/api/histogram), end to end into a scripted TSD that records lines
(VictoriaMetrics' listener takes neither): valid points arrive as the
matching telnet lines, invalid ones get the TSD's own answer -- telnet's
reply line, HTTP's ?details entries -- in cases taken from OpenTSDB 2.4's
source (RollupDataPointRpc, HistogramDataPointRpc, TSDB.addAggregatePoint,
RollUpDataPoint, HistogramPojo; the full tables are the unit tests'
check_rollup, check_histogram, check_json).  About 3 s."""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(90)
tap = h.Tap()
base = h.tmpdir()
tsd = h.LineTsd()
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port)]).start()
T = 1700000000
T8 = " ".join("t%d=%d" % (i, i) for i in range(1, 9))
RA = "rollup: illegal argument: "
HB = "histogram: HBase error: "

# (line sent, the line the TSD must get) or (line sent, the reply it gets)
TELNET = [
    ("rollup 1h-sum it.rh.a %d 1 host=a" % T, ("line", "rollup 1h-sum it.rh.a %d 1 host=a" % T)),
    ("rollup 1h-sum:max it.rh.a %d 1.5  b=2 a=1" % T,
     ("line", "rollup 1h-sum:max it.rh.a %d 1.5 a=1 b=2" % T)),
    # a group-by point with no tag of its own: the TSD adds _aggregate
    ("rollup sum it.rh.b %d 7 " % T, ("line", "rollup sum it.rh.b %d 7 " % T)),
    ("histogram it.rh.h %d u=0:o=1:0,1=5 host=a" % T,
     ("line", "histogram it.rh.h %d u=0:o=1:0,1=5 host=a" % T)),
    ("histogram it.rh.h %d 3 AAEC  host=b" % T, ("line", "histogram it.rh.h %d 3 AAEC host=b" % T)),
    ("rollup 1h-sum it.rh.a %d000 1 host=a" % T,
     ("reply", RA + "bad timestamp=%d000 when trying to add value=[1]/0 to metric=it.rh.a, "
      "tags={host=a}" % T)),
    ("rollup sum it.rh.a %d 1 %s" % (T, T8),
     ("reply", RA + "Too many tags: 9 maximum allowed: 8, tags: {t4=4, t5=5, _aggregate=SUM, "
      "t6=6, t7=7, t8=8, t1=1, t2=2, t3=3}")),
    ("rollup 1h-sum::max it.rh.a %d 1 host=a" % T,
     ("reply", RA + "Cannot write a group by data point without specifying the aggregation "
      "function. Metric=it.rh.a tags={host=a}")),
    ("rollup 1h-avg it.rh.a %d 1 host=a" % T,
     ("reply", RA + "Derived rollup aggregations are not allowed AVG with metric it.rh.a "
      "{host=a}")),
    ("rollup 1h-sum:foo it.rh.a %d 1 host=a" % T,
     ("reply", RA + "Invalid group by aggregator foo with metric it.rh.a "
      "{_aggregate=FOO, host=a}")),
    ("histogram it.rh.h %d u=0:x host=a" % T, ("reply", HB + "Improperly formatted bucket: x")),
    ("histogram it.rh.h %d 0,1=x host=a" % T, ("reply", HB + "For input string: \"x\"")),
    ("histogram it.rh.h %d u=0 " % T,
     ("reply", HB + "Need at least one tag (metric=it.rh.h, tags={})")),
]

s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
s.sendall("".join(line + "\n" for line, _ in TELNET).encode() + b"version\n")
got = b""
deadline = time.time() + 10
while b"Built on" not in got and time.time() < deadline:
    d = s.recv(65536)
    if not d:
        break
    got += d
s.close()
replies = [l for l in got.decode().splitlines() if not l.startswith(("tsrelay ", "Built on"))]
want_replies = [w for _, (kind, w) in TELNET if kind == "reply"]
tap.eq(replies, want_replies, "telnet: each invalid line gets the TSD's own reply, in order")

# ---- HTTP --------------------------------------------------------------------
def post(path, points):
    body = json.dumps(points).encode()
    status, data, _ = h.http_req("http://127.0.0.1:%d%s" % (relay.port, path), body, "POST",
                                 {"Content-Type": "application/json"})
    return status, (json.loads(data) if data else None)


def dp(metric, tags, **kw):
    d = {"metric": metric, "timestamp": T, "tags": tags}
    d.update(kw)
    return d


rollups = [
    dp("it.rh.j", {"host": "a"}, value=5, interval="1h", aggregator="sum"),
    dp("it.rh.j", {"host": "a"}, value=5, interval="1h", aggregator="sum", timestamp=T * 1000),
    dp("it.rh.j", {"host": "a"}, value=5, interval="1h"),
    dp("it.rh.j", {"host": "b"}, value=6, groupByAggregator="max"),
]
status, ans = post("/api/rollup?details", rollups)
tap.eq(status, 400, "/api/rollup?details with failures: 400")
tap.eq((ans or {}).get("success"), 2, "/api/rollup: 2 stored")
tap.eq((ans or {}).get("failed"), 2, "/api/rollup: 2 failed")
tap.eq([e.get("error") for e in (ans or {}).get("errors", [])],
       ["bad timestamp=%d when trying to add value=[5]/0 to metric=it.rh.j, tags={host=a}"
        % (T * 1000), "Missing aggregator"],
       "/api/rollup: the TSD's details, in order")
tap.eq([e.get("datapoint", {}).get("timestamp") for e in (ans or {}).get("errors", [])],
       [T * 1000, T], "/api/rollup: each detail holds its datapoint as sent")
status, ans = post("/api/rollup?summary", rollups[:1])
tap.eq((status, ans), (200, {"success": 1, "failed": 0}), "/api/rollup?summary: 200")
status, ans = post("/api/rollup", rollups[:1])
tap.eq((status, ans), (204, None), "/api/rollup, all good, no query: 204")

histos = [
    dp("it.rh.k", {"host": "a"}, buckets={"0,1": 5}, overflow=2),
    dp("it.rh.k", {"host": "a"}, buckets={"x,1": 5}),
    dp("it.rh.k", {"host": "a"}),
    dp("it.rh.k", {"host": "b"}, value="AAEC", id=7),
]
status, ans = post("/api/histogram?details", histos)
tap.eq(status, 400, "/api/histogram?details with failures: 400")
tap.eq(((ans or {}).get("success"), (ans or {}).get("failed")), (2, 2),
       "/api/histogram: 2 stored, 2 failed")
tap.eq([e.get("error") for e in (ans or {}).get("errors", [])],
       ["Unable to parse value to a number",
        "Histogram buckets cannot be null or empty if 'value' is empty."],
       "/api/histogram: the TSD's details, in order")

# ---- what the TSD got --------------------------------------------------------
want_lines = [w for _, (kind, w) in TELNET if kind == "line"] + [
    "rollup 1h-sum it.rh.j %d 5 host=a" % T,
    "rollup max it.rh.j %d 6 host=b" % T,
    "rollup 1h-sum it.rh.j %d 5 host=a" % T,
    "rollup 1h-sum it.rh.j %d 5 host=a" % T,
    "histogram it.rh.k %d u=0:o=2:0,1=5 host=a" % T,
    "histogram it.rh.k %d 7 AAEC host=b" % T,
]
try:
    h.wait_until(lambda: len(tsd.lines()) >= len(want_lines), 10, what="the TSD's lines")
except TimeoutError:
    pass
time.sleep(0.3)  # nothing more comes
tap.eq(sorted(tsd.lines()), sorted(want_lines),
       "the TSD got exactly the valid points, as the matching telnet lines")
m = relay.metrics()
tap.eq(m.get('tsrelay_points_invalid_total{proto="telnet"}'),
       float(len(want_replies)), "telnet: the invalid ones counted")
relay.stop()
tsd.stop()
tap.done()
