"""systemd notifications from the real daemon (src/ops/notify.c), on a unix
datagram socket of the test's own, as systemd would read them:

- READY=1 arrives once, and only when the listen port accepts (a connect
  made the moment it arrives succeeds);
- WATCHDOG=1 every half of WATCHDOG_USEC (400 ms asked: pings ~200 ms
  apart, checked with wide bounds), none without WATCHDOG_USEC or when
  WATCHDOG_PID names another process;
- STATUS= lines with points/s in and out and the backlog, which follow
  real traffic through to a counting sink (tests/tools/tssink);
- STOPPING=1 on SIGTERM, then a clean exit;
- without NOTIFY_SOCKET, or with one nobody listens on, the relay works
  and exits cleanly all the same.

No redis-server or victoria-metrics: the relay runs memory-only."""

import os
import re
import socket
import statistics
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(120)
tap = h.Tap()
base = h.tmpdir("tsrelay-notify-")
STATUS_RE = re.compile(r"^(stopping: )?in (\d+) pts/s, out (\d+) pts/s, "
                       r"backlog (\d+) points / (\d+(\.\d)? (B|KiB|MiB|GiB|TiB|PiB))$")


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class Listener(threading.Thread):
    """The systemd side: a datagram socket read by a thread of its own.
    Every message is stamped by the kernel when the relay sent it
    (SO_TIMESTAMPNS), so the gaps measured are the relay's, however late
    this busy machine lets the thread read them."""

    def __init__(self, name):
        super().__init__(daemon=True)
        self.path = os.path.join(base, name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.2)
        self.msgs = []          # (monotonic time, [lines])
        self.cond = threading.Condition()
        self.halt = False
        self.start()

    def run(self):
        while not self.halt:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(16))
            except socket.timeout:
                continue
            except OSError:
                return
            stamp = time.monotonic()
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    stamp = sec + nsec / 1e9 - (time.time() - time.monotonic())
            with self.cond:
                self.msgs.append((stamp, data.decode("utf-8", "replace").split("\n")))
                self.cond.notify_all()

    def poll(self, seconds, until=None):
        """Waits `seconds`, or until until(lines) is true for a message that
        arrived during the wait (returns its lines; None on timeout)."""
        deadline = time.monotonic() + seconds
        with self.cond:
            seen = len(self.msgs)
            while True:
                if until is not None:
                    for _, lines in self.msgs[seen:]:
                        if until(lines):
                            return lines
                seen = len(self.msgs)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def snapshot(self):
        with self.cond:
            return list(self.msgs)

    def times(self, line):
        return [t for t, lines in self.snapshot() if line in lines]

    def statuses(self):
        return [l[7:] for _, lines in self.snapshot() for l in lines
                if l.startswith("STATUS=")]


def start_relay(name, backend, env_extra, relay_opts=None):
    r = h.Relay(base, [("sink", "127.0.0.1:%d" % backend)], name=name,
                relay={"shutdown-timeout": "1s", **(relay_opts or {})})
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env.update(env_extra)
    r.proc = h.spawn([h.TSRELAY, "-c", r.conf], r.log, env=env)
    return r


def can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


sink_port = h.free_port()
sink = h.spawn([h.TSSINK, "--port", str(sink_port), "--stats-file",
                os.path.join(base, "sink.stats")], os.path.join(base, "sink.log"))
h.wait_until(lambda: can_connect(sink_port), 10, what="tssink listening")

# ---- 1. READY=1 when the port accepts, WATCHDOG=1, STATUS=, STOPPING=1 ----
sd = Listener("notify.sock")
relay = start_relay("relay1", sink_port, {"NOTIFY_SOCKET": sd.path, "WATCHDOG_USEC": "400000"})
ready = sd.poll(15, until=lambda lines: "READY=1" in lines)
port_ok = can_connect(relay.port) if ready else False
tap.ok(ready is not None, "READY=1 arrives", relay.logtext() if not ready else None)
tap.ok(port_ok, "the listen port accepts when READY=1 arrives")
first_msg = sd.snapshot()[0][1] if sd.snapshot() else []
tap.ok("READY=1" in first_msg, "READY=1 is the first message (no STATUS= or WATCHDOG=1 "
       "before it)", repr(first_msg))

# watchdog: 3 s of pings
t0 = time.monotonic()
sd.poll(3.0)
pings = [t for t in sd.times("WATCHDOG=1") if t >= t0]
gaps = [b - a for a, b in zip(pings, pings[1:])]
med = statistics.median(gaps) if gaps else None
tap.note("watchdog", "%d pings in 3 s, median gap %s s, largest %s s" % (
    len(pings), "%.3f" % med if med else "-", "%.3f" % max(gaps) if gaps else "-"))
# 400 ms asked: a ping every 200 ms is 15 in 3 s; a loop that is merely
# slow on a busy machine still sends 5, and a wrong unit (every 400 ms or
# every 20 ms) lands outside [0.1, 0.3] s
tap.ok(5 <= len(pings) <= 40, "WATCHDOG=1 keeps arriving (%d in 3 s, 15 expected)" % len(pings))
tap.ok(med is not None and 0.1 <= med <= 0.3,
       "WATCHDOG=1 every ~200 ms, half of WATCHDOG_USEC=400000 (median gap %s s)" %
       ("%.3f" % med if med else "-"))

