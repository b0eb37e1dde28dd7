"""Status page in a real browser: Debian's headless Chromium (driven over
the DevTools protocol, tests/integration/browser.py) opens GET / while a
steady load runs through tsrelay and the TSD (tests/tools/tssink with a
small receive buffer) is frozen with SIGSTOP for 10 s, then thawed.

  - the page loads and refreshes without a console error, exception or
    failed load;
  - the data the page holds (window.tsrelayStatus, fed by
    /api/stats/history every 2 s) shows the backend's spool and backlog
    age rising while the TSD is frozen and falling back to nothing once
    it is thawed, and the spooled / unspooled rates;
  - the charts are drawn (when dygraphs was compiled in; otherwise the
    page says charts are unavailable);
  - the backend table names the backend;
  - with JavaScript disabled the same page shows the tables (backend,
    memory figures), and the script did not run.

A full-page screenshot is saved in the build directory
(tests/integration/status-page.png); with TSRELAY_DOCS_SCREENSHOT=1 it is
also copied to docs/status-page.png for the README.  Chromium must be
installed (Debian package chromium): without it the test fails."""

import json
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import browser  # noqa: E402

h.hard_timeout(400)
tap = h.Tap()
if browser.find_chromium() is None:
    tap.ok(False, "chromium is installed (Debian package chromium; deploy/install-deps.sh)")
    tap.done()

base = h.tmpdir()
redis = h.Redis(base).start()
sink_port = h.free_port()
sink_stats = os.path.join(base, "sink.json")
sink = h.spawn([h.TSSINK, "--port", str(sink_port), "--stats-file", sink_stats,
                "--rcvbuf", "65536"], os.path.join(base, "sink.log"))
h.wait_until(lambda: os.path.exists(sink_stats), 10, what="tssink up")
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % sink_port)], redis=redis,
                backend_opts={"conns": "1", "write-timeout": "1s"}).start()
url = "http://127.0.0.1:%d" % relay.port
shot = os.path.join(h.TOP_BUILDDIR, "tests", "integration", "status-page.png")

RATE, SECONDS, FREEZE = 30000, 40, 10
load = h.start_tsload(relay.port, RATE * SECONDS, rate=RATE, metric="it.page.m",
                      extra=["--drain-timeout", "120"])

b = browser.Browser()
page = b.page()
page.goto(url + "/")
S = "window.tsrelayStatus"
page.wait_for("%s && %s.updates >= 2 && %s.history.samples.length >= 3" % (S, S, S), 30,
              "the page's first refreshes")
charts = bool(page.eval("typeof window.Dygraph === 'function'"))
tap.note("charts compiled in (dygraphs)", charts)

time.sleep(4)  # a baseline with the TSD keeping up
os.kill(sink.pid, signal.SIGSTOP)
t_freeze = time.time()
time.sleep(FREEZE)
os.kill(sink.pid, signal.SIGCONT)
t_thaw = time.time()
tap.note("TSD frozen for (s)", round(t_thaw - t_freeze, 1))


def relay_latest():
    d = json.loads(h.http_get(url + "/api/stats/history")[1])
    be = d["backends"]["tsd"]
    return d["samples"][-1][0], dict(zip(be["columns"], be["samples"][-1]))


def drained():
    t, v = relay_latest()
    return (t > t_thaw and v["spool_entries"] == 0 and v["spool_bytes"] == 0 and
            v["backlog_age"] < 1.0) and t


t_drained = h.wait_until(drained, 120, 0.5, "the spool drained after the thaw")
tap.note("spool drained after the thaw in (s)", round(t_drained - t_thaw, 1))
page.wait_for("%s.history.samples[%s.history.samples.length - 1][0] >= %.3f"
              % (S, S, t_drained), 30, "the page's data reaching the drained state")

data = page.eval("""(function () {
  var h = window.tsrelayStatus.history, be = h.backends.tsd;
  function col(c) { var i = be.columns.indexOf(c);
                    return be.samples.map(function (s) { return s[i]; }); }
  function gcol(c) { var i = h.columns.indexOf(c);
                     return h.samples.map(function (s) { return s[i]; }); }
  return { t: gcol('time'), spool: col('spool_bytes'), entries: col('spool_entries'),
           age: col('backlog_age'), queue: col('queue_bytes'),
           spooled: gcol('spooled'), unspooled: gcol('unspooled'), received: gcol('received'),
           live: gcol('mem_live'), limit: gcol('mem_limit'), malloc: gcol('mem_malloc'),
           held: gcol('mem_malloc_held') };
}())""")
t = data["t"]


def idx_after(ts):
    return next((i for i, x in enumerate(t) if x >= ts), len(t))


i_freeze = idx_after(t_freeze)
peak_i = max(range(len(t)), key=lambda i: data["spool"][i] or 0)
peak_age = max(a or 0 for a in data["age"])
tap.note("peak spool bytes / entries in the page's data",
         "%d / %d" % (data["spool"][peak_i] or 0, max(e or 0 for e in data["entries"])))
