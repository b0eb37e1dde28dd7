"""protocol = http against a scripted TSD (fakehttptsd.py) that answers
/api/put?details as OpenTSDB does, with Redis: each point's fate comes
from the answer.

1. 50 points of "Unknown metric" among 5,000: exactly those 50 are in
   <prefix>:<instance>:rejected:<backend>, each with its line, reason,
   time and backend, readable; its byte count is theirs; everything else
   is delivered; backend.rejected{reason=unknown_metric} = 50; the status
   page and GET /tsrelay/rejected show them; once the TSD knows the
   metric, POST /tsrelay/rejected/replay sends them again: all 50 arrive,
   the list is empty.
2. The list is bounded: rejected-max-bytes = 4K, 100 refusals: Redis
   holds at most 4K of entries, the oldest dropped and counted.
3. A connection reset before the answer (five times): every point
   arrives; the duplicates the TSD stored are exactly the points of the
   lost answers, counted by the relay (backend.http.maybe_duplicated) and
   at most five requests of http-batch points.
4. sync with storage failures answered 200 and failed > 0 (10% of the
   points): they are sent again until stored, all arrive, and the relay
   counts delivered exactly what the TSD stored (never a failed one).
5. frame-acks = on: a framed client's frames are acknowledged once
   stored; its two lines the TSD refuses for good do not hold the ack
   back and come back to it in error: frames, before the ack of their
   frame, and to no other client.
6. Histograms go to /api/histogram as HistogramPojo reads them (a simple
   one as buckets, underflow and overflow; a coded one as id and value);
   a TSD that answers 404 there (before 2.4) gets them refused for good
   (backend.rejected{reason=unsupported}), not sent again for ever, and
   the points after them go on.
7. SIGHUP: a new http-address takes effect (the next points go to the
   other TSD), sync = off leaves &sync out of its requests; a change of
   protocol is kept for a restart, with a warning.
Duration: about 25 s.
"""

import json
import random
import socket
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(120)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
tsd = h.FakeHttpTsd(base).start()
tsd.config(unknown_prefix="nometric")
BOPTS = {"protocol": "http", "http-address": "127.0.0.1:%d" % tsd.port, "conns": "2",
         "http-batch": "50", "sync": "on", "sync-timeout": "5s"}
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port)], redis=redis,
                backend_opts=BOPTS).start()
url = "http://127.0.0.1:%d" % relay.port
T0 = int(time.time()) - 3600
tag = random.randrange(1 << 20)


def send(lines):
    s = socket.create_connection(("127.0.0.1", relay.port))
    s.sendall("".join(lines).encode())
    s.close()


def stat(name, tagv="backend=tsd"):
    return relay.stats().get((name, tagv), 0)


