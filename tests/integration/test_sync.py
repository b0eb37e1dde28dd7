"""POST /api/put?sync to tsrelay: the answer waits for each point's proof,
for each kind of proof; sync_timeout gives the TSD's timeout answer; a
spooled point counts only once its backend proves it.

1. An HTTP backend that stores before answering (victoria-metrics,
   sync = off): ?sync&summary answers {"success":N,"failed":0} only once
   the points are queryable (the count right after the answer is N);
   without sync the answer comes at acceptance, as before.
2. The same backend frozen (SIGSTOP): ?sync&sync_timeout=2000&summary
   answers the TSD's timeout shape (400, success 0, timeouts N) within
   about 2 s; after the thaw the points arrive; without ?summary the
   TSD's timeout message; a waiting request costs its connection only:
   stats answer meanwhile.
3. An HTTP backend with sync = on (a scripted TSD answering as OpenTSDB):
   proven when stored; a point it refuses for good ("Unknown metric") is
   counted failed with the TSD's words under ?details, 200 (a storage
   failure, not a check of tsrelay's: the TSD's rule); frozen: the
   timeout shape.
4. ack = version: proven once the barrier after the points is answered
   (a sink that answers version); a sink that never reads or answers:
   the timeout shape.
5. ack = none: proven once the TSD's TCP acknowledged the points (a sink
   that reads); a sink with a 4K receive buffer that never reads: the
   timeout shape.
6. routing = all: proven only when every backend proved it (one frozen:
   timeout; thawed: proven).
7. The backend down, Redis up: the points go to the spool, Redis stores
   them, and ?sync still answers the timeout shape; once the backend is
   up, they arrive.
Duration: about 30 s.
"""

import json
import random
import socket
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(150)
tap = h.Tap()
base = h.tmpdir()
T0 = int(time.time()) - 3600
tag = random.randrange(1 << 20)


def pts(name, n, start=0):
    return [{"metric": name, "timestamp": T0 + i, "value": i, "tags": {"host": "h%d" % (i % 7)}}
            for i in range(start, start + n)]


def post(relay, query, points, timeout=30):
    t0 = time.time()
    code, body, _ = h.http_req("http://127.0.0.1:%d/api/put%s" % (relay.port, query),
                               json.dumps(points).encode(), "POST", timeout=timeout)
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = body
    return code, doc, time.time() - t0


# ---- 1, 2: victoria-metrics over HTTP (stores before answering) -------------------
vm = h.Victoria(base, http_put=True).start()
r1 = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.put_port,
                     {"protocol": "http", "sync": "off", "http-batch": "500",
                      "http-batch-bytes": "60K"})], name="r1").start()
m1 = "it.sync.vm%d" % tag
code, doc, took = post(r1, "?sync&summary", pts(m1, 2000))
n_after = vm.count(m1)
tap.eq((code, doc), (200, {"success": 2000, "failed": 0}), "?sync&summary: 200, success 2000")
tap.eq(n_after, 2000, "queryable when the answer came (count right after: %d)" % n_after)
code, doc, took = post(r1, "?sync", pts(m1, 10, 5000))
tap.eq(code, 204, "?sync without summary: 204")

vm.freeze()
m2 = "it.sync.frozen%d" % tag
got = {}
waiter = __import__("threading").Thread(target=lambda: got.update(
    r=post(r1, "?sync&sync_timeout=2000&summary", pts(m2, 300))))
waiter.start()
time.sleep(0.5)
t0 = time.time()
st = r1.stats()
stats_took = time.time() - t0
still_waiting = waiter.is_alive()
waiter.join()
code, doc, took = got["r"]
tap.eq((code, doc), (400, {"success": 0, "failed": 0, "timeouts": 300}),
       "frozen TSD: the TSD's timeout answer")
tap.ok(1.9 <= took <= 3.5, "... within about 2 s (%.2f s)" % took)
tap.ok(still_waiting and stats_took < 1 and ("uptime", None) in st,
       "stats answer while it waits (%.3f s)" % stats_took)
code, doc, took = post(r1, "?sync&sync_timeout=500", pts(m2, 5, 1000))
tap.ok(code == 400 and "timedout with 0 successful writes, 0 failed writes and 5 timed out"
       in json.dumps(doc), "without ?summary: the TSD's timeout message", doc)
code, doc, took = post(r1, "", pts(m2, 5, 2000))
tap.ok(code == 204 and took < 1.5, "without ?sync: answered at acceptance (%.2f s)" % took)
vm.thaw()
tap.eq(vm.wait_count(m2, 310, timeout=40, settle=0.5), 310, "after the thaw the points arrive")
r1.stop()

# ---- 3: an HTTP backend with sync = on (answers once stored) ----------------------
tsd = h.FakeHttpTsd(base).start()
tsd.config(unknown_prefix="it.sync.unknown")
r3 = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port,
                     {"protocol": "http", "sync": "on", "sync-timeout": "5s"})],
             name="r3").start()
m3 = "it.sync.tsd%d" % tag
code, doc, took = post(r3, "?sync&summary", pts(m3, 500))
stored = tsd.count(m3)["distinct"]
tap.eq((code, doc, stored), (200, {"success": 500, "failed": 0}, 500),
       "sync = on backend: answered once stored")
mix = pts(m3, 20, 1000) + pts("it.sync.unknown%d" % tag, 2)
code, doc, took = post(r3, "?sync&details", mix)
errs = [e.get("error") for e in (doc or {}).get("errors", [])] if isinstance(doc, dict) else []
tap.eq((code, doc.get("success") if isinstance(doc, dict) else None,
        doc.get("failed") if isinstance(doc, dict) else None, errs),
       (200, 20, 2, ["Unknown metric", "Unknown metric"]),
       "a point refused for good: failed, with the TSD's words, 200")
