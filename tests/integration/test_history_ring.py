"""History ring: with history-interval = 10ms and history = 1s (a ring of
100 samples) tsrelay samples for 20 s under a steady load, turning its ring
over about 20 times.  The ring's charged bytes (memory.history) never move,
RSS does not grow past a small bound, /api/stats/history always holds
exactly `capacity` samples in time order, within the documented size bound
(history.h: HEAD + backends * BACKEND + capacity * (ROW + backends *
BROW)); ?since lists only newer samples.  The status page's HTTP surface,
all under /tsrelay/: HEAD, 405 for POST, 404 for an unknown file, 400 for
a bad ?since; / redirects there (no pass-through) and the old paths
(/status/..., /api/stats/history) are gone.  With history = 0 the ring is off: nothing charged, an empty
answer of the same shape, and the page says so."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

# history.h's bound, per the JSON's own capacity and backends
HEAD, VALUE, NAME = 1024, 24, 64
BACKEND = 2 * NAME + 160
ROW = 13 * VALUE + 4
BROW = 4 * VALUE + 4


def bound(doc):
    nb = len(doc["backends"])
    return HEAD + nb * BACKEND + doc["capacity"] * (ROW + nb * BROW)


def metric(relay, name):
    _, body = h.http_get("http://127.0.0.1:%d/metrics" % relay.port)
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def history(relay, query=""):
    _, body = h.http_get("http://127.0.0.1:%d/tsrelay/api/stats/history%s" % (relay.port, query))
    return len(body), json.loads(body)


h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()
sink_port = h.free_port()
sink_stats = os.path.join(base, "sink.json")
h.spawn([h.TSSINK, "--port", str(sink_port), "--stats-file", sink_stats],
        os.path.join(base, "sink.log"))
h.wait_until(lambda: os.path.exists(sink_stats), 10, what="tssink up")
relay = h.Relay(base, [("sink", "127.0.0.1:%d" % sink_port)],
                relay={"history": "1s", "history-interval": "10ms"}).start()
url = "http://127.0.0.1:%d" % relay.port

RATE, SECONDS = 20000, 26
load = h.start_tsload(relay.port, RATE * SECONDS, rate=RATE, metric="it.ring.m")
time.sleep(3)  # the ring is full after 1 s
ring0 = metric(relay, "tsrelay_memory_history")
rss0 = relay.rss()
tap.note("ring bytes (memory.history)", ring0)
tap.ok(ring0 is not None and 100 * (104 + 32) <= ring0 < 100 * (104 + 32) + 1024,
       "the ring is charged: 100 samples x (104 + 32 bytes) plus its header (%r)" % ring0)

t_start = time.time()
ring_seen, sizes, counts, bad_order, over_bound, docs = set(), [], set(), 0, 0, []
while time.time() - t_start < 20:
    ring_seen.add(metric(relay, "tsrelay_memory_history"))
    n, doc = history(relay)
    sizes.append(n)
    counts.add(len(doc["samples"]))
    ts = [s[0] for s in doc["samples"]]
    bad_order += any(b <= a for a, b in zip(ts, ts[1:]))
    over_bound += n > bound(doc)
    docs.append(doc)
    time.sleep(1)
rss1 = relay.rss()
last = docs[-1]
tap.eq(ring_seen, {ring0}, "memory.history never moved over ~20 wraps")
tap.eq(counts, {100}, "every answer holds exactly the ring's 100 samples")
tap.eq(bad_order, 0, "samples are in time order, oldest first")
tap.eq(over_bound, 0, "every answer is within the documented bound")
tap.note("answer size: max bytes / documented bound", "%d / %d" % (max(sizes), bound(last)))
tap.note("bytes per sample (max answer / samples)", round(max(sizes) / 100.0, 1))
span = last["samples"][-1][0] - last["samples"][0][0]
tap.ok(0.98 <= span < 30, "100 samples every 10 ms span about a second (%.2f s)" % span)
tap.ok(last["samples"][0][0] > t_start + 15,
       "the ring turned over: its oldest sample is from the last seconds")
recv = last["columns"].index("received")
tap.ok(any(d["samples"][-1][recv] > 0 for d in docs),
       "the received rate shows the load (last: %r/s)" % last["samples"][-1][recv])
growth = rss1 - rss0
limit = 2 * 1048576 if not h.SANITIZED else 64 * 1048576
tap.note("RSS before / after 20 s of sampling (KiB)", "%d / %d" % (rss0 // 1024, rss1 // 1024))
tap.ok(growth < limit, "RSS did not grow past %d MiB%s (grew %d KiB)"
       % (limit // 1048576, h.ASAN_NOTE, growth // 1024))

# ?since: only samples after it, the backend rows aligned
n, full = history(relay)
since = full["samples"][50][0]
_, part = history(relay, "?since=%.3f" % since)
ts = [s[0] for s in part["samples"]]
tap.ok(ts and min(ts) > since and len(ts) <= 100,
       "?since=%.3f lists only later samples (%d)" % (since, len(ts)))
tap.eq(len(part["backends"]["sink"]["samples"]), len(ts),
       "the backend's rows are aligned with the samples")
code, body, _ = h.http_req(url + "/tsrelay/api/stats/history?since=abc")
tap.eq(code, 400, "?since=abc is 400")

# the page's HTTP surface
code, _, hdr = h.http_req(url + "/", follow=False)
tap.ok(code == 302 and hdr.get("Location") == "/tsrelay/",
       "GET / redirects to /tsrelay/ (%d, %s)" % (code, hdr.get("Location")))
code, page, hdr = h.http_req(url + "/tsrelay/")
tap.ok(code == 200 and hdr.get("Content-Type") == "text/html; charset=utf-8",
       "GET /tsrelay/ is an HTML page (%d, %s)" % (code, hdr.get("Content-Type")))
tap.note("page bytes (HTML, tables, inline script and style)", len(page))
code, body, hdr = h.http_req(url + "/tsrelay/", method="HEAD")
tap.ok(code == 200 and body == b"" and int(hdr.get("Content-Length", 0)) > 1000,
       "HEAD /tsrelay/ has the headers and no body")
code, _, _ = h.http_req(url + "/tsrelay/", body=b"x", method="POST")
tap.eq(code, 405, "POST /tsrelay/ is 405 (read-only)")
code, _, hdr = h.http_req(url + "/tsrelay", follow=False)
tap.ok(code == 302 and hdr.get("Location") == "/tsrelay/", "/tsrelay redirects to /tsrelay/")
code, _, _ = h.http_req(url + "/tsrelay/nope")
tap.eq(code, 404, "an unknown /tsrelay/ file is 404")
code, tables, _ = h.http_req(url + "/tsrelay/tables")
tap.ok(code == 200 and b"<td class=\"name\">sink</td>" in tables and b"<script" not in tables,
       "/tsrelay/tables is the tables alone")
code, js, hdr = h.http_req(url + "/tsrelay/dygraph.min.js")
charts = b'src="/tsrelay/dygraph.min.js"' in page
tap.ok((code == 200) == charts, "/tsrelay/dygraph.min.js is served exactly when the page uses "
       "it (%d, charts %s)" % (code, charts))
old = [p for p in ("/status/tables", "/status/dygraph.min.js", "/api/stats/history")
       if h.http_req(url + p)[0] != 404]
tap.eq(old, [], "the old paths are gone (404)")
for p in ("/tsrelay/api/stats", "/api/stats", "/tsrelay/api/version", "/api/version"):
    code, body, _ = h.http_req(url + p)
    tap.ok(code == 200 and json.loads(body), "%s answers without a pass-through" % p)
tap.ok(b"http://" not in page and b"https://" not in page, "the page names no outside URL")

res = h.finish_tsload(load, timeout=120)
tap.eq(res["exit"], 0, "the load ran to the end")

# history = 0: off
relay0 = h.Relay(base, [("sink", "127.0.0.1:%d" % sink_port)], relay={"history": "0"},
                 name="relay0").start()
tap.eq(metric(relay0, "tsrelay_memory_history"), 0, "history = 0 charges nothing")
_, doc = history(relay0)
tap.ok(doc["samples"] == [] and doc["capacity"] == 0 and doc["backends"] == {},
       "history = 0: an empty answer of the same shape")
_, page0 = h.http_get("http://127.0.0.1:%d/tsrelay/" % relay0.port)
tap.ok(b"off (history = 0)" in page0, "and the page says the history is off")
tap.ok(relay0.stop() == 0 and relay.stop() == 0, "both relays exit 0 on SIGTERM")
tap.done()