# ---- 1. Unknown metric: kept, shown, replayed --------------------------------------
good = ["put ok.m%d %d %d host=h%d\n" % (tag, T0 + i // 100, i, i % 100) for i in range(5000)]
bad = ["put nometric.x%d %d %d host=b%d\n" % (tag, T0 + i, i, i) for i in range(50)]
lines = list(good)
for k, b in enumerate(bad):
    lines.insert(37 + k * 97, b)
send(lines)
h.wait_until(lambda: tsd.count("ok.m%d" % tag)["distinct"] == 5000 and
             stat("backend.rejected", "backend=tsd reason=unknown_metric") == 50, 30,
             what="good points stored, unknown ones refused")
tap.eq(tsd.count("ok.m%d" % tag)["distinct"], 5000, "every good point delivered")
tap.eq(stat("backend.rejected", "backend=tsd reason=unknown_metric"), 50,
       "backend.rejected{reason=unknown_metric} = 50")
key = "it%d:main:rejected:tsd" % __import__("os").getpid()
h.wait_until(lambda: redis.cmd("LLEN", key) == "50", 10, what="50 entries in Redis")
raw = __import__("subprocess").run(
    ["redis-cli", "-p", str(redis.port), "--raw", "LRANGE", key, "0", "-1"],
    capture_output=True).stdout.decode()
entries, cur = [], []
for ln in raw.splitlines():
    if ln.startswith("put ") and cur:
        entries.append(cur)
        cur = []
    cur.append(ln)
if cur:
    entries.append(cur)
tap.eq(len(entries), 50, "exactly 50 entries in %s" % key)
tap.eq(sorted(e[0] + "\n" for e in entries), sorted(bad), "the entries' lines are the 50 refused")
tap.ok(all(e[1] == "reason: unknown_metric: Unknown metric" and e[2].startswith("time: 20") and
           e[2].endswith("Z") and e[3] == "backend: tsd" for e in entries),
       "each entry: reason, UTC time, backend", entries[0] if entries else None)
size = sum(len(redis.cmd("LINDEX", key, str(i)).encode()) for i in range(50))
byte_count = int(redis.cmd("GET", key + ":bytes") or 0)
tap.eq(byte_count, size, "its byte count is the entries'")
page = h.http_get(url + "/")[1].decode()
tap.ok("Refused for good" in page and "nometric.x%d" % tag in page,
       "the status page shows the last refusals")
listing = json.loads(h.http_get(url + "/tsrelay/rejected")[1])
tap.ok(listing.get("total") == 50 and len(listing.get("last", [])) == 16 and
       listing["kept"].get("tsd") == key, "GET /tsrelay/rejected", listing.get("kept"))
tsd.config(unknown_prefix=None)
code, body, _ = h.http_req(url + "/tsrelay/rejected/replay?backend=tsd", b"", "POST")
tap.eq(code, 202, "POST /tsrelay/rejected/replay: 202")
h.wait_until(lambda: tsd.count("nometric.x%d" % tag)["distinct"] == 50, 20,
             what="replayed points stored")
tap.eq(tsd.count("nometric.x%d" % tag)["distinct"], 50, "the 50 arrive once the TSD knows them")
h.wait_until(lambda: redis.cmd("LLEN", key) == "0", 10, what="list emptied")
tap.eq(redis.cmd("LLEN", key), "0", "the list is empty after the replay")
tap.eq(stat("rejected.replayed", None), 50, "rejected.replayed = 50")
code, _, _ = h.http_req(url + "/tsrelay/rejected/replay?backend=nope", b"", "POST")
tap.eq(code, 404, "replay of an unknown backend: 404")

# ---- 2. the list's bound ------------------------------------------------------------
tsd.config(unknown_prefix="bounded")
relay2 = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port, {"conns": "1"})], redis=redis,
                 name="relay2", instance="second", backend_opts=BOPTS,
                 redis_opts={"rejected-max-bytes": "4K"}).start()
s = socket.create_connection(("127.0.0.1", relay2.port))
s.sendall("".join("put bounded.m%d %d 1 host=h\n" % (tag, T0 + i) for i in range(100)).encode())
s.close()
key2 = "it%d:second:rejected:tsd" % __import__("os").getpid()
h.wait_until(lambda: relay2.stats().get(("rejected.kept", None), 0) == 100, 20,
             what="100 refusals kept")
kept_bytes = int(redis.cmd("GET", key2 + ":bytes") or 0)
entries2 = int(redis.cmd("LLEN", key2))
dropped = relay2.stats().get(("rejected.dropped", None), 0)
tap.ok(0 < kept_bytes <= 4096, "Redis holds at most rejected-max-bytes", kept_bytes)
tap.eq(entries2 + dropped, 100, "the oldest dropped and counted (%d kept, %d dropped)"
       % (entries2, dropped))
tap.ok(redis.cmd("LINDEX", key2, "-1").startswith("put bounded.m%d %d " % (tag, T0 + 99)) and
       redis.cmd("LINDEX", key2, "0").startswith("put bounded.m%d %d " % (tag, T0 + dropped)),
       "the newest are kept, the oldest went")
relay2.stop()
tsd.config(unknown_prefix=None)

