"""Double fault: Redis and the TSD both down, overflow = block.  The
relay's memory fills to its budget, then it stops reading: the clients'
writes stall (their send buffers fill), RSS stays under the bound, nothing
is dropped.  When both come back, every point arrives."""

import random
import socket
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(300)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base)        # not started
vm = h.Victoria(base)        # not started
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis,
                relay={"memory-limit": "16M", "overflow": "block"}).start()
N = 1000000                  # ~60 MB of lines: far more than the budget
NSERIES = 1000
T0 = int(time.time()) - 3 * 86400
metric = "it.double.m%d" % random.randrange(1 << 30)
rss = h.RssSampler(relay, 0.1)
rss.start()

sender = h.Sender(relay.port, metric, N, 0, NSERIES, T0, conns=2)
sender.start()
# wait for the sender to stall
deadline = time.time() + 30
last, stalled_for = -1, 0.0
while time.time() < deadline:
    time.sleep(0.5)
    if sender.sent == last:
        stalled_for += 0.5
        if stalled_for >= 3:
            break
    else:
        stalled_for = 0
    last = sender.sent
tap.ok(sender.is_alive() and sender.sent < N and stalled_for >= 3,
       "the sender stalls: %d of %d points written, no progress for %.1f s"
       % (sender.sent, N, stalled_for))
st = relay.stats()
tap.ok(st.get(("admission.room_waits", None), 0) > 0,
       "tsrelay stopped reading for room in the queues (admission.room_waits = %d)"
       % st.get(("admission.room_waits", None), 0))
tap.eq(st.get(("points.dropped", None), 0), 0, "nothing was dropped")
live = st.get(("memory.live", None), 0)
tap.ok(live <= 16 * 1048576, "live pool bytes within memory-limit (%d)" % live)
peak_stall = rss.peak
tap.note("peak RSS while stalled (MiB)", round(peak_stall / 1048576.0, 1))
tap.ok(peak_stall < h.rss_bound(32), "RSS under 32 MiB with a 16 MiB budget")
# prove the kernel send buffer of the client filled: a non-blocking probe
probe = socket.create_connection(("127.0.0.1", relay.port))
probe.setblocking(False)
sent_probe = 0
try:
    for _ in range(10000):
        sent_probe += probe.send(b"put " + metric.encode() + b".probe 1 1 a=b\n" * 100)
except BlockingIOError:
    pass
tap.ok(sent_probe < 64 * 1048576, "a new client's send buffer fills too (%d bytes taken)"
       % sent_probe)
probe.close()

redis.start()
vm.start()
sender.join(timeout=180)
tap.ok(sender.error is None and sender.sent == N, "the sender finished once both were back",
       sender.error)
tap.eq(vm.wait_count(metric, N, timeout=120), N, "every point arrived")
peak = rss.stop()
tap.note("peak RSS overall (MiB)", round(peak / 1048576.0, 1))
tap.ok(peak < h.rss_bound(32), "RSS stayed under 32 MiB throughout")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
