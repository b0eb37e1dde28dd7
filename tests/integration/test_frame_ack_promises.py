"""test_frame_ack_promises.py -- what an `ack N` promises (frame-acks = on).

A framed client's frame is acknowledged only when every line of it is
safe: acknowledged by its TSD, or stored in Redis (with min-replicas-ack,
confirmed by replicas, or delivered).  Found by test_fleet.py, each part
here failed before its fix:

  1. a failed connection's lines went to Redis: the frames after it, whose
     lines wait in memory to be pushed (spool-flush-interval), are not
     acknowledged before the push (they were: the evacuated lines were
     counted as stored staged lines, and a relay SIGKILLed then lost
     points it had acknowledged);
  2. min-replicas-ack = 1 and the replica gone (as after a failover):
     nothing is acknowledged while the TSD is down; once it is back and
     the spool is delivered, the frames are (they never were: blocks
     waited for a WAIT no replica would answer, and every ack with them).
Every point arrives.
"""

import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

tap = h.Tap()
h.hard_timeout(240)
base = h.tmpdir()
T0 = int(time.time()) - 86400


class FramedClient:
    """Frames of put lines; collects the relay's `ack N` replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sent = 0
        self.acked = 0
        self.errors = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            try:
                d = self.sock.recv(65536)
            except OSError:
                return
            if not d:
                return
            buf += d
            while len(buf) >= 4:
                (n,) = struct.unpack(">I", buf[:4])
                if len(buf) < 4 + n:
                    break
                msg, buf = buf[4:4 + n], buf[4 + n:]
                with self.lock:
                    if msg.startswith(b"ack "):
                        self.acked = max(self.acked, int(msg[4:]))
                    else:
                        self.errors.append(msg[:200])

    def send(self, metric, first, n):
        payload = "".join(h.telnet_line(metric, i, 100, T0, put=False)
                          for i in range(first, first + n))
        self.sock.sendall(h.frame(payload))
        self.sent += 1
        return self.sent

    def wait_ack(self, n, timeout):
        """True once frame n is acknowledged, within timeout."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if self.acked >= n:
                    return True
            time.sleep(0.02)
        with self.lock:
            return self.acked >= n

    def close(self):
        self.sock.close()


class StuckTsd:
    """Accepts connections and never reads (a small receive buffer), so
    the relay's lines stay unacknowledged; reset() then fails them with an
    RST and closes the listener: the relay's lines go to the spool.  What
    its TCP did acknowledge (its full receive buffer, peeked at before the
    reset) the relay counts as delivered: `delivered` keeps those lines,
    for the test to hand to the real TSD."""

    def __init__(self, port):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(4)
        self.conns = []
        self.delivered = b""
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.conns.append(c)

    def reset(self):
        self.srv.close()
        for c in self.conns:
            try:
                data = c.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                data = b""
            self.delivered += data[:data.rfind(b"\n") + 1]   # a cut line is sent again
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()


def st(relay, name, tag=None):
    return relay.stats().get((name, tag), 0)


# ---- 1. a failed connection's lines in Redis; later lines still staged ------------
redis = h.Redis(base).start()
vm = h.Victoria(base, name="vm1")            # its ports; started at the end
tsd = StuckTsd(vm.telnet)
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis, name="r1",
                relay={"frame-acks": "on"}, backend_opts={"conns": "1"},
                redis_opts={"spool-flush-interval": "6s"}).start()
c = FramedClient(relay.port)
M1 = "it.acks.evac%d" % os.getpid()
N_EVAC = 20000
for k in range(N_EVAC // 500):
    c.send(M1, k * 500, 500)
h.wait_until(lambda: st(relay, "points.queued") >= N_EVAC - 500, 20,
             what="the lines queued for the stuck TSD")
tap.ok(not c.wait_ack(1, 1.0), "lines written to a TSD that does not read them: no ack yet")
tsd.reset()
h.wait_until(lambda: st(relay, "spool.lines_evacuated") > 0 and
             st(relay, "backend.staged_bytes", "backend=vm") == 0, 20,
             what="the failed connection's lines in Redis")
evacuated = st(relay, "spool.lines_evacuated")
tap.ok(c.wait_ack(c.sent, 10), "the TSD reset the connection: its %d unacknowledged lines went "
       "to Redis, and their frames are acknowledged" % evacuated)
n = c.send(M1, N_EVAC, 50)   # staged: pushed only after spool-flush-interval
t = time.time()
early = c.wait_ack(n, 2.0)
tap.ok(not early, "a frame whose lines wait in memory to be pushed is not acknowledged before "
       "the push (the evacuated lines are not staged ones)")
tap.ok(c.wait_ack(n, 15), "... and is, once pushed (%.1f s, spool-flush-interval 6 s)"
       % (time.time() - t))
tap.eq(c.errors, [], "no error frames")
vm.start()
s = socket.create_connection(("127.0.0.1", vm.telnet))
s.sendall(tsd.delivered)   # what the stuck TSD's TCP had taken: the relay's part is done
s.close()
tap.eq(vm.wait_count(M1, N_EVAC + 50, timeout=60), N_EVAC + 50,
       "every point arrived once (%d of them had been taken by the stuck TSD's TCP)"
       % tsd.delivered.count(b"\n"))
c.close()
tap.eq(relay.stop(), 0, "tsrelay exits 0")

# ---- 2. min-replicas-ack = 1, the replica gone, the TSD back ---------------------
master = h.Redis(os.path.join(base, "master")).start()
replica = h.Redis(os.path.join(base, "replica"),
                  extra=["--replicaof", "127.0.0.1", str(master.port)]).start()
h.wait_until(lambda: "master_link_status:up" in replica.cmd("INFO", "replication"), 20,
             what="replication up")
vm2 = h.Victoria(base, name="vm2")           # down until the end
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm2.telnet)], redis=master, name="r2",
                relay={"frame-acks": "on"},
                redis_opts={"min-replicas-ack": "1", "spool-flush-interval": "50ms"}).start()
c = FramedClient(relay.port)
M2 = "it.acks.replica%d" % os.getpid()
for k in range(20):
    c.send(M2, k * 500, 500)
tap.ok(c.wait_ack(c.sent, 15), "the replica up, the TSD down: frames acknowledged once the "
       "replica has their lines")
os.kill(replica.proc.pid, signal.SIGKILL)
replica.proc.wait(timeout=10)
first = c.sent + 1
for k in range(20, 40):
    c.send(M2, k * 500, 500)
tap.ok(not c.wait_ack(first, 3.0), "the replica gone: frames are not acknowledged (%d WAIT "
       "shortfalls)" % st(relay, "spool.replica_shortfalls"))
vm2.start()
t = time.time()
tap.ok(c.wait_ack(c.sent, 30), "the TSD back: the spool delivered, every frame acknowledged "
       "(%.1f s), no replica needed for what the TSD has" % (time.time() - t))
tap.ok(st(relay, "spool.unreplicated_delivered") > 0, "counted: spool.unreplicated_delivered "
       "= %d" % st(relay, "spool.unreplicated_delivered"))
tap.eq(c.errors, [], "no error frames")
got = vm2.wait_count(M2, 40 * 500, timeout=60)
tap.ok(got >= 40 * 500, "every point arrived (%d, %d duplicates)" % (got, got - 40 * 500))
# directly again: new frames are acknowledged by the TSD
n = c.send(M2, 40 * 500, 100)
tap.ok(c.wait_ack(n, 10), "and the frames after it too")
c.close()
tap.eq(relay.stop(), 0, "tsrelay exits 0")
tap.done()
