"""protocol = http into victoria-metrics' OpenTSDB HTTP listener
(-opentsdbHTTPListenAddr, which answers 204 once the points are in and
gives no details: sync = off is right for it): 1,000,000 points arrive
exactly (no loss, no duplicate), over at most `conns` (2) connections for
the whole run (keep-alive, never one per request), every one proven by an
answer (backend.http.delivered), none retried or refused.
Duration: about 15 s.
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
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.put_port)],
                backend_opts={"protocol": "http", "sync": "off", "conns": "2",
                              "http-batch": "5000", "http-batch-bytes": "60K"}).start()
N = 1000000
metric = "it.httpvm.m%d" % random.randrange(1 << 20)
accepts0 = vm.accepts("opentsdbhttp")
t0 = time.time()
res = h.run_tsload(relay.port, N, proto="telnet", conns=2, series=10000, metric=metric)
tap.eq(res.get("exit"), 0, "1,000,000 points sent")
h.wait_until(lambda: relay.stats().get(("backend.http.delivered", "backend=vm"), 0) >= N, 120,
             interval=0.5, what="every point answered")
took = time.time() - t0
got = vm.wait_count(metric, N, timeout=60, settle=1.0)
tap.eq(got, N, "exactly 1,000,000 points in victoria-metrics")
conns = vm.accepts("opentsdbhttp") - accepts0
tap.ok(1 <= conns <= 2, "at most conns (2) connections over the run (%d)" % conns)
st = relay.stats()
tap.eq(st.get(("backend.http.delivered", "backend=vm")), N, "every point proven by an answer")
tap.eq(st.get(("backend.retried", "backend=vm"), 0), 0, "none sent again")
requests = st.get(("backend.http.requests", "backend=vm"), 0)
tap.ok(requests >= N // 5000, "in %d requests" % requests)
tap.note("points_per_s", int(N / took))
relay.stop()
vm.stop()
tap.done()
