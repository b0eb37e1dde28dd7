"""Hostile frame headers: a header claiming 0xFFFFFFFF bytes, or
max-frame-bytes + 1, gets an error frame and a closed connection before
anything is allocated (RSS grows < 1 MiB); other clients are unaffected.
On an auto listener a first byte 0xFF is neither telnet nor HTTP: an error
line says how framed packets start, and the connection is closed."""

import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(180)
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base).start()
framed_port = h.free_port()
auto_port = h.free_port()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)],
                listen=[(auto_port, "auto"), (framed_port, "framed")],
                relay={"max-frame-bytes": "1M"}).start()
MAX = 1 << 20
metric = "it.oversize.m%d" % random.randrange(1 << 30)
T0 = int(time.time()) - 86400
N = 20000

# a good client keeps sending framed points while the hostile ones try
good_err = []


def good_client():
    try:
        s = socket.create_connection(("127.0.0.1", framed_port), timeout=30)
        for j in range(0, N, 100):
            body = "".join(h.telnet_line(metric, i, 100, T0) for i in range(j, j + 100))
            s.sendall(h.frame(body))
            time.sleep(0.002)
        s.close()
    except Exception as e:
        good_err.append(repr(e))


t = threading.Thread(target=good_client)
t.start()


def hostile(port, header, extra=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(header + extra)
    data = h.recv_all(s, timeout=3)
    closed = False
    try:
        s.settimeout(2)
        closed = s.recv(1) == b""
    except socket.timeout:
        closed = False
    except OSError:
        closed = True
    s.close()
    return data, closed


for name, n in (("0xFFFFFFFF", 0xFFFFFFFF), ("max-frame-bytes + 1", MAX + 1)):
    data, closed = hostile(framed_port, struct.pack(">I", n), b"x" * 1000)
    ok = len(data) >= 4 and struct.unpack(">I", data[:4])[0] == len(data) - 4
    msg = data[4:].decode(errors="replace")
    tap.ok(ok and ("frame too large: %d bytes" % n) in msg,
           "header %s: answered with an error frame" % name, data[:200])
    tap.ok(closed, "header %s: connection closed" % name)

# exactly max-frame-bytes is allowed: a frame of that size is accepted
s = socket.create_connection(("127.0.0.1", framed_port), timeout=10)
payload = (h.telnet_line(metric + ".big", 0, 1, T0) * (MAX // 60))[:MAX]
payload = payload[:payload.rfind("\n") + 1]
payload += " " * (MAX - len(payload))
s.sendall(struct.pack(">I", MAX) + payload.encode())
s.shutdown(socket.SHUT_WR)
data = h.recv_all(s, timeout=3)
s.close()
tap.ok(b"frame too large" not in data, "a frame of exactly max-frame-bytes is accepted")

# 100 more hostile headers must not grow the relay
time.sleep(0.5)
rss0 = relay.rss()
for _ in range(100):
    hostile(framed_port, struct.pack(">I", 0xFFFFFFFF))
rss1 = relay.rss()
t.join(timeout=60)
tap.ok(not good_err, "the good client was unaffected", good_err)
tap.eq(vm.wait_count(metric, N, timeout=30), N, "every point of the good client arrived")
grow = rss1 - rss0
tap.note("RSS growth across the hostile headers (KiB)", grow // 1024)
tap.ok(grow < h.rss_bound(1), "RSS grew by less than 1 MiB (%d KiB)" % (grow // 1024))

# auto listener: a 0xFF first byte is neither telnet nor HTTP (a framed
# length of 16 MiB or more): told how framed packets start, closed at once;
# 0x00 is framed
data, closed = hostile(auto_port, b"\xff\xff\xff\xff\n")
tap.ok(data.startswith(b"error: neither telnet nor HTTP: the connection began with bytes "
                       b"ff ff ff ff") and b"4 bytes big-endian, the first of them 0" in data,
       "auto listener: 0xFF... is neither telnet nor HTTP and is told how framed packets start",
       data[:300])
tap.ok(closed, "auto listener: that connection is closed")
data, closed = hostile(auto_port, b"\x00\xff\xff\xff")
tap.ok(b"frame too large" in data and closed,
       "auto listener: 0x00FFFFFF is framed, oversize, closed", data[:200])
st = relay.stats(auto_port)
tap.eq(st.get(("frames.rejected", "reason=oversize")), 103, "stats count the rejected frames")
tap.ok(relay.alive(), "tsrelay is still running")
tap.ok(relay.stop() == 0, "tsrelay exits 0 on SIGTERM")
tap.done()