tap.note("peak backlog age in the page's data (s)", peak_age)
tap.ok(all((x or 0) == 0 for x in data["spool"][:i_freeze]),
       "before the freeze the spool was empty in the page's data")
tap.ok((data["spool"][peak_i] or 0) > 0 and t_freeze <= t[peak_i] <= t_drained,
       "the spool rose while the TSD was frozen (peak %d bytes)" % (data["spool"][peak_i] or 0))
tap.ok(peak_age >= 1.0, "the backlog age rose while the TSD was frozen (peak %.1f s)" % peak_age)
# fell: a sample after the peak with nothing spooled (the load goes on, so
# a later sample may show a new small spool when the machine is busy)
fell = [i for i in range(peak_i, len(t))
        if data["spool"][i] == 0 and data["entries"][i] == 0 and (data["age"][i] or 0) < 1.0]
tap.ok(bool(fell), "and fell back to nothing after the thaw (first at %s s after it; last: "
       "%r bytes, %r s)" % (round(t[fell[0]] - t_thaw, 1) if fell else None,
                            data["spool"][-1], data["age"][-1]))
tap.ok(max(data["spooled"]) > 0 and max(data["unspooled"]) > 0,
       "the points chart's data has spooled and unspooled rates (%d/s, %d/s at most)"
       % (max(data["spooled"]), max(data["unspooled"])))
tap.ok(max(data["received"]) > 0 and min(data["limit"]) > 0 and max(data["live"]) > 0,
       "received rate and memory figures are there")
tap.ok(h.SANITIZED or (min(data["malloc"]) > 0 and
                       all(m <= k for m, k in zip(data["malloc"], data["held"]))),
       "malloc in use is sampled, within what malloc holds%s" % h.ASAN_NOTE)
relay_t = [x[0] for x in json.loads(h.http_get(url + "/api/stats/history")[1])["samples"]]
tap.ok(t == [x for x in relay_t if t[0] <= x <= t[-1]],
       "the page's 2-second merges lost and repeated no sample (%d samples)" % len(t))

names = page.eval("Array.prototype.map.call(document.querySelectorAll('#backends td.name'),"
                  " function (e) { return e.textContent; })")
tap.eq(names, ["tsd"], "the backend table names the backend")
if charts:
    rows = page.eval("(function () { var c = window.tsrelayStatus.charts; return Object.keys(c)"
                     ".sort().map(function (k) { return k + ':' + c[k].numRows(); }); }())")
    tap.ok(len(rows) == 4 and all(int(r.rsplit(":", 1)[1]) >= len(t) - 5 for r in rows),
           "the memory, memory trend, points and backend charts are drawn with the data (%s)"
           % rows)
    canvases = page.eval("document.querySelectorAll('#charts canvas').length")
    tap.ok(canvases >= 4, "the charts have canvases (%d)" % canvases)
    trend = page.eval("document.getElementById('trend-mem').textContent")
    tap.ok("RSS" in trend and "malloc in use" in trend and "/h" in trend,
           "the memory trend chart says how RSS and malloc move per hour (%r)" % trend)
else:
    note = page.eval("document.getElementById('no-charts') && "
                     "document.getElementById('no-charts').textContent")
    tap.ok(bool(note) and "unavailable" in note, "without dygraphs the page says so")

os.makedirs(os.path.dirname(shot), exist_ok=True)
page.screenshot(shot)
tap.ok(os.path.getsize(shot) > 10000, "screenshot saved: %s" % shot)
if os.environ.get("TSRELAY_DOCS_SCREENSHOT") and charts:
    dst = os.path.join(h.TOP_SRCDIR, "docs", "status-page.png")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(shot, dst)
    tap.note("copied to", dst)
errs = page.errors()
tap.ok(errs == [], "no console error, exception or failed load on the page", "\n".join(errs))

# the same page with JavaScript off: the tables are all there
plain = b.page(javascript=False)
plain.goto(url + "/")
html = plain.html()
tap.ok('<td class="name">tsd</td>' in html, "JavaScript off: the backend table names the backend")
tap.ok(all(('id="%s"' % k) in html for k in ("mem-live", "mem-reserved", "mem-rss", "mem-limit")),
       "JavaScript off: memory live, reserved, RSS and limit are shown")
tap.ok("<h2>Redis spool</h2>" in html and "<h2>Clients</h2>" in html and "<h2>Points</h2>" in html,
       "JavaScript off: the spool, clients and points tables are shown")
tap.ok("Current values as of loading this page." in html and "<canvas" not in html,
       "JavaScript off: the script did not run (nothing drawn, nothing refreshed)")
tap.ok(plain.errors() == [], "JavaScript off: no error either", "\n".join(plain.errors()))
plain_shot = os.path.join(h.TOP_BUILDDIR, "tests", "integration", "status-page-nojs.png")
plain.screenshot(plain_shot)
b.close()

res = h.finish_tsload(load, timeout=180)
tap.eq(res["exit"], 0, "the load ran to the end")
tap.ok(relay.stop() == 0, "tsrelay exits 0 on SIGTERM")
tap.done()
