"""bench.py -- `make bench`: how fast tsrelay moves points, measured as
ratios within one run (these machines are shared and noisy).

1. generator -> sink directly (the loopback limit for this work) and
   generator -> tsrelay -> sink, for telnet, framed text and framed JSON:
   points/s, the ratio tsrelay/direct, tsrelay's CPU seconds per million
   points and its peak RSS.
2. Latency at 10% of the maximum telnet rate: p50/p99 of the time a point
   spends inside tsrelay (read to write, its own histogram).
3. Allocation: malloc calls per point on the hot path (LD_PRELOAD counter).
4. Flat memory: RSS after 1 million points vs. the peak over 10 million.
5. End to end into victoria-metrics, 2 million points: generator ->
   victoria-metrics directly vs. generator -> tsrelay -> victoria-metrics.
6. The Redis spool: points/s into the spool with the TSD down, points/s
   drained out of it once the TSD is back (from the sink starting, which
   includes the reconnect probe, and unpaced: from the first drained
   line to the last; goal >= 1.2M points/s), and the compression ratio.
7. ack = version against ack = none: points/s through tsrelay into a sink
   that answers `version` (both relays write to the same sink, in the
   same run); goal: version >= 0.8x none.
8. The new-series guard: telnet points/s at 1 million distinct series (6
   points each, the first of each a new series) with every [limits] limit
   on (none reached) against the guard off (series-memory = 0) and on
   without limits (the default), alternating, the best of 2 runs each;
   goal: limits on >= 0.85x off.  Also the guard's memory and peak RSS.
   BENCH_ONLY=guard runs this part alone.
9. TLS against clear text on one relay's listeners, the same Python
   sender into each (ssl's writes are OpenSSL's): points/s, their ratio,
   and tsrelay's CPU seconds per million points for each.
10. protocol = http against protocol = telnet into victoria-metrics (its
   OpenTSDB HTTP listener and its telnet listener, the same process, in
   the same run, alternating, best of two each): end-to-end points/s from
   the first point sent to the last one counted; goal: http >= 0.5x
   telnet.
11. Rules: telnet points/s through tsrelay with 20 typical rules (regex
   matches on the metric, two rewrites, one tag trim, three sends) against
   the same relay and groups with no rule, alternating, best of 3 each
   (goal >= 0.75); and, when BENCH_BASELINE_TSRELAY names a tsrelay built
   from before rules and groups existed, that one against this one with no
   rule, same file (goal: about 1).  BENCH_ONLY=rules runs this part alone.

The sink is tests/tools/tssink (counts newlines); the generator is
tests/tools/tsload.  Results go to stdout and bench-results.json.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness as h  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
N = {"telnet": int(6e6 * SCALE), "framed": int(6e6 * SCALE), "json": int(2e6 * SCALE)}
MALLOC_SO = os.path.join(h.TOP_BUILDDIR, "tests", "bench", "malloc_count.so")
results = {}
base = h.tmpdir("tsrelay-bench-")


def say(*a):
    print(*a, flush=True)


class Sink:
    def __init__(self):
        self.port = h.free_port()
        self.stats_file = os.path.join(base, "sink-%d.json" % self.port)
        self.proc = h.spawn([h.TSSINK, "--port", str(self.port), "--stats-file", self.stats_file])
        h.wait_until(lambda: os.path.exists(self.stats_file), 10, what="tssink")

    def lines(self):
        os.kill(self.proc.pid, signal.SIGUSR1)
        for _ in range(50):
            try:
                with open(self.stats_file) as f:
                    return json.load(f).get("lines", 0)
            except (OSError, ValueError):
                time.sleep(0.002)
        return 0

    def wait_lines(self, target, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.lines() >= target:
                return time.time()
            time.sleep(0.01)
        raise TimeoutError("sink stuck below %d lines" % target)


def relay_to(port, name, env=None, **opts):
    r = h.Relay(base, [("sink", "127.0.0.1:%d" % port)], relay=opts.get("relay"), name=name,
                backend_opts={"conns": "2"})
    r.proc = subprocess.Popen([h.TSRELAY, "-c", r.conf], stdout=subprocess.DEVNULL,
                              stderr=open(r.log, "ab"), env=env)
    h._procs.append(r.proc)
    h.wait_until(lambda: r._can_connect(r.port), 15, what="tsrelay")
    return r


def load(port, proto, n, rate=0, conns=2, metric="bench.m"):
    return h.run_tsload(port, n, proto=proto, conns=conns, rate=rate, metric=metric,
                        series=10000)


# ---- 8. the new-series guard (a function: BENCH_ONLY=guard runs it alone) -------
GUARD_LIMITS = {"new-series-per-hour": "100000000", "new-series-per-day": "1000000000",
                "new-series-per-metric-per-hour": "100000000",
                "new-series-per-client-per-hour": "100000000",
                "max-series-per-metric": "100000000", "series-memory": "8M"}


def guard_relay(port, name, limits):
    r = h.Relay(base, [("sink", "127.0.0.1:%d" % port)], name=name,
                backend_opts={"conns": "2"})
    r.write_conf([("sink", "127.0.0.1:%d" % port)], backend_opts={"conns": "2"},
                 extra="\n[limits]\n" + "".join("%s = %s\n" % kv for kv in limits.items()))
    return r.start()


def bench_guard():
    sink = Sink()
    n, series = int(6e6 * SCALE), int(1e6 * SCALE)
    setups = {"off": {"series-memory": "0"}, "tracking": {}, "limits": GUARD_LIMITS}
    out = {"points": n, "series": series}
    for rnd in range(3):
        for mode in ("off", "limits", "tracking"):
            r = guard_relay(sink.port, "bench-guard-%s-%d" % (mode, rnd), setups[mode])
            rss = h.RssSampler(r, 0.05)
            rss.start()
            start = sink.lines()
            cpu0 = r.cpu_seconds()
            t0 = time.time()
            h.run_tsload(r.port, n, proto="telnet", conns=2, metric="bench.guard.%s%d" % (mode, rnd),
                         series=series)
            sink.wait_lines(start + n)
            took = time.time() - t0
            st = r.stats()
            run = {"pts_per_s": int(n / took),
                   "cpu_s_per_million": round((r.cpu_seconds() - cpu0) / (n / 1e6), 3),
                   "peak_rss_mib": round(rss.stop() / 1048576.0, 1),
                   "new_series": st.get(("limits.new_series", None), 0),
                   "refused": sum(v for (k, _), v in st.items() if k == "limits.refused"),
                   "guard_bytes": st.get(("limits.memory_bytes", None), 0)}
            out.setdefault(mode + "_runs", []).append(run)
            if run["pts_per_s"] > out.get(mode, {}).get("pts_per_s", 0):
                out[mode] = run
            r.stop()
    out["ratio_limits_vs_off"] = round(out["limits"]["pts_per_s"] / max(out["off"]["pts_per_s"], 1), 3)
    out["ratio_limits_vs_tracking"] = round(out["limits"]["pts_per_s"] /
                                           max(out["tracking"]["pts_per_s"], 1), 3)
    results["guard"] = out
    say("\nnew-series guard, telnet, %d points over %d distinct series (best of 3 alternating "
        "runs): guard off %d pts/s, on without limits %d pts/s, every limit on %d pts/s; "
        "limits on / off %.3f (goal >= 0.85), limits on / tracking %.3f; guard memory %.1f MiB "
        "(series-memory), peak RSS off %.1f / limits %.1f MiB; CPU s / 1M pts off %.3f, "
        "limits %.3f; new series counted %d, refused %d"
        % (n, series, out["off"]["pts_per_s"], out["tracking"]["pts_per_s"],
           out["limits"]["pts_per_s"], out["ratio_limits_vs_off"], out["ratio_limits_vs_tracking"],
           out["limits"]["guard_bytes"] / 1048576.0, out["off"]["peak_rss_mib"],
           out["limits"]["peak_rss_mib"], out["off"]["cpu_s_per_million"],
           out["limits"]["cpu_s_per_million"], out["limits"]["new_series"],
           out["limits"]["refused"]))
    sink.proc.kill()


if os.environ.get("BENCH_ONLY") == "guard":
    bench_guard()
    with open("bench-results.json", "w") as f:
        json.dump(results, f, indent=2)
    h._cleanup()
    sys.exit(0)

# ---- 11. rules: 20 rules vs none, none vs before (BENCH_ONLY=rules runs it alone) --
# 16 metric names, the series spread over them evenly (tsload --metrics):
# the rewrites touch 4 of 16 (a quarter of the points are changed and
# checked again), billing goes to its own group (2 of 16), app.web is
# mirrored (2 of 16), debug dropped (1 of 16).
RULE_METRICS = ("sys.cpu.user,sys.cpu.system,sys.mem.free,sys.disk.read,app.web.requests,"
                "app.web.latency,app.db.queries,billing.invoices,billing.payments,debug.trace,"
                "net.if.in,net.if.out,jvm.gc.time,jvm.heap.used,proc.count,kafka.lag")
RULE_GROUPS = """
[relay]
default-group = main
[group main]
backends = sink
[group billing]
backends = sink-b
[group mirror]
backends = sink-m
routing = all
"""
RULES_20 = RULE_GROUPS + r"""
[rule drop-debug]
match = ^debug\.
action = drop
[rule drop-tmp]
match = \.tmp$
action = drop
[rule drop-test]
match = ^test\.
action = drop
[rule drop-canary]
match = ^canary\.
tag = env=^canary$
action = drop
[rule rename-cpu]
match = ^sys\.cpu\.(.+)$
action = rewrite
metric = os.cpu.\1
[rule rename-jvm]
match = ^jvm\.(gc|heap)\.(.+)$
action = rewrite
metric = java.\1.\2
[rule trim-ids]
action = drop-tags
keys = pid, request_id
[rule billing]
match = ^billing\.
action = send
to = billing
[rule mirror-web]
match = ^app\.web\.
action = send
to = main, mirror
[rule kafka]
match = ^kafka\.(lag|offset)
action = send
to = main
""" + "".join("[rule old-%d]\nmatch = %s\naction = drop\n" % (k, m) for k, m in enumerate((
    r"^legacy\.collector\.", r"^old\.(a|b|c)\.", r"\.histogram\.p999$", r"^statsd\.internal\.",
    r"^collectd\.(swap|entropy)\.", r"^hadoop\.(jobtracker|tasktracker)\.",
    r"^zookeeper\.watches\.", r"^es\.indices\.segments\.", r"^nginx\.upstream\.(.*)\.debug$",
    r"^mysql\.perf\.events\.")))
def rules_run(name, extra, backends, binary=None):
    """points/s (all acknowledged by the sink's TCP) and CPU s per 1M."""
    r = h.Relay(base, backends, name=name, backend_opts={"conns": "2"})
    r.write_conf(backends, backend_opts={"conns": "2"}, extra=extra)
    r.proc = subprocess.Popen([binary or h.TSRELAY, "-c", r.conf], stdout=subprocess.DEVNULL,
                              stderr=open(r.log, "ab"))
    h._procs.append(r.proc)
    h.wait_until(lambda: r._can_connect(r.port), 15, what="tsrelay")
    n = int(4e6 * SCALE)
    h.run_tsload(r.port, 100000, proto="telnet", conns=2, series=10000, metric="warm",
                 extra=["--metrics", RULE_METRICS])
    h.wait_until(lambda: r.stats().get(("points.queued", None), 1) == 0, 30, what="warm-up")
    cpu0 = r.cpu_seconds()
    t0 = time.time()
    h.run_tsload(r.port, n, proto="telnet", conns=2, series=10000, metric="bench.m",
                 extra=["--metrics", RULE_METRICS])

    def done():
        st = r.stats()
        recv = sum(v for (k, t), v in st.items() if k == "points.received")
        return recv >= n + 100000 and st.get(("points.queued", None), 1) == 0
    h.wait_until(done, 120, interval=0.005, what="all delivered")
    took = time.time() - t0
    cpu = r.cpu_seconds() - cpu0
    r.stop()
    return {"pts_per_s": int(n / took), "cpu_s_per_million": round(cpu / (n / 1e6), 3)}



def bench_rules():
    rsink = Sink()
    RULE_BACKENDS = [("sink", "127.0.0.1:%d" % rsink.port),
                     ("sink-b", "127.0.0.1:%d" % rsink.port),
                     ("sink-m", "127.0.0.1:%d" % rsink.port)]
    results["rules"] = {"rules": 20}
    for rnd in range(3):
        for kind, extra in (("none", RULE_GROUPS), ("rules20", RULES_20)):
            run = rules_run("bench-rules-%s-%d" % (kind, rnd), extra, RULE_BACKENDS)
            results["rules"].setdefault(kind + "_runs", []).append(run)
            if run["pts_per_s"] > results["rules"].get(kind, {}).get("pts_per_s", 0):
                results["rules"][kind] = run
    ratio = results["rules"]["rules20"]["pts_per_s"] / max(results["rules"]["none"]["pts_per_s"], 1)
    results["rules"]["ratio"] = round(ratio, 3)
    say("\nrules: telnet through 20 rules (2 rewrites touching 1/4 of the points, 1 tag trim, "
        "3 sends, 14 regex drops) vs the same groups without rules (best of 3 alternating runs "
        "each): none %d pts/s, 20 rules %d pts/s, ratio %.3f (goal >= 0.75); CPU s / 1M pts: "
        "none %.3f, 20 rules %.3f" % (results["rules"]["none"]["pts_per_s"],
                                      results["rules"]["rules20"]["pts_per_s"], ratio,
                                      results["rules"]["none"]["cpu_s_per_million"],
                                      results["rules"]["rules20"]["cpu_s_per_million"]))
    # allocations per point through the 20 rules (the malloc counter of part 3)
    if os.path.exists(MALLOC_SO):
        count_file = os.path.join(base, "mallocs-rules")
        env = dict(os.environ, LD_PRELOAD=MALLOC_SO, MALLOC_COUNT_FILE=count_file)
        r = h.Relay(base, RULE_BACKENDS, name="bench-rules-malloc", backend_opts={"conns": "2"})
        r.write_conf(RULE_BACKENDS, backend_opts={"conns": "2"}, extra=RULES_20)
        r.proc = subprocess.Popen([h.TSRELAY, "-c", r.conf], stdout=subprocess.DEVNULL,
                                  stderr=open(r.log, "ab"), env=env)
        h._procs.append(r.proc)
        h.wait_until(lambda: r._can_connect(r.port), 15, what="tsrelay")

        def rule_mallocs():
            os.kill(r.proc.pid, signal.SIGUSR2)
            time.sleep(0.2)
            with open(count_file) as f:
                return int(f.read())
        h.run_tsload(r.port, 100000, proto="telnet", conns=2, series=10000, metric="warm",
                     extra=["--metrics", RULE_METRICS])
        before_calls = rule_mallocs()
        n = 1000000
        h.run_tsload(r.port, n, proto="telnet", conns=2, series=10000, metric="bench.m",
                     extra=["--metrics", RULE_METRICS])
        h.wait_until(lambda: r.stats().get(("points.queued", None), 1) == 0, 60, what="delivered")
        calls = rule_mallocs() - before_calls
        r.stop()
        results["rules"]["mallocs"] = {"calls": calls, "points": n, "per_point": calls / n}
        say("rules: malloc calls for %d points through the 20 rules: %d (%.7f per point)"
            % (n, calls, calls / n))

    before = os.environ.get("BENCH_BASELINE_TSRELAY")
    if before:
        one = RULE_BACKENDS[:1]
        for rnd in range(3):
            for kind, binary in (("before", before), ("now", None)):
                run = rules_run("bench-base-%s-%d" % (kind, rnd), "", one, binary)
                results["rules"].setdefault(kind + "_runs", []).append(run)
                if run["pts_per_s"] > results["rules"].get(kind, {}).get("pts_per_s", 0):
                    results["rules"][kind] = run
        r2 = results["rules"]["now"]["pts_per_s"] / max(results["rules"]["before"]["pts_per_s"], 1)
        results["rules"]["now_vs_before"] = round(r2, 3)
        say("rules: no rule now vs before rules existed (%s), one backend, the same file: before "
            "%d pts/s, now %d pts/s, ratio %.3f; CPU s / 1M pts: before %.3f, now %.3f"
            % (before, results["rules"]["before"]["pts_per_s"],
               results["rules"]["now"]["pts_per_s"], r2,
               results["rules"]["before"]["cpu_s_per_million"],
               results["rules"]["now"]["cpu_s_per_million"]))
    else:
        say("rules: no rule now vs before rules existed: set BENCH_BASELINE_TSRELAY to a tsrelay "
            "built before them to measure it")
    rsink.proc.kill()


if os.environ.get("BENCH_ONLY") == "rules":
    bench_rules()
    with open("bench-results.json", "w") as f:
        json.dump(results, f, indent=2)
    h._cleanup()
    sys.exit(0)

# ---- 1. throughput --------------------------------------------------------------
sink = Sink()
relay = relay_to(sink.port, "bench")
say("%-8s %14s %14s %8s %14s %10s" % ("proto", "direct pts/s", "tsrelay pts/s", "ratio",
                                      "CPU s / 1M pts", "peak RSS"))
for proto in ("telnet", "framed", "json"):
    n = N[proto]
    d = load(sink.port, proto, n)
    direct = d.get("rate", 0)
    time.sleep(0.3)
    start_lines = sink.lines()
    rss = h.RssSampler(relay, 0.05)
    rss.start()
    cpu0 = relay.cpu_seconds()
    t0 = time.time()
    r = load(relay.port, proto, n)
    t1 = sink.wait_lines(start_lines + n)
    cpu = relay.cpu_seconds() - cpu0
    peak = rss.stop()
    rate = n / (t1 - t0)
    results[proto] = {"direct": int(direct), "relay": int(rate), "ratio": round(rate / direct, 3),
                      "cpu_s_per_million": round(cpu / (n / 1e6), 3),
                      "peak_rss_mib": round(peak / 1048576.0, 1), "points": n,
                      "sender_exit": r.get("exit")}
    say("%-8s %14d %14d %8.3f %14.3f %8.1f MiB" % (proto, direct, rate, rate / direct,
                                                    cpu / (n / 1e6), peak / 1048576.0))

# ---- 2. latency at 10% of the maximum ------------------------------------------
ten = int(results["telnet"]["relay"] * 0.1)
relay.stop()
relay = relay_to(sink.port, "bench-lat")
load(relay.port, "telnet", max(ten * 5, 1000), rate=ten)
st = relay.stats()
results["latency"] = {"rate": ten, "p50_us": round(st.get(("latency.p50_seconds", None), 0) * 1e6),
                      "p99_us": round(st.get(("latency.p99_seconds", None), 0) * 1e6),
                      "max_us": round(st.get(("latency.max_seconds", None), 0) * 1e6),
                      "samples": st.get(("latency.samples", None)),
                      "flush_policy": "every read is written to its backends in the same loop "
                                      "iteration (ev_prepare), batched per connection with writev"}
say("\nlatency inside tsrelay at %d points/s (10%% of max): p50 %s us, p99 %s us, max %s us "
    "(%s writes)" % (ten, results["latency"]["p50_us"], results["latency"]["p99_us"],
                     results["latency"]["max_us"], results["latency"]["samples"]))
relay.stop()

# ---- 3. allocations per point ---------------------------------------------------
if os.path.exists(MALLOC_SO):
    count_file = os.path.join(base, "mallocs")
    env = dict(os.environ, LD_PRELOAD=MALLOC_SO, MALLOC_COUNT_FILE=count_file)
    relay = relay_to(sink.port, "bench-malloc", env=env)

    def mallocs():
        os.kill(relay.proc.pid, signal.SIGUSR2)
        time.sleep(0.2)
        with open(count_file) as f:
            return int(f.read())

    results["mallocs"] = {}
    for proto in ("telnet", "framed", "json"):
        load(relay.port, proto, 100000)          # warm up: connections, pool blocks
        before = mallocs()
        n = 1000000
        start_lines = sink.lines()
        load(relay.port, proto, n)
        sink.wait_lines(start_lines + n)
        calls = mallocs() - before
        results["mallocs"][proto] = {"calls": calls, "points": n, "per_point": calls / n}
        say("malloc calls for %d %s points: %d (%.7f per point; the connections' own "
            "set-up is in there)" % (n, proto, calls, calls / n))
    relay.stop()
else:
    say("malloc counter not built (%s); skipped" % MALLOC_SO)

# ---- 4. flat memory over 10 million points ----------------------------------------
# RSS is compared at rest (all delivered, idle pool blocks trimmed), after
# the first million and after ten: growth with work done would be a leak;
# the peak while running shows queue depth, not work done.
relay = relay_to(sink.port, "bench-rss")
n = int(10e6 * SCALE)
start_lines = sink.lines()
load(relay.port, "telnet", n // 10, metric="bench.rss")
sink.wait_lines(start_lines + n // 10)
time.sleep(4)
rss_1m = relay.rss()
rss = h.RssSampler(relay, 0.05)
rss.start()
load(relay.port, "telnet", n - n // 10, metric="bench.rss2")
sink.wait_lines(start_lines + n)
peak = rss.stop()
time.sleep(4)
rss_10m = relay.rss()
results["rss"] = {"after_first_million_mib": round(rss_1m / 1048576.0, 2),
                  "after_ten_million_mib": round(rss_10m / 1048576.0, 2),
                  "peak_while_running_mib": round(peak / 1048576.0, 2),
                  "growth": round(rss_10m / max(rss_1m, 1) - 1, 3), "points": n}
say("\nRSS at rest after the first million: %.1f MiB; after %d: %.1f MiB (%+.1f%%); "
    "peak while running %.1f MiB"
    % (rss_1m / 1048576.0, n, rss_10m / 1048576.0, 100.0 * (rss_10m / max(rss_1m, 1) - 1),
       peak / 1048576.0))
relay.stop()

# ---- 5. end to end into victoria-metrics ----------------------------------------
vm = h.Victoria(base).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], name="bench-vm",
                backend_opts={"conns": "2"}).start()
n = int(2e6 * SCALE)


def to_vm(port, metric):
    t0 = time.time()
    h.run_tsload(port, n, proto="telnet", conns=2, series=10000, metric=metric)
    while vm.count(metric) < n:
        time.sleep(0.1)
    return n / (time.time() - t0)


direct_vm = to_vm(vm.telnet, "bench.vm.direct")
relay_vm = to_vm(relay.port, "bench.vm.relay")
results["victoria_metrics"] = {"direct": int(direct_vm), "relay": int(relay_vm),
                               "ratio": round(relay_vm / direct_vm, 3), "points": n}
say("\nend to end into victoria-metrics, %d points: direct %d pts/s, through tsrelay %d pts/s, "
    "ratio %.3f" % (n, direct_vm, relay_vm, relay_vm / direct_vm))
relay.stop()
vm.stop()

# ---- 6. spool and drain ---------------------------------------------------------
redis = h.Redis(base).start()
tsd_port = h.free_port()   # nothing listens: the TSD is down
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd_port)], redis=redis, name="bench-spool",
                backend_opts={"conns": "2"}).start()
