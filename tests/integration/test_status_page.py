"""Status page in a real browser: Debian's headless Chromium (driven over
the DevTools protocol, tests/integration/browser.py) opens GET /tsrelay/ while a
steady load runs through tsrelay and the TSD (tests/tools/tssink with a
small receive buffer) is frozen with SIGSTOP for 10 s, then thawed.

  - the page loads and refreshes without a console error, exception or
    failed load;
  - the data the page holds (window.tsrelayStatus, fed by
    /tsrelay/api/stats/history every 2 s) shows the backend's spool and backlog
    age rising while the TSD is frozen and falling back to nothing once
    it is thawed, and the spooled / unspooled rates;
  - the charts are drawn (when dygraphs was compiled in; otherwise the
    page says charts are unavailable), and read as they are rendered:
    memory on a log scale whose ticks are whole powers of two (256 KiB,
    1 MiB, ...; not 48 MiB / 95 MiB), with live, reserved and RSS each
    drawn clear of the bottom edge under the limit's line; the backlog
    age on a seconds axis whose labels differ from each other (not "0.0 s"
    on every tick) and reach its peak; the spool on a bytes axis of its
    own that reaches its peak; round-number ticks on every axis; each
    chart's colours told apart under simulated protanopia, deuteranopia
    and tritanopia as well as normal vision;
  - the backend table names the backend;
  - with JavaScript disabled the same page shows the tables (backend,
    memory figures), and the script did not run.

A full-page screenshot is saved in the build directory
(tests/integration/status-page.png); with TSRELAY_DOCS_SCREENSHOT=1 it is
also copied to docs/status-page.png for the README.  Chromium must be
installed (Debian package chromium): without it the test fails."""

import itertools
import json
import math
import os
import re
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

LABELS = """(function (id, axis) {
  var div = document.getElementById(id);
  if (!div) { return null; }
  return Array.prototype.filter.call(div.querySelectorAll('.dygraph-axis-label-y'), function (e) {
    return e.classList.contains('dygraph-axis-label-y2') === (axis === 'y2');
  }).map(function (e) { return e.textContent; });
})"""
UNIT = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
        "s": 1, "min": 60, "h": 3600, "k": 1e3, "M": 1e6, "": 1}


def labels(chart, axis="y"):
    return page.eval("%s(%s, %s)" % (LABELS, json.dumps(chart), json.dumps(axis))) or []


def value(label, units):
    """A tick label's value: "0", "2 MiB", "0.005 s", "300k"; None if it
    does not read as a round number of one of units."""
    m = re.match(r"^(\d+(?:\.\d+)?) ?([A-Za-z]*)$", label)
    if label == "0":
        return 0.0
    if not m or m.group(2) not in units:
        return None
    return float(m.group(1)) * UNIT[m.group(2)]


def round_steps(got):
    """Linear ticks read in steps of 1, 2 or 5 times a power of ten of one
    unit (0, 2 MiB, 4 MiB), not 1.9 / 3.8 MiB or 48 / 95 MiB."""
    shown = [float(re.match(r"^[\d.]+", x).group(0)) for x in got]
    units = set(re.sub(r"^[\d.]+ ?", "", x) for x in got if x != "0")
    steps = set(round(b2 - a, 9) for a, b2 in zip(shown, shown[1:]))
    if len(units) != 1 or len(steps) != 1:
        return False
    st = steps.pop()
    mant = st / 10 ** math.floor(math.log10(st)) if st > 0 else 0
    return any(abs(mant - k) < 1e-6 for k in (1, 2, 5))


def read_axis(chart, axis, units, what, linear=True):
    """Checks an axis' rendered labels read as distinct round values of
    its units (on a linear axis, in even 1-2-5 steps); returns the values."""
    got = labels(chart, axis)
    vals = [value(x, units) for x in got]
    tap.ok(len(got) >= 2 and None not in vals and len(set(got)) == len(got) and
           (not linear or round_steps(got)),
           "%s: %d distinct tick labels, %s of %s (%s)"
           % (what, len(got), "in 1-2-5 steps" if linear else "each a round number",
              "/".join(u or "1" for u in units), " | ".join(got)))
    return [v for v in vals if v is not None]


b = browser.Browser()
page = b.page()
page.goto(url + "/tsrelay/")
S = "window.tsrelayStatus"
page.wait_for("%s && %s.updates >= 2 && %s.history.samples.length >= 3" % (S, S, S), 30,
              "the page's first refreshes")
charts = bool(page.eval("typeof window.Dygraph === 'function'"))
tap.note("charts compiled in (dygraphs)", charts)

time.sleep(4)  # a baseline with the TSD keeping up
if charts:
    # the backlog age is a few milliseconds now: its axis still reads
    # (it read "0.0 s" on every tick)
    base_age = read_axis("chart-be-tsd", "y2", ("s", "min", "h"),
                         "baseline, backlog age axis (right)")
h.stop_process(sink.pid)
t_freeze = time.time()
time.sleep(FREEZE)
os.kill(sink.pid, signal.SIGCONT)
t_thaw = time.time()
tap.note("TSD frozen for (s)", round(t_thaw - t_freeze, 1))


def relay_latest():
    d = json.loads(h.http_get(url + "/tsrelay/api/stats/history")[1])
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
relay_t = [x[0] for x in json.loads(h.http_get(url + "/tsrelay/api/stats/history")[1])["samples"]]
tap.ok(t == [x for x in relay_t if t[0] <= x <= t[-1]],
       "the page's 2-second merges lost and repeated no sample (%d samples)" % len(t))

