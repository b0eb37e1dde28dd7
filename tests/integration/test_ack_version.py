"""A TSD that crashes with bytes unread (issue 11, scenario 2), scripted
with tssink: it reads slower than it is fed (2 MB/s, ~36,000 lines/s,
against 50,000 points/s), answers `version` as OpenTSDB does, and resets
every connection (RST: what its socket buffers held unread is gone) each
time it has parsed another 60,000 lines, three times during 300,000
points sent at 50,000/s.  Every point has a distinct value; the sink
counts the distinct values it parsed.

ack = version: every point is parsed at least once (duplicates, from
lines resent after a reset whose barrier was not answered yet, are
reported); the resets, barriers and resent lines show in the stats.
ack = none: the same run loses points (the bytes the TSD's TCP had
acknowledged but the TSD never read): the loss is reported and must be
> 0, so the test shows the difference.

A backlog of several ack-windows (the TSD was down, no spool) is written
window by window once it is up: every line answered.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(400)
tap = h.Tap()
N = 300000
RATE = 50000
RESET_LINES = 60000
RESETS = 3
T0 = int(time.time()) - 86400


def run(ack):
    base = h.tmpdir()
    sink = h.TsSink(base, "slow", ["--read-rate", "2M", "--rcvbuf", "1M", "--answer-version",
                                   "--reset-lines", str(RESET_LINES), "--max-resets",
                                   str(RESETS), "--distinct", str(N)], name="tsd-" + ack)
    relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % sink.port)], name="relay-" + ack,
                    relay={"memory-limit": "64M", "reconnect-min": "100ms"},
                    backend_opts={"ack": ack, "conns": "2"}).start()
    metric = "it.ackv.m%d" % random.randrange(1 << 30)
    t0 = time.time()
    res = h.run_tsload(relay.port, N, conns=2, rate=RATE, metric=metric, series=1000,
                       start_ts=T0, timeout=120)
    send_s = time.time() - t0
    tap.ok(res.get("exit") == 0 and res.get("sent") == N,
           "%s: %d points sent at %d/s in %.1f s" % (ack, res.get("sent", 0), RATE, send_s),
           res.get("stderr"))
    # everything acknowledged (ack = version: every barrier answered), and
    # the sink has read what it will read
    try:
        h.wait_until(lambda: relay.stats().get(("points.queued", None)) == 0, 120, 0.2,
                     what="tsrelay's queues acknowledged")
        settled = True
    except TimeoutError as e:
        settled = str(e)
    sink.wait_stable("lines", quiet=1.5, timeout=60)
    done_s = time.time() - t0
    ss = sink.stats()
    st = relay.stats()
    tap.ok(settled is True, "%s: tsrelay holds nothing unacknowledged after %.1f s"
           % (ack, done_s), settled)
    tap.eq(ss.get("reset_rounds"), RESETS, "%s: the TSD reset its connections %d times"
           % (ack, RESETS))
    distinct, dups = ss.get("distinct", 0), ss.get("duplicates", 0)
    resent = st.get(("backend.lines_resent", "backend=tsd"), 0)
    failures = st.get(("backend.failures", "backend=tsd"), 0)
    tap.note("%s: parsed distinct / duplicates / lost" % ack,
             "%d / %d / %d of %d" % (distinct, dups, N - distinct, N))
    tap.note("%s: connection failures / lines resent by tsrelay" % ack,
             "%d / %d" % (failures, resent))
    tap.eq(ss.get("untracked"), 0, "%s: every put line the TSD parsed was one of ours" % ack)
    tap.ok(failures >= RESETS, "%s: tsrelay saw the resets (%d connection failures)"
           % (ack, failures))
    if ack == "version":
        tap.eq(distinct, N, "version: every point was parsed at least once")
        tap.ok(resent > 0, "version: unanswered lines were sent again (%d)" % resent)
        barriers = st.get(("backend.barriers", "backend=tsd"), 0)
        answered = st.get(("backend.barriers_answered", "backend=tsd"), 0)
        tap.note("version: barriers written / answered / version answers sent by the TSD",
                 "%d / %d / %d" % (barriers, answered, ss.get("version_replies", 0)))
        tap.ok(answered > 0 and answered <= ss.get("version_replies", 0),
               "version: barriers were answered (%d)" % answered)
        tap.eq(st.get(("backend.ack_timeouts", "backend=tsd"), 0), 0,
               "version: no barrier timed out")
        tap.eq(st.get(("backend.errors", "backend=tsd"), 0), 0,
               "version: the version answers were not taken for errors")
    else:
        tap.ok(N - distinct > 0,
               "none: points were lost with the TSD's unread bytes (%d of %d)"
               % (N - distinct, N))
    tap.ok(relay.stop() == 0, "%s: tsrelay exits 0" % ack)
    sink.stop()
    return distinct, dups


def backlog():
    """A backlog several windows long (the TSD was down, no spool) is
    written window by window: barriers at most half a window apart, each
    answered, never a window with no barrier in it."""
    base = h.tmpdir()
    port = h.free_port()
    relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % port)], name="relay-backlog",
                    relay={"memory-limit": "64M", "reconnect-min": "100ms"},
                    backend_opts={"ack": "version", "conns": "1", "ack-window": "1M"}).start()
    n = 200000
    res = h.run_tsload(relay.port, n, conns=1, metric="it.ackv.backlog", series=1000,
                       start_ts=T0, timeout=60)
    held = relay.stats().get(("backend.queue_bytes", "backend=tsd"), 0)
    tap.ok(res.get("exit") == 0 and held > 4 * 1048576,
           "backlog: %d points (%.1f MiB, %d windows of 1 MiB) wait for a TSD that is down"
           % (res.get("sent", 0), held / 1048576.0, held // 1048576))
    sink = h.TsSink(base, "count", ["--answer-version", "--distinct", str(n)],
                    name="tsd-backlog", port=port)
    try:
        h.wait_until(lambda: relay.stats().get(("points.queued", None)) == 0, 30, 0.2,
                     what="the backlog acknowledged")
        ok = True
    except TimeoutError as e:
        ok = str(e)
    ss = sink.stats()
    st = relay.stats()
    tap.ok(ok is True, "backlog: every line answered once the TSD is up", ok)
    tap.eq(ss.get("distinct"), n, "backlog: every point parsed")
    tap.note("backlog: barriers written / answered", "%d / %d" % (
        st.get(("backend.barriers", "backend=tsd"), 0),
        st.get(("backend.barriers_answered", "backend=tsd"), 0)))
    tap.ok(relay.stop() == 0, "backlog: tsrelay exits 0")
    sink.stop()


run("version")
run("none")
backlog()
tap.done()
