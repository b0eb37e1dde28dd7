"""test_fleet.py -- the scale-out recipe under load and faults (issue 12).

deploy/SCALE-OUT.md's recipe, run from its own files (deploy/scale-out/,
rendered here with free loopback ports, temporary directories and
takeover-after = 3s): HAProxy (mode tcp, GET /health checks on each
relay's http listener) in front of three relays (frame-acks = on,
routing = hash over tsd1 and tsd2, min-replicas-ack = 1), a Redis master
with one replica and three Sentinels (quorum 2, down-after 1 s,
failover-timeout 3 s), two victoria-metrics as the TSDs.

Framed clients (processes running this file with --client) connect
through HAProxy and send ~100k points/s in all.  A point is acknowledged
when the relay answered `ack N` for its frame; a client keeps every frame
not acknowledged yet and sends it again after a reconnect (at-least-once,
as the README's client does); it stops making new frames while too many
wait.  Then:

  - both TSDs go away for 20 s: frozen (SIGSTOP), their names (the relays
    reach them by name, through a scripted DNS server) point at an address
    where nothing listens, and the relays' connections to them are reset
    once (`ss -K`): to the relays, TSDs that died and refuse connections.
    Not SIGKILL: victoria-metrics then loses points its TCP had
    acknowledged (read, or in its socket, not yet stored), and telnet
    `put` has no acknowledgement to tell;
  - during it, relay-b is SIGKILLed and stays dead (its clients reconnect
    through HAProxy to the others), and the Redis master is SIGKILLed
    (the Sentinels promote the replica; the relays follow them);
  - the TSDs come back.

Then every point any relay acknowledged is in victoria-metrics (checked
per client and per series, distinct values), every frame was acknowledged
in the end, a survivor took relay-b's spool over, the survivors followed
the failover.  Figures (points sent, acknowledged, arrived, duplicates,
time from TSD-up to all arrived, the taker, master_changes) are TAP notes.

A reset cuts the line being sent; victoria-metrics takes a reset for the
end of the stream and stores the partial last line as a point (OpenTSDB
discards it): such points are counted apart ("cut lines"), found by their
values and tags, which say which point each genuine one is.

`ss -K` needs CAP_NET_ADMIN: without it the test is skipped.
TSRELAY_FLEET_REPLICAS_ACK=0 runs it with min-replicas-ack = 0 (what a
failover can then lose); TSRELAY_FLEET_OUTAGE=freeze with frozen TSDs
only (no resets, names unchanged): the relays keep their connections to
them, acks pause for the whole outage and nothing is spooled by the time
relay-b dies, so the takeover checks fail by design -- for the figures.
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from dnsserver import DnsServer  # noqa: E402

SCALE_OUT = os.path.join(h.TOP_SRCDIR, "deploy", "scale-out")
CLIENTS = 6
RATE = 100000            # points/s, all clients together
FRAME_POINTS = 200
SERIES = 250             # per client
WINDOW = 400000          # points a client lets wait for acknowledgement
WARMUP, OUTAGE, AFTER = 6.0, 20.0, 6.0
KILL_RELAY_AT, KILL_MASTER_AT = 5.0, 9.0   # seconds into the outage
T0 = int(time.time()) - 86400


def line_of(metric, i):
    s = i % SERIES
    return b"%s %d %d host=h%d series=s%d\n" % (metric, T0 + i // SERIES, i, s % 10, s)


# ---- the client (a process of its own) -------------------------------------

def client_main(argv):
    """--client PORT METRIC T0 RATE GEN_SECONDS DEADLINE_SECONDS: prints a
    JSON status line every 0.5 s and a final one."""
    global T0
    port, metric, T0 = int(argv[0]), argv[1].encode(), int(argv[2])
    rate, gen_s, deadline_s = float(argv[3]), float(argv[4]), float(argv[5])
    start = time.time()
    gen_end, deadline = start + gen_s, start + deadline_s
    unacked = []          # [frame payload (framed), points, number on this connection]
    head = 0              # unacked[head:] are waiting
    waiting_pts = 0
    i = 0                 # next point
    acked = resent = reconnects = connect_failures = errors = 0
    sock, out, cfn = None, bytearray(), 0
    last_ack = start
    stall = 0.0           # longest time without an ack while frames waited
    rbuf = bytearray()
    report_at = 0.0

    def status(final=False):
        sys.stdout.write(json.dumps({
            "t": time.time(), "generated": i, "acked": acked, "waiting": waiting_pts,
            "resent": resent, "reconnects": reconnects, "connect_failures": connect_failures,
            "errors": errors, "stall": round(stall, 2), "final": final}) + "\n")
        sys.stdout.flush()

    while True:
        now = time.time()
        if now >= report_at:
            status()
            report_at = now + 0.5
        if now > deadline or (now > gen_end and waiting_pts == 0):
            break
        if waiting_pts > 0:
            stall = max(stall, now - last_ack)
        else:
            last_ack = now
        if sock is None:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                sock.setblocking(False)
            except OSError:
                connect_failures += 1
                sock = None
                time.sleep(0.1)
                continue
            out = bytearray()
            rbuf = bytearray()
            cfn = 0
            for f in unacked[head:]:  # everything not acknowledged, again, in order
                cfn += 1
                f[2] = cfn
                out += f[0]
                resent += f[1]
        # new frames as the rate allows, while the window has room
        due = min(int((now - start) * rate), int(gen_s * rate)) if now <= gen_end else i
        while i + FRAME_POINTS <= due and waiting_pts < WINDOW:
            payload = b"".join(line_of(metric, j) for j in range(i, i + FRAME_POINTS))
            cfn += 1
            f = [struct.pack(">I", len(payload)) + payload, FRAME_POINTS, cfn]
            unacked.append(f)
            out += f[0]
            i += FRAME_POINTS
            waiting_pts += FRAME_POINTS
        try:
            r, w, _ = select.select([sock], [sock] if out else [], [], 0.01)
            if w:
                n = sock.send(out)
                del out[:n]
            if r:
                d = sock.recv(65536)
                if not d:
                    raise OSError("closed by the relay")
                rbuf += d
                while len(rbuf) >= 4:
                    (n,) = struct.unpack(">I", rbuf[:4])
                    if len(rbuf) < 4 + n:
                        break
                    msg = bytes(rbuf[4:4 + n])
                    del rbuf[:4 + n]
                    if msg.startswith(b"ack "):
                        upto = int(msg[4:])
                        while head < len(unacked) and unacked[head][2] <= upto:
                            acked += unacked[head][1]
                            waiting_pts -= unacked[head][1]
                            unacked[head] = None
                            head += 1
                        last_ack = time.time()
                        if head > 4096:
                            del unacked[:head]
                            head = 0
                    else:
                        errors += 1
        except OSError:
            try:
                sock.close()
            except OSError:
                pass
            sock = None
            reconnects += 1
    status(final=True)
    return 0


if len(sys.argv) > 1 and sys.argv[1] == "--client":
    sys.exit(client_main(sys.argv[2:]))


# ---- the test ----------------------------------------------------------------

tap = h.Tap()
h.hard_timeout(420)
base = h.tmpdir()
REPLICAS_ACK = os.environ.get("TSRELAY_FLEET_REPLICAS_ACK", "1")
FREEZE_ONLY = os.environ.get("TSRELAY_FLEET_OUTAGE") == "freeze"


def can_reset_sockets():
    """ss -K works here (CAP_NET_ADMIN, a kernel with SOCK_DESTROY)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    c = socket.create_connection(("127.0.0.1", port))
    s, _ = srv.accept()
    try:
        subprocess.run(["ss", "-K", "dst", "127.0.0.1:%d" % port], capture_output=True,
                       timeout=10)
        c.send(b"x")
        return False
    except OSError:
        return True
    finally:
        for x in (c, s, srv):
            x.close()


