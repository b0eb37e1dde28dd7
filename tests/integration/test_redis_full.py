"""Redis full: the spool's Redis has `maxmemory 3mb` with `maxmemory-policy
noeviction` and the TSD (victoria-metrics) is down while 2,000,000 points
are sent (tsload, 2 connections); memory-limit = 16M.

overflow = block: Redis fills up and refuses RPUSH (OOM): tsrelay_spool_full
reads 1 on /metrics while it refuses; new data stays in memory until the
budget is full, then the sender is blocked (tsrelay receives nothing for
seconds and tsload cannot finish while the TSD is down); RSS stays within
2x the limit; once the TSD is up every one of the 2,000,000 points arrives
(the count and the sum of the values are exact: a loss cannot hide behind
a duplicate), what Redis held is drained although it refuses writes, and
spool_full goes back to 0.

overflow = drop: the same, the sender is never blocked, and
dropped + arrived = sent, exactly.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(900)
tap = h.Tap()
N = 2000000
NSERIES = 1000
T0 = int(time.time()) - 5 * 86400
RECEIVED = 'tsrelay_points_received_total{proto="telnet"}'


def full_redis(base):
    return h.Redis(base, extra=["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]).start()


def received(relay):
    return relay.metrics().get(RECEIVED, 0)


def stalled_for(relay, sender, seconds, timeout):
    """Waits until tsrelay has received nothing for `seconds` while the
    sender still runs; returns (received then, longest flat stretch)."""
    deadline = time.time() + timeout
    last, since, longest = -1, time.time(), 0.0
    while time.time() < deadline and sender.poll() is None:
        n = received(relay)
        now = time.time()
        if n != last:
            last, since = n, now
        longest = max(longest, now - since)
        if longest >= seconds:
            return last, longest
        time.sleep(0.25)
    return last, longest


def run(policy):
    base = h.tmpdir()
    redis = full_redis(base)
    vm = h.Victoria(base)  # down for now
    relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis,
                    relay={"memory-limit": "16M", "overflow": policy}).start()
    metric = "it.rfull.%s.m%d" % (policy, random.randrange(1 << 30))
    rss = h.RssSampler(relay, 0.1)
    rss.start()
    t_start = time.time()
    sender = h.start_tsload(relay.port, N, conns=2, metric=metric, series=NSERIES, start_ts=T0)
    out = {}

    # Redis refuses: spool_full = 1
    try:
        h.wait_until(lambda: relay.metrics().get("tsrelay_spool_full") == 1, 120, 0.1,
                     what="tsrelay_spool_full 1")
        full_seen = True
    except TimeoutError:
        full_seen = False
    out["t_full"] = time.time() - t_start
    m = relay.metrics()
    tap.ok(full_seen and m.get("tsrelay_spool_refused_total", 0) > 0,
           "%s: Redis refused spool writes: tsrelay_spool_full 1 after %.1f s (%d refused)"
           % (policy, out["t_full"], m.get("tsrelay_spool_refused_total", 0)))
    tap.note("%s: Redis used_memory when full" % policy,
             redis.cmd("INFO", "memory").split("used_memory:")[1].split()[0]
             if "used_memory:" in redis.cmd("INFO", "memory") else "?")
    tap.note("%s: spool entries in Redis when full" % policy,
             redis.cmd("LLEN", relay.spool_key("vm")))

    if policy == "block":
        got_then, flat = stalled_for(relay, sender, 3.0, 120)
        out["received_at_stall"] = got_then
        tap.ok(flat >= 3.0 and sender.poll() is None and got_then < N,
               "block: the sender is held back: tsrelay received nothing for %.1f s at %d "
               "of %d points, tsload still running" % (flat, got_then, N))
        time.sleep(2)
        tap.ok(sender.poll() is None and received(relay) == got_then,
               "block: 2 s later still nothing received, tsload still blocked")
        tap.eq(relay.metrics().get("tsrelay_spool_full"), 1,
               "block: tsrelay_spool_full still reads 1 while Redis refuses")
    else:
        res = h.finish_tsload(sender, timeout=300)
        out["send_s"] = time.time() - t_start
        tap.ok(res.get("exit") == 0 and res.get("sent") == N,
               "drop: the sender was never blocked: %d points sent in %.1f s (max write block "
               "%.0f ms)" % (res.get("sent", 0), out["send_s"], res.get("max_blocked_ms", 0)),
               res.get("stderr"))
        tap.eq(relay.metrics().get("tsrelay_spool_full"), 1,
               "drop: tsrelay_spool_full still reads 1 while Redis refuses")
    peak_down = rss.peak
    tap.note("%s: peak RSS while the TSD was down (MiB)" % policy,
             round(peak_down / 1048576.0, 1))

    # the TSD comes back
    vm.start()
    t_up = time.time()
    if policy == "block":
        res = h.finish_tsload(sender, timeout=600)
        out["send_done_after_up"] = time.time() - t_up
        tap.ok(res.get("exit") == 0 and res.get("sent") == N,
               "block: tsload finished once the TSD was up (%.1f s after; %d sent)"
               % (out["send_done_after_up"], res.get("sent", 0)), res.get("stderr"))
        want = N
    else:
        h.wait_until(lambda: relay.metrics().get("tsrelay_points_queued") == 0 and
                     relay.metrics().get("tsrelay_points_spool_pending") == 0 and
                     relay.metrics().get('tsrelay_backend_staged_bytes{backend="vm"}') == 0,
                     300, 0.2, what="tsrelay holds nothing")
        want = N - int(relay.metrics().get("tsrelay_points_dropped_total", 0))
    vm.wait_count(metric, want, timeout=300, settle=0)
    out["all_arrived_after_up"] = time.time() - t_up
    got = vm.wait_count(metric, want, timeout=1, settle=2.0)
    vsum = vm.value_sum(metric)
    m = relay.metrics()
    dropped = int(m.get("tsrelay_points_dropped_total", 0))
    bdropped = int(m.get('tsrelay_backend_dropped_total{backend="vm"}', 0))
    out.update(arrived=got, dropped=dropped)
    if policy == "block":
        tap.eq(got, N, "block: every point arrived, exactly once (count)")
        tap.eq(vsum, float(N) * (N - 1) / 2, "block: the sum of the values is exact")
        tap.eq(dropped, 0, "block: nothing dropped")
    else:
        tap.note("drop: sent / arrived / dropped", "%d / %d / %d" % (N, got, dropped))
        tap.ok(dropped > 0, "drop: points beyond memory were dropped (%d)" % dropped)
        tap.eq(dropped + got, N, "drop: dropped + arrived == sent")
        tap.eq(bdropped, dropped, "drop: backend.dropped{vm} == points.dropped")
    tap.eq(int(redis.cmd("LLEN", relay.spool_key("vm")) or 0), 0,
           "%s: the Redis list is empty" % policy)
    tap.ok(m.get("tsrelay_spool_full_episodes_total", 0) >= 1,
           "%s: %d full episode(s) counted" % (policy, m.get("tsrelay_spool_full_episodes_total", 0)))
    try:
        h.wait_until(lambda: relay.metrics().get("tsrelay_spool_full") == 0, 10, 0.2,
                     what="spool_full 0")
        cleared = True
    except TimeoutError:
        cleared = False
    tap.ok(cleared, "%s: tsrelay_spool_full back to 0 once Redis takes writes" % policy)
    if policy == "block":
        # the spool is usable again: the TSD goes down once more and new
        # data goes to Redis, then arrives
        vm.stop()
        spooled0 = relay.metrics().get("tsrelay_points_spooled_total", 0)
        more = h.run_tsload(relay.port, 20000, conns=1, metric=metric + ".again",
                            series=NSERIES, start_ts=T0)
        try:
            h.wait_until(lambda: int(redis.cmd("LLEN", relay.spool_key("vm")) or 0) > 0, 10,
                         0.1, what="entries in Redis")
            respooled = True
        except TimeoutError:
            respooled = False
        tap.ok(more.get("exit") == 0 and respooled and
               relay.metrics().get("tsrelay_points_spooled_total", 0) >= spooled0 + 20000,
               "block: after the episode the TSD went down again and new data went to Redis")
        vm.start()
        tap.eq(vm.wait_count(metric + ".again", 20000, timeout=60, settle=1.0), 20000,
               "block: ... and arrived once the TSD was back")
    peak = rss.stop()
    out["peak_rss_mib"] = round(peak / 1048576.0, 1)
    tap.ok(peak <= h.rss_bound(32), "%s: RSS stayed within 2x memory-limit%s (peak %.1f MiB)"
           % (policy, h.ASAN_NOTE, peak / 1048576.0))
    tap.ok(relay.stop() == 0, "%s: tsrelay exits 0" % policy)
    vm.stop()
    redis.stop()
    for k, v in sorted(out.items()):
        tap.note("%s: %s" % (policy, k), round(v, 2) if isinstance(v, float) else v)


run("block")
run("drop")
tap.done()
