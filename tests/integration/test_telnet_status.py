"""Telnet `status` (OpenTSDB 2.5: one line, one word) answers each state
of the relay, from its backends' health:
  ok             every backend takes data (two real TSD stand-ins up);
  partial        one of two backends refuses connections, once the relay
                 had data for it;
  error          the only backend is down and there is no spool;
  partial        the only backend is down but Redis takes its data;
  shutting-down  after SIGTERM, while the relay drains (a telnet client
                 that was connected is still answered, and a point it sends
                 then gets a refusal instead of vanishing unread).
Each answer is exactly one line holding one word.  About 10 s."""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(120)
tap = h.Tap()
base = h.tmpdir()
T0 = int(time.time()) - 3600


def dead_port():
    """A loopback port nothing listens on (connections are refused)."""
    return h.free_port()


def ask(sock, line, timeout=5.0):
    """Sends one line, returns the one reply line (without its newline)."""
    sock.sendall(line.encode() + b"\n")
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while not data.endswith(b"\n") and time.time() < deadline:
        try:
            d = sock.recv(4096)
        except socket.timeout:
            break
        if not d:
            break
        data += d
    return data.decode("utf-8", "replace")


def status_of(relay):
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    try:
        return ask(s, "status")
    finally:
        s.close()


def feed(relay, n=200, metric="it.status.m"):
    """Points of n series (hash routing spreads them over the backends)."""
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    s.sendall("".join("put %s %d %d host=h%d\n" % (metric, T0 + i, i, i)
                      for i in range(n)).encode())
    s.close()


def wait_status(relay, want, timeout=10):
    try:
        return h.wait_until(lambda: status_of(relay) == want + "\n", timeout,
                            what="status " + want)
    except TimeoutError:
        return False


# ---- ok: two backends up ------------------------------------------------
s1 = h.TsSink(base, name="s1")
s2 = h.TsSink(base, name="s2")
r = h.Relay(base, [("a", "127.0.0.1:%d" % s1.port), ("b", "127.0.0.1:%d" % s2.port)],
            name="ok").start()
tap.eq(status_of(r), "ok\n", "both backends up (nothing sent yet): ok")
feed(r)
h.wait_until(lambda: s1.stats().get("lines", 0) > 0 and s2.stats().get("lines", 0) > 0, 10,
             what="both sinks got lines")
tap.eq(status_of(r), "ok\n", "both backends took data: ok")
r.stop()

# ---- partial: one of two refuses ---------------------------------------
r = h.Relay(base, [("a", "127.0.0.1:%d" % s1.port), ("b", "127.0.0.1:%d" % dead_port())],
            name="partial").start()
feed(r)
tap.ok(wait_status(r, "partial"), "one backend refuses connections: partial",
       diag=status_of(r))
r.stop()

# ---- error: the only backend is down, no spool ---------------------------
r = h.Relay(base, [("a", "127.0.0.1:%d" % dead_port())], name="error").start()
feed(r, 10)
tap.ok(wait_status(r, "error"), "the only backend down, no spool: error", diag=status_of(r))
r.stop()

# ---- partial: the only backend is down, Redis takes the data -------------
redis = h.Redis(base).start()
r = h.Relay(base, [("a", "127.0.0.1:%d" % dead_port())], redis=redis, name="spool").start()
feed(r, 10)
h.wait_until(lambda: h.parse_metrics(h.http_get("http://127.0.0.1:%d/metrics" % r.port)[1]
                                     .decode()).get("tsrelay_spool_connected", 0) == 1, 10,
             what="redis connected")
tap.ok(wait_status(r, "partial"), "the only backend down, the spool takes data: partial",
       diag=status_of(r))
r.stop()

# ---- shutting-down: while the relay drains -------------------------------
# a TSD that accepts and never reads: what the relay holds for it keeps the
# drain going until shutdown-timeout
frozen = h.TsSink(base, "never-read", ["--rcvbuf", "4096"], name="frozen")
r = h.Relay(base, [("a", "127.0.0.1:%d" % frozen.port)], name="draining",
            relay={"shutdown-timeout": "4s"}).start()
c = socket.create_connection(("127.0.0.1", r.port), timeout=5)
tap.eq(ask(c, "version").startswith("tsrelay "), True, "a telnet client is connected")
feed(r, 150000)  # ~5 MB: more than the kernel buffers take
h.wait_until(lambda: h.parse_metrics(h.http_get("http://127.0.0.1:%d/metrics" % r.port)[1]
                                     .decode()).get('tsrelay_points_received_total{proto="telnet"}', 0)
             >= 150000, 20, what="the relay read the points")
r.proc.send_signal(signal.SIGTERM)
time.sleep(0.5)
tap.ok(r.alive(), "still draining after SIGTERM")
answer = ask(c, "status")
tap.eq(answer, "shutting-down\n", "status while draining: shutting-down")
refusal = ask(c, "put it.status.late %d 1 host=x" % T0)
tap.ok(refusal.startswith("put: refused: tsrelay is shutting down"),
       "a point sent while draining is refused, not lost unread", diag=refusal)
c.close()
tap.eq(r.proc.wait(timeout=30), 0, "the relay exits 0 after its drain")
tap.ok("lines neither delivered nor spooled" in r.logtext(),
       "it says what it could not deliver")
s1.stop()
s2.stop()
frozen.stop()
tap.done()