# STATUS= follows traffic: 30,000 points at 10,000/s through to the sink
first = sd.statuses()
tap.ok(bool(first) and all(STATUS_RE.match(s) for s in first),
       "STATUS= lines have the documented form", "\n".join(first[:5]))
sender = h.Sender(relay.port, "notify.m", 30000, 10000, 100, int(time.time()) - 60)
sender.start()
sender.join(timeout=30)
tap.ok(sender.error is None and sender.sent == 30000, "30,000 points sent",
       sender.error)
sd.poll(4.5)  # two more refreshes
parsed = [STATUS_RE.match(s) for s in sd.statuses()]
bad = [s for s, m in zip(sd.statuses(), parsed) if not m]
parsed = [m for m in parsed if m]
tap.note("status", " | ".join(sd.statuses()[-4:]))
tap.ok(not bad, "every STATUS= parses", "\n".join(bad[:5]))
# each rate is points over the time since the previous STATUS=, so rates
# times the gaps between the messages add up to what was sent (the gaps
# are the kernel's stamps of when the relay sent them, not when this
# thread got to read them: a loose bound, not a timing ratio)
timed = [(t, STATUS_RE.match(l[7:])) for t, lines in sd.snapshot() for l in lines
         if l.startswith("STATUS=") and STATUS_RE.match(l[7:])]
total_in = sum(int(m.group(2)) * (t - tp) for (tp, _), (t, m) in zip(timed, timed[1:]))
total_out = sum(int(m.group(3)) * (t - tp) for (tp, _), (t, m) in zip(timed, timed[1:]))
max_in = max(int(m.group(2)) for _, m in timed) if timed else 0
tap.ok(22500 <= total_in <= 37500,
       "STATUS= points/s in add up to the 30,000 sent (%.0f)" % total_in)
tap.ok(22500 <= total_out <= 37500,
       "STATUS= points/s out add up to the 30,000 the sink took (%.0f)" % total_out)
tap.ok(0 < max_in <= 15000 + 1,
       "no STATUS= claims more than 30,000 points in its 2 s (max %d pts/s)" % max_in)
last = parsed[-1] if parsed else None
tap.ok(last is not None and last.group(4) == "0" and last.group(5) == "0 B",
       "STATUS= shows an empty backlog once the sink took everything",
       last.group(0) if last else None)

relay.proc.send_signal(15)
stopping = sd.poll(10, until=lambda lines: "STOPPING=1" in lines)
tap.ok(stopping is not None, "STOPPING=1 arrives on SIGTERM")
try:
    code = relay.proc.wait(timeout=30)
except Exception:
    code = None
tap.eq(code, 0, "the relay exits 0 after SIGTERM")
tap.eq(len(sd.times("READY=1")), 1, "READY=1 was sent once")

# ---- 2. no watchdog asked, or asked of another process; a backlog --------
# the first relay's TSD is down (nothing listens on its port): what it is
# sent stays queued, and STATUS= shows it as the backlog
dead_port = h.free_port()
for label, backend, extra in (
        ("without WATCHDOG_USEC", dead_port, {}),
        ("when WATCHDOG_PID is another process's", sink_port,
         {"WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())})):
    sd2 = Listener("notify-%d.sock" % len(label))
    r2 = start_relay("relay-%d" % len(label), backend, dict(NOTIFY_SOCKET=sd2.path, **extra))
    ok = sd2.poll(15, until=lambda lines: "READY=1" in lines) is not None
    if backend == dead_port:
        sender = h.Sender(r2.port, "notify.b", 5000, 0, 100, int(time.time()) - 60)
        sender.start()
        sender.join(timeout=30)

        def backlog_of_5000(lines):
            for line in lines:
                m = STATUS_RE.match(line[7:]) if line.startswith("STATUS=") else None
                if m and int(m.group(4)) == 5000 and m.group(5) != "0 B":
                    return True
            return False
        got = sd2.poll(6, until=backlog_of_5000)
        tap.ok(got is not None, "STATUS= shows the backlog of 5,000 points for a TSD "
               "that is down", " | ".join(sd2.statuses()[-3:]))
    sd2.poll(1.5)
    tap.ok(ok and not sd2.times("WATCHDOG=1"), "READY=1 and no WATCHDOG=1 %s" % label)
    r2.proc.send_signal(15)
    tap.eq(r2.proc.wait(timeout=30), 0, "exits 0 (%s)" % label)

# ---- 3. no NOTIFY_SOCKET, or one nobody listens on ------------------------
for label, extra in (("without NOTIFY_SOCKET", {}),
                     ("with a NOTIFY_SOCKET nobody listens on",
                      {"NOTIFY_SOCKET": os.path.join(base, "nobody.sock"),
                       "WATCHDOG_USEC": "400000"})):
    r3 = start_relay("relay-none-%d" % len(label), sink_port, extra)
    h.wait_until(lambda: can_connect(r3.port), 15, what="tsrelay listening")
    time.sleep(0.5)
    st = r3.stats()
    tap.ok(r3.alive() and ("uptime", None) in st, "serves clients %s" % label)
    r3.proc.send_signal(15)
    tap.eq(r3.proc.wait(timeout=30), 0, "exits 0 (%s)" % label)

tap.done()