n = int(4e6 * SCALE)
t0 = time.time()
load(relay.port, "telnet", n, metric="bench.spool")
h.wait_until(lambda: relay.stats().get(("points.spooled", None), 0) >= n and
             relay.stats().get(("backend.staged_bytes", "backend=tsd"), 1) == 0, 120,
             interval=0.02, what="all spooled")
spool_rate = n / (time.time() - t0)
st = relay.stats()
ratio = st.get(("spool.raw_bytes", None), 0) / max(st.get(("spool.stored_bytes", None), 1), 1)
sink2 = h.spawn([h.TSSINK, "--port", str(tsd_port), "--stats-file",
                 os.path.join(base, "sink-drain.json")])
t0 = time.time()
drain_sink = Sink.__new__(Sink)
drain_sink.port, drain_sink.proc = tsd_port, sink2
drain_sink.stats_file = os.path.join(base, "sink-drain.json")
h.wait_until(lambda: os.path.exists(drain_sink.stats_file), 10, what="sink")
first = None
deadline = time.time() + 300
while time.time() < deadline:
    got = drain_sink.lines()
    t = time.time()
    if got > 0 and first is None:
        first = (t, got)
    if got >= n:
        break
    time.sleep(0.005)
drain_rate = n / (t - t0)
unpaced = (n - first[1]) / max(t - first[0], 1e-3) if first else 0
cpu = relay.cpu_seconds()
results["spool"] = {"spool_pts_per_s": int(spool_rate), "drain_pts_per_s": int(drain_rate),
                    "drain_unpaced_pts_per_s": int(unpaced),
                    "reconnect_s": round(first[0] - t0, 2) if first else None,
                    "compression_ratio": round(ratio, 1), "points": n}
