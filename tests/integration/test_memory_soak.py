"""Memory at rest over many outages.  Each cycle a load of RATE points/s
runs through tsrelay into victoria-metrics for STALL + AFTER seconds;
victoria-metrics is frozen (SIGSTOP) for the first STALL of them, so the
backend lags (write-timeout = 1s) and the overflow goes to the Redis spool
(memory-limit = 32M); then it is thawed, the load ends, the spool drains
and the relay writes directly again.  Once it is at rest (watched in /proc
only: the C heap had its quiet seconds and its trim, and RSS stayed the
same for longer than the pool's trim period), RSS, the pool (memory.live
and memory.reserved) and the C heap (memory.malloc_in_use, _arena,
_mmapped) are sampled.

It requires: every outage spooled; every point arrives exactly once; the
pool's live and reserved bytes at rest, beside the new-series guard's
share (charged once at start: limits.memory_bytes, the same every cycle),
are flat (bounded, no slope); from
cycle WARMUP on, RSS at rest grows by less than SLOPE bytes per cycle,
fitted by least squares over the remaining cycles, and so does malloc in
use.  (Under AddressSanitizer the slopes are only printed: its shadow and
quarantine are not tsrelay's; 8 cycles there unless told otherwise.)

Two versions (most of a cycle is the pool giving its blocks back, half of
the idle ones a second):
  make check        20 cycles of ~9 s (~3 minutes), 300,000 points/s for
                    1.3 s, frozen for 1 s; warm-up 10; slope < 8 KiB/cycle
  make check-long   100 cycles of ~13 s (~25 minutes), 300,000 points/s
                    for 5 s, frozen for 4 s; warm-up 10; slope < 1 KiB/cycle
                    (TSRELAY_SOAK=long; the nightly place for repetitions)
Knobs (environment): TSRELAY_SOAK_CYCLES, _STALL, _AFTER (seconds), _RATE
(points/s), _SLOPE (bytes per cycle), _WARMUP (cycles), _CSV (a file for
the per-cycle samples).  A memory hunt: TSRELAY_SOAK_PRELOAD=path of
tests/bench/malloc_sites.so, TSRELAY_SOAK_SITES=dump prefix,
TSRELAY_SOAK_SIGNAL_AT=5,50 (dumps at rest after those cycles; compare
them with tests/bench/malloc_sites.py; /proc/PID/smaps is saved beside
them, with or without the preload)."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

LONG = os.environ.get("TSRELAY_SOAK") == "long"


def knob(name, short, long_):
    return float(os.environ.get("TSRELAY_SOAK_" + name, long_ if LONG else short))


# under AddressSanitizer the slopes say nothing (its shadow and quarantine
# are not tsrelay's): fewer cycles, there to meet the sanitizers
CYCLES = int(knob("CYCLES", 8 if h.SANITIZED else 20, 100))
STALL = knob("STALL", 1, 4)
AFTER = knob("AFTER", 0.3, 1)
RATE = int(knob("RATE", 300000, 300000))
# short: warm-up is not over for every page by cycle 10 (measured 0.9-2.6
# KiB per cycle after it on the fixed relay): the bound is for gross leaks,
# the long version's for creep
SLOPE = knob("SLOPE", 8192, 1024)
WARMUP = int(knob("WARMUP", 10, 10))
# the queue a stall fills before it spools: afterwards the pool gives half
# of its idle blocks back each second, so a short cycle keeps it small
SPOOL_HIGH, SPOOL_LOW = ("1M", "512K") if LONG else ("256K", "128K")
CSV = os.environ.get("TSRELAY_SOAK_CSV")
PRELOAD = os.environ.get("TSRELAY_SOAK_PRELOAD")
SITES_FILE = os.environ.get("TSRELAY_SOAK_SITES", "malloc-sites")
SIGNAL_AT = {int(x) for x in os.environ.get("TSRELAY_SOAK_SIGNAL_AT", "").split(",") if x}
QUIET = 3.5               # seconds until the quiet C heap is trimmed (heap.h: 3 ticks)
DRAIN_MAX = 60.0          # seconds a drain may take after the load
NSERIES = 2000
PER_CYCLE = int(RATE * (STALL + AFTER))
SPAN = PER_CYCLE // NSERIES + 10          # seconds of timestamps per cycle

h.hard_timeout(int(180 + CYCLES * (STALL + AFTER + QUIET + 30)))
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis,
                relay={"memory-limit": "32M", "log-level": "warn"},
                redis_opts={"spool-high": SPOOL_HIGH, "spool-low": SPOOL_LOW},
                backend_opts={"write-timeout": "1s", "conns": "1"})
if PRELOAD:
    env = dict(os.environ, LD_PRELOAD=os.path.abspath(PRELOAD),
               MALLOC_SITES_FILE=os.path.abspath(SITES_FILE))
    relay.proc = h.spawn([h.TSRELAY, "-c", relay.conf], relay.log, env=env)
    h.wait_until(lambda: relay._can_connect(relay.port), 15, what="tsrelay listening")
else:
    relay.start()
T0 = int(time.time()) - 3 * 86400 - CYCLES * SPAN
metric = "it.soak.m%d" % os.getpid()


def fit_slope(ys):
    """Least-squares slope of ys against 0, 1, 2, ..."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx = (n - 1) / 2.0
    my = sum(ys) / float(n)
    sxx = sum((x - mx) ** 2 for x in range(n))
    return sum((x - mx) * (y - my) for x, y in enumerate(ys)) / sxx


