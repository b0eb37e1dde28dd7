"""fakehttptsd.py -- a scripted TSD that answers POST /api/put (and
/api/rollup, /api/histogram) as OpenTSDB 2.4/2.5's PutDataPointRpc does,
for the faults a real TSD cannot be made to show on demand.

Run as a process:  python3 fakehttptsd.py PORT
Answers (per the TSD's source): 204 when every point was stored and neither
?summary nor ?details was asked; with ?details
{"success":n,"failed":m,"errors":[{"datapoint":{...},"error":"..."}]}, 200
when only storage writes failed (the case a client must read `failed` for),
400 when a point failed its checks ("Unknown metric"); a sync_timeout
answer (400, "timeouts") when frozen with ?sync&sync_timeout.  The datapoint
is echoed as the TSD's IncomingDataPoint serializes it: the value as a
string, tags in another order.

Behaviour, set with POST /fake/config (JSON, merged):
  unknown_prefix   metrics starting with it are "Unknown metric" (final)
  throttle         fraction (0..1) of points answered "Storage exception:
                   Please throttle writes: ..." while now < throttle_until
  throttle_until   unix seconds
  fail_sync_200    fraction of points answered "Storage exception: ..." (a
                   storage failure, 200 with failed > 0)
  reset_requests   the next N requests: the connection is closed after the
                   points were stored, before the answer (a lost answer)
  frozen           true: requests wait (no answer) until it is false, or
                   answer the timeout shape after sync_timeout when given
  no_histogram     true: /api/histogram answers 404 (OpenTSDB before 2.4)
GET /fake/stats: stored (points, duplicates included), distinct, duplicates,
requests, connections, per-second received counts, throttled, unknown, and
per metric "order_violations_<metric>": points stored for the first time
with a timestamp older than one already stored for their series.
GET /fake/histograms: every datapoint POSTed to /api/histogram, as sent.
Stored points: (metric, timestamp, sorted tags) -> times stored.
"""

import json
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
CFG = {"unknown_prefix": None, "throttle": 0.0, "throttle_until": 0, "fail_sync_200": 0.0,
       "reset_requests": 0, "frozen": False, "seed": 1, "no_histogram": False}
STATS = {"stored": 0, "requests": 0, "connections": 0, "throttled": 0, "unknown": 0,
         "storage_failed": 0, "resets": 0, "per_second": {}, "lost_answers_points": 0,
         "sync_requests": 0}
STORE = {}
HISTOGRAMS = []  # the datapoints /api/histogram got
LAST = {}      # series -> the newest timestamp stored
RNG = random.Random(1)


def key_of(dp):
    tags = tuple(sorted((dp.get("tags") or {}).items()))
    return (dp.get("metric"), int(dp.get("timestamp")), tags)