# ---- 3. connection reset before the answer ----------------------------------------
before = tsd.stats()
tsd.config(reset_requests=5)
send(["put reset.m%d %d %d host=h%d\n" % (tag, T0 + i // 50, i, i % 50) for i in range(5000)])
h.wait_until(lambda: tsd.count("reset.m%d" % tag)["distinct"] == 5000, 30,
             what="reset points stored")
time.sleep(0.5)
after = tsd.stats()
got = tsd.count("reset.m%d" % tag)
tap.eq(got["distinct"], 5000, "a reset before the answer: every point arrives")
dups = got["stored"] - got["distinct"]
lost_pts = after["lost_answers_points"] - before["lost_answers_points"]
tap.eq(after["resets"] - before["resets"], 5, "five answers lost")
tap.eq(dups, lost_pts, "the duplicates are the points of the lost answers (%d)" % dups)
maybe = stat("backend.http.maybe_duplicated")
tap.ok(dups <= maybe <= 5 * 50, "counted (maybe_duplicated %d) and bounded by 5 requests of "
       "http-batch points" % maybe)

# ---- 4. sync, storage failures answered 200 with failed > 0 ----------------------
d0 = stat("backend.http.delivered")
s0 = tsd.stats()["stored"]
tsd.config(fail_sync_200=0.1)
send(["put sync.m%d %d %d host=h%d\n" % (tag, T0 + i // 50, i, i % 50) for i in range(3000)])
h.wait_until(lambda: tsd.count("sync.m%d" % tag)["distinct"] == 3000, 30,
             what="sync points stored")
tsd.config(fail_sync_200=0.0)
h.wait_until(lambda: relay.stats().get(("points.queued", None), 1) == 0, 10, what="drained")
got = tsd.count("sync.m%d" % tag)
tap.eq((got["distinct"], got["stored"]), (3000, 3000), "every point stored, once")
failed = stat("backend.failed", "backend=tsd reason=storage")
tap.ok(failed > 200, "storage failures answered 200 were retried (%d)" % failed)
tap.eq(stat("backend.http.delivered") - d0, tsd.stats()["stored"] - s0,
       "delivered counts exactly what the TSD stored (never a failed point)")

# ---- 5. frame-acks: refused lines in error frames, the ack not held back ----------
tsd.config(unknown_prefix="nometric")
relay5 = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port)], name="relay5", instance="fifth",
                 backend_opts=BOPTS, relay={"frame-acks": "on"}).start()


def framed_run(frames):
    """Sends the frames, reads replies until "ack <len(frames)>"; the reply
    payloads in order."""
    s = socket.create_connection(("127.0.0.1", relay5.port))
    s.sendall(b"".join(h.frame(f) for f in frames))
    s.settimeout(0.5)
    buf, replies, deadline = b"", [], time.time() + 20
    while time.time() < deadline and ("ack %d" % len(frames)) not in replies:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        if not d:
            break
        buf += d
        while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
            n = int.from_bytes(buf[:4], "big")
            replies.append(buf[4:4 + n].decode())
            buf = buf[4 + n:]
    s.close()
    return replies


frames = []
for f in range(20):
    lines = ["fa.m%d %d %d host=h%d" % (tag, T0 + f, i, i) for i in range(10)]
    if f == 7:
        lines[3] = "nometric.fa%d %d 1 host=x" % (tag, T0)
        lines[8] = "nometric.fa%d %d 2 host=y" % (tag, T0)
    frames.append("\n".join(lines) + "\n")
other = []
t = __import__("threading").Thread(target=lambda: other.extend(
    framed_run(["fa.other%d %d %d host=o\n" % (tag, T0 + i, i) for i in range(30)])))
t.start()
replies = framed_run(frames)
t.join()
errors = [r.rstrip("\n") for r in replies if r.startswith("error:")]
acks = [r for r in replies if r.startswith("ack ")]
tap.ok(acks and acks[-1] == "ack 20", "every frame acknowledged (refused lines do not hold it)",
       replies[-3:])
tap.eq(sorted(errors),
       sorted(["error: refused by backend tsd: Unknown metric: put nometric.fa%d %d %d host=%s"
               % (tag, T0, v, hv) for v, hv in ((1, "x"), (2, "y"))]),
       "the two refused lines come back in error frames")
first_err = min(i for i, r in enumerate(replies) if r.startswith("error:")) if errors \
    else len(replies)
ack7 = [i for i, r in enumerate(replies) if r.startswith("ack ") and int(r[4:]) >= 8]
tap.ok(ack7 and first_err < ack7[0], "... before the ack of their frame", replies)
tap.ok(not any(r.startswith("error:") for r in other) and other and other[-1] == "ack 30",
       "another framed client gets none of them", other[-3:])
tap.eq(tsd.count("fa.m%d" % tag)["distinct"], 198, "its other lines stored")
relay5.stop()

# ---- 6. histograms: /api/histogram; a TSD without it refuses them for good ------------
hm = "hist.m%d" % tag
send(["histogram %s %d u=1:o=2:0,1.5=7:1.5,3=+4 host=a\n" % (hm, T0),
      "histogram %s %d 1 AAEC host=b\n" % (hm, T0 + 1)])
h.wait_until(lambda: tsd.count(hm)["distinct"] == 2, 20, what="two histograms stored")
got = sorted((dp for dp in json.loads(h.http_get(tsd.url("/fake/histograms"))[1])
              if dp.get("metric") == hm), key=lambda dp: dp["timestamp"])
tap.eq(got, [{"metric": hm, "timestamp": T0, "buckets": {"0,1.5": 7, "1.5,3": 4},
              "underflow": 1, "overflow": 2, "tags": {"host": "a"}},
             {"metric": hm, "timestamp": T0 + 1, "id": 1, "value": "AAEC",
              "tags": {"host": "b"}}],
       "a simple and a coded histogram posted to /api/histogram as HistogramPojo reads them")
tsd.config(no_histogram=True)
before = stat("backend.rejected", "backend=tsd reason=unsupported")
send(["histogram %s %d u=0:0,1=1 host=c\n" % (hm, T0 + 2)] +
     ["put after404.m%d %d %d host=h\n" % (tag, T0 + i, i) for i in range(20)])
h.wait_until(lambda: tsd.count("after404.m%d" % tag)["distinct"] == 20, 20,
             what="the puts after it")
tap.eq(stat("backend.rejected", "backend=tsd reason=unsupported") - before, 1,
       "a TSD that answers 404 to /api/histogram: the point is refused for good "
       "(backend.rejected{reason=unsupported}), not sent again for ever; the puts go on")
tap.ok("answered 404 to /api/histogram" in relay.logtext(), "and the log says so")
tsd.config(no_histogram=False)

# ---- 7. reload ----------------------------------------------------------------------
tsd_b = h.FakeHttpTsd(base, name="tsd-b").start()
opts6 = dict(BOPTS, **{"http-address": "127.0.0.1:%d" % tsd_b.port, "sync": "off"})
relay.write_conf([("tsd", "127.0.0.1:%d" % tsd.port, opts6)], redis_opts=None)
relay.reload()
h.wait_until(lambda: "reloaded" in relay.logtext(), 10, what="reloaded")
send(["put reload.m%d %d %d host=h\n" % (tag, T0 + i, i) for i in range(200)])
h.wait_until(lambda: tsd_b.count("reload.m%d" % tag)["distinct"] == 200, 20,
             what="points at the new address")
tap.eq((tsd_b.count("reload.m%d" % tag)["distinct"], tsd.count("reload.m%d" % tag)["distinct"]),
       (200, 0), "a new http-address: the points go to the other TSD")
tap.eq(tsd_b.stats()["sync_requests"], 0, "sync = off: no &sync")
relay.write_conf([("tsd", "127.0.0.1:%d" % tsd.port, dict(opts6, protocol="telnet"))],
                 redis_opts=None)
relay.reload()
h.wait_until(lambda: "protocol needs a restart" in relay.logtext(), 10, what="warning")
tap.ok("protocol needs a restart: keeping http" in relay.logtext(),
       "a protocol change waits for a restart (warned)")
send(["put reload.m%d %d %d host=h\n" % (tag, T0 + i, i) for i in range(200, 300)])
h.wait_until(lambda: tsd_b.count("reload.m%d" % tag)["distinct"] == 300, 20,
             what="still HTTP")
tap.eq(tsd_b.count("reload.m%d" % tag)["distinct"], 300, "... and it goes on over HTTP")
tsd_b.stop()

relay.stop()
tsd.stop()
redis.stop()
tap.done()
