"""spool-max-bytes caps what the spool keeps in Redis: past it, data stays
in memory, and past memory-limit the clients get TCP backpressure.  When
the TSD returns everything arrives, nothing was dropped."""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(180)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base)  # down
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis,
                relay={"memory-limit": "8M"},
                redis_opts={"spool-max-bytes": "2M", "compress-level": "0"}).start()
T0 = int(time.time()) - 86400
metric = "it.spoolcap.m%d" % random.randrange(1 << 30)
N = 400000   # ~24 MB of lines, uncompressed: far past 2M + 8M
s = h.Sender(relay.port, metric, N, 0, 500, T0, conns=2)
s.start()
deadline = time.time() + 30
last, still = -1, 0
while time.time() < deadline and still < 4:
    time.sleep(0.5)
    still = still + 1 if s.sent == last else 0
    last = s.sent
tap.ok(s.is_alive() and s.sent < N, "past the spool cap and the memory budget the sender stalls "
       "(%d of %d points written)" % (s.sent, N))
st = relay.stats()
spool_bytes = st.get(("spool.bytes", None), 0)
tap.ok(0 < spool_bytes <= 2 * 1048576 + 70000,
       "the spool holds at most spool-max-bytes (+ one entry): %d bytes" % spool_bytes)
tap.ok("spool-max-bytes (2097152) reached" in relay.logtext(), "reaching the cap is logged")
tap.eq(st.get(("points.dropped", None)), 0, "nothing dropped")
vm.start()
s.join(timeout=120)
tap.ok(s.error is None and s.sent == N, "the TSD back: the sender finishes", s.error)
tap.eq(vm.wait_count(metric, N, timeout=90), N, "every point arrived exactly once")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