if not FREEZE_ONLY and not can_reset_sockets():
    print("1..0 # SKIP ss -K cannot reset connections here (needs CAP_NET_ADMIN)")
    sys.exit(0)
for tool in ("haproxy", "redis-sentinel", "ss"):
    if shutil.which(tool) is None:
        tap.ok(False, "%s is installed (deploy/install-deps.sh)" % tool)
        tap.done()

# ---- the files as shipped -------------------------------------------------------
RELAYS = ("a", "b", "c")
p = subprocess.run(["haproxy", "-c", "-f", os.path.join(SCALE_OUT, "haproxy.cfg")],
                   capture_output=True, timeout=30)
tap.ok(p.returncode == 0, "haproxy -c accepts deploy/scale-out/haproxy.cfg as shipped",
       (p.stdout + p.stderr).decode(errors="replace"))
for n in RELAYS:
    p = subprocess.run([h.TSRELAY, "-t", "-c", os.path.join(SCALE_OUT, "tsrelay-%s.conf" % n)],
                       capture_output=True, timeout=30)
    tap.ok(p.returncode == 0, "tsrelay -t accepts deploy/scale-out/tsrelay-%s.conf as shipped" % n,
           (p.stdout + p.stderr).decode(errors="replace"))

# ---- rendered: the same files, other ports and directories -------------------
SHIPPED_PORTS = [4242, 4301, 4302, 4303, 4311, 4312, 4313, 4243, 4244, 6380, 6381,
                 26380, 26381, 26382]
