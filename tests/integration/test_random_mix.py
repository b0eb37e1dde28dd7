"""test_random_mix.py -- bounded memory never costs progress, on random
mixes of clients (issue 10).

At least 200 runs, each against a relay of its own with a small random
budget (memory-limit 1-8 MiB; max-frame-bytes, max-http-body-bytes and
max-line-bytes random but valid for it: frames and bodies fit input-memory
less a block, as config_check.c's budget() requires, input-memory itself
what the limit leaves after control-reserve, the queues' eighth and the
new-series guard's series-memory; sometimes an explicit input-memory,
control-reserve or series-memory too) and overflow = block, in front of one
real victoria-metrics shared by all runs.  A run starts 2-30 clients at
once, each of one kind on an auto listener or on its protocol's own:

  telnet   lines: plain (LF or CRLF), ~1 KB valid lines, and long-but-valid
           lines padded with spaces past the inline limit up to
           max-line-bytes (which must be admitted whole);
  framed   text and JSON frames up to max-frame-bytes, and heartbeats;
  http     POST /api/put, plain, gzip and chunked bodies up to
           max-http-body-bytes, several per keep-alive connection.

Clients pause mid-unit (send part of a unit, sleep 0-300 ms, send the
rest) and some disconnect mid-unit (send part of a unit and close: that
unit is lost; everything complete before it must arrive).  Per run: every
client finishes and points.forwarded reaches the expected count within the
progress bound (a hang is the failure this looks for; the bound is dozens
of times a typical run, so that load alone cannot fail it); points.dropped = 0,
memory.input_forced = 0, points.invalid = the invalid points some clients
mix in (each answered by one error reply, or the reply dropped for want of
input memory and counted in replies.dropped_bytes), nobody left waiting and
no input memory left charged, received (all protos) + copies = forwarded +
queued + spool_pending + invalid + refused + rule_dropped + dropped with
queued = spool_pending = 0 (no rules here: copies, refused and
rule_dropped are 0), and the
relay exits 0 on SIGTERM.  At the end every expected point of every run is
in victoria-metrics exactly once (a distinct metric per run).

The seed is random per run of the test and printed; TSRELAY_RANDOM_SEED=N
replays it (TSRELAY_RANDOM_FIRST=K TSRELAY_RANDOM_RUNS=1 replays run K
alone: a run's plan depends only on the seed and its index).  Runs go
TSRELAY_RANDOM_JOBS (2) at a time, each in front of its own relay.  Under ASan
the data volume per run is lower; the number of runs is not.
"""

import gzip
import json
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

RUNS = int(os.environ.get("TSRELAY_RANDOM_RUNS", "200"))
# runs at a time: each has its relay, its clients and its metric (the
# victoria-metrics is shared), so two overlap one's waits with the other's work
JOBS = max(1, int(os.environ.get("TSRELAY_RANDOM_JOBS", "2")))
FIRST = int(os.environ.get("TSRELAY_RANDOM_FIRST", "0"))
SEED = int(os.environ.get("TSRELAY_RANDOM_SEED") or int.from_bytes(os.urandom(4), "big"))
# a run's clients share a log-uniform draw of bytes up to this (a unit at
# the maximum may go past it: the volume is lower under ASan, not the runs)
VOLUME = (1536 if h.SANITIZED else 4096) * 1024
PROGRESS_BOUND = 60.0      # s from a run's start: clients done, every point forwarded
KB = 1024
MB = 1024 * 1024
BLOCK = 64 * KB
T0 = 1500000000
MAX_INVALID = 40           # per client: its error replies stay far below any buffer

h.hard_timeout(2400 if h.SANITIZED else 1500)
tap = h.Tap()
base = h.tmpdir()
tap.note("seed", "%d (replay: TSRELAY_RANDOM_SEED=%d)" % (SEED, SEED))
vm = h.Victoria(base).start()


# ---- the budget (src/base/config_check.c budget(), defaults of a 64K block) ----------

