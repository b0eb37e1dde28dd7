"""test_replicas_ack.py -- [redis] min-replicas-ack (issue 12).

A Redis master with one replica; the TSD down; min-replicas-ack = 1: a
push counts as stored only once WAIT says the replica has it.  With the
replica up, spooled points are on the replica too and nothing waits in
memory.  With the replica stopped, WAIT falls short (counted, logged once):
new spooled data stays in memory (nothing is counted as stored that a
failover could lose); when the replica is back it is confirmed.  When the
TSD comes, every point arrives."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

tap = h.Tap()
h.hard_timeout(300)
base = h.tmpdir()
master = h.Redis(base).start()
replica = h.Redis(os.path.join(base, "replica"),
                  extra=["--replicaof", "127.0.0.1", str(master.port)]).start()
h.wait_until(lambda: "master_link_status:up" in replica.cmd("INFO", "replication"), 20,
             what="replication up")
vm = h.Victoria(base)
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=master,
                redis_opts={"min-replicas-ack": "1", "spool-flush-interval": "50ms"}).start()
T0 = int(time.time()) - 86400
key = relay.spool_key("vm")


def st(name, tag=None):
    return relay.stats().get((name, tag), 0)


N1 = 50000
s = h.Sender(relay.port, "it.wait.m", N1, 0, 500, T0)
s.run()
h.wait_until(lambda: st("backend.staged_bytes", "backend=vm") == 0 and
             st("points.spooled") >= N1, 30, what="all spooled and confirmed")
tap.ok(st("backend.staged_bytes", "backend=vm") == 0,
       "replica up: every push confirmed by WAIT, nothing waits in memory")
tap.eq(replica.cmd("LLEN", key), master.cmd("LLEN", key),
       "the replica holds what the master holds (%s entries)" % master.cmd("LLEN", key))

# the replica stops: pushes are taken by the master but not confirmed
h.stop_process(replica.proc.pid)
N2 = 20000
s = h.Sender(relay.port, "it.wait.m", N2, 0, 500, T0 + 10000)
s.run()
time.sleep(1.5)
held = st("backend.staged_bytes", "backend=vm")
tap.ok(held > 0, "replica gone: %d bytes wait in memory for its confirmation" % held)
tap.ok(st("spool.replica_shortfalls") > 0, "WAIT's shortfalls are counted (%d)"
       % st("spool.replica_shortfalls"))
tap.ok("min-replicas-ack: 0 of 1 replicas" in relay.logtext(), "and logged")
os.kill(replica.proc.pid, signal.SIGCONT)
h.wait_until(lambda: st("backend.staged_bytes", "backend=vm") == 0, 30,
             what="confirmed after the replica returned")
tap.eq(st("backend.staged_bytes", "backend=vm"), 0, "the replica is back: all confirmed")
vm.start()
got = vm.wait_count("it.wait.m", N1 + N2, timeout=120)
tap.ok(got >= N1 + N2, "the TSD back: every point arrived (%d, %d duplicates)"
       % (got, got - N1 - N2))
tap.eq(relay.stop(), 0, "tsrelay exits 0")
tap.done()