PORT = {p: h.free_port() for p in SHIPPED_PORTS}


def sub(name):
    d = os.path.join(base, name)
    os.makedirs(d, exist_ok=True)
    return d


def render(name, extra=()):
    """deploy/scale-out/NAME with this run's ports (and `extra` (old, new)
    replacements, each of which must occur), written to base."""
    with open(os.path.join(SCALE_OUT, name)) as f:
        text = f.read()
    for port, new in PORT.items():
        text = re.sub(r"(?<![0-9])%d(?![0-9])" % port, str(new), text)
    for old, new in extra:
        if old not in text:
            raise AssertionError("%s no longer contains %r: update test_fleet.py" % (name, old))
        text = text.replace(old, new)
    path = os.path.join(base, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def redis_cli(port, *args, timeout=10):
    out = subprocess.run(["redis-cli", "-p", str(port)] + [str(a) for a in args],
                         capture_output=True, timeout=timeout)
    return out.stdout.decode("utf-8", "replace").strip()


vms = []
for k, port in ((1, PORT[4243]), (2, PORT[4244])):
    vm = h.Victoria(base, name="tsd%d" % k, telnet=port)
    vms.append(vm.start())

master_port, replica_port = PORT[6380], PORT[6381]
master = h.spawn(["redis-server", render("redis-master.conf", [
    ("dir /var/lib/redis/tsrelay-master", "dir " + sub("redis-master"))])],
    os.path.join(base, "redis-master.log"))
replica = h.spawn(["redis-server", render("redis-replica.conf", [
    ("dir /var/lib/redis/tsrelay-replica", "dir " + sub("redis-replica"))])],
    os.path.join(base, "redis-replica.log"))
h.wait_until(lambda: "master_link_status:up" in redis_cli(replica_port, "INFO", "replication"),
             30, what="the replica in sync")
sentinel_ports = [PORT[26380], PORT[26381], PORT[26382]]
for k in (1, 2, 3):
    h.spawn(["redis-sentinel", render("sentinel-%d.conf" % k, [("dir /tmp", "dir " +
                                                                 sub("sentinel%d" % k))])],
            os.path.join(base, "sentinel-%d.log" % k))


def sentinel_info(port):
    lines = redis_cli(port, "SENTINEL", "master", "tsrelay").splitlines()
    return dict(zip(lines[0::2], lines[1::2]))


def sentinels_agree():
    return all(sentinel_info(p).get("num-slaves") == "1" and
               sentinel_info(p).get("num-other-sentinels") == "2" for p in sentinel_ports)


t = time.time()
h.wait_until(sentinels_agree, 60, interval=0.5, what="Sentinels that know the replica and "
             "each other")
tap.ok(True, "Redis master, replica and 3 Sentinels up from the rendered files (agreed in %.1f s)"
       % (time.time() - t))

dns = DnsServer()
TSD_NAMES = ("tsd1.fleet.test", "tsd2.fleet.test")
for name in TSD_NAMES:
    dns.set(name, ["127.0.0.1"])
relays = {}
for n in RELAYS:
    conf = render("tsrelay-%s.conf" % n, [
        ("takeover-after = 10s", "takeover-after = 3s"),
        ("min-replicas-ack = 1", "min-replicas-ack = %s" % REPLICAS_ACK),
        # the TSDs by name, from the scripted DNS server (the outage moves them)
        ("[relay]\n", "[relay]\ndns-servers = 127.0.0.1:%d\n" % dns.port),
        ("address = 127.0.0.1:%d" % PORT[4243], "address = %s:%d" % (TSD_NAMES[0], PORT[4243])),
        ("address = 127.0.0.1:%d" % PORT[4244], "address = %s:%d" % (TSD_NAMES[1], PORT[4244]))])
    log = os.path.join(base, "relay-%s.log" % n)
    relays[n] = {"proc": h.spawn([h.TSRELAY, "-c", conf], log), "log": log,
                 "port": PORT[4300 + RELAYS.index(n) + 1],
                 "http": PORT[4310 + RELAYS.index(n) + 1]}
for n, r in relays.items():
    h.wait_until(lambda: h.Relay._can_connect(r["port"]), 20, what="relay-%s listening" % n)

hap_sock = os.path.join(base, "haproxy.sock")
hap = h.spawn(["haproxy", "-db", "-f", render("haproxy.cfg", [
    ("/run/haproxy/admin.sock", hap_sock)])], os.path.join(base, "haproxy.log"))


def haproxy_servers():
    """{relay name: (status, current sessions)} from HAProxy's `show stat`."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(hap_sock)
    s.sendall(b"show stat\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    rows = data.decode().splitlines()
    cols = rows[0].lstrip("# ").split(",")
    out = {}
    for row in rows[1:]:
        v = dict(zip(cols, row.split(",")))
        if v.get("pxname") == "tsrelays" and v.get("svname", "").startswith("relay-"):
            out[v["svname"][6:]] = (v["status"], int(v["scur"] or 0))
    return out


h.wait_until(lambda: all(st == "UP" for st, _ in haproxy_servers().values()) and
             len(haproxy_servers()) == 3, 30, interval=0.3, what="HAProxy: three relays UP")
tap.ok(True, "HAProxy in front: its GET /health checks find the three relays UP")


def stats(n):
    """A relay's counters from its http listener's /api/stats."""
    _, body = h.http_get("http://127.0.0.1:%d/api/stats" % relays[n]["http"], timeout=5)
    out = {}
    for o in json.loads(body):
        tags = {k: v for k, v in o["tags"].items() if k != "host"}
        v = float(o["value"])
        out[(o["metric"][8:], tags.get("backend"))] = int(v) if v.is_integer() else v
    return out


def counters(n, names):
    """Counters of a relay, summed over their tags."""
    out = dict.fromkeys(names, 0)
    try:
        for (k, _), v in stats(n).items():
            if k in out:
                out[k] += v
    except (OSError, ValueError):
        pass
    return out


def vm_rows(vm):
    """victoria-metrics' OpenTSDB rows: inserted, invalid."""
    _, body = h.http_get(vm.url("/metrics"))
    got = {"inserted": 0, "invalid": 0}
    for line in body.decode().splitlines():
        if 'type="opentsdb"' in line:
            if line.startswith("vm_rows_inserted_total"):
                got["inserted"] += int(float(line.split()[-1]))
            elif line.startswith("vm_rows_invalid_total"):
                got["invalid"] += int(float(line.split()[-1]))
    return got


def stat(n, key, tag=None):
    try:
        return stats(n).get((key, tag), 0)
    except (OSError, ValueError):
        return -1


# ---- load --------------------------------------------------------------------------
GEN_SECONDS = WARMUP + OUTAGE + AFTER
ACK_GRACE = 120          # a client gives up on acknowledgements this long after its last frame
clients = []
t_clients = time.time()
for k in range(CLIENTS):
    path = os.path.join(base, "client%d.out" % k)
    with open(path, "wb") as out:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--client",
                                 str(PORT[4242]), "it.fleet.c%d" % k, str(T0), str(RATE / CLIENTS),
                                 str(GEN_SECONDS), str(GEN_SECONDS + ACK_GRACE)], stdout=out)
    h._procs.append(proc)  # stopped by PID at exit, as every process of the harness
    clients.append({"proc": proc, "path": path, "metric": "it.fleet.c%d" % k})