say("\nspool: %d points into Redis at %d pts/s (TSD down); drained back at %d pts/s from the "
    "sink's start (%.2f s to reconnect), %d pts/s unpaced from the first line to the last "
    "(goal >= 1.2M); zstd ratio %.1f"
    % (n, spool_rate, drain_rate, results["spool"]["reconnect_s"] or -1, unpaced, ratio))
relay.stop()

# ---- 7. ack = version vs ack = none ----------------------------------------------
vsink_port = h.free_port()
vsink_stats = os.path.join(base, "sink-version.json")
vsink = Sink.__new__(Sink)
vsink.port, vsink.stats_file = vsink_port, vsink_stats
vsink.proc = h.spawn([h.TSSINK, "--port", str(vsink_port), "--stats-file", vsink_stats,
                      "--answer-version"])
h.wait_until(lambda: os.path.exists(vsink_stats), 10, what="sink")


def puts():
    os.kill(vsink.proc.pid, signal.SIGUSR1)
    for _ in range(50):
        try:
            with open(vsink_stats) as f:
                return json.load(f).get("puts", 0)
        except (OSError, ValueError):
            time.sleep(0.002)
    return 0


n = int(4e6 * SCALE)
results["ack"] = {"points": n}
# two rounds, alternating, the faster of each kept: the order and the
# machine's noise should not decide the ratio
for rnd, ack in enumerate(("none", "version", "none", "version")):
    r = h.Relay(base, [("sink", "127.0.0.1:%d" % vsink_port)],
                name="bench-ack-%s-%d" % (ack, rnd), backend_opts={"conns": "2", "ack": ack}).start()
    before = puts()
    load(r.port, "telnet", 100000, metric="bench.ack.warm")   # connections up
    h.wait_until(lambda: puts() >= before + 100000, 30, what="warm-up delivered")
    start = puts()
    cpu0 = r.cpu_seconds()
    t0 = time.time()
    load(r.port, "telnet", n, metric="bench.ack." + ack)
    while puts() < start + n and time.time() - t0 < 300:
        time.sleep(0.005)
    took = time.time() - t0
    st = r.stats()
    run = {"pts_per_s": int(n / took),
           "cpu_s_per_million": round((r.cpu_seconds() - cpu0) / (n / 1e6), 3),
           "barriers": st.get(("backend.barriers", "backend=sink"), 0)}
    results["ack"].setdefault(ack + "_runs", []).append(run)
    if run["pts_per_s"] > results["ack"].get(ack, {}).get("pts_per_s", 0):
        results["ack"][ack] = run
    r.stop()
