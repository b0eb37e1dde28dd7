"""A TSD that misbehaves, scripted with tests/tools/tssink (faults a real
TSD cannot be made to show): it never reads, floods garbage back, resets
connections mid-write, reads slowly, or refuses connections for a while.
tsrelay stays bounded, recovers, and reconnects with backoff, never in a
storm."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(300)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
T0 = int(time.time()) - 86400


class Sink:
    def __init__(self, port, mode="count", extra=None, name="sink"):
        self.port = port
        self.stats_file = os.path.join(base, "%s-%d.json" % (name, port))
        self.accept_log = os.path.join(base, "%s-%d.accepts" % (name, port))
        args = [h.TSSINK, "--port", str(port), "--mode", mode, "--stats-file", self.stats_file,
                "--accept-log", self.accept_log] + (extra or [])
        self.proc = h.spawn(args, os.path.join(base, "%s-%d.log" % (name, port)))
        h.wait_until(lambda: os.path.exists(self.stats_file), 10, what="tssink up")

    def stats(self):
        try:
            with open(self.stats_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


def relay_for(port, name, **kw):
    opts = {"memory-limit": "16M", "reconnect-min": "100ms", "reconnect-max": "2s"}
    opts.update(kw.pop("relay", {}))
    return h.Relay(base, [("tsd", "127.0.0.1:%d" % port)], redis=redis, relay=opts,
                   name=name, **kw).start()


def wait_lines(sink, n, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sink.stats().get("lines", 0) >= n:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    return sink.stats().get("lines", 0)


# --- 1. never reads ----------------------------------------------------------
port = h.free_port()
sink = Sink(port, "never-read", ["--rcvbuf", "64K"], name="never")
relay = relay_for(port, "r-never", backend_opts={"write-timeout": "2s", "conns": "1"},
                  redis_opts={"spool-high": "4M", "spool-low": "1M"})
rss = h.RssSampler(relay)
rss.start()
N = 400000
s = h.Sender(relay.port, "it.fault.never", N, 0, 100, T0)
s.run()
time.sleep(3)
st = relay.stats()
tap.ok(s.error is None and s.sent == N, "never-read TSD: the clients are not blocked (spool)",
       s.error)
tap.ok(st.get(("backend.lag_events", "backend=tsd"), 0) >= 1,
       "never-read TSD: the connection is found lagging after write-timeout")
tap.ok(st.get(("points.spooled", None), 0) > 0, "never-read TSD: new data goes to the spool")
peak = rss.stop()
tap.ok(peak < h.rss_bound(32), "never-read TSD: RSS bounded (peak %.1f MiB)" % (peak / 1048576.0))
tap.ok(relay.alive(), "never-read TSD: tsrelay alive")
# the TSD is replaced by a working one on the same port: it all drains
sink.proc.kill()
sink.proc.wait()
sink2 = Sink(port, "count", name="never2")
got = wait_lines(sink2, N * 0.9, 60)
tap.ok(got >= N * 0.9, "never-read TSD replaced: the relay reconnects and drains (%d of %d; "
       "the dead TSD's unread socket buffer is lost)" % (got, N))
relay.stop()
sink2.stop()

# --- 2. floods garbage back -------------------------------------------------
port = h.free_port()
sink = Sink(port, "garbage", ["--garbage-bytes", "16M"], name="garbage")
relay = relay_for(port, "r-garbage")
rss = h.RssSampler(relay)
rss.start()
N = 300000
s = h.Sender(relay.port, "it.fault.garbage", N, 0, 100, T0, conns=2)
s.run()
got = wait_lines(sink, N)
tap.eq(got, N, "garbage-replying TSD: every line delivered exactly")
st = relay.stats()
tap.ok(st.get(("backend.errors", "backend=tsd"), 0) > 0,
       "garbage-replying TSD: its replies are read and counted as errors (%d)"
       % st.get(("backend.errors", "backend=tsd"), 0))
peak = rss.stop()
tap.ok(peak < h.rss_bound(32), "garbage-replying TSD: RSS bounded (peak %.1f MiB)" % (peak / 1048576.0))
relay.stop()
sink.stop()

# --- 3. resets connections mid-write ------------------------------------------
port = h.free_port()
sink = Sink(port, "reset-after", ["--reset-bytes", "2M"], name="reset")
relay = relay_for(port, "r-reset", backend_opts={"conns": "2"})
N = 300000
s = h.Sender(relay.port, "it.fault.reset", N, 100000, 100, T0, conns=2)
s.run()
time.sleep(3)
st = relay.stats()
accepts = sink.stats().get("accepts", 0)
tap.ok(st.get(("backend.failures", "backend=tsd"), 0) >= 3,
       "resetting TSD: connection failures are noticed (%d)" % st.get(("backend.failures",
                                                                      "backend=tsd"), 0))
tap.ok(accepts < 200, "resetting TSD: no reconnect storm (%d connections for ~20 MB)" % accepts)
tap.ok(sink.stats().get("lines", 0) > N * 0.5, "resetting TSD: data keeps flowing (%d lines)"
       % sink.stats().get("lines", 0))
tap.ok(relay.alive() and relay.rss() < h.rss_bound(32), "resetting TSD: tsrelay alive and bounded")
relay.stop()
sink.stop()

# --- 4. reads slowly -----------------------------------------------------------
port = h.free_port()
sink = Sink(port, "slow", ["--read-rate", "2M"], name="slow")
relay = relay_for(port, "r-slow", backend_opts={"write-timeout": "1s"},
                  redis_opts={"spool-high": "2M", "spool-low": "512K"})
rss = h.RssSampler(relay)
rss.start()
N = 200000   # ~12 MB at 2 MB/s
s = h.Sender(relay.port, "it.fault.slow", N, 0, 100, T0)
s.run()
tap.ok(s.error is None and s.sent == N, "slow TSD: clients are not held back (spool)", s.error)
got = wait_lines(sink, N, 90)
tap.eq(got, N, "slow TSD: every line delivered, exactly once")
st = relay.stats()
tap.ok(st.get(("points.spooled", None), 0) > 0, "slow TSD: the overflow went through the spool")
peak = rss.stop()
tap.ok(peak < h.rss_bound(32), "slow TSD: RSS bounded (peak %.1f MiB)" % (peak / 1048576.0))
relay.stop()
sink.stop()

# --- 5. refuses connections for a while: backoff -----------------------------
port = h.free_port()   # nothing listens yet
relay = relay_for(port, "r-refuse")
N = 50000
s = h.Sender(relay.port, "it.fault.refuse", N, 0, 100, T0)
s.run()
samples = []
for _ in range(20):
    samples.append(relay.stats().get(("backend.connect_attempts", "backend=tsd"), 0))
    time.sleep(1.0)
per_second = [b - a for a, b in zip(samples, samples[1:])]
tap.note("refusing TSD: connect attempts per second", per_second)
tap.ok(samples[-1] <= 60, "refusing TSD: %d attempts in 20 s (backoff, no storm)" % samples[-1])
# with data waiting, connection 0 probes about once a second (0.5-1.5 s
# apart: delivery resumes soon after the TSD does); connection 1 backs off
# to reconnect-max (1-3 s apart): on average 1.5 attempts/s, at most 30 in
# 10 s even at the short ends of the jitter
tap.ok(sum(per_second[-10:]) <= 30,
       "refusing TSD: after the backoff grew, about 1.5 attempts/s for two connections "
       "(%d in 10 s)" % sum(per_second[-10:]))
tap.ok(samples[-1] - samples[10] >= 3, "refusing TSD: it keeps trying")
sink = Sink(port, "count", name="late")
got = wait_lines(sink, N, 30)
tap.eq(got, N, "the TSD starts listening: every line delivered")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