def client_status(c):
    last = None
    with open(c["path"]) as f:
        for line in f:
            if line.endswith("\n"):
                last = json.loads(line)
    return last or {"generated": 0, "acked": 0}


def totals():
    s = [client_status(c) for c in clients]
    return sum(x["generated"] for x in s), sum(x["acked"] for x in s)


time.sleep(WARMUP)
spread = haproxy_servers()
gen, ack = totals()
tap.ok(all(scur >= 1 for _, scur in spread.values()),
       "HAProxy spread the %d clients over the three relays (%s)"
       % (CLIENTS, ", ".join("%s: %d" % (n, s[1]) for n, s in sorted(spread.items()))))
tap.ok(ack > 0, "framed acks flow with the TSDs up (%d of %d points acknowledged)" % (ack, gen))

# ---- the outage ---------------------------------------------------------------------
TSD_PORTS = "( dport = :%d or dport = :%d )" % (vms[0].telnet, vms[1].telnet)


def tsd_connections():
    out = subprocess.run(["ss", "-Htn", "state", "established", "dst", "127.0.0.1", TSD_PORTS],
                         capture_output=True, timeout=10).stdout.decode()
    return len([x for x in out.splitlines() if x.strip()])


for vm in vms:
    vm.freeze()
t_down = time.time()
gen_down, ack_down = totals()
if not FREEZE_ONLY:
    for name in TSD_NAMES:
        dns.set(name, ["127.0.0.2"])      # nothing listens there: refused
    # reset what the relays have open (again, for a connect that raced the switch)
    for _ in range(3):
        subprocess.run(["ss", "-K", "dst", "127.0.0.1", TSD_PORTS], capture_output=True,
                       timeout=10)
        time.sleep(0.5)
    tap.eq(tsd_connections(), 0, "the TSDs are away: frozen, their names moved, the relays' "
           "connections to them reset")
