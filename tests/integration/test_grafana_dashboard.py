"""deploy/grafana-dashboard.json is an importable Grafana dashboard on
tsrelay's own Prometheus metrics: valid JSON with a ${DS_PROMETHEUS}
datasource input that every panel and query uses, an $instance variable,
panels for memory (live / reserved / RSS / limit), points rates, backend
queue / spool / backlog, clients and the read pass-through; every
tsrelay_* name it queries is one a running tsrelay exports on /metrics; and every query is accepted and
answered with data by a real PromQL engine (victoria-metrics, fed two
scrapes of that /metrics)."""

import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(180)
tap = h.Tap()
path = os.path.join(h.TOP_SRCDIR, "deploy", "grafana-dashboard.json")
with open(path) as f:
    dash = json.load(f)
tap.ok(True, "the dashboard is valid JSON")
inputs = [i.get("name") for i in dash.get("__inputs", [])]
tap.eq(inputs, ["DS_PROMETHEUS"], "one datasource input, DS_PROMETHEUS")
panels = [p for p in dash["panels"] if p["type"] != "row"]
targets = [t for p in panels for t in p["targets"]]
ds_ok = all(p["datasource"]["uid"] == "${DS_PROMETHEUS}" for p in panels) and \
    all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in targets)
tap.ok(ds_ok, "every panel and query uses ${DS_PROMETHEUS}")
ids = [p["id"] for p in dash["panels"]]
tap.eq(len(ids), len(set(ids)), "panel ids are unique")
titles = " | ".join(p["title"] for p in panels).lower()
for word in ("memory", "points", "queue", "spool", "backlog", "clients", "pass-through"):
    tap.ok(word in titles, "a panel for %s" % word)
exprs = [t["expr"] for t in targets]
used = set(re.findall(r"\btsrelay_[a-z0-9_]+", " ".join(exprs)))
mem = {"tsrelay_memory_live", "tsrelay_memory_reserved", "tsrelay_memory_rss",
       "tsrelay_memory_limit"}
tap.ok(mem <= used, "memory live, reserved, RSS and limit are charted")

base = h.tmpdir()
redis = h.Redis(base).start()
vm = h.Victoria(base).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet,
                         {"http-address": "127.0.0.1:%d" % vm.http})],
                redis=redis, relay={"proxy": "vm"}).start()
T0 = int(time.time()) - 86400
h.run_tsload(relay.port, 20000, rate=0, metric="it.grafana.m", start_ts=T0)
for _ in range(5):  # the read pass-through's counters move too
    h.http_get("http://127.0.0.1:%d/api/v1/labels" % relay.port)


def scrape():
    _, body = h.http_get("http://127.0.0.1:%d/metrics" % relay.port)
    return body


text = scrape().decode()
exported = set(re.findall(r"^(tsrelay_[a-z0-9_]+)[ {]", text, re.M))
missing = sorted(used - exported)
tap.ok(not missing, "every metric the dashboard queries is exported (%d used)" % len(used),
       "missing: %s" % missing)

# two scrapes a few seconds apart, labelled as Prometheus would
for i in range(2):
    if i:
        time.sleep(5)
        h.run_tsload(relay.port, 20000, rate=0, metric="it.grafana.m", start_ts=T0 + 100)
    code, body, _ = h.http_req(vm.url("/api/v1/import/prometheus?extra_label=instance=relay1"),
                               scrape(), "POST")
    tap.eq(code, 204, "scrape %d imported into victoria-metrics" % (i + 1))
vm.flush()
time.sleep(1)
bad = []
empty = []
for e in exprs:
    q = e.replace("$__rate_interval", "1m").replace("$instance", ".*")
    code, body, _ = h.http_req(vm.url("/api/v1/query?query=%s&time=%d"
                                      % (urllib.parse.quote(q), int(time.time()))))
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {}
    if code != 200 or doc.get("status") != "success":
        bad.append("%s -> %d %s" % (q, code, body[:200]))
    elif not doc["data"]["result"]:
        empty.append(q)
tap.ok(not bad, "every query is valid PromQL (%d queries)" % len(exprs), "\n".join(bad))
tap.ok(not empty, "every query returns data", "\n".join(empty))
tap.ok(relay.stop() == 0, "tsrelay exits 0 on SIGTERM")
tap.done()