# ---- the charts as rendered ------------------------------------------------------
# Machado, Oliveira and Fernandes (2009), severity 1, on linear RGB
CVD = {"protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
                      (-0.003882, -0.048116, 1.051998)),
       "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                        (-0.011820, 0.042940, 0.968881)),
       "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602),
                      (0.004733, 0.691367, 0.303900))}


def lab(hexcolour, matrix=None):
    """CIE L*a*b* of a colour, as a colour-vision deficiency sees it."""
    def lin(c):
        c /= 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    rgb = [lin(int(hexcolour.lstrip("#")[i:i + 2], 16)) for i in (0, 2, 4)]
    if matrix:
        rgb = [min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb)))) for row in matrix]
    x = (0.4124 * rgb[0] + 0.3576 * rgb[1] + 0.1805 * rgb[2]) / 0.95047
    y = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    z = (0.0193 * rgb[0] + 0.1192 * rgb[1] + 0.9505 * rgb[2]) / 1.08883
    f = [v ** (1 / 3.0) if v > 0.008856 else 7.787 * v + 16 / 116.0 for v in (x, y, z)]
    return (116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2]))


def check_rendered_charts(data, peak_age):
    # memory: log scale, whole powers of two, each line clear of the bottom
    vals = read_axis("chart-mem", "y", ("B", "KiB", "MiB", "GiB", "TiB"), "memory axis",
                     linear=False)
    tap.ok(vals and all(v > 0 and v == 2 ** round(math.log2(v)) for v in vals),
           "memory axis: every tick a power of two (log scale)")
    lifted = page.eval("""(function () {
      var g = window.tsrelayStatus.charts.mem, a = g.getArea(), out = {};
      ['live', 'reserved', 'RSS', 'limit'].forEach(function (name) {
        var i = g.getLabels().indexOf(name), v = [];
        for (var r = 0; r < g.numRows(); r++) { if (g.getValue(r, i) > 0) v.push(g.getValue(r, i)); }
        v.sort(function (x, y) { return x - y; });
        out[name] = Math.round(a.y + a.h - g.toDomYCoord(v[Math.floor(v.length / 2)]));
      });
      out.height = a.h;
      return out;
    }())""")
    tap.ok(all(lifted[k] >= 15 for k in ("live", "reserved", "RSS")) and
           lifted["limit"] <= lifted["height"],
           "memory chart: live, reserved and RSS (median) drawn at least 15 px above the bottom "
           "of its %d px, the limit on the chart (px above the bottom: %s)"
           % (lifted["height"], {k: lifted[k] for k in ("live", "reserved", "RSS", "limit")}))
    read_axis("chart-points", "y", ("", "k", "M"), "points axis")
    read_axis("chart-be-tsd", "y", ("B", "KiB", "MiB", "GiB"), "backend queue axis (left)")
    ages = read_axis("chart-be-tsd", "y2", ("s", "min", "h"), "backlog age axis (right)")
    tap.ok(ages and peak_age / 2 <= max(ages) <= peak_age * 4,
           "backlog age axis: its top label (%.3g s) shows the peak's range (%.1f s)"
           % (max(ages) if ages else -1, peak_age))
    spool = read_axis("chart-spool-tsd", "y", ("B", "KiB", "MiB", "GiB"), "spool axis")
    peak_spool = max(x or 0 for x in data["spool"])
    tap.ok(spool and peak_spool / 2 <= max(spool) <= peak_spool * 4,
           "spool axis: its top label (%d B) shows the peak's range (%d B)"
           % (max(spool) if spool else -1, peak_spool))
    colours = page.eval("(function () { var c = window.tsrelayStatus.charts, o = {};"
                        " Object.keys(c).forEach(function (k) { o[k] = c[k].getColors(); });"
                        " return o; }())")
    worst = []
    for chart, cs in sorted(colours.items()):
        for vision, m in [("normal vision", None)] + sorted(CVD.items()):
            for a, b2 in itertools.combinations(cs, 2):
                worst.append((round(math.dist(lab(a, m), lab(b2, m)), 1), chart, vision, a, b2))
    worst.sort()
    tap.ok(worst and worst[0][0] >= 12,
           "every chart's colours differ by at least 12 (CIE76) in normal vision and under "
           "simulated protanopia, deuteranopia and tritanopia (closest: %s)" % (worst[:1],))


names = page.eval("Array.prototype.map.call(document.querySelectorAll('#backends td.name'),"
                  " function (e) { return e.textContent; })")
tap.eq(names, ["tsd"], "the backend table names the backend")
if charts:
    rows = page.eval("(function () { var c = window.tsrelayStatus.charts; return Object.keys(c)"
                     ".sort().map(function (k) { return k + ':' + c[k].numRows(); }); }())")
    tap.ok(len(rows) == 5 and all(int(r.rsplit(":", 1)[1]) >= len(t) - 5 for r in rows),
           "the memory, memory trend, points, backend queue and spool charts are drawn with "
           "the data (%s)" % rows)
    canvases = page.eval("document.querySelectorAll('#charts canvas').length")
    tap.ok(canvases >= 5, "the charts have canvases (%d)" % canvases)
    trend = page.eval("document.getElementById('trend-mem').textContent")
    tap.ok("RSS" in trend and "malloc in use" in trend and "/h" in trend,
           "the memory trend chart says how RSS and malloc move per hour (%r)" % trend)
    check_rendered_charts(data, peak_age)
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
plain.goto(url + "/tsrelay/")
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
