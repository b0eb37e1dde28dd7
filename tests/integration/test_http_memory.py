"""protocol = http within the memory budget, memory-only (no Redis): the
worst case, victoria-metrics frozen (SIGSTOP: every request hangs) while
four clients send 1,500,000 points as fast as they can, with
memory-limit = 24M and http-batch-bytes at a whole block.  The relay's
RSS stays bounded (memory.live never over memory-limit), the clients wait
(TCP backpressure: nothing dropped), stats still answer; thawed, every
point arrives exactly once.
Duration: about 25 s.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(180)
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base, http_put=True).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.put_port,
                        {"protocol": "http", "sync": "off", "conns": "2", "http-pipeline": "2",
                         "http-batch": "5000", "http-batch-bytes": "60K",
                         "write-timeout": "60s"})],
                relay={"memory-limit": "24M"}).start()
N = 1500000
metric = "it.httpmem.m%d" % random.randrange(1 << 20)
vm.freeze()
rss = h.RssSampler(relay, 0.05)
rss.start()
load = h.start_tsload(relay.port, N, proto="telnet", conns=4, metric=metric, series=20000)
time.sleep(6)
st = relay.stats()
live, limit = st.get(("memory.live", None), 0), st.get(("memory.limit", None), 1)
tap.ok(load.poll() is None, "the clients wait (backpressure) while the TSD is frozen")
tap.ok(0 < live <= limit, "memory.live %d <= memory-limit %d" % (live, limit))
tap.eq(st.get(("points.dropped", None), 0), 0, "nothing dropped")
vm.thaw()
res = h.finish_tsload(load, timeout=120)
tap.eq(res.get("exit"), 0, "every point sent")
peak = rss.stop()
tap.ok(peak < h.rss_bound(60), "RSS bounded: peak %.1f MiB%s" % (peak / 1048576.0, h.ASAN_NOTE))
tap.eq(vm.wait_count(metric, N, timeout=90, settle=1.0), N, "after the thaw every point, once")
relay.stop()
vm.stop()
tap.done()