def echo(dp):
    """The datapoint as the TSD's serializer writes it back."""
    tags = dict(reversed(list((dp.get("tags") or {}).items())))
    return {"metric": dp.get("metric"), "timestamp": int(dp.get("timestamp")),
            "value": str(dp.get("value")), "tags": tags}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with LOCK:
            STATS["connections"] += 1

    def answer(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/fake/stats"):
            with LOCK:
                out = dict(STATS)
                out["distinct"] = len(STORE)
                out["duplicates"] = out["stored"] - out["distinct"]
                out["per_second"] = dict(STATS["per_second"])
            self.answer(200, out)
        elif self.path.startswith("/fake/count"):
            prefix = self.path.split("prefix=", 1)[1] if "prefix=" in self.path else ""
            with LOCK:
                n = sum(c for k, c in STORE.items() if k[0].startswith(prefix))
                d = sum(1 for k in STORE if k[0].startswith(prefix))
            self.answer(200, {"stored": n, "distinct": d})
        elif self.path.startswith("/fake/histograms"):
            with LOCK:
                self.answer(200, list(HISTOGRAMS))
        else:
            self.answer(404, {"error": {"code": 404, "message": "Endpoint not found"}})

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding", "") == "gzip":
            import gzip
            data = gzip.decompress(data)
        return data

    def do_POST(self):
        body = self.read_body()
        if self.path.startswith("/fake/config"):
            with LOCK:
                CFG.update(json.loads(body or b"{}"))
                if "seed" in CFG:
                    RNG.seed(CFG["seed"])
            self.answer(200, CFG)
            return
        histogram = self.path.startswith("/api/histogram")
        with LOCK:
            no_histogram = CFG["no_histogram"]
        if not (self.path.startswith("/api/put") or self.path.startswith("/api/rollup") or
                (histogram and not no_histogram)):
            self.answer(404, {"error": {"code": 404, "message": "Endpoint not found"}})
            return
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        params = dict(p.split("=", 1) if "=" in p else (p, "") for p in query.split("&") if p)
        try:
            dps = json.loads(body)
        except ValueError:
            self.answer(400, {"error": {"code": 400, "message": "Unable to parse the given JSON"}})
            return
        if isinstance(dps, dict):
            dps = [dps]
        if histogram:
            with LOCK:
                HISTOGRAMS.extend(dps)
        self.put(dps, params)

    def wait_thaw(self, sync_timeout_ms):
        t0 = time.time()
        while True:
            with LOCK:
                frozen = CFG["frozen"]
            if not frozen:
                return True
            if sync_timeout_ms and time.time() - t0 >= sync_timeout_ms / 1000.0:
                return False
            time.sleep(0.01)

    def put(self, dps, params):
        details, summary = "details" in params, "summary" in params
        sync = "sync" in params
        sync_timeout = int(params.get("sync_timeout") or 0)
        if not self.wait_thaw(sync_timeout if sync else 0):
            # PutTimeout: 400, nothing known stored (the writes are still out)
            errors = [{"datapoint": echo(dp), "error": "Write timedout"} for dp in dps]
            self.answer(400, {"success": 0, "failed": 0, "timeouts": len(dps),
                              "errors": errors if details else []})
            return
        now = time.time()
        errors, failures, failed_writes = [], 0, 0
        with LOCK:
            STATS["requests"] += 1
            STATS["sync_requests"] += 1 if sync else 0
            sec = str(int(now))
            STATS["per_second"][sec] = STATS["per_second"].get(sec, 0) + len(dps)
            for dp in dps:
                metric = dp.get("metric", "")
                if CFG["unknown_prefix"] and metric.startswith(CFG["unknown_prefix"]):
                    errors.append({"datapoint": echo(dp), "error": "Unknown metric"})
                    failures += 1
                    STATS["unknown"] += 1
                    continue
                if now < CFG["throttle_until"] and RNG.random() < CFG["throttle"]:
                    errors.append({"datapoint": echo(dp), "error":
                                   "Storage exception: Please throttle writes: 10000 RPCs "
                                   "waiting on \"tsdb,,1\" to come back online"})
                    failed_writes += 1
                    STATS["throttled"] += 1
                    continue
                if RNG.random() < CFG["fail_sync_200"]:
                    errors.append({"datapoint": echo(dp), "error":
                                   "Storage exception: org.hbase.async.RegionOfflineException"})
                    failed_writes += 1
                    STATS["storage_failed"] += 1
                    continue
                k = key_of(dp)
                if k not in STORE:
                    series = (k[0], k[2])
                    if series in LAST and k[1] < LAST[series]:
                        name = "order_violations_" + k[0]
                        STATS[name] = STATS.get(name, 0) + 1
                        ex = STATS.setdefault("order_examples", [])
                        if len(ex) < 5:
                            ex.append([list(series[1]), k[1], LAST[series], now,
                                       STATS["requests"]])
                    LAST[series] = max(LAST.get(series, k[1]), k[1])
                STORE[k] = STORE.get(k, 0) + 1
                STATS["stored"] += 1
            reset = CFG["reset_requests"] > 0
            if reset:
                CFG["reset_requests"] -= 1
                STATS["resets"] += 1
                STATS["lost_answers_points"] += len(dps) - failures - failed_writes
        if reset:
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
            except OSError:
                pass
            return
        queued = len(dps) - failures
        if not summary and not details:
            if failures + failed_writes > 0:
                self.answer(400, {"error": {"code": 400, "message":
                                            "One or more data points had errors"}})
            else:
                self.answer(204)
            return
        out = {"success": queued - failed_writes if sync else queued,
               "failed": failures + (failed_writes if sync else 0)}
        if details:
            out["errors"] = errors if sync else [e for e in errors
                                                 if e["error"] == "Unknown metric"]
        self.answer(400 if failures > 0 else 200, out)


def main():
    port = int(sys.argv[1])
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