tap.ok(isinstance(doc, dict) and all(e["datapoint"]["metric"].startswith("it.sync.unknown")
                                     for e in doc.get("errors", [])), "... naming its point")
tsd.config(frozen=True)
code, doc, took = post(r3, "?sync&sync_timeout=1000&summary", pts(m3, 50, 2000))
tap.eq((code, doc), (400, {"success": 0, "failed": 0, "timeouts": 50}),
       "sync = on backend frozen: timeout shape")
tsd.config(frozen=False)
h.wait_until(lambda: tsd.count(m3)["distinct"] == 570, 30, what="thawed points stored")
tap.eq(tsd.count(m3)["distinct"], 570, "and stored after")
r3.stop()

# ---- 4: ack = version ------------------------------------------------------------
vsink = h.TsSink(base, extra=["--answer-version"], name="vsink")
r4 = h.Relay(base, [("v", "127.0.0.1:%d" % vsink.port, {"ack": "version"})], name="r4").start()
code, doc, took = post(r4, "?sync&summary", pts("it.sync.v%d" % tag, 400))
puts = vsink.stats().get("puts", 0)
tap.eq((code, doc), (200, {"success": 400, "failed": 0}), "ack = version: proven")
tap.ok(puts >= 400, "... the sink had read them all (%d)" % puts)
r4.stop()
mute = h.TsSink(base, mode="never-read", name="mute")
r4b = h.Relay(base, [("v", "127.0.0.1:%d" % mute.port, {"ack": "version"})], name="r4b").start()
code, doc, took = post(r4b, "?sync&sync_timeout=1000&summary", pts("it.sync.v%d" % tag, 10))
tap.eq((code, doc), (400, {"success": 0, "failed": 0, "timeouts": 10}),
       "ack = version, barrier never answered: timeout shape")
r4b.kill()

# ---- 5: ack = none (TCP) ------------------------------------------------------------
sink = h.TsSink(base, name="sink")
r5 = h.Relay(base, [("s", "127.0.0.1:%d" % sink.port)], name="r5").start()
code, doc, took = post(r5, "?sync&summary", pts("it.sync.t%d" % tag, 400))
tap.eq((code, doc), (200, {"success": 400, "failed": 0}), "ack = none: proven by TCP")
r5.stop()
stuck = h.TsSink(base, mode="never-read", extra=["--rcvbuf", "4096"], name="stuck")
r5b = h.Relay(base, [("s", "127.0.0.1:%d" % stuck.port)], name="r5b").start()
big = pts("it.sync.stuck%d.%s" % (tag, "x" * 100), 20000)
code, doc, took = post(r5b, "?sync&sync_timeout=1500&summary", big, timeout=60)
tap.eq((code, doc), (400, {"success": 0, "failed": 0, "timeouts": 20000}),
       "ack = none, bytes never acknowledged: timeout shape")
r5b.kill()

# ---- 6: routing = all -----------------------------------------------------------------
vm_a = h.Victoria(base, name="vma", http_put=True).start()
vm_b = h.Victoria(base, name="vmb", http_put=True).start()
opts = {"protocol": "http", "sync": "off"}
r6 = h.Relay(base, [("a", "127.0.0.1:%d" % vm_a.put_port, opts),
                    ("b", "127.0.0.1:%d" % vm_b.put_port, opts)],
             relay={"routing": "all"}, name="r6").start()
m6 = "it.sync.all%d" % tag
code, doc, took = post(r6, "?sync&summary", pts(m6, 300))
tap.eq((code, doc, vm_a.count(m6), vm_b.count(m6)),
       (200, {"success": 300, "failed": 0}, 300, 300), "routing = all: proven on both")
vm_b.freeze()
code, doc, took = post(r6, "?sync&sync_timeout=1000&summary", pts(m6, 30, 1000))
tap.eq((code, doc), (400, {"success": 0, "failed": 0, "timeouts": 30}),
       "routing = all, one backend frozen: timeout shape")
vm_b.thaw()
tap.eq(vm_b.wait_count(m6, 330, timeout=40, settle=0), 330, "... its points arrive after")
r6.stop()
vm_a.stop()
vm_b.stop()

# ---- 7: the spool stores, the backend proves ----------------------------------------
vm.stop()
redis = h.Redis(base).start()
down_port = h.free_port()
r7 = h.Relay(base, [("d", "127.0.0.1:%d" % down_port,
                     {"protocol": "http", "sync": "off"})], redis=redis, name="r7").start()
m7 = "it.sync.spool%d" % tag
code, doc, took = post(r7, "?sync&sync_timeout=1500&summary", pts(m7, 200))
spooled = r7.stats().get(("points.spooled", None), 0)
tap.eq((code, doc), (400, {"success": 0, "failed": 0, "timeouts": 200}),
       "backend down: stored in Redis is not proven (timeout shape)")
tap.ok(spooled >= 200, "... the points went to the spool (%d)" % spooled)
vmd = h.Victoria(base, name="vmd", http_put=True)
vmd.put_port = down_port
vmd.start()
tap.eq(vmd.wait_count(m7, 200, timeout=40, settle=0), 200, "the backend up: they arrive")
code, doc, took = post(r7, "?sync&summary", pts(m7, 20, 500))
tap.eq((code, doc), (200, {"success": 20, "failed": 0}), "and ?sync is proven again")
r7.stop()
vmd.stop()
redis.stop()
tap.done()
