"""Redis found through Sentinels, and followed across a failover (issue 12).

A Redis master, one replica (--replicaof) and three Sentinels (quorum 2,
down-after 1 s, failover-timeout 3 s) on loopback ports; tsrelay is given
[redis] sentinels (a stale fake Sentinel that names the replica as master,
then one that is down, then the three real ones) and master-name; its
[redis] address points at nothing (it must not be used).  The TSD is down,
so everything spools.

  1. the fake's answer is refused by ROLE (a replica), the dead one is
     passed over, a real one names the master: the spool connects there;
  2. points spooled before the failover reach the replica (the test waits
     for replication: without WAIT, entries a master took but had not
     passed on are lost with it);
  3. SIGKILL the master: the Sentinels promote the replica, tsrelay asks
     them again and follows; points sent during and after the failover
     land in the new master;
  4. the TSD starts: every point arrives, exactly once;
  5. every Sentinel gone, and the master too: rounds fail, counted and
     logged once, retried with backoff (no busy loop); tsrelay runs on.
"""

import os
import shutil
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(200)
tap = h.Tap()
base = h.tmpdir()
MASTER = "it%d" % os.getpid()


def sub(name):
    d = os.path.join(base, name)
    os.makedirs(d, exist_ok=True)
    return d


class FakeSentinel(threading.Thread):
    """Answers every question with [127.0.0.1, port]: a stale Sentinel."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.answer = port
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.asked = 0

    def stop(self):
        try:
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()

    def run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                c.settimeout(5)
                if c.recv(4096):
                    self.asked += 1
                    p = str(self.answer)
                    c.sendall(("*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%s\r\n" % (len(p), p)).encode())
                c.recv(4096)
            except OSError:
                pass
            c.close()


def sentinel_info(port):
    """SENTINEL master NAME as a dict (redis-cli prints fields and values
    on alternate lines)."""
    out = h.Redis.cmd(type("R", (), {"port": port})(), "SENTINEL", "master", MASTER)
    lines = out.splitlines()
    return dict(zip(lines[0::2], lines[1::2]))


def start_sentinel(i, master_port):
    port = h.free_port()
    d = sub("sentinel%d" % i)
    conf = os.path.join(d, "sentinel.conf")
    with open(conf, "w") as f:
        f.write("port %d\nbind 127.0.0.1\ndir %s\ndaemonize no\n"
                "sentinel monitor %s 127.0.0.1 %d 2\n"
                "sentinel down-after-milliseconds %s 1000\n"
                "sentinel failover-timeout %s 3000\n"
                "sentinel parallel-syncs %s 1\n"
                % (port, d, MASTER, master_port, MASTER, MASTER, MASTER))
    binary = shutil.which("redis-sentinel")
    args = [binary, conf] if binary else ["redis-server", conf, "--sentinel"]
    procs.append(h.spawn(args, os.path.join(d, "sentinel.log")))
    return port


procs = []


master = h.Redis(sub("master")).start()
replica = h.Redis(sub("replica"), extra=["--replicaof", "127.0.0.1", str(master.port)]).start()
h.wait_until(lambda: "master_link_status:up" in replica.cmd("INFO", "replication"), 20,
             what="replica in sync")
sentinels = [start_sentinel(i, master.port) for i in range(3)]


def sentinels_ready():
    for p in sentinels:
        info = sentinel_info(p)
        if info.get("num-slaves") != "1" or info.get("num-other-sentinels") != "2":
            return False
    return True


t = time.time()
h.wait_until(sentinels_ready, 40, interval=0.5, what="Sentinels that know the replica and "
             "each other")
tap.ok(True, "master, replica and 3 Sentinels up (Sentinels agreed in %.1f s)" % (time.time() - t))

fake = FakeSentinel(replica.port)
fake.start()
dead = h.free_port()
nowhere = type("R", (), {"port": h.free_port()})()   # [redis] address: nothing there
vm = h.Victoria(base)  # the TSD: down until step 4
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=nowhere,
                relay={"reconnect-min": "100ms", "reconnect-max": "1s"},
                redis_opts={"sentinels": ", ".join(["127.0.0.1:%d" % p for p in
                                                    [fake.port, dead] + sentinels]),
                            "master-name": MASTER, "connect-timeout": "1s"}).start()


def st(name):
    return relay.stats().get((name, None), 0)


def stb(name):
    return relay.stats().get((name, "backend=vm"), 0)


# ---- 1. found through the Sentinels ---------------------------------------
h.wait_until(lambda: st("spool.connected") == 1, 20, what="spool connected")
log = relay.logtext()
tap.ok(fake.asked >= 1 and st("spool.not_master") >= 1 and "is not the master" in log,
       "the stale Sentinel's answer (the replica) was refused by ROLE (not_master = %d)"
       % st("spool.not_master"))
tap.ok("the Sentinels name 127.0.0.1:%d as master" % master.port in log,
       "a real Sentinel named the master; the dead one was passed over")
tap.ok(st("spool.sentinel_queries") >= 3, "spool.sentinel_queries = %d"
       % st("spool.sentinel_queries"))

metric = "it.sentinel.m%d" % os.getpid()
T0 = int(time.time()) - 86400
key = relay.spool_key("vm")


def spooled(n):
    return st("points.spooled") >= n and stb("backend.staged_bytes") == 0


def send(first, n):
    s = socket.create_connection(("127.0.0.1", relay.port), timeout=30)
    s.sendall("".join(h.telnet_line(metric, i, 200, T0) for i in range(first, first + n))
              .encode())
    s.close()


# ---- 2. spooled, and replicated -------------------------------------------
N1 = 30000
send(0, N1)
h.wait_until(lambda: spooled(N1), 30, what="the first points in Redis")
time.sleep(0.5)
entries = int(master.cmd("LLEN", key) or 0)
acks = master.cmd("WAIT", 1, 5000)
tap.ok(entries > 0 and acks == "1" and int(replica.cmd("LLEN", key) or 0) == entries,
       "%d points spooled to the master in %d entries; the replica has them all (WAIT: %s)"
       % (N1, entries, acks))

# ---- 3. failover -------------------------------------------------------------
changes0 = st("spool.master_changes")
os.kill(master.proc.pid, signal.SIGKILL)
master.proc.wait(timeout=10)
t_kill = time.time()
NMID = 5000
send(N1, NMID)   # while there is no master: memory, then the new master
h.wait_until(lambda: st("spool.master_changes") > changes0 and st("spool.connected") == 1, 60,
             interval=0.2, what="tsrelay on the new master")
followed = time.time() - t_kill
tap.ok(True, "tsrelay followed the failover to 127.0.0.1:%d %.1f s after the kill"
       % (replica.port, followed))
tap.ok("master '%s' moved from 127.0.0.1:%d to 127.0.0.1:%d" % (MASTER, master.port,
                                                                  replica.port)
       in relay.logtext(), "the move is logged")
N2 = 30000
send(N1 + NMID, N2)
h.wait_until(lambda: spooled(N1 + NMID + N2), 30, what="the later points in Redis")
time.sleep(0.5)
after = int(replica.cmd("LLEN", key) or 0)
tap.ok("role:master" in replica.cmd("INFO", "replication") and after > entries,
       "points sent during and after the failover landed in the new master (%d -> %d entries)"
       % (entries, after))
tap.eq(st("spool.sentinel_failures"), 0, "no round without a master named")

# ---- 4. the TSD back: everything arrives once --------------------------------
vm.start()
total = N1 + NMID + N2
got = vm.wait_count(metric, total, timeout=90)
tap.eq(got, total, "every point acknowledged into Redis before and after the failover arrived "
       "exactly once")
tap.eq(int(replica.cmd("LLEN", key) or 0), 0, "the spool is empty")
# ---- 5. no Sentinel answers ---------------------------------------------------
fake.stop()
for p in procs:
    p.kill()
    p.wait(timeout=10)
fails0 = st("spool.sentinel_failures")
os.kill(replica.proc.pid, signal.SIGKILL)
replica.proc.wait(timeout=10)
h.wait_until(lambda: st("spool.sentinel_failures") >= fails0 + 3, 30, interval=0.2,
             what="failed rounds")
cpu0 = relay.cpu_seconds()
time.sleep(2)
cpu = relay.cpu_seconds() - cpu0
tap.ok(relay.alive() and st("spool.connected") == 0 and cpu < 0.3,
       "no Sentinel answers: %d failed rounds so far, retried with backoff (%.2f CPU s in 2 s), "
       "memory-only" % (st("spool.sentinel_failures") - fails0, cpu))
tap.eq(relay.logtext().count("no Sentinel named master"), 1, "the episode is logged once")
tap.note("spool counters", "sentinel_queries=%d sentinel_failures=%d master_changes=%d "
         "not_master=%d resolve_failures=%d, failover followed in %.1f s"
         % (st("spool.sentinel_queries"), st("spool.sentinel_failures"),
            st("spool.master_changes"), st("spool.not_master"), st("spool.resolve_failures"),
            followed))
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
