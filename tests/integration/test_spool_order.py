"""Order across a connection failure while spooling: a TSD stops reading,
tsrelay finds the connection lagging and spools new lines to Redis; then
the TSD resets the connection.  The lines that connection still held (unsent
or unacknowledged) are older than everything in the spool, so they must go
to the spool's head, not its tail: every series arrives in the order it was
sent.  A scripted TSD (the fault: a reset with bytes unread), recording
every line in arrival order."""

import fcntl
import os
import socket
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(180)
tap = h.Tap()
base = h.tmpdir()
redis = h.Redis(base).start()
T0 = int(time.time()) - 86400
N, NSERIES, RATE = 200000, 100, 50000


class OrderTSD(threading.Thread):
    """First connection: never read until told, then read what the kernel
    holds and reset.  Later connections: read everything, in order."""

    def __init__(self):
        super().__init__(daemon=True)
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.lines = []
        self.lock = threading.Lock()
        self.reset_now = threading.Event()

    def record(self, buf):
        *done, rest = buf.split(b"\n")
        with self.lock:
            self.lines.extend(done)
        return rest

    def run(self):
        first, _ = self.ls.accept()
        self.reset_now.wait()
        # read what the kernel holds right now (reading on would let tsrelay
        # catch up through this connection), then reset
        avail = struct.unpack("i", fcntl.ioctl(first, termios.FIONREAD, b"\0" * 4))[0]
        buf = b""
        while len(buf) < avail:
            buf += first.recv(avail - len(buf))
        self.record(buf)  # a partial last line is dropped: tsrelay resends it whole
        first.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        first.close()
        while True:
            c, _ = self.ls.accept()
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return
            buf = self.record(buf + chunk)


tsd = OrderTSD()
tsd.start()
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port)], redis=redis,
                relay={"memory-limit": "16M", "reconnect-min": "100ms"},
                backend_opts={"conns": "1", "write-timeout": "1s"},
                redis_opts={"spool-high": "1M", "spool-low": "256K"}).start()
sender = h.Sender(relay.port, "it.order", N, RATE, NSERIES, T0)
sender.start()
# the TSD stops reading at once: after write-timeout the connection lags
# and new lines spool; let the spool fill for a while, then reset
h.wait_until(lambda: relay.stats().get(("points.spooled", None), 0) > 20000, 30,
             what="lines spooled while the TSD does not read")
st = relay.stats()
tap.ok(st.get(("backend.lag_events", "backend=tsd"), 0) >= 1,
       "the connection was found lagging")
tap.ok(st.get(("points.spooled", None), 0) > 20000,
       "new lines went to the spool (%d)" % st.get(("points.spooled", None), 0))
tsd.reset_now.set()
sender.join(timeout=60)
tap.ok(sender.error is None and sender.sent == N, "the sender sent %d points" % N, sender.error)


def settled():
    with tsd.lock:
        n = len(tsd.lines)
    time.sleep(1.0)
    with tsd.lock:
        still = n == len(tsd.lines) and n > 0
    return still and relay.stats().get(("backend.spool_entries", "backend=tsd"), 1) == 0


h.wait_until(settled, 90, interval=0.5, what="the spool drained and the TSD got everything")
st = relay.stats()
evacuated = st.get(("spool.lines_evacuated", None), 0)
tap.ok(evacuated > 0, "the reset connection's lines went to the spool (%d)" % evacuated)

with tsd.lock:
    lines = list(tsd.lines)
last = {}
seen = set()
out_of_order = dups = 0
for ln in lines:
    f = ln.split()
    if len(f) < 6 or f[0] != b"put" or f[1] != b"it.order":
        continue
    v = int(f[3])
    if v in seen:
        dups += 1
        continue
    seen.add(v)
    s = h.series_of(v, NSERIES)
    if s in last and v < last[s]:
        out_of_order += 1
    last[s] = max(v, last.get(s, -1))
missing = N - len(seen)
tap.note("lines received / distinct / missing / duplicates / evacuated / out of order",
         "%d / %d / %d / %d / %d / %d" % (len(lines), len(seen), missing, dups, evacuated,
                                          out_of_order))
tap.eq(out_of_order, 0, "every series arrived in the order it was sent")
tap.eq(dups, 0, "no point arrived twice")
# the reset destroys what the TSD's kernel had acknowledged but nobody read
# after the last recv(): at most its receive buffer, a few hundred lines
tap.ok(missing <= 1000, "at most a receive buffer's worth lost by the reset (%d)" % missing)
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