def plan_config(rng):
    """A random, valid small-budget configuration: (relay options, text of
    more sections, limits)."""
    lim = rng.randrange(1024, 8 * 1024 + 1) * KB
    if rng.random() < 0.2:
        control = rng.randrange(64 * KB, lim // 4 + 1, 4 * KB)
    else:
        control = None
    c = control if control is not None else min(max(lim // 16, 256 * KB), 4 * MB)
    queue_min = max(lim // 8, 8 * BLOCK)
    # [limits] series-memory (the new-series guard's share, config_check.c's
    # limits_budget()): by default 8M following the limit down to a
    # sixteenth, none under 256K (no limit is set here); sometimes set: 0, or
    # 256K up to a quarter of the limit, leaving input-memory its 4 blocks
    series_max = min(lim // 4, lim - c - queue_min - 4 * BLOCK)
    r = rng.random()
    if r < 0.1:
        series = 0
    elif r < 0.2 and series_max >= 256 * KB:
        series = rng.randrange(256 * KB, series_max + 1, 4 * KB)
    else:
        series = None
    s = series if series is not None else min(8 * MB, lim // 16)
    if series is None and s < 256 * KB:
        s = 0
    input_max = lim - c - queue_min - s
    if rng.random() < 0.25:
        inp = rng.randrange(4 * BLOCK, input_max + 1, 4 * KB)
    else:
        inp = None
    i = inp if inp is not None else input_max
    room = i - BLOCK

    def pick(lo, hi):
        r = rng.random()
        if r < 0.2:
            return hi                              # the largest the budget allows
        if r < 0.3:
            return lo
        return int(lo * (hi / float(lo)) ** rng.random())   # log-uniform

    max_frame = pick(64, room - 4)
    max_body = pick(1024, room)
    max_line = pick(1100, BLOCK - 256)   # a long line is admitted as one block
    opts = {"memory-limit": "%dK" % (lim // KB), "overflow": "block",
            "max-frame-bytes": str(max_frame), "max-http-body-bytes": str(max_body),
            "max-line-bytes": str(max_line)}
    if control is not None:
        opts["control-reserve"] = "%dK" % (control // KB)
    if inp is not None:
        opts["input-memory"] = "%dK" % (inp // KB)
    extra = "" if series is None else "\n[limits]\nseries-memory = %dK\n" % (series // KB)
    return opts, extra, {"limit": lim, "input": i, "frame": max_frame, "body": max_body,
                  "line": max_line}


# ---- units ---------------------------------------------------------------------

class Gen:
    """A client's points: one series per client (tag c), one second apart."""

    def __init__(self, metric, cid):
        self.metric, self.cid, self.seq = metric, cid, 0

    def next(self):
        self.seq += 1
        return T0 + self.seq, self.seq

    def words(self, extra=""):
        ts, v = self.next()
        return "%s %d %d c=c%d%s" % (self.metric, ts, v, self.cid, extra)


def invalid_words(g):
    """A point the relay must refuse (its value is not a number)."""
    return "%s %d 1x c=c%d" % (g.metric, T0, g.cid)


def telnet_line(rng, g, lim, counts, bad=False):
    """One telnet line, 1 point: plain, ~1 KB, or padded with spaces; with
    bad, an invalid one."""
    r = rng.random()
    eol = "\r\n" if rng.random() < 0.2 else "\n"
    if bad:
        counts["invalid points"] += 1
        return ("put " + invalid_words(g) + eol).encode()
    if r < 0.75:
        counts["telnet lines"] += 1
        return ("put " + g.words() + eol).encode()
    if r < 0.85:
        # valid up to the TSD's 1024 bytes: a long tag value (a few lengths
        # per client, so a few series)
        counts["telnet ~1 KB lines"] += 1
        target = rng.choice((900, 1000, 1023, 1024))
        line = "put " + g.words()
        pad = target - len(line) - len(" n=")
        return (line + " n=" + "x" * pad + eol).encode()
    # long but valid: spaces (doubled between words, and trailing) up to
    # max-line-bytes; past CLIENT_INLINE (1152) it is admitted whole
    counts["telnet long padded lines"] += 1
    maxl = lim["line"]
    q = rng.random()
    if q < 0.3:
        target = rng.randint(1140, 1160)
    elif q < 0.5:
        target = maxl
    else:
        target = rng.randint(1153, max(1153, maxl))
    target = min(target, maxl)
    # the TSD skips empty words among the tags only: "put  m" is an empty
    # metric name, so extra spaces go after the value and at the end
    words = ("put " + g.words()).split(" ")
    extra = target - len(" ".join(words))
    gaps = [0] * (len(words) - 1)
    if rng.random() < 0.5:
        for _ in range(rng.randint(0, min(extra, 64))):
            gaps[rng.randrange(3, len(gaps))] += 1
    body = words[0]
    for k, w in enumerate(words[1:]):
        body += " " * (1 + gaps[k]) + w
    body += " " * (target - len(body))
    return (body + eol).encode()


def text_frame_payload(rng, g, size, bad=0):
    """Put lines (with or without "put ", LF or CRLF) up to size bytes;
    (payload, valid points, invalid points), the first `bad` lines invalid."""
    put = rng.random() < 0.5
    eol = "\r\n" if rng.random() < 0.2 else "\n"
    lines = []
    n = 0
    nbad = 0
    while True:
        if nbad < bad:
            nbad += 1
            line = ("put " if put else "") + invalid_words(g) + eol
            lines.append(line)
            n += len(line)
            continue
        line = ("put " if put else "") + g.words() + eol
        if lines and n + len(line) > size:
            g.seq -= 1           # not used
            break
        lines.append(line)
        n += len(line)
        if n >= size:
            break
    if rng.random() < 0.3:
        lines[-1] = lines[-1].rstrip("\r\n")   # the last line needs no newline
    # exactly size bytes: the last line ends in spaces (skipped like the TSD)
    last = lines[-1].rstrip("\r\n")
    pad = max(0, size - sum(map(len, lines)))
    lines[-1] = last + " " * pad + lines[-1][len(last):]
    return "".join(lines).encode(), len(lines) - nbad, nbad


def json_dp(g):
    ts, v = g.next()
    return '{"metric":"%s","timestamp":%d,"value":%d,"tags":{"c":"c%d"}}' % (g.metric, ts, v,
                                                                            g.cid)


def json_payload(rng, g, size):
    """A JSON datapoint or array of them, exactly size bytes (white space at
    the end); None when not even one fits."""
    first = json_dp(g)
    if len(first) + 2 > size:
        g.seq -= 1
        return None
    if size < 160 and rng.random() < 0.5:
        return (first + " " * (size - len(first))).encode(), 1
    sep = rng.choice((",", ", ", ",\n"))
    dps = [first]
    n = 2 + len(first) + len(sep)
    while True:
        d = json_dp(g)
        if dps and n + len(d) + len(sep) > size:
            g.seq -= 1
            break
        dps.append(d)
        n += len(d) + len(sep)
    doc = "[" + sep.join(dps) + "]"
    return (doc + " " * (size - len(doc))).encode(), len(dps)


# sizes next to the edges of what a unit is kept in: the inline tail
# (1152), pages, and a block (64K, whose data is a header short of it);
# each also less 4, for a frame's header
EDGES = sorted({e + d for e in (1152, 4096, 8192, BLOCK - 48, BLOCK, BLOCK + 4096)
                for d in (-5, -4, -3, -1, 0, 1, 3, 4, 5)})


def unit_size(rng, most):
    """Mostly small units, some medium, some at (or near) the maximum, some
    at the edges of the buffers they are kept in."""
    r = rng.random()
    if r < 0.1:
        edges = [e for e in EDGES if e <= most]
        if most >= BLOCK - 64 and rng.random() < 0.5:
            edges.append(rng.randint(BLOCK - 64, min(BLOCK + 8, most)))
        return rng.choice(edges) if edges else most
    if r < 0.55:
        return min(most, rng.randint(60, 4 * KB))
    if r < 0.85:
        return min(most, int(60 * (most / 60.0) ** rng.random()))
    return rng.randint(max(60, most * 9 // 10), most)


# ---- client plans: a list of steps ------------------------------------------------
# ("send", bytes)  ("pause", s)  ("response", want)  ("close",)  ("finish",)

def split_send(rng, steps, data, pause, counts):
    if pause and len(data) > 1:
        cut = rng.randint(1, len(data) - 1)
        steps.append(("send", data[:cut]))
        steps.append(("pause", rng.uniform(0, 0.3)))
        steps.append(("send", data[cut:]))
        counts["pauses"] += 1
    else:
        steps.append(("send", data))


def plan_telnet(rng, g, lim, budget, pauses, disconnect, counts):
    steps, points, sent, invalid = [], 0, 0, 0
    batch, batched = [], 0
    bsize = rng.choice((1, 4 * KB, 64 * KB, 1 * MB))
    pause_at = set(rng.sample(range(64), pauses))
    # invalid points only where replies are read (a close with replies
    # unread would be a reset, not the graceful disconnect asked for)
    bad_share = 0.0 if disconnect else rng.choice((0.0, 0.0, 0.01, 0.05))
    k = 0
    while sent < budget or k == 0:
        bad = invalid < MAX_INVALID and rng.random() < bad_share
        line = telnet_line(rng, g, lim, counts, bad)
        if k in pause_at:
            split_send(rng, steps, b"".join(batch) + line, True, counts)
            batch, batched = [], 0
        else:
            batch.append(line)
            batched += len(line)
            if batched >= bsize:
                steps.append(("send", b"".join(batch)))
                batch, batched = [], 0
        invalid += bad
        points += not bad
        sent += len(line)
        k += 1
    if batch:
        steps.append(("send", b"".join(batch)))
    if disconnect:
        line = telnet_line(rng, g, lim, counts)
        g.seq -= 1
        steps.append(("send", line[:rng.randint(1, len(line.rstrip(b"\r\n")))]))
        steps.append(("close",))
        counts["disconnects mid-unit"] += 1
    else:
        steps.append(("finish", "telnet", invalid))
    return steps, points, invalid


def plan_framed(rng, g, lim, budget, pauses, disconnect, counts):
    steps, points, sent, invalid = [], 0, 0, 0
    json_share = rng.choice((0.0, 0.5, 1.0))
    bad_share = 0.0 if disconnect else rng.choice((0.0, 0.0, 0.05, 0.2))
    pause_at = set(rng.sample(range(16), pauses))
    k = 0
    pending = []
    while sent < budget or k == 0:
        if rng.random() < 0.05:
            unit, n = b"", 0
            counts["heartbeats"] += 1
        else:
            size = unit_size(rng, lim["frame"])
            js = json_payload(rng, g, size) if rng.random() < json_share else None
            if js is not None:
                unit, n = js
                counts["frames json"] += 1
            else:
                bad = int(invalid < MAX_INVALID and rng.random() < bad_share)
                unit, n, nbad = text_frame_payload(rng, g, size, bad)
                counts["frames text"] += 1
                counts["invalid points"] += nbad
                invalid += nbad
        data = struct.pack(">I", len(unit)) + unit
        if k in pause_at:
            if pending:
                steps.append(("send", b"".join(pending)))
                pending = []
            split_send(rng, steps, data, True, counts)
        else:
            pending.append(data)
            if rng.random() < 0.5:
                steps.append(("send", b"".join(pending)))
                pending = []
        points += n
        sent += len(data)
        k += 1
    if pending:
        steps.append(("send", b"".join(pending)))
    if disconnect:
        size = unit_size(rng, lim["frame"])
        seq = g.seq
        unit, _, _ = text_frame_payload(rng, g, size)
        g.seq = seq
        data = struct.pack(">I", len(unit)) + unit
        steps.append(("send", data[:rng.randint(1, len(data) - 1)]))
        steps.append(("close",))
        counts["disconnects mid-unit"] += 1
    else:
        steps.append(("finish", "framed", invalid))
    return steps, points, invalid


def http_request(rng, g, lim, counts):
    """(request bytes, points, expected answer)."""
    size = max(200, unit_size(rng, lim["body"]))   # max-http-body-bytes >= 1024
    raw, n = json_payload(rng, g, size)
    r = rng.random()
    headers = ["POST /api/put%s HTTP/1.1" % ("?summary" if r < 0.1 else ""),
               "Host: 127.0.0.1", "Content-Type: application/json"]
    want = ("summary", n) if r < 0.1 else ("204", n)
    body = raw
    if rng.random() < 0.4 and len(gzip.compress(raw, compresslevel=1)) <= lim["body"]:
        body = gzip.compress(raw, compresslevel=1)
        headers.append("Content-Encoding: gzip")
        counts["http gzip"] += 1
    else:
        counts["http plain"] += 1
    if rng.random() < 0.15:
        counts["http chunked"] += 1
        headers.append("Transfer-Encoding: chunked")
        chunks = []
        off = 0
        while off < len(body):
            c = rng.randint(1, max(1, len(body) // 3 + 1))
            chunks.append(b"%x\r\n%s\r\n" % (len(body[off:off + c]), body[off:off + c]))
            off += c
        body = b"".join(chunks) + b"0\r\n\r\n"
    else:
        headers.append("Content-Length: %d" % len(body))
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body, n, want


def plan_http(rng, g, lim, budget, pauses, disconnect, counts):
    steps, points, sent = [], 0, 0
    pause_at = set(rng.sample(range(8), pauses))
    k = 0
    while sent < budget or k == 0:
        req, n, want = http_request(rng, g, lim, counts)
        split_send(rng, steps, req, k in pause_at, counts)
        steps.append(("response", want))
        points += n
        sent += len(req)
        k += 1
        if k >= 40:
            break
    if disconnect:
        seq = g.seq
        req, _, _ = http_request(rng, g, lim, counts)
        g.seq = seq
        steps.append(("send", req[:rng.randint(1, len(req) - 1)]))
        steps.append(("close",))
        counts["disconnects mid-unit"] += 1
    else:
        steps.append(("finish", "http", 0))
    return steps, points, 0


# ---- running a client -------------------------------------------------------------

def read_response(s, buf):
    """One HTTP response: (status, body, rest of buf)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed before a response (%r)" % buf[:200])
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    clen = 0
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        if k.strip().lower() == "content-length":
            clen = int(v.strip())
    while len(rest) < clen:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed inside a response body")
        rest += d
    return status, rest[:clen], rest[clen:]


def check_replies(kind, invalid, buf):
    """The replies a client got: error lines, one per invalid point, and
    nothing else.  Returns how many are missing: replies to data are charged
    to the input class, so while admitted units fill it, what does not fit
    the client's inline reply buffer is dropped -- and counted
    (replies.dropped_bytes), which the run checks."""
    if kind == "framed":
        lines = []
        while len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            lines += buf[4:4 + n].decode("utf-8", "replace").splitlines()
            buf = buf[4 + n:]
        if buf:
            raise AssertionError("a partial reply frame: %r" % buf[:100])
        want = "error: invalid value"
    else:
        lines = buf.decode("utf-8", "replace").splitlines()
        want = "put: invalid value"
    other = [ln for ln in lines if not ln.startswith(want)]
    if other or len(lines) > invalid:
        raise AssertionError("%d error replies for %d invalid points; others: %r"
                             % (len(lines) - len(other), invalid, other[:3]))
    return invalid - len(lines)


class Client(threading.Thread):
    def __init__(self, port, steps, delay, name):
        super().__init__(daemon=True)
        self.port, self.steps, self.delay, self.name = port, steps, delay, name
        self.error = None
        self.done_at = None
        self.missing = (None, 0)     # (protocol, error replies not received)

    def run(self):
        try:
            time.sleep(self.delay)
            s = socket.create_connection(("127.0.0.1", self.port), timeout=PROGRESS_BOUND)
            buf = b""
            for st in self.steps:
                if st[0] == "send":
                    s.sendall(st[1])
                elif st[0] == "pause":
                    time.sleep(st[1])
                elif st[0] == "response":
                    status, body, buf = read_response(s, buf)
                    kind, n = st[1]
                    if kind == "204" and status != 204:
                        raise AssertionError("HTTP %d, want 204: %r" % (status, body[:300]))
                    if kind == "summary":
                        got = json.loads(body) if status == 200 else None
                        if got != {"success": n, "failed": 0}:
                            raise AssertionError("HTTP %d %r, want 200 with success %d"
                                                 % (status, body[:300], n))
                elif st[0] == "close":
                    s.close()
                elif st[0] == "finish":
                    # the relay closes once it has read (and handled) our FIN
                    s.shutdown(socket.SHUT_WR)
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        buf += d
                    s.close()
                    self.missing = (st[1], check_replies(st[1], st[2], buf))
            self.done_at = time.time()
        except Exception as e:  # noqa: BLE001 -- reported by the run
            self.error = "%s: %r" % (self.name, e)


# ---- one run -----------------------------------------------------------------------

def stats_sum(st, name):
    return sum(v for (k, _), v in st.items() if k == name)


totals = {"runs": 0, "clients": 0, "points": 0, "bytes": 0}
counts = {k: 0 for k in ("telnet lines", "telnet ~1 KB lines", "telnet long padded lines",
                         "frames text", "frames json", "heartbeats", "http plain", "http gzip",
                         "http chunked", "invalid points", "pauses",
                         "disconnects mid-unit")}
clients_by = {}
adm = {"admission.waits": 0, "admission.room_waits": 0, "admission.grants": 0}
expected = {}        # metric -> points
slowest = (0.0, None)
failures = 0
replies_missing = [0]    # error replies dropped (and counted) for want of memory
lock = threading.Lock()  # over the totals above: runs go JOBS at a time


def do_run(idx):
    rng = random.Random(SEED * 1000003 + idx)
    metric = "rmix.r%03d" % idx
    opts, extra, lim = plan_config(rng)
    ports = {p: h.free_port() for p in ("auto", "telnet", "framed", "http")}
    relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], name="relay-%03d" % idx,
                    listen=[(ports["auto"], "auto"), (ports["telnet"], "telnet"),
                            (ports["framed"], "framed"), (ports["http"], "http")],
                    relay=opts, backend_opts={"conns": str(rng.randint(1, 3))}, extra=extra)
    nclients = rng.randint(2, 30)
    volume = int(16 * KB * (VOLUME / (16.0 * KB)) ** rng.random())
    plans = []
    want = 0
    want_invalid = 0
    run_counts = dict.fromkeys(counts, 0)
    nbytes = 0
    for cid in range(nclients):
        kind = rng.choice(("telnet", "framed", "http"))
        g = Gen(metric, cid)
        budget = int(volume / nclients * rng.uniform(0.2, 1.8))
        pauses = rng.choice((0, 0, 1, 1, 2, 3))
        disconnect = rng.random() < 0.2
        planner = {"telnet": plan_telnet, "framed": plan_framed, "http": plan_http}[kind]
        steps, pts, bad = planner(rng, g, lim, budget, pauses, disconnect, run_counts)
        want_invalid += bad
        listener = rng.choice(("auto", kind))
        where = kind + "@" + ("auto" if listener == "auto" else "own")
        with lock:
            clients_by[where] = clients_by.get(where, 0) + 1
        delay = rng.uniform(0, 0.2) if rng.random() < 0.5 else 0.0
        plans.append(Client(ports[listener], steps, delay, "client %d (%s on %s)"
                            % (cid, kind, listener)))
        want += pts
        nbytes += sum(len(s[1]) for s in steps if s[0] == "send")
    desc = "run %d: memory-limit %s, %d clients, %d points, %.1f MB" % (
        idx, opts["memory-limit"], nclients, want, nbytes / 1e6)

    problems = []
    relay.start(wait=False)
    try:
        h.wait_until(lambda: relay._can_connect(ports["auto"]) or not relay.alive(), 15,
                     what="tsrelay listening")
    except TimeoutError as e:
        problems.append(str(e))
    if not relay.alive():
        problems.append("tsrelay did not start: %s" % relay.logtext()[-1500:])
    t0 = time.time()
    st = {}
    if not problems:
        for c in plans:
            c.start()
        for c in plans:
            c.join(timeout=max(0.1, t0 + PROGRESS_BOUND - time.time()))
        stuck = [c.name for c in plans if c.is_alive()]
        errs = [c.error for c in plans if c.error]
        if stuck:
            problems.append("clients not done within %.0f s: %s" % (PROGRESS_BOUND,
                                                                     ", ".join(stuck[:8])))
        problems += errs[:8]

        def settled():
            s = relay.stats(ports["auto"])
            st.clear()
            st.update(s)
            # every client gone (the stats connection itself is telnet)
            return (s.get(("points.forwarded", None)) == want and
                    stats_sum(s, "clients.current") <= 1 and
                    s.get(("clients.waiting_memory", None)) == 0 and
                    s.get(("clients.waiting_room", None)) == 0 and
                    s.get(("memory.class", "class=input")) == 0)
        try:
            h.wait_until(settled, max(1.0, t0 + PROGRESS_BOUND - time.time()), interval=0.05,
                         what="every point forwarded, nobody waiting")
        except TimeoutError:
            problems.append("not settled within %.0f s of the start" % PROGRESS_BOUND)
    took = time.time() - t0
    if st:
        recv = stats_sum(st, "points.received")
        fwd = st.get(("points.forwarded", None))
        queued = st.get(("points.queued", None))
        spool = st.get(("points.spool_pending", None))
        invalid = stats_sum(st, "points.invalid")
        dropped = st.get(("points.dropped", None))
        others = (stats_sum(st, "points.refused") + (st.get(("points.rule_dropped", None)) or 0) -
                  (st.get(("points.copies", None)) or 0))
        forced = st.get(("memory.input_forced", None))
        checks = [("points.forwarded", fwd, want),
                  ("points.received", recv, want + want_invalid),
                  ("points.dropped", dropped, 0), ("memory.input_forced", forced, 0),
                  ("points.invalid", invalid, want_invalid), ("points.queued", queued, 0),
                  ("points.spool_pending", spool, 0),
                  ("received + copies - (forwarded + queued + spool_pending + invalid + "
                   "refused + rule_dropped + dropped)",
                   recv - (fwd or 0) - (queued or 0) - (spool or 0) - invalid - (dropped or 0) -
                   others, 0),
                  ("clients.waiting_memory", st.get(("clients.waiting_memory", None)), 0),
                  ("clients.waiting_room", st.get(("clients.waiting_room", None)), 0),
                  ("memory.class{class=input}", st.get(("memory.class", "class=input")), 0)]
        for name, got, wanted in checks:
            if got != wanted:
                problems.append("%s = %r, want %r" % (name, got, wanted))
        for proto in ("telnet", "framed"):
            missing = sum(c.missing[1] for c in plans if c.missing[0] == proto)
            with lock:
                replies_missing[0] += missing
            if missing and not st.get(("replies.dropped_bytes", "proto=" + proto)):
                problems.append("%d %s error replies missing, and none counted in "
                                "replies.dropped_bytes" % (missing, proto))
        with lock:
            for k in adm:
                adm[k] += st.get((k, None), 0)
        if problems:
            problems.append("stats: " + ", ".join(
                "%s%s %s" % (k, "{%s}" % t if t else "", v) for (k, t), v in sorted(
                    st.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
                if k.startswith(("clients.", "admission.", "memory.", "points.", "backend.",
                                 "replies."))))
    code = None
    if relay.alive():
        try:
            code = relay.stop(timeout=30)
        except Exception as e:  # noqa: BLE001
            problems.append("stop: %r" % e)
    else:
        code = relay.proc.returncode if relay.proc else None
    if code != 0:
        problems.append("tsrelay exit code %r" % code)
    logtext = relay.logtext()
    for bad in ("runtime error", "Sanitizer", "input held past"):
        if bad in logtext:
            problems.append("log says %r" % bad)
    with lock:
        shown = json.dumps(opts) + (" " + extra.strip().replace("\n", " ") if extra else "")
        account_run(idx, problems, shown, logtext, metric, want, desc, took, nclients, nbytes,
                    run_counts)


def account_run(idx, problems, shown, logtext, metric, want, desc, took, nclients, nbytes,
                run_counts):
    global slowest, failures
    if problems:
        failures += 1
        problems.append("config: %s" % shown)
        problems.append("replay: TSRELAY_RANDOM_SEED=%d TSRELAY_RANDOM_FIRST=%d "
                        "TSRELAY_RANDOM_RUNS=1" % (SEED, idx))
        problems.append("log tail: " + logtext[-1200:].replace("\n", " | "))
    else:
        expected[metric] = want
    tap.ok(not problems, "%s: done in %.1f s, all checks hold" % (desc, took),
           "\n".join(problems))
    totals["runs"] += 1
    totals["clients"] += nclients
    totals["points"] += want
    totals["bytes"] += nbytes
    for k, v in run_counts.items():
        counts[k] += v
    if took > slowest[0]:
        slowest = (took, desc)




def room_line_regression():
    """Found by this test: one request whose body takes most of the input
    share fills the queues and waits for room; once they are empty its own
    body and the history ring leave them less than room_resume (a read's
    worth for 3 connections), and admission waited for that forever."""
    relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], name="relay-room",
                    relay={"memory-limit": "2M", "max-http-body-bytes": "1216K"},
                    backend_opts={"conns": "3"}).start()
    g = Gen("rmix.room", 0)
    body, n = json_payload(random.Random(0), g, 1216 * KB)
    try:
        status, _, _ = h.http_req("http://127.0.0.1:%d/api/put" % relay.port, body=body,
                                  method="POST", timeout=PROGRESS_BOUND)
    except OSError as e:
        status = repr(e)
    tap.eq(status, 204, "a %.1f MB body that fills the queues and waits for room with 2M of "
           "memory is answered" % (len(body) / 1e6))
    try:
        h.wait_until(lambda: relay.stats().get(("points.forwarded", None)) == n,
                     PROGRESS_BOUND, what="its %d points forwarded" % n)
        expected["rmix.room"] = n
    except TimeoutError as e:
        tap.ok(False, str(e))
    tap.eq(relay.stop(), 0, "tsrelay exits 0")


def block_edge_regression():
    """Found by this test (under ASan): a unit of a block's data size + 1 ..
    a block's size was admitted as whole pages of exactly a block's size,
    which were taken as a block: a frame overran it and its connection was
    closed (its points lost), a body was written past it (memory
    corruption).  Frames and bodies of 65,500 and 65,536 bytes, on auto."""
    relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], name="relay-edge",
                    relay={"memory-limit": "8M"}).start()
    g = Gen("rmix.edge", 0)
    want = 0
    problems = []
    for total in (65500, BLOCK):
        payload, n, _ = text_frame_payload(random.Random(total), g, total - 4)
        s = socket.create_connection(("127.0.0.1", relay.port), timeout=PROGRESS_BOUND)
        s.sendall(struct.pack(">I", len(payload)) + payload)
        s.shutdown(socket.SHUT_WR)
        reply = h.recv_all(s, timeout=PROGRESS_BOUND)
        s.close()
        if reply:
            problems.append("a %d-byte frame got %r" % (total, reply[:200]))
        want += n
        body, n = json_payload(random.Random(total), g, total)
        try:
            status, answer, _ = h.http_req("http://127.0.0.1:%d/api/put" % relay.port, body=body,
                                           method="POST", timeout=PROGRESS_BOUND)
        except OSError as e:
            status, answer = repr(e), b""
        if status != 204:
            problems.append("a %d-byte body: %r %r" % (len(body), status, answer[:200]))
        want += n
    try:
        h.wait_until(lambda: relay.stats().get(("points.forwarded", None)) == want,
                     PROGRESS_BOUND, what="%d points forwarded" % want)
        expected["rmix.edge"] = want
    except (TimeoutError, OSError) as e:
        problems.append(str(e))
    tap.ok(not problems, "frames and bodies of a block's size and a little less are taken whole",
           "\n".join(problems))
    tap.eq(relay.stop(), 0, "tsrelay exits 0")


def partial_line_regression():
    """Found by this test (under ASan, a run that never ended): a telnet
    line's first part kept inline, its rest arriving while reads peek (here
    always: eight connections' read bound is more than 1M's queues) made
    the line larger than the inline tail; the unit granted for it was
    given back at once, undecoded, and asked for again, a million times a
    second until read-timeout.  The line is granted once and arrives."""
    relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], name="relay-partial",
                    relay={"memory-limit": "1M"}, backend_opts={"conns": "8"}).start()
    g = Gen("rmix.partial", 0)
    line = ("put " + g.words() + " " * 1500 + "\n").encode()
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=PROGRESS_BOUND)
    s.sendall(line[:1000])     # inline: under the inline tail (1152)
    time.sleep(0.3)
    g0 = relay.stats().get(("admission.grants", None))
    cpu0 = relay.cpu_seconds()
    s.sendall(line[1000:1400])  # past it: a unit is asked for
    time.sleep(1.0)
    grants = relay.stats().get(("admission.grants", None)) - g0
    cpu = relay.cpu_seconds() - cpu0
    s.sendall(line[1400:])
    s.shutdown(socket.SHUT_WR)
    reply = h.recv_all(s, timeout=PROGRESS_BOUND)
    s.close()
    tap.ok(grants == 1 and not reply,
           "a telnet line's rest after a pause, past the inline tail, while reads peek: its "
           "unit granted once (%d grants, %.2f s of CPU in the pause)" % (grants, cpu), reply)
    try:
        h.wait_until(lambda: relay.stats().get(("points.forwarded", None)) == 1,
                     PROGRESS_BOUND, what="its point forwarded")
        expected["rmix.partial"] = 1
    except TimeoutError as e:
        tap.ok(False, str(e))
    tap.eq(relay.stop(), 0, "tsrelay exits 0")


room_line_regression()
block_edge_regression()
partial_line_regression()
t_all = time.time()
next_run = [FIRST]


def worker():
    global failures
    while True:
        with lock:
            idx = next_run[0]
            if idx >= FIRST + RUNS or failures >= 5:
                return
            next_run[0] += 1
        try:
            do_run(idx)
        except Exception as e:  # noqa: BLE001 -- a run that raised is a failed run
            with lock:
                failures += 1
            tap.ok(False, "run %d raised %r" % (idx, e))


workers = [threading.Thread(target=worker, daemon=True) for _ in range(JOBS)]
for w in workers:
    w.start()
for w in workers:
    w.join()
if failures >= 5:
    tap.note("stopped early", "5 runs failed")
t_runs = time.time() - t_all

# ---- victoria-metrics: every expected point, exactly -------------------------------
vm.flush()
time.sleep(1.0)
wrong = [m for m, n in sorted(expected.items()) if vm.count(m) != n]
if wrong:     # a late arrival? look once more after a pause
    time.sleep(5)
    wrong = [m for m in wrong if vm.count(m) != expected[m]]
tap.ok(expected and not wrong,
       "every expected point of %d runs is in victoria-metrics exactly (%d points)"
       % (len(expected), sum(expected.values())),
       "\n".join("%s: %d points in victoria-metrics, want %d" % (m, vm.count(m), expected[m])
                 for m in wrong[:20]))
if RUNS >= 200:
    tap.ok(totals["runs"] >= 200, "at least 200 runs (%d)" % totals["runs"])
else:     # a replay
    tap.eq(totals["runs"], RUNS, "the runs TSRELAY_RANDOM_RUNS asked for")

tap.note("runs / clients / points / MB sent", "%d / %d / %d / %.1f"
         % (totals["runs"], totals["clients"], totals["points"], totals["bytes"] / 1e6))
tap.note("clients by kind@listener", ", ".join("%s %d" % kv for kv in sorted(clients_by.items())))
tap.note("units", ", ".join("%s %d" % kv for kv in counts.items()))
tap.note("admission grants / waits / room waits (all runs)", "%d / %d / %d"
         % (adm["admission.grants"], adm["admission.waits"], adm["admission.room_waits"]))
tap.note("error replies dropped and counted (input memory full)", replies_missing[0])
tap.note("slowest run (s)", "%.1f (%s)" % slowest)
tap.note("runs at a time", JOBS)
tap.note("all runs took (s)", "%.0f" % t_runs)
tap.done()