ratio = results["ack"]["version"]["pts_per_s"] / max(results["ack"]["none"]["pts_per_s"], 1)
results["ack"]["ratio"] = round(ratio, 3)
say("\nack = version vs ack = none into a sink answering version, %d points (best of 2 "
    "alternating runs each): none %d pts/s, "
    "version %d pts/s (%d barriers), ratio %.3f (goal >= 0.8); CPU s / 1M pts: none %.3f, "
    "version %.3f" % (n, results["ack"]["none"]["pts_per_s"], results["ack"]["version"]["pts_per_s"],
                      results["ack"]["version"]["barriers"], ratio,
                      results["ack"]["none"]["cpu_s_per_million"],
                      results["ack"]["version"]["cpu_s_per_million"]))

bench_guard()

# ---- 9. TLS on a listener vs clear text ---------------------------------------------
# One relay, one TLS listener beside its plain one; the same Python sender
# (two connections, pre-built 1 MB buffers; ssl's writes are OpenSSL's)
# into each, alternating, best of two: the ratio is the cost of TLS in the
# relay, its CPU per million points says where it goes.
import socket  # noqa: E402
import threading  # noqa: E402
import tlsutil as tu  # noqa: E402

certs = tu.Certs(base)
tsink = Sink()
tport = h.free_port()
tr = h.Relay(base, [("sink", "127.0.0.1:%d" % tsink.port)], name="bench-tls",
             backend_opts={"conns": "2"})