time.sleep(max(0.0, t_down + KILL_RELAY_AT - time.time()))
gen_kill, ack_kill = totals()
spooled_b = stat("b", "points.spooled")
os.kill(relays["b"]["proc"].pid, signal.SIGKILL)
relays["b"]["proc"].wait(timeout=10)
tap.ok(spooled_b > 0, "relay-b spooled %d points to Redis, then was SIGKILLed %.1f s into the "
       "outage" % (spooled_b, time.time() - t_down))
tap.note("in the outage before relay-b's kill (points, all clients)", "sent %d, acknowledged %d"
         % (gen_kill - gen_down, ack_kill - ack_down))
time.sleep(max(0.0, t_down + KILL_MASTER_AT - time.time()))
changes0 = {n: stat(n, "spool.master_changes") for n in ("a", "c")}
os.kill(master.pid, signal.SIGKILL)
master.wait(timeout=10)
t_master = time.time()
tap.note("the Redis master SIGKILLed", "%.1f s into the outage" % (t_master - t_down))
try:
    h.wait_until(lambda: "role:master" in redis_cli(replica_port, "INFO", "replication"), 30,
                 interval=0.2, what="the replica promoted")
    promoted = time.time() - t_master
except TimeoutError:
    promoted = None
tap.ok(promoted is not None, "the Sentinels promoted the replica %s s after the master's kill"
       % ("%.1f" % promoted if promoted is not None else "never"))
try:
    h.wait_until(lambda: haproxy_servers()["b"][0].startswith("DOWN") and
                 haproxy_servers()["a"][0] == "UP" and haproxy_servers()["c"][0] == "UP", 15,
                 interval=0.2, what="HAProxy: relay-b DOWN, relay-a and relay-c UP")
except TimeoutError:
    pass
status_in_outage = haproxy_servers()
tap.ok(status_in_outage["b"][0].startswith("DOWN") and status_in_outage["a"][0] == "UP" and
       status_in_outage["c"][0] == "UP",
       "HAProxy: relay-b DOWN, relay-a and relay-c UP with both TSDs away (their spool takes "
       "data): %s" % status_in_outage)
