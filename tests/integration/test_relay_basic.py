"""End to end through real victoria-metrics and redis: 100,000 points from 8
concurrent clients mixing telnet, framed text and framed JSON arrive exactly
(count and sampled values); invalid lines in between are answered and do
not cost a valid point.  Reports throughput in and out and peak RSS."""

import json
import random
import socket
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis).start()
rss = h.RssSampler(relay)
rss.start()

N = 100000
CLIENTS = 8
NSERIES = 500
T0 = int(time.time()) - 3 * 86400
metric = "it.basic.m%d" % random.randrange(1 << 30)
errors = []
replies = {}


def client(k):
    try:
        mode = ("telnet", "framed", "json")[k % 3]
        idx = list(range(k, N, CLIENTS))
        s = socket.create_connection(("127.0.0.1", relay.port), timeout=30)
        out = bytearray()
        for j in range(0, len(idx), 250):
            chunk = idx[j:j + 250]
            if mode == "telnet":
                body = "".join(h.telnet_line(metric, i, NSERIES, T0) for i in chunk)
                if j == 0:  # one invalid line mixed in; it must not cost the others
                    body = "put %s 1 xyz host=x series=y\n" % metric + body
                out += body.encode()
            elif mode == "framed":
                # alternate lines with and without the leading "put "
                body = "".join(h.telnet_line(metric, i, NSERIES, T0, put=(i % 2 == 0))
                               for i in chunk)
                out += h.frame(body)
            else:
                pts = [h.json_point(metric, i, NSERIES, T0) for i in chunk]
                out += h.frame(json.dumps(pts))
        s.sendall(bytes(out))
        s.shutdown(socket.SHUT_WR)
        replies[k] = h.recv_all(s, timeout=5)
        s.close()
    except Exception as e:  # reported below
        errors.append("client %d: %r" % (k, e))


t_start = time.time()
threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=120)
t_sent = time.time() - t_start
tap.ok(not errors, "8 clients sent their points", "\n".join(errors))

got = vm.wait_count(metric, N, timeout=60, settle=0)
t_arrived = time.time() - t_start
tap.eq(got, N, "victoria-metrics holds exactly %d points" % N)

# sampled exact values: value i at (series of i, timestamp of i)
series = vm.export('{__name__="%s"}' % metric)
sample = random.Random(7).sample(range(N), 200)
bad = []
for i in sample:
    s = i % NSERIES
    key = (("host", "h%d" % (s % 1000)), ("series", "s%d" % s))
    vals = series.get(key, {}).get(h.ts_of(i, NSERIES, T0))
    if vals != [float(i)]:
        bad.append((i, key, vals))
tap.ok(not bad, "200 sampled points have their exact value and timestamp", bad[:5])
tap.eq(len(series), NSERIES, "every series arrived")

telnet_reply = replies.get(0, b"").decode(errors="replace")
tap.ok("put: invalid value: Invalid character 'x' in xyz" in telnet_reply,
       "the invalid telnet line got the TSD's error text", telnet_reply[:300])
tap.eq(replies.get(1, b""), b"", "framed clients with only valid points get no reply")

st = relay.stats()
received = sum(v for (k, t), v in st.items() if k == "points.received")
invalid = sum(v for (k, t), v in st.items() if k == "points.invalid")
tap.eq(received, N + 3, "stats: points received (valid + 3 invalid)")
tap.eq(invalid, 3, "stats: points invalid")
tap.eq(st.get(("points.forwarded", None)), N, "stats: points forwarded = acknowledged by the TSD")
peak = rss.stop()
tap.note("throughput in (points/s)", int(N / t_sent))
tap.note("throughput out, until all queryable in victoria-metrics (points/s)", int(N / t_arrived))
tap.note("peak RSS during the 100k test (MiB)", round(peak / 1048576.0, 1))
tap.ok(relay.stop() == 0, "tsrelay exits 0 on SIGTERM")
tap.done()