tr.listen = [(tr.port, "auto"), (tport, "telnet tls")]
tr.write_conf([("sink", "127.0.0.1:%d" % tsink.port)], backend_opts={"conns": "2"},
              extra="\n[tls]\ncert = %s\nkey = %s\n" % (certs.path("server.pem"),
                                                          certs.path("server.key")))
tr.start()
BUF_LINES = 16000
bufs = [("".join(h.telnet_line("bench.tls.c%d" % k, i, 10000, int(time.time()) - 86400)
                 for i in range(BUF_LINES))).encode() for k in range(2)]
n_tls = int(4e6 * SCALE) // (2 * BUF_LINES) * 2 * BUF_LINES


def send_all(port, tls):
    def one(k):
        s = socket.create_connection(("127.0.0.1", port), timeout=300)
        if tls:
            s = tu.client_context(certs).wrap_socket(s, server_hostname="relay.test")
        for _ in range(n_tls // (2 * BUF_LINES)):
            s.sendall(bufs[k])
        s.sendall(b"exit\n")
        tu.read_until_closed(s, 60)
        s.close()
    ts = [threading.Thread(target=one, args=(k,)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


results["tls"] = {"points": n_tls}
for rnd, mode in enumerate(("plain", "tls", "plain", "tls")):
    start = tsink.lines()
    cpu0 = tr.cpu_seconds()
    t0 = time.time()
    send_all(tport if mode == "tls" else tr.port, mode == "tls")
    t1 = tsink.wait_lines(start + n_tls, timeout=600)
    run = {"pts_per_s": int(n_tls / (t1 - t0)),
           "cpu_s_per_million": round((tr.cpu_seconds() - cpu0) / (n_tls / 1e6), 3)}
    results["tls"].setdefault(mode + "_runs", []).append(run)
    if run["pts_per_s"] > results["tls"].get(mode, {}).get("pts_per_s", 0):
        results["tls"][mode] = run
st = tr.stats()
tr.stop()
t, p_ = results["tls"]["tls"], results["tls"]["plain"]
results["tls"]["ratio"] = round(t["pts_per_s"] / max(p_["pts_per_s"], 1), 3)
results["tls"]["cpu_ratio"] = round(t["cpu_s_per_million"] / max(p_["cpu_s_per_million"], 1e-9), 3)
say("\nTLS listener vs plain, the same sender, %d points each (best of 2 alternating runs): "
    "plain %d pts/s, TLS %d pts/s, ratio %.3f; CPU s / 1M pts: plain %.3f, TLS %.3f (x%.2f); "
    "%s handshakes" % (n_tls, p_["pts_per_s"], t["pts_per_s"], results["tls"]["ratio"],
                       p_["cpu_s_per_million"], t["cpu_s_per_million"], results["tls"]["cpu_ratio"],
                       st.get(("tls.handshakes", None))))

# ---- 10. protocol = http vs protocol = telnet into victoria-metrics ---------------
vm = h.Victoria(base, name="vm-http", http_put=True).start()
n = int(2e6 * SCALE)
results["http_backend"] = {"points": n}
for rnd, proto in enumerate(("telnet", "http", "telnet", "http")):
    if proto == "http":
        backend = ("vm", "127.0.0.1:%d" % vm.put_port,
                   {"protocol": "http", "sync": "off", "http-batch": "5000",
                    "http-batch-bytes": "60K"})
    else:
        backend = ("vm", "127.0.0.1:%d" % vm.telnet)
    r = h.Relay(base, [backend], name="bench-proto-%s-%d" % (proto, rnd),
                backend_opts={"conns": "2"}).start()
    metric = "bench.proto.%s.%d" % (proto, rnd)
    cpu0 = r.cpu_seconds()
    t0 = time.time()
    load(r.port, "telnet", n, metric=metric)
    while vm.count(metric) < n and time.time() - t0 < 300:
        time.sleep(0.5)  # (a count is a query: not so often that it slows the ingest)
    run = {"pts_per_s": int(n / (time.time() - t0)),
           "cpu_s_per_million": round((r.cpu_seconds() - cpu0) / (n / 1e6), 3)}
    results["http_backend"].setdefault(proto + "_runs", []).append(run)
    if run["pts_per_s"] > results["http_backend"].get(proto, {}).get("pts_per_s", 0):
        results["http_backend"][proto] = run
    r.stop()
vm.stop()
hb = results["http_backend"]
hb["ratio"] = round(hb["http"]["pts_per_s"] / max(hb["telnet"]["pts_per_s"], 1), 3)
say("\nprotocol = http vs telnet into victoria-metrics, %d points (best of 2 alternating runs "
    "each): telnet %d pts/s, http %d pts/s, ratio %.3f (goal >= 0.5); CPU s / 1M pts: telnet "
    "%.3f, http %.3f" % (n, hb["telnet"]["pts_per_s"], hb["http"]["pts_per_s"], hb["ratio"],
                         hb["telnet"]["cpu_s_per_million"], hb["http"]["cpu_s_per_million"]))

bench_rules()

with open("bench-results.json", "w") as f:
    json.dump(results, f, indent=2)
say("\nresults written to bench-results.json")
h._cleanup()