time.sleep(max(0.0, t_down + OUTAGE - time.time()))

# ---- the TSDs come back ----------------------------------------------------------------
gen_up, ack_up = totals()
sent_before_up = [client_status(c)["generated"] for c in clients]
for name in TSD_NAMES:
    dns.set(name, ["127.0.0.1"])
for vm in vms:
    vm.thaw()
t_up = time.time()
tap.note("during the outage (points, all clients)", "sent %d, acknowledged %d (sent %d and "
         "acknowledged %d before it)" % (gen_up - gen_down, ack_up - ack_down, gen_down,
                                          ack_down))


def metric_query(vm, q, at):
    url = vm.url("/api/v1/query?query=%s&time=%d" % (urllib.parse.quote(q), at))
    _, body = h.http_get(url, timeout=60)
    return json.loads(body)["data"]["result"]


def arrived(metric, upto_ts=None, distinct=True):
    """Points of a metric in both TSDs (distinct values, or all samples),
    those with timestamps <= upto_ts when given."""
    fn = "distinct_over_time" if distinct else "count_over_time"
    at = upto_ts if upto_ts is not None else int(time.time()) + 2 * 86400
    n = 0
    for vm in vms:
        res = metric_query(vm, 'sum(%s({__name__="%s"}[10y]))' % (fn, metric), at)
        n += int(float(res[0]["value"][1])) if res else 0
    return n


