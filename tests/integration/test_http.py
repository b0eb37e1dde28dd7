"""HTTP on the auto port: POST /api/put with plain and gzip JSON bodies
arrives in victoria-metrics; ?details / ?summary answer in the TSD's shape
and status codes; /api/version, /api/stats, /health; /metrics is accepted
by real Prometheus-format parsers (promtool, and victoria-metrics' own
import endpoint, which must take every sample)."""

import gzip
import json
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(180)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis).start()
url = "http://127.0.0.1:%d" % relay.port
T0 = int(time.time()) - 86400
metric = "it.http.m%d" % random.randrange(1 << 30)
N = 3000


def points(lo, hi, name=metric):
    return [h.json_point(name, i, 100, T0) for i in range(lo, hi)]


code, body, _ = h.http_req(url + "/api/put", json.dumps(points(0, 1000)).encode(), "POST",
                           {"Content-Type": "application/json"})
tap.eq((code, body), (204, b""), "plain JSON array: 204, no body")
code, body, _ = h.http_req(url + "/api/put", gzip.compress(json.dumps(points(1000, 2000)).encode()),
                           "POST", {"Content-Type": "application/json",
                                    "Content-Encoding": "gzip"})
tap.eq((code, body), (204, b""), "gzip JSON array: 204")
code, body, _ = h.http_req(url + "/api/put", json.dumps(points(2000, 2001)[0]).encode(), "POST")
tap.eq(code, 204, "a single datapoint object: 204")

mixed = points(2001, 3000)
bad = [{"metric": "", "timestamp": T0, "value": 1, "tags": {"a": "b"}},
       {"metric": metric, "timestamp": 0, "value": 1, "tags": {"a": "b"}},
       {"metric": metric, "timestamp": T0, "value": "abc", "tags": {"a": "b"}},
       {"metric": metric, "timestamp": T0, "value": 1, "tags": {}},
       {"metric": metric, "timestamp": T0, "value": 1, "tags": {"a": "b c"}}]
code, body, _ = h.http_req(url + "/api/put?details", json.dumps(mixed + bad).encode(), "POST")
tap.eq(code, 400, "?details with failures: 400")
try:
    d = json.loads(body)
except ValueError:
    d = {}
tap.eq((d.get("success"), d.get("failed")), (999, 5), "?details counts success / failed")
errs = [e.get("error") for e in d.get("errors", [])]
tap.eq(errs, ["Metric name was empty", "Invalid timestamp", "Unable to parse value to a number",
              "Missing tags",
              'Invalid tag value with key [a] ("b c"): illegal character:  '],
       "?details carries the TSD's messages in order")
tap.ok(all("datapoint" in e for e in d.get("errors", [])), "each error carries its datapoint")
code, body, _ = h.http_req(url + "/api/put", json.dumps(bad[:1]).encode(), "POST")
d = json.loads(body) if body else {}
tap.ok(code == 400 and d.get("error", {}).get("message") == "One or more data points had errors",
       "failures without ?details: the TSD's 400 error object", body)
code, body, _ = h.http_req(url + "/api/put?summary", json.dumps(points(0, 10, metric + ".s")).encode(),
                           "POST")
tap.eq((code, json.loads(body or b"{}")), (200, {"success": 10, "failed": 0}), "?summary: 200")
code, body, _ = h.http_req(url + "/api/put", b"not json", "POST")
tap.eq(code, 400, "a body that is not JSON: 400")
code, body, _ = h.http_req(url + "/api/put", None, "GET")
tap.eq(code, 405, "GET /api/put: 405")
code, _, _ = h.http_req(url + "/nope")
tap.eq(code, 404, "unknown path: 404")

tap.eq(vm.wait_count(metric, N, timeout=30), N, "every valid point posted arrived")
series = vm.export('{__name__="%s"}' % metric)
ok = all(series.get((("host", "h%d" % (i % 100)), ("series", "s%d" % (i % 100))), {})
         .get(h.ts_of(i, 100, T0)) == [float(i)] for i in random.Random(3).sample(range(N), 100))
tap.ok(ok, "sampled values are exact")

code, body, _ = h.http_req(url + "/api/version")
tap.ok(code == 200 and json.loads(body).get("version"), "GET /api/version", body)
code, body, _ = h.http_req(url + "/api/stats")
stats = json.loads(body) if code == 200 else []
names = {s["metric"] for s in stats}
tap.ok(code == 200 and {"tsrelay.points.received", "tsrelay.memory.live", "tsrelay.memory.reserved",
                        "tsrelay.memory.rss", "tsrelay.memory.limit"} <= names,
       "GET /api/stats: TSD stats objects with memory live/reserved/rss/limit")
tap.ok(all(set(s) == {"metric", "timestamp", "value", "tags"} and "host" in s["tags"] for s in stats),
       "every /api/stats object has metric, timestamp, value, tags{host}")
code, body, _ = h.http_req(url + "/health")
tap.eq(code, 200, "GET /health: 200 with the backend up")

code, metrics, _ = h.http_req(url + "/metrics")
tap.eq(code, 200, "GET /metrics: 200")
text = metrics.decode()
samples = [l for l in text.splitlines() if l and not l.startswith("#")]
if shutil.which("promtool"):
    p = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True)
    tap.ok(p.returncode == 0, "promtool check metrics accepts /metrics",
           (p.stdout + p.stderr).decode())
else:
    tap.ok(False, "promtool is installed (package prometheus)")
code, body, _ = h.http_req(vm.url("/api/v1/import/prometheus"), metrics, "POST")
tap.ok(code in (200, 204), "victoria-metrics' Prometheus import accepts /metrics (%s)" % code, body)
vm.flush()
_, body = h.http_get(vm.url("/api/v1/series?match[]=%s" %
                            __import__("urllib.parse").parse.quote('{__name__=~"tsrelay_.*"}')))
imported = len(json.loads(body)["data"])
tap.eq(imported, len(samples), "victoria-metrics imported every sample line as a series")

vm.stop()
deadline = time.time() + 15
body = b""
while time.time() < deadline and b"0 of 1 backends up" not in body:
    # a write makes the relay find out the backend is gone
    h.http_req(url + "/api/put", json.dumps(points(0, 1, metric + ".probe")).encode(), "POST")
    code, body, _ = h.http_req(url + "/health")
    time.sleep(0.3)
tap.ok(code == 200 and b"down" in body and b"spooling" in body,
       "GET /health: 200 with the only backend down while the spool takes data (a load "
       "balancer keeps sending), saying so", body)
redis.stop()
deadline = time.time() + 15
while time.time() < deadline and code == 200:
    code, body, _ = h.http_req(url + "/health")
    time.sleep(0.3)
tap.ok(code == 503 and b"down" in body and b"redis not connected" in body,
       "GET /health: 503 with the backend down and Redis gone, saying why", body)
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
