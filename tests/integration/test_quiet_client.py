"""Idle clients are kept, as a TSD keeps them (idle-timeout 0 by default):
  1. with the defaults, a client writes, stays quiet, and writes again on
     the same connection: every point arrives in VictoriaMetrics, and the
     connection answers `version` afterwards.  Quiet for 5 s in `make
     check` (TSRELAY_QUIET_SECONDS), 60 s in `make check-long`;
  2. quiet connections cost only their fixed state: 300 of them (telnet,
     after one `version` each) add their client structures to
     memory.connections (measured per connection) and nothing to the
     memory budget (memory.live);
  3. what an operator who sets idle-timeout risks (docs/tsrelay.conf.5):
     with idle-timeout = 2s, a client that writes 1 point, pauses 4 s,
     then writes 2 more, loses points on a connection it still thinks
     open.
About 12 s (70 s in check-long)."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

QUIET = float(os.environ.get("TSRELAY_QUIET_SECONDS") or (60 if os.environ.get("TSRELAY_LONG")
                                                          else 5))
h.hard_timeout(int(QUIET) + 120)
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base).start()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)]).start()
T0 = int(time.time()) - 7200
metric = "it.quiet.m%d" % os.getpid()


def puts(first, n, m=metric):
    return "".join("put %s %d %d host=q\n" % (m, T0 + i, i) for i in range(first, first + n))


def ask_version(s):
    s.sendall(b"version\n")
    s.settimeout(5)
    data = b""
    while b"Built on" not in data:
        d = s.recv(4096)
        if not d:
            return False
        data += d
    return True


# ---- 1. quiet between writes, defaults --------------------------------------
s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
s.sendall(puts(0, 100).encode())
h.wait_until(lambda: vm.count(metric) >= 100, 30, what="the first 100 points")
t = time.time()
time.sleep(QUIET)
s.sendall(puts(100, 100).encode())
tap.ok(ask_version(s), "after %.0f s quiet the same connection still answers" % QUIET)
s.close()
tap.eq(vm.wait_count(metric, 200, timeout=30), 200,
       "every point arrived, before and after %.0f s of silence" % QUIET)
m = relay.metrics()
tap.eq(m.get("tsrelay_clients_timed_out_total"), 0.0, "no client was closed for idleness")
tap.note("quiet_seconds", "%.0f" % (time.time() - t))

# ---- 2. what a quiet connection costs ---------------------------------------
N = 300
before = relay.metrics()
conns = []
for i in range(N):
    c = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    ask_version(c)  # known as telnet from now on, then quiet
    conns.append(c)
time.sleep(0.5)
after = relay.metrics()
per_conn = (after["tsrelay_memory_connections"] - before["tsrelay_memory_connections"]) / N
tap.note("bytes_per_quiet_connection", "%.0f" % per_conn)
tap.ok(0 < per_conn <= 4096, "a quiet telnet connection holds its fixed state only (%.0f bytes)"
       % per_conn)
tap.eq(after["tsrelay_memory_live"], before["tsrelay_memory_live"],
       "%d quiet connections take nothing from the memory budget" % N)
for c in conns:
    c.close()
relay.stop()

# ---- 3. what idle-timeout risks ------------------------------------------------
risky = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], name="risky",
                relay={"idle-timeout": "2s"}).start()
m2 = metric + ".risk"
s = socket.create_connection(("127.0.0.1", risky.port), timeout=10)
s.sendall(puts(0, 1, m2).encode())
time.sleep(4)
sent_after = 0
for i in (1, 2):
    try:
        s.sendall(puts(i, 1, m2).encode())
        sent_after += 1
    except OSError:
        pass
    time.sleep(0.2)
s.close()
arrived = vm.wait_count(m2, 3, timeout=2)
tap.note("idle_timeout_2s_arrived_of_3", arrived)
tap.ok(arrived < 3 and sent_after >= 1,
       "with idle-timeout = 2s, points written after a 4 s pause are lost (%d of 3 arrived, "
       "%d writes after the pause looked sent)" % (arrived, sent_after))
risky.stop()
vm.stop()
tap.done()