def smaps():
    """(RSS of the [heap] mapping, anonymous RSS) in bytes, from /proc."""
    heap = anon = 0
    try:
        with open("/proc/%d/smaps" % relay.proc.pid) as f:
            in_heap = False
            for line in f:
                w = line.split()
                if len(w) >= 5 and "-" in w[0]:
                    in_heap = w[-1] == "[heap]"
                elif w and w[0] == "Rss:" and in_heap:
                    heap = int(w[1]) * 1024
                elif w and w[0] == "Anonymous:":
                    anon += int(w[1]) * 1024
    except OSError:
        pass
    return heap, anon


def reading():
    # /proc first: the connection that fetches /metrics is the relay's
    # memory too, until it closes
    rss = relay.rss()
    heap, anon = smaps()
    m = relay.metrics()
    return {"rss": rss, "heap_rss": heap, "anon": anon,
            "live": int(m.get("tsrelay_memory_live", -1)),
            "reserved": int(m.get("tsrelay_memory_reserved", -1)),
            "malloc": int(m.get("tsrelay_memory_malloc_in_use", -1)),
            "arena": int(m.get("tsrelay_memory_malloc_arena", -1)),
            "mmapped": int(m.get("tsrelay_memory_malloc_mmapped", -1)),
            "trims": int(m.get("tsrelay_memory_malloc_trims_total", 0)),
            "spooled": int(m.get("tsrelay_points_spooled_total", 0)),
            "queued": int(m.get("tsrelay_points_queued", -1)),
            "guard": int(m.get("tsrelay_limits_memory_bytes", 0)),
            "pending": int(m.get("tsrelay_points_spool_pending", 0)),
            "spooling": int(m.get('tsrelay_backend_spooling{backend="vm"}', 0))}


def drained():
    """The spool drained and the backend's queue written out: what the
    load brought is gone (a slow TSD on a loaded machine keeps lines
    queued, in pool blocks, while RSS stands still)."""
    r = reading()
    return r["pending"] == 0 and r["spooling"] == 0 and r["queued"] == 0


def at_rest():
    """Waits (bounded) until the relay is at rest, watching /proc only (a
    request would be the relay's memory too): QUIET seconds for the C
    heap to be trimmed once quiet, and RSS unchanged for longer than the
    pool's trim period (it gave its idle blocks back)."""
    t0 = time.time()
    deadline = t0 + 30
    last, stable = None, t0
    while time.time() < deadline:
        v = relay.rss()
        if v != last:
            last, stable = v, time.time()
        elif time.time() - stable >= 1.6 and time.time() - t0 >= QUIET:
            return
        time.sleep(0.1)


