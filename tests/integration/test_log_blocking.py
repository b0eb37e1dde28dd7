"""A log sink that blocks (a full pipe nobody reads) does not slow the
relay: it never blocks on its log; lines that do not fit its buffer are
dropped and counted.  Throughput with a blocked sink stays within 10% of
the same run with a sink that keeps up.  Throughput is measured as points
per CPU-second of the relay (what one core moves), which stays meaningful
on a shared, noisy machine; wall-clock rates are reported too.
tests/tools/tssink is the backend here: a fast counting sink, so the relay
itself is what is measured.
Also: SIGHUP reopens the log file."""

import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base).start()
sink_port = h.free_port()
sink_stats = os.path.join(base, "sink.json")
sink = h.spawn([h.TSSINK, "--port", str(sink_port), "--stats-file", sink_stats])
h.wait_until(lambda: os.path.exists(sink_stats), 10, what="tssink up")
T0 = int(time.time()) - 3 * 86400
N = 3000000


def start_relay(name, stderr_fd):
    r = h.Relay(base, [("sink", "127.0.0.1:%d" % sink_port)],
                relay={"log-level": "debug", "log-buffer-bytes": "64K"}, name=name)
    r.proc = subprocess.Popen([h.TSRELAY, "-c", r.conf], stdout=stderr_fd, stderr=stderr_fd)
    h._procs.append(r.proc)
    h.wait_until(lambda: r._can_connect(r.port), 15, what="tsrelay up")
    return r


def churn(port, stop):
    """Short connections: each one is a debug log line in the relay."""
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"put x 1 1\n")   # invalid: an error reply, no data
            s.close()
        except OSError:
            pass
        time.sleep(0.002)


def measure(relay, tag):
    stop = threading.Event()
    th = threading.Thread(target=churn, args=(relay.port, stop), daemon=True)
    th.start()
    time.sleep(2.0)   # enough log lines to fill a pipe and the log buffer
    cpu0 = relay.cpu_seconds()
    r = h.run_tsload(relay.port, N, proto="telnet", conns=2, metric="it.log.%s" % tag,
                     start_ts=T0)
    time.sleep(0.3)   # the relay finishes writing to the sink
    cpu = relay.cpu_seconds() - cpu0
    stop.set()
    th.join(timeout=5)
    walls.setdefault(tag[0], []).append(int(r.get("rate", 0)))
    return cpu


walls = {}


# fast sink: /dev/null
devnull = open(os.devnull, "wb")
fast = start_relay("fast", devnull)
# blocked sink: a pipe whose reading end is never read
rfd, wfd = os.pipe()
blocked = start_relay("blocked", wfd)
rates_fast, rates_blocked = [], []
for k in range(3):   # alternate which goes first
    order = [(fast, rates_fast, "f"), (blocked, rates_blocked, "b")]
    for relay, rates, tag in (order if k % 2 == 0 else order[::-1]):
        rates.append(measure(relay, "%s%d" % (tag, k)))
st = blocked.stats()
tap.ok(st.get(("log.dropped", None), 0) > 0,
       "the blocked sink: log lines were dropped and counted (%d)" % st.get(("log.dropped", None), 0))
tap.ok(blocked.alive(), "the blocked sink: tsrelay is alive")
# points per CPU-second over all three runs of each
best_fast = 3 * N / max(sum(rates_fast), 0.01)
best_blocked = 3 * N / max(sum(rates_blocked), 0.01)
tap.note("points per relay CPU-second, sink keeps up / blocked (3 runs each)",
         "%d / %d" % (best_fast, best_blocked))
tap.note("CPU seconds per run", "%s / %s" % (rates_fast, rates_blocked))
tap.note("wall-clock points/s", "%s / %s" % (walls.get("f"), walls.get("b")))
tap.ok(best_blocked >= 0.9 * best_fast,
       "throughput with a blocked log sink is within 10%% (%.2f)" % (best_blocked / max(best_fast, 1)))
fast.stop()
blocked.proc.send_signal(15)
try:
    blocked.proc.wait(timeout=30)
    code = blocked.proc.returncode
except subprocess.TimeoutExpired:
    code = None
tap.eq(code, 0, "tsrelay with a blocked log sink still shuts down cleanly")
os.close(rfd)
os.close(wfd)
lines = 0
deadline = time.time() + 30
while time.time() < deadline and lines < 6 * N:
    try:
        lines = __import__("json").load(open(sink_stats)).get("lines", 0)
    except ValueError:
        pass
    time.sleep(0.2)
tap.eq(lines, 6 * N, "every point of the six runs reached the sink")

# SIGHUP reopens the log file (logrotate)
logf = os.path.join(base, "rotate.log")
rr = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], relay={"log-file": logf}, name="rot")
rr.start()
time.sleep(0.3)
os.rename(logf, logf + ".1")
rr.proc.send_signal(1)
h.wait_until(lambda: os.path.exists(logf), 5, what="a new log file after SIGHUP")
with open(logf) as f:
    tap.ok("SIGHUP: log file reopened" in f.read(), "SIGHUP: the log file is reopened")
tap.ok(rr.stop() == 0, "tsrelay exits 0")
tap.done()