# every point sent before the TSDs came back arrived: full rows of
# timestamps before what each client had sent
cutoffs = [(T0 + s // SERIES - 1, (s // SERIES) * SERIES) for s in sent_before_up]


def backlog_arrived():
    for vm in vms:
        vm.flush()
    return all(arrived(c["metric"], ts) >= want for c, (ts, want) in zip(clients, cutoffs))


try:
    h.wait_until(backlog_arrived, 120, interval=0.5, what="the backlog in the TSDs")
    backlog_s = time.time() - t_up
except TimeoutError:
    backlog_s = None
tap.ok(backlog_s is not None, "every point sent before the TSDs came back arrived, %s s after"
       % ("%.1f" % backlog_s if backlog_s is not None else "not within 120"))

# ---- the end: clients done, everything acknowledged arrived -------------------------
finals = []
for c in clients:
    try:
        c["proc"].wait(timeout=max(1.0, t_clients + GEN_SECONDS + ACK_GRACE + 5 - time.time()))
    except subprocess.TimeoutExpired:
        c["proc"].kill()
    finals.append(client_status(c))
gen_all = sum(f["generated"] for f in finals)
ack_all = sum(f["acked"] for f in finals)
tap.ok(all(f.get("final") and f["acked"] == f["generated"] for f in finals),
       "every frame was acknowledged in the end (%d of %d points)" % (ack_all, gen_all),
       "\n".join(json.dumps(f) for f in finals))
tap.eq(sum(f["errors"] for f in finals), 0, "no error frames")


def all_arrived():
    for vm in vms:
        vm.flush()
    return all(arrived(c["metric"]) >= f["acked"] for c, f in zip(clients, finals))


try:
    h.wait_until(all_arrived, 60, interval=0.5, what="every acknowledged point")
    all_s = time.time() - t_up
except TimeoutError:
    all_s = None
time.sleep(2)  # stragglers: duplicates would show


SERIES_RE = re.compile(r"s([0-9]+)$")


def census(c, generated):
    """Every stored sample of a client's metric, from both TSDs: genuine
    ones counted per point (its value says which: series, host and
    timestamp must be that point's), the rest are cut lines."""
    seen = bytearray(generated)
    cut = 0
    end = int(time.time()) + 2 * 86400
    q = urllib.parse.quote('{__name__="%s"}' % c["metric"])
    for vm in vms:
        vm.flush()
        _, body = h.http_get(vm.url("/api/v1/export?match[]=%s&start=0&end=%d" % (q, end)),
                             timeout=120)
        for row in body.splitlines():
            if not row.strip():
                continue
            o = json.loads(row)
            m = SERIES_RE.match(o["metric"].get("series", ""))
            s = int(m.group(1)) if m else -1
            host_ok = m is not None and o["metric"].get("host") == "h%d" % (s % 10)
            for v, ts in zip(o["values"], o["timestamps"]):
                i = int(v)
                if (host_ok and i == v and 0 <= i < generated and i % SERIES == s and
                        ts // 1000 == T0 + i // SERIES):
                    seen[i] = min(255, seen[i] + 1)
                else:
                    cut += 1
    return seen, cut


missing, dups, arrived_all, cut_all, where = 0, 0, 0, 0, {}
for c, f in zip(clients, finals):
    seen, cut = census(c, f["generated"])
    absent = [i for i in range(f["acked"]) if seen[i] == 0]
    missing += len(absent)
    if absent:
        where[c["metric"]] = absent[:10]
    arrived_all += sum(1 for x in seen if x)
    dups += sum(x - 1 for x in seen if x > 1)
    cut_all += cut
ACCOUNTS = ("points.received", "points.forwarded", "points.spooled", "points.unspooled",
            "points.taken_over", "points.dropped", "points.invalid", "points.queued",
            "points.spool_pending", "spool.corrupt", "backend.errors")
tap.ok(missing == 0, "every acknowledged point arrived: %d of %d acknowledged (%d sent)"
       % (ack_all - missing, ack_all, gen_all), "missing %d, first ones: %s\n%s\n%s" % (
           missing, where, {n: counters(n, ACCOUNTS) for n in ("a", "c")},
           [vm_rows(vm) for vm in vms]))
tap.note("points", "sent %d, acknowledged %d, arrived %d, duplicates %d (%.2f%%), cut lines %d"
         % (gen_all, ack_all, arrived_all, dups, 100.0 * dups / max(1, arrived_all), cut_all))
tap.note("from TSD-up to all arrived (s)", "backlog (sent before) %s, every acknowledged point %s"
         % ("%.1f" % backlog_s if backlog_s is not None else "-",
            "%.1f" % all_s if all_s is not None else "-"))
tap.note("clients", "; ".join("c%d: resent %d, reconnects %d, longest wait for an ack %.1f s"
                              % (k, f["resent"], f["reconnects"], f["stall"])
                              for k, f in enumerate(finals)))

# ---- the fleet: takeover and failover ---------------------------------------------------
taken = {n: stat(n, "fleet.points_for_others") for n in ("a", "c")}
takeovers = {n: stat(n, "fleet.takeovers") for n in ("a", "c")}
changes = {n: stat(n, "spool.master_changes") for n in ("a", "c")}
takers = [n for n in ("a", "c") if taken[n] > 0]
tap.note("takeover", "relay-a drained %d points of others in %d takeovers, relay-c %d in %d"
         % (taken["a"], takeovers["a"], taken["c"], takeovers["c"]))
tap.ok(len(takers) >= 1, "a survivor (%s) drained relay-b's spool"
       % ("relay-" + "+relay-".join(takers) if takers else "none"))
new_master = replica_port
h.wait_until(lambda: redis_cli(new_master, "KEYS", "tsrelay:relay-b:*") == "", 30, interval=0.5,
             what="relay-b's keys gone")
tap.eq(redis_cli(new_master, "KEYS", "tsrelay:relay-b:*"), "",
       "nothing of relay-b is left in Redis")
tap.ok("relay-b" not in redis_cli(new_master, "SMEMBERS", "tsrelay:instances").split(),
       "relay-b left the fleet")
tap.ok(all(changes[n] > changes0[n] for n in ("a", "c")),
       "both survivors followed the failover (spool.master_changes %s)" % changes)
tap.note("relays", "; ".join(
    "relay-%s: spooled %d, taken over %d, master_changes %d, sentinel_failures %d, "
    "replica_shortfalls %d" % (n, stat(n, "points.spooled"), stat(n, "points.taken_over"),
                               stat(n, "spool.master_changes"), stat(n, "spool.sentinel_failures"),
                               stat(n, "spool.replica_shortfalls")) for n in ("a", "c")))
for n in ("a", "c"):
    relays[n]["proc"].send_signal(signal.SIGTERM)
    tap.eq(relays[n]["proc"].wait(timeout=30), 0, "relay-%s exits 0" % n)
tap.done()
