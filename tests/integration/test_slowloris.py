"""Slowloris: 1,000 connections each sending one byte per second (a line
that never ends) are cut by the read deadline (read-timeout), while a good
client's throughput stays within 20% of its unloaded figure.  Connections
that send nothing at all are closed by idle-timeout.

One good run lasts about a second on this shared machine, so a single pair
of runs is mostly noise: the figure compared is the median of three runs
unloaded (two before the slow connections, one after they are cut) against
the median of up to three runs made while all 1,000 are still open (the
median: one run can be an outlier either way)."""

import os
import resource
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(240)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base).start()
# a small budget makes the good client's rate the steady end-to-end rate
# (read, validate, write, the TSD ingests), not how fast kernel buffers fill
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)],
                relay={"read-timeout": "10s", "idle-timeout": "3s", "max-clients": "5000",
                       "memory-limit": "16M"}).start()
T0 = int(time.time()) - 3 * 86400
N = 2000000
READ_TIMEOUT = 10.0


def good_run(tag):
    r = h.run_tsload(relay.port, N, proto="telnet", conns=2, metric="it.slow.%s" % tag,
                     start_ts=T0)
    return r.get("rate", 0), r


base_rates = []
runs = []
for tag in ("a0", "a1"):
    rate, r = good_run(tag)
    runs.append(tag)
    tap.ok(r.get("exit") == 0 and r.get("sent") == N, "unloaded good client ran (%s)" % tag,
           r.get("stderr"))
    base_rates.append(rate)

# 1,000 slow connections: one byte per second of a line that never ends
slow = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    s.setblocking(False)
    slow.append(s)
cut = {}
stop = threading.Event()
t_start = time.time()


def trickle():
    payload = b"put slowloris.metric 1 1 host=a" * 10
    k = 0
    while not stop.is_set():
        for i, s in enumerate(slow):
            if i in cut:
                continue
            try:
                s.send(payload[k:k + 1])
                if s.recv(4096) == b"":
                    cut[i] = time.time() - t_start
            except BlockingIOError:
                pass
            except OSError:
                cut[i] = time.time() - t_start
        k = (k + 1) % len(payload)
        stop.wait(1.0)


th = threading.Thread(target=trickle, daemon=True)
th.start()
time.sleep(1.5)
loaded_rates = []
loaded_end = 0.0
last = 0.0
while len(loaded_rates) < 3 and time.time() - t_start + 1.5 * last < READ_TIMEOUT - 1:
    t_run = time.time()
    rate, r = good_run("b%d" % len(loaded_rates))
    runs.append("b%d" % len(loaded_rates))
    last = time.time() - t_run
    loaded_end = time.time() - t_start
    loaded_rates.append(rate)
deadline = time.time() + 30
while time.time() < deadline and len(cut) < len(slow):
    time.sleep(0.5)
stop.set()
th.join(timeout=5)
tap.eq(len(cut), 1000, "all 1,000 slow connections were cut")
if cut:
    tap.note("cut after (s): min / max", "%.1f / %.1f" % (min(cut.values()), max(cut.values())))
    tap.ok(min(cut.values()) >= READ_TIMEOUT - 1, "none was cut before read-timeout (10 s)")
    tap.ok(max(cut.values()) <= 2 * READ_TIMEOUT + 5, "all were cut within 25 s")
    tap.ok(loaded_end <= min(cut.values()),
           "%d loaded runs ended (%.1f s) before the first slow connection was cut"
           % (len(loaded_rates), loaded_end))
st = relay.stats()
tap.ok(st.get(("clients.timed_out", None), 0) >= 1000,
       "stats: clients.timed_out = %d" % st.get(("clients.timed_out", None), 0))
for s in slow:
    s.close()

# idle connections: nothing sent, closed after idle-timeout (3 s)
idle = [socket.create_connection(("127.0.0.1", relay.port), timeout=10) for _ in range(20)]
t_idle = time.time()
closed_after = []
for s in idle:
    s.settimeout(10)
    try:
        if s.recv(1) == b"":
            closed_after.append(time.time() - t_idle)
    except OSError:
        closed_after.append(time.time() - t_idle)
    s.close()
tap.eq(len(closed_after), 20, "20 idle connections were closed")
if closed_after:
    tap.ok(2.5 <= min(closed_after) and max(closed_after) <= 8,
           "after idle-timeout (3 s): %.1f .. %.1f s" % (min(closed_after), max(closed_after)))

rate, r = good_run("a2")
runs.append("a2")
base_rates.append(rate)
median_base, median_loaded = statistics.median(base_rates), statistics.median(loaded_rates)
tap.note("good client points/s unloaded / under slowloris",
         "%s / %s" % (base_rates, loaded_rates))
tap.ok(median_loaded >= 0.8 * median_base,
       "under slowloris the good client keeps >= 80%% of its unloaded rate (%.2f)"
       % (median_loaded / max(median_base, 1)))
total = len(runs) * N
got = sum(vm.count("it.slow.%s" % t) for t in runs)
tap.eq(got, total, "every good point arrived")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