rows = []
phases = [0.0, 0.0]       # seconds: draining after the load, coming to rest
loads_ok = 0
total = 0
t_begin = time.time()
for c in range(CYCLES):
    spooled0 = reading()["spooled"]
    load = h.start_tsload(relay.port, PER_CYCLE, rate=RATE, conns=4, metric=metric,
                          series=NSERIES, start_ts=T0 + c * SPAN,
                          extra=["--close-grace", "0"])
    total += PER_CYCLE
    vm.freeze()
    time.sleep(STALL)
    vm.thaw()
    res = h.finish_tsload(load, timeout=STALL + AFTER + DRAIN_MAX)
    loads_ok += res["exit"] == 0 and res["sent"] == PER_CYCLE
    t_sent = time.time()
    try:
        h.wait_until(drained, DRAIN_MAX, interval=0.1, what="the spool drained")
    except TimeoutError:
        tap.ok(False, "cycle %d: the spool drained within %d s" % (c + 1, DRAIN_MAX))
        break
    t_drained = time.time()
    at_rest()
    r = reading()
    phases[0] += t_drained - t_sent
    phases[1] += time.time() - t_drained
    if c + 1 in SIGNAL_AT:
        if PRELOAD:
            relay.proc.send_signal(signal.SIGUSR2)
        with open("/proc/%d/smaps" % relay.proc.pid) as f, \
                open("%s.smaps.%d" % (SITES_FILE, c + 1), "w") as out:
            out.write(f.read())
    r["cycle"] = c + 1
    r["spooled_cycle"] = r["spooled"] - spooled0
    rows.append(r)
    sys.stdout.write("# cycle %d: rss %d KiB ([heap] %d), malloc in use %d KiB (arena %d, "
                     "mmapped %d), pool live %d KiB reserved %d KiB, spooled %d, trims %d\n"
                     % (c + 1, r["rss"] // 1024, r["heap_rss"] // 1024, r["malloc"] // 1024,
                        r["arena"] // 1024, r["mmapped"] // 1024, r["live"] // 1024,
                        r["reserved"] // 1024, r["spooled_cycle"], r["trims"]))
    sys.stdout.flush()

if CSV:
    with open(CSV, "w") as f:
        keys = ["cycle", "rss", "anon", "heap_rss", "malloc", "arena", "mmapped", "live",
                "reserved", "spooled_cycle", "trims"]
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(str(r[k]) for k in keys) + "\n")

n = max(len(rows), 1)
tap.note("cycles: seconds each (mean; of which draining after the load / coming to rest)",
         "%.1f (%.1f / %.1f)" % ((time.time() - t_begin) / n, phases[0] / n, phases[1] / n))
tap.eq(len(rows), CYCLES, "%d stall/drain cycles ran" % CYCLES)
tap.eq(loads_ok, len(rows), "every cycle's load was sent (%d points at %d/s each)"
       % (PER_CYCLE, RATE))
spooled = [r["spooled_cycle"] for r in rows]
tap.ok(rows and min(spooled) > 0, "every outage sent lines to the Redis spool (at least %d)"
       % (min(spooled) if rows else 0))
got = vm.wait_count(metric, total, timeout=180, settle=1.0)
tap.eq(got, total, "every point arrived exactly once")

rest = rows[WARMUP:]
if len(rest) >= 2:
    def kib(k, i):
        return rows[i][k] // 1024
    for k, what in (("rss", "RSS at rest"), ("malloc", "malloc in use")):
        tap.note("%s, cycle 1 / %d / %d (KiB)" % (what, WARMUP, len(rows)),
                 "%d / %d / %d" % (kib(k, 0), kib(k, WARMUP - 1), kib(k, -1)))
    rss_slope = fit_slope([r["rss"] for r in rest])
    mal_slope = fit_slope([r["malloc"] for r in rest])
    tap.ok(h.SANITIZED or rss_slope < SLOPE,
           "RSS at rest after cycle %d grows by less than %d bytes per cycle (%.0f)%s"
           % (WARMUP, SLOPE, rss_slope, h.ASAN_NOTE))
    tap.ok(h.SANITIZED or abs(mal_slope) < SLOPE,
           "malloc in use at rest after cycle %d is flat: less than %d bytes per cycle (%.0f)%s"
           % (WARMUP, SLOPE, mal_slope, h.ASAN_NOTE))
    # the new-series guard's share (series-memory, a sixteenth of
    # memory-limit here) is charged to the pool once, at start, and stays:
    # it is no traffic's; the rest is what the outages left
    guards = [r["guard"] for r in rows]
    tap.ok(min(guards) == max(guards),
           "the new-series guard's share of the pool is the same every cycle (%d..%d)"
           % (min(guards), max(guards)))
    lives = [r["live"] - r["guard"] for r in rest]
    reserved = [r["reserved"] - r["guard"] for r in rest]
    tap.note("pool live / reserved at rest beside the guard's %d KiB, min..max (KiB)"
             % (guards[0] // 1024), "%d..%d / %d..%d" % (
        min(lives) // 1024, max(lives) // 1024, min(reserved) // 1024, max(reserved) // 1024))
    tap.ok(max(lives) <= 1048576 and abs(fit_slope(lives)) < SLOPE,
           "pool live at rest is flat (<= 1 MiB, slope %.0f)" % fit_slope(lives))
    tap.ok(max(reserved) <= 2 * 1048576 and abs(fit_slope(reserved)) < SLOPE,
           "pool reserved at rest is flat (<= 2 MiB, slope %.0f)" % fit_slope(reserved))
    m = relay.metrics()
    trims = m.get("tsrelay_memory_malloc_trims_total", 0)
    tap.note("malloc trims: count, time in all (ms), each (us), RSS given back (KiB)",
             "%d, %.1f, %.0f, %d" % (trims, m.get("tsrelay_memory_malloc_trim_seconds_total", 0)
                                     * 1e3, m.get("tsrelay_memory_malloc_trim_seconds_total", 0)
                                     * 1e6 / max(trims, 1),
                                     m.get("tsrelay_memory_malloc_trimmed_bytes_total", 0) // 1024))
tap.ok(relay.stop() == 0, "tsrelay exits 0 on SIGTERM")
tap.done()
